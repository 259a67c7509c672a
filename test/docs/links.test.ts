import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The Markdown outside code blocks, where links and headings are. */
function prose(markdown: string): string {
  return markdown.replace(/^\s*(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\s*\1\s*$/gm, '');
}

/** GitHub's anchors for the headings of a Markdown file (github-slugger's rules). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const match of prose(markdown).matchAll(/^#{1,6}\s+(.*)$/gm)) {
    const base = match[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

describe('the links of the README and docs/', () => {
  it.each(DOCS)('%s links only to files and headings that exist', (doc) => {
    const broken: string[] = [];
    for (const match of prose(read(doc)).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const resolved = file === '' ? doc : path.posix.normalize(path.posix.join(path.posix.dirname(doc), file));
      if (!existsSync(path.join(ROOT, resolved))) {
        broken.push(`${target}: ${resolved} does not exist`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchors(read(resolved)).has(anchor))
        broken.push(`${target}: ${resolved} has no heading #${anchor}`);
    }
    expect(broken).toEqual([]);
  });

  it('never point to a DESIGN.md, which is not in this repository', () => {
    expect(existsSync(path.join(ROOT, 'DESIGN.md'))).toBe(false);
    expect(DOCS.filter((doc) => /\]\([^)]*DESIGN\.md/.test(read(doc)))).toEqual([]);
  });
});

describe('the README', () => {
  const readme = read('README.md');

  it('is short enough to read top to bottom (at most 300 lines)', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
  });

  it('leaves benchmarks and design notes to docs/', () => {
    expect(readme).not.toMatch(/events\/s|messages\/s|µs|## Design notes|## Performance/);
  });

  it("says how to install flowd, the two commands and the clone's first example", () => {
    expect(readme).toContain('npm install flowd');
    expect(readme).toContain('npx flowd check app.ini');
    expect(readme).toContain('npx flowd run app.ini');
    expect(readme).toContain('npm ci && node bin/flowd.js run examples/hello/hello.ini');
    expect(readme).toContain('](examples/README.md)');
  });
});
