import { describe, expect, it } from 'vitest';
import { coalescedPass } from '../../actors/coalesced-pass.js';
import { deferred } from '../helpers/once.js';

describe('coalescedPass', () => {
  it('runs calls made during a pass as one more pass, never two at once', async () => {
    const gates = [deferred(), deferred()];
    let running = 0;
    let passes = 0;
    const scanner = coalescedPass(async () => {
      running++;
      expect(running).toBe(1);
      await gates[passes++]!.promise;
      running--;
      return true;
    });
    const first = scanner.run();
    const joined = [scanner.run(), scanner.run(), scanner.run()];
    gates[0]!.resolve();
    gates[1]!.resolve();
    expect(await first).toBe(true);
    expect(await Promise.all(joined)).toEqual([false, false, false]);
    expect(passes).toBe(2);
    expect(scanner.current).toBeUndefined();
  });

  it('stops repeating when the pass returns false', async () => {
    let passes = 0;
    const gate = deferred();
    const scanner = coalescedPass(async () => {
      passes++;
      await gate.promise;
      return false;
    });
    const first = scanner.run();
    const joined = scanner.run();
    gate.resolve();
    await Promise.all([first, joined]);
    expect(passes).toBe(1);
  });
});
