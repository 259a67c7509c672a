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

describe('the INI keys', () => {
  it('that flowd reads from a section are each documented in docs/', () => {
    // Every key goes through a SectionReader: reader.string('stomp url'), reader.duration('queue timeout', ...), ...
    const keys = new Set<string>();
    for (const file of ['src', 'actors'].flatMap(sources)) {
      for (const match of read(file).matchAll(/\b\w*[rR]eader\.(?:string|duration|boolean|integer|choice|has)\('([a-z][a-z ]*)'/g))
        keys.add(match[1]!);
    }
    expect(keys.size).toBeGreaterThan(60);
    const docs = readdirSync(path.join(ROOT, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => read(`docs/${name}`))
      .join('\n');
    expect([...keys].filter((key) => !docs.includes(`\`${key}\``)).sort()).toEqual([]);
  });
});
