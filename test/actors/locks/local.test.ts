import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createLocalLocks } from '../../../actors/locks/local.js';
import { createLocks, Locked } from '../../../actors/locks/locks.js';
import { lockContract, settle, type LockBackendUnderTest } from '../../contracts/lock.js';

/** Local locks on a simulated clock; `advance` moves it in small steps so that renewals in flight land in between. */
function localOnSimulatedClock(leaseMs = 1000): LockBackendUnderTest & { clock: SimulatedClock } {
  const clock = new SimulatedClock();
  const locks = createLocks({ backend: 'local' }, { leaseMs }, clock);
  return {
    locks,
    clock,
    leaseMs,
    async advance(ms) {
      for (let left = ms; left > 0; left -= 10) {
        clock.increment(Math.min(10, left));
        await settle();
      }
    },
    cleanup: () => locks.close(),
  };
}

lockContract('local', () => Promise.resolve(localOnSimulatedClock()));

describe('local locks', () => {
  it('stops the actor of a key once it is free with nobody waiting, so memory does not grow with the keys locked', async () => {
    const locks = createLocalLocks({ leaseMs: 1000 });
    for (let i = 0; i < 100; i++) await locks.withLock(`asset-${i}`, () => {});
    await settle();
    expect(locks.liveKeys).toBe(0);
    const held = await locks.lock('asset-1');
    const waiting = locks.lock('asset-1');
    await settle();
    expect(locks.liveKeys).toBe(1);
    await held.release();
    await (await waiting).release();
    await settle();
    expect(locks.liveKeys).toBe(0);
    await locks.close();
  });

  it("keeps fences growing when a key's actor is stopped and created again", async () => {
    const locks = createLocalLocks({ leaseMs: 1000, fenceBase: 0 });
    const fences: number[] = [];
    for (let i = 0; i < 3; i++) {
      await locks.withLock('asset-1', (lock) => void fences.push(lock.fence));
      await locks.withLock('asset-2', (lock) => void fences.push(lock.fence));
      await settle();
      expect(locks.liveKeys).toBe(0);
    }
    const ofAsset1 = fences.filter((_, i) => i % 2 === 0);
    expect(ofAsset1).toEqual([...ofAsset1].sort((a, b) => a - b));
    expect(new Set(ofAsset1).size).toBe(3);
    await locks.close();
  });

  it('starts fences from the wall clock by default, above those of an earlier run of the daemon', async () => {
    const earlier = createLocalLocks({ leaseMs: 1000 });
    const last = await earlier.withLock('asset-1', (lock) => lock.fence);
    await earlier.close();
    await new Promise((resolve) => setTimeout(resolve, 2));
    const restarted = createLocalLocks({ leaseMs: 1000 });
    expect(await restarted.withLock('asset-1', (lock) => lock.fence)).toBeGreaterThan(last);
    expect(last).toBeLessThan(Number.MAX_SAFE_INTEGER);
    await restarted.close();
  });

  it('leaves no lock behind when the wait is aborted while the lock is being taken', async () => {
    const { locks } = localOnSimulatedClock();
    const controller = new AbortController();
    const given = locks.lock('asset-1', { signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(given).rejects.toThrow('gave up');
    const next = await locks.lock('asset-1');
    expect(next.signal.aborted).toBe(false);
    await next.release();
    await locks.close();
  });
});

describe('Locked', () => {
  it("excludes other holders of the same key in the process, like Flow's `with Locked(key):`", async () => {
    const order: string[] = [];
    const first = (async () => {
      await using _lock = await Locked('mystring');
      order.push('first in');
      await settle();
      order.push('first out');
    })();
    const second = (async () => {
      await using _lock = await Locked('mystring');
      order.push('second in');
    })();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second in']);
  });

  it('renews itself while held, so a holder outlasting the lease keeps it', async () => {
    vi.useFakeTimers();
    try {
      const lock = await Locked('long-job', { lease: 1000 });
      await vi.advanceTimersByTimeAsync(5000);
      expect(lock.signal.aborted).toBe(false);
      await lock.release();
      const again = await Locked('long-job');
      expect(again.fence).toBeGreaterThan(lock.fence);
      await again.release();
    } finally {
      vi.useRealTimers();
    }
  });
});
