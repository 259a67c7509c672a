import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const run = promisify(execFile);
const CRUISE = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** The layer and cycle violations `npm run lint` reports for the code under `cwd`. */
async function violations(cwd: string): Promise<Violation[]> {
  const args = [CRUISE, '--config', path.join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json', 'machines', 'actors', 'src'];
  // depcruise exits with the number of errors: the report is on stdout either way.
  const { stdout } = await run(process.execPath, args, { cwd, maxBuffer: 64 * 1024 * 1024 }).catch((error: { stdout: string }) => error);
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('the layer rules of npm run lint', () => {
  it('fail on each kind of layer violation and on a cycle', async () => {
    const found = await violations(path.join(ROOT, 'test/fixtures/layers'));
    const byRule = (name: string) => found.filter((v) => v.rule.name === name).map((v) => `${v.from} -> ${v.to}`);
    expect(byRule('machines-import-only-the-kernel')).toEqual(['machines/door.ts -> actors/door-driver.ts']);
    expect(byRule('machines-touch-no-world')).toEqual(['machines/door.ts -> fs']);
    expect(byRule('actors-import-no-src')).toEqual(['actors/door-driver.ts -> src/runtime/start.ts']);
    expect(byRule('kernel-imports-no-flowd')).toEqual(['src/kernel/errors.ts -> machines/door.ts']);
    expect(byRule('no-cycle')).toContain('src/runtime/start.ts -> src/runtime/stop.ts');
  });

  it('find none in flowd itself', async () => {
    expect(await violations(ROOT)).toEqual([]);
  });
});
