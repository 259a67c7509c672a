import { describe, expect, it } from 'vitest';
import { flowd } from '../helpers/cli.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';

describe('the examples, run as the README says', () => {
  it('examples/lines sums the orders of each account in order and exits 0', async () => {
    const input = await readFile(path.join(ROOT, 'examples/lines/orders.jsonl'), 'utf8');
    const run = flowd(['run', 'examples/lines/lines.ini'], { input });
    expect((await run.exit).code).toBe(0);
    const lines = run.stdout().trim().split('\n');
    expect(lines.filter((l) => l.startsWith('alice'))).toEqual(['alice: +120 EUR -> 120 EUR', 'alice: -20 EUR -> 100 EUR', 'alice: +7 EUR -> 107 EUR']);
    expect(lines.filter((l) => l.startsWith('bob'))).toEqual(['bob: +40 EUR -> 40 EUR', 'bob: +2.5 EUR -> 42.5 EUR']);
    expect(lines).toHaveLength(6);
  });

  it('examples/hello greets on every tick until stopped, then exits 0', async () => {
    const run = flowd(['run', 'examples/hello/hello.ini']);
    await run.waitFor('stdout', /Hello from flowd \(tick-1 at /);
    run.child.kill('SIGINT');
    expect((await run.exit).code).toBe(0);
    expect(run.stderr()).toMatch(/hello stopped \(requested\)/);
  });

  it('flowd check accepts both examples', async () => {
    for (const ini of ['examples/hello/hello.ini', 'examples/lines/lines.ini']) {
      const run = flowd(['check', ini]);
      expect((await run.exit).code).toBe(0);
      expect(run.stdout()).toMatch(/: ok: /);
    }
  });
});
