import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LockHandle } from '../../actors/locks/lock-api.js';
import type { ClosableLocks } from '../../actors/locks/locks.js';
import { FlowdError, LockError } from '../../src/kernel/errors.js';
import { until } from '../helpers/wait.js';

/** One lock backend, set up for the contract. */
export interface LockBackendUnderTest {
  locks: ClosableLocks;
  /** The default lease the locks were made with (short for a real-time backend). */
  leaseMs: number;
  /** Lets `ms` pass for lease timers: advances a simulated clock, or waits for real. */
  advance(ms: number): Promise<void>;
  /** Closes the locks and removes what they left behind. */
  cleanup(): Promise<void>;
  /**
   * Asks the backend itself, outside these locks, whether `lock` holds its
   * key (Redis: its token is the value under the key). Omitted for a backend
   * kept wholly in this process, whose grants `isSettled` sees at once.
   */
  holds?(lock: LockHandle): Promise<boolean>;
  /** Takes the backend away and brings it back, for backends that can lose their connection. */
  outage?: { down(): Promise<void>; up(): Promise<void> };
}

/** Rejections as values, so a test can look at the error. */
const failureOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected a rejection, but the promise resolved');
    },
    (error: unknown) => error,
  );

/** Settles pending promise callbacks (in-process grants arrive a few microtasks later). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Resolves when the signal aborts. */
export const aborted = (signal: AbortSignal): Promise<unknown> =>
  new Promise((resolve) =>
    signal.aborted ? resolve(signal.reason) : signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );

/**
 * Whether a promise has settled by now (after letting callbacks run). Only
 * definite for in-process work: a remote backend's round trip takes longer.
 */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await settle();
  await settle();
  return settled;
}

/**
 * What every lock backend promises: one holder per key, FIFO waiters in a
 * process, growing fences, leases that lapse, renewals, cancellable waits,
 * a ping. `canLoseConnection` adds the outage case (the backend under test
 * must provide `outage`).
 */
