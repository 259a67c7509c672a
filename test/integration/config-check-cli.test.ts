import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowd, tempDir } from '../helpers/cli.js';
import { checkOutcome, iniFile, PROTOTYPE_NAMES } from '../helpers/ini-fuzz.js';

// Issue 20, point 4, as a user meets it: the real `flowd check` process on a sample of the fuzzed files
// (test/property/config-check.fuzz.test.ts runs 3,000 of them in-process) and on each Object.prototype name.

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.cleanup();
});

/** Runs `flowd check` on each text, three processes at a time; returns what went wrong with each that failed. */
async function checkAll(texts: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < texts.length) {
      const index = next++;
      const dir = path.join(tmp.dir, `app-${index}`);
      await mkdir(path.join(dir, 'in'), { recursive: true });
      const file = path.join(dir, 'app.ini');
      await writeFile(file, texts[index]!);
      const child = flowd(['check', file], { cwd: dir });
      const { code } = await child.exit;
      const output = child.stdout() + child.stderr();
      const outcome = checkOutcome(code, output, file);
      if (outcome !== 'ok') problems.push(`${outcome}: ${JSON.stringify(texts[index])}\n${output}`);
    }
  };
  await Promise.all([lane(), lane(), lane()]);
  return problems;
}

describe('flowd check (the real process) on fuzzed INI files', () => {
  it('exits 0, or 2 naming the file, on 40 random and mutated files, with no stack trace', async () => {
    const seed = Date.now() ^ (Math.random() * 0x100000000);
    const texts = fc.sample(iniFile(), { numRuns: 40, seed });
    expect(await checkAll(texts), `seed ${seed}`).toEqual([]);
  }, 90_000);

  it('exits 0 or 2 with each Object.prototype name as a section, a key and [Source] type', async () => {
    const worker = path.resolve('test/fixtures/workers/plain.mjs');
    const texts = PROTOTYPE_NAMES.flatMap((name) => [
      `[Flow]\nclass = ${worker}\n[Source]\ntype = interval\n[${name}]\n${name} = ${name}\n`,
      `[Flow]\nclass = ${worker}\n[Source]\ntype = interval\n${name} = 1\n`,
      `[Flow]\nclass = ${worker}\n[Source]\ntype = ${name}\n`,
    ]);
    expect(await checkAll(texts)).toEqual([]);
  }, 90_000);
});
