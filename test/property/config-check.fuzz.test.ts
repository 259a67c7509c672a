import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/cli.js';
import { tempDir } from '../helpers/cli.js';
import { checkOutcome, iniFile, PROTOTYPE_NAMES, prototypeNameCases } from '../helpers/ini-fuzz.js';

// Issue 20, point 4: whatever an INI file says, `flowd check` exits 0, or 2 naming the file; never another code or a stack trace.
// This drives the CLI's own `check` in this process (fast); test/integration/config-check-cli.test.ts spawns it on a sample.

let tmp: Awaited<ReturnType<typeof tempDir>>;
let file: string;
beforeAll(async () => {
  tmp = await tempDir();
  await mkdir(path.join(tmp.dir, 'in'));
  file = path.join(tmp.dir, 'app.ini');
});
afterAll(async () => {
  await tmp.cleanup();
});

async function check(text: string): Promise<{ code: number; output: string }> {
  await writeFile(file, text);
  let output = '';
  const code = await main(['check', file], { stdout: (line) => (output += `${line}\n`), stderr: (line) => (output += `${line}\n`) });
  return { code, output };
}

describe('flowd check on random and mutated INI files', () => {
  it('exits 0, or 2 naming the file, for 3,000 of them; never another code or a stack trace', async () => {
    const codes = { 0: 0, 2: 0 };
    await fc.assert(
      fc.asyncProperty(iniFile(), async (text) => {
        const { code, output } = await check(text);
        expect(checkOutcome(code, output, file), `${JSON.stringify(text)}\n${output}`).toBe('ok');
        codes[code as 0 | 2] += 1;
      }),
      { numRuns: 3000 },
    );
    // Both outcomes occur: the generator is not all broken files, nor all good ones.
    expect(codes[0]).toBeGreaterThan(100);
    expect(codes[2]).toBeGreaterThan(100);
  }, 120_000);

  it(`exits 0 or 2 with every Object.prototype name (${PROTOTYPE_NAMES.length}) as a section, a key and a value`, async () => {
    const cases = prototypeNameCases();
    expect(cases.length).toBeGreaterThan(PROTOTYPE_NAMES.length * 5);
    for (const text of cases) {
      const { code, output } = await check(text);
      expect(checkOutcome(code, output, file), `${JSON.stringify(text)}\n${output}`).toBe('ok');
    }
  }, 60_000);
});