export function lockContract(
  name: string,
  make: () => Promise<LockBackendUnderTest>,
  { canLoseConnection = false }: { canLoseConnection?: boolean } = {},
): void {
  describe(`Locks contract: ${name}`, () => {
    let backend: LockBackendUnderTest;
    let locks: ClosableLocks;
    beforeEach(async () => {
      backend = await make();
      locks = backend.locks;
    });
    afterEach(async () => backend.cleanup());

    /** `lock` is still held: the backend says so (when it can be asked), and another request here waits. */
    const expectStillHeld = async (lock: LockHandle): Promise<void> => {
      if (backend.holds) expect(await backend.holds(lock)).toBe(true);
      expect(await isSettled(locks.lock(lock.key, { signal: AbortSignal.timeout(10_000) }).then((next) => next.release()))).toBe(false);
    };

    it('hands out a free lock at once, with its key and a positive fence', async () => {
      const lock = await locks.lock('asset-1');
      expect(lock.key).toBe('asset-1');
      expect(lock.fence).toBeGreaterThan(0);
      expect(lock.signal.aborted).toBe(false);
      if (backend.holds) expect(await backend.holds(lock)).toBe(true);
      await lock.release();
      if (backend.holds) expect(await backend.holds(lock)).toBe(false);
    });

    it('makes a second request wait until the holder releases, then gives it a greater fence', async () => {
      const first = await locks.lock('asset-1');
      const second = locks.lock('asset-1');
      expect(await isSettled(second)).toBe(false);
      await first.release();
      const next = await second;
      expect(next.fence).toBeGreaterThan(first.fence);
      await next.release();
    });

    it('serves waiters in the order they asked, with strictly increasing fences', async () => {
      const holder = await locks.lock('asset-1');
      const order: string[] = [];
      const fences: number[] = [holder.fence];
      const waiters = ['a', 'b', 'c', 'd'].map((who) =>
        locks.withLock('asset-1', (lock) => {
          order.push(who);
          fences.push(lock.fence);
        }),
      );
      await settle();
      await holder.release();
      await Promise.all(waiters);
      expect(order).toEqual(['a', 'b', 'c', 'd']);
      expect(fences).toEqual([...fences].sort((x, y) => x - y));
      expect(new Set(fences).size).toBe(fences.length);
    });

    it('never lets two withLock calls on one key run at once', async () => {
      let inside = 0;
      let most = 0;
      await Promise.all(
        Array.from({ length: 8 }, () =>
          locks.withLock('counter', async () => {
            most = Math.max(most, ++inside);
            await settle();
            inside--;
          }),
        ),
      );
      expect(most).toBe(1);
    });

    it('does not make different keys wait for each other', async () => {
      const a = await locks.lock('asset-a');
      const b = await locks.lock('asset-b');
      expect(b.key).toBe('asset-b');
      await Promise.all([a.release(), b.release()]);
    });

    it('stops waiting when the signal aborts, rejecting with its reason and leaving the queue', async () => {
      const holder = await locks.lock('asset-1');
      const controller = new AbortController();
      const reason = new Error('event cancelled');
      const given = locks.lock('asset-1', { signal: controller.signal });
      const after = locks.lock('asset-1');
      await settle();
      controller.abort(reason);
      expect(await failureOf(given)).toBe(reason);
      await holder.release();
      const next = await after;
      expect(next.fence).toBeGreaterThan(holder.fence);
      await next.release();
      // Nobody holds it now: a fresh request gets it at once.
      await (await locks.lock('asset-1')).release();
    });

    it('rejects at once when the signal has already aborted', async () => {
      const reason = new Error('too late');
      expect(await failureOf(locks.lock('asset-1', { signal: AbortSignal.abort(reason) }))).toBe(reason);
      await (await locks.lock('asset-1')).release();
    });

    it('takes the lock from a holder that does not renew within its lease and gives it to the next waiter with a greater fence', async () => {
      const stale = await locks.lock('asset-1');
      const next = locks.lock('asset-1', { lease: backend.leaseMs * 4 });
      await backend.advance(backend.leaseMs);
      const reason = await aborted(stale.signal);
      expect(reason).toBeInstanceOf(LockError);
      expect(reason).toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect((reason as Error).message).toContain('"asset-1"');
      const successor = await next;
      expect(successor.fence).toBeGreaterThan(stale.fence);
      expect(await failureOf(stale.renew())).toMatchObject({ code: 'ERR_LOCK_LOST' });
      await stale.release(); // a no-op: it must not free the successor's lock
      await expectStillHeld(successor);
      await successor.release();
    });

    it('keeps a renewed lock past its original lease', async () => {
      const lock = await locks.lock('asset-1');
      await backend.advance(backend.leaseMs * 0.6);
      await lock.renew();
      await backend.advance(backend.leaseMs * 0.6);
      expect(lock.signal.aborted).toBe(false);
      await lock.renew();
      await lock.release();
    });

    it('renews automatically inside withLock, so work longer than the lease keeps the lock', async () => {
      const fence = await locks.withLock('asset-1', async (lock) => {
        await backend.advance(backend.leaseMs * 2);
        expect(lock.signal.aborted).toBe(false);
        return lock.fence;
      });
      expect(fence).toBeGreaterThan(0);
    });

    it('loses the lock inside withLock when autoRenew is off and the work outlasts the lease', async () => {
      const reason = await locks.withLock(
        'asset-1',
        async (lock) => {
          await backend.advance(backend.leaseMs);
          return aborted(lock.signal);
        },
        { autoRenew: false },
      );
      expect(reason).toMatchObject({ code: 'ERR_LOCK_LOST' });
    });

    it("returns what withLock's function returns and releases the lock after it, even when it throws", async () => {
      expect(await locks.withLock('asset-1', () => 'done')).toBe('done');
      const boom = new Error('boom');
      expect(await failureOf(locks.withLock('asset-1', () => Promise.reject(boom)))).toBe(boom);
      await (await locks.lock('asset-1', { signal: AbortSignal.timeout(5000) })).release();
    });

    it('releases a lock at the end of an `await using` block', async () => {
      let fence: number;
      {
        await using lock = await locks.lock('asset-1');
        fence = lock.fence;
      }
      const again = await locks.lock('asset-1', { signal: AbortSignal.timeout(5000) });
      expect(again.fence).toBeGreaterThan(fence);
      await again.release();
    });

    it('treats a second release as a no-op and refuses to renew a released lock', async () => {
      const lock = await locks.lock('asset-1');
      await lock.release();
      const successor = await locks.lock('asset-1');
      await lock.release(); // a no-op: it must not free the successor's lock
      expect(await failureOf(lock.renew())).toMatchObject({ code: 'ERR_LOCK_LOST' });
      await expectStillHeld(successor);
      await successor.release();
    });

    it('rejects waiting requests with ERR_LOCK_UNAVAILABLE when closed, marks held locks lost, and refuses new ones', async () => {
      const held: LockHandle = await locks.lock('asset-1');
      const waiting = failureOf(locks.lock('asset-1'));
      await settle();
      await locks.close();
      const refused = (await waiting) as LockError;
      expect(refused).toMatchObject({ code: 'ERR_LOCK_UNAVAILABLE' });
      expect(refused.message).toContain('"asset-1"');
      expect(refused.message).toContain(`${name} locks`);
      expect(held.signal.reason).toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect(await failureOf(locks.lock('asset-2'))).toMatchObject({ code: 'ERR_LOCK_UNAVAILABLE' });
    });

    it('answers a ping while it can take locks, and refuses one with ERR_LOCK_UNAVAILABLE once closed', async () => {
      await expect(locks.ping()).resolves.toBeUndefined();
      await expect(locks.ping(AbortSignal.timeout(5000))).resolves.toBeUndefined();
      await locks.close();
      expect(await failureOf(locks.ping())).toMatchObject({ code: 'ERR_LOCK_UNAVAILABLE' });
    });

    // Only backends with a connection have this case; in-process locks have none to lose.
    if (canLoseConnection)
      it('refuses a ping with ERR_LOCK_UNAVAILABLE, at once, while its backend is down, and answers again once it is back', async () => {
        const outage = backend.outage!;
        await locks.ping();
        await outage.down();
        const started = performance.now();
        expect(await failureOf(locks.ping())).toMatchObject({ code: 'ERR_LOCK_UNAVAILABLE' });
        expect(performance.now() - started).toBeLessThan(2000);
        await outage.up();
        await until(
          () =>
            locks.ping().then(
              () => true,
              () => false,
            ),
          { what: 'the locks to answer a ping again' },
        );
      });

    it('rejects an empty key and a lease that is not a positive whole number of ms', async () => {
      expect(await failureOf(locks.lock(''))).toBeInstanceOf(FlowdError);
      expect(await failureOf(locks.lock(''))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      for (const lease of [0, 1.5]) {
        const error = (await failureOf(locks.lock('asset-k', { lease }))) as Error;
        expect(error).toBeInstanceOf(FlowdError);
        expect(error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
        expect(error.message).toContain('"asset-k"');
        expect(error.message).toContain(`found ${lease}`);
      }
    });
  });
}
