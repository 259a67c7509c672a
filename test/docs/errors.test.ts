import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** Every .ts file under `dir`, relative to the repository. */
function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const file = `${dir}/${name}`;
    if (statSync(path.join(ROOT, file)).isDirectory()) return sources(file);
    return name.endsWith('.ts') ? [file] : [];
  });
}

/** The codes a table of docs/errors.md lists in its first column. */
function documentedCodes(markdown: string): Set<string> {
  const codes = new Set<string>();
  for (const line of markdown.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1] ?? '';
    for (const match of first.matchAll(/`(ERR_[A-Z_]+)`/g)) codes.add(match[1]!);
  }
  return codes;
}

/** Codes flowd declares for the user to raise, not itself, and why. */
const RAISED_BY_USERS: Record<string, string> = {
  ERR_RETRY: 'Retry is thrown by the function given to retryOnConflict, which retries on it',
};

/**
 * The codes of the ErrorCode type that no code raises: a code is raised
 * where it is written as a string outside the type's declaration (and not
 * only compared with, `=== 'ERR_X'`), or, for a class whose constructor
 * fixes it (`super('ERR_X', ...)`), where that class is constructed.
 */
function unraisedCodes(): string[] {
  const declaration = /export type ErrorCode =[\s\S]*?;/;
  const union = [...(declaration.exec(read('src/kernel/errors.ts'))?.[0] ?? '').matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1]!);
  const code = ['machines', 'actors', 'src']
    .flatMap(sources)
    .map(read)
    .map((text) =>
      text
        .replace(declaration, '')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, ''),
    )
    .join('\n');
  // class X extends Y { ... super('ERR_Z', ...) } within one class.
  const fixing = new Map<string, string[]>();
  for (const match of code.matchAll(/class (\w+) extends \w+ \{((?:(?!\n(?:export )?class )[\s\S])*?)super\('(ERR_[A-Z_]+)'/g))
    fixing.set(match[3]!, [...(fixing.get(match[3]!) ?? []), match[1]!]);
  const written = code.replace(/super\('ERR_[A-Z_]+'/g, '').replace(/[!=]==\s*'ERR_[A-Z_]+'/g, '');
  const raised = (errorCode: string): boolean =>
    written.includes(`'${errorCode}'`) ||
    written.includes(`"${errorCode}"`) ||
    (fixing.get(errorCode) ?? []).some((name) => new RegExp(`new ${name}\\(`).test(code));
  expect(union.length).toBeGreaterThan(30);
  return union.filter((errorCode) => !(errorCode in RAISED_BY_USERS) && !raised(errorCode));
}

describe('docs/errors.md', () => {
  const errors = read('docs/errors.md');
  const documented = documentedCodes(errors);

  it('lists every code of the ErrorCode type', () => {
    const union = /export type ErrorCode =([\s\S]*?);/.exec(read('src/kernel/errors.ts'))?.[1] ?? '';
    const codes = [...union.matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(30);
    expect(codes.filter((code) => !documented.has(code))).toEqual([]);
  });

  it('lists every code the code raises or answers with (machines/, actors/, src/)', () => {
    const raised = new Set<string>();
    for (const file of ['machines', 'actors', 'src'].flatMap(sources)) {
      for (const match of read(file).matchAll(/['"`](ERR_[A-Z_]+)['"`]/g)) raised.add(match[1]!);
    }
    expect(raised.size).toBeGreaterThan(40);
    expect([...raised].filter((code) => !documented.has(code)).sort()).toEqual([]);
  });

  it('lists no code that the code does not have', () => {
    const all = ['machines', 'actors', 'src'].flatMap(sources).map(read).join('\n');
    expect([...documented].filter((code) => !all.includes(code))).toEqual([]);
  });

  it('lists no code of the ErrorCode type that nothing raises (machines/, actors/, src/)', () => {
    expect(unraisedCodes()).toEqual([]);
  });

  it('gives the exit codes 0, 1 and 2', () => {
    const exits = errors.slice(errors.indexOf('## Exit codes'));
    for (const row of ['| `0` | ok |', '| `1` | a runtime failure |', '| `2` | bad configuration or usage |']) expect(exits).toContain(row);
  });
});
