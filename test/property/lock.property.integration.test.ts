import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { LockHandle } from '../../actors/locks/lock-api.js';
import { createLocks } from '../../actors/locks/locks.js';
import { redisArea, sleep } from '../helpers/redis-locks.js';
import { settle } from '../contracts/lock.js';

const LEASE_MS = 1000;

/** One step of a local scenario, on a simulated clock. */
const stepArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('request' as const),
      key: fc.constantFrom('a', 'b'),
      lease: fc.constantFrom(300, LEASE_MS),
      abortable: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('release' as const), key: fc.constantFrom('a', 'b') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('renew' as const), key: fc.constantFrom('a', 'b') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('abort' as const), which: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 700 }) }) },
);

interface Request {
  index: number;
  key: string;
  lease: number;
  controller: AbortController | undefined;
  outcome: 'waiting' | 'granted' | 'aborted';
  handle?: LockHandle;
  /** When its lease ends by the simulated clock, while it holds the lock. */
  deadline?: number;
  released?: boolean;
}

describe('local locks, for any interleaving of requests, releases, renewals, aborts and time', () => {
  it("never has two holders of a key, serves each key's waiters in request order with growing fences, and takes the lock from holders whose lease lapsed", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40 }), async (steps) => {
        const clock = new SimulatedClock();
        const locks = createLocks({ backend: 'local' }, { leaseMs: LEASE_MS }, clock);
        const requests: Request[] = [];
        const grants = new Map<string, Request[]>([
          ['a', []],
          ['b', []],
        ]);
        const holding = (request: Request) => request.outcome === 'granted' && !request.released && !request.handle!.signal.aborted;
        const holderOf = (key: string) => requests.find((request) => request.key === key && holding(request));

        const request = (key: string, lease: number, abortable: boolean) => {
          const entry: Request = {
            index: requests.length,
            key,
            lease,
            controller: abortable ? new AbortController() : undefined,
            outcome: 'waiting',
          };
          requests.push(entry);
          locks.lock(key, { lease, ...(entry.controller ? { signal: entry.controller.signal } : {}) }).then(
            (handle) => {
              // The property: nobody else holds this key at the moment it is granted.
              expect(holderOf(key)).toBeUndefined();
              Object.assign(entry, { outcome: 'granted', handle, deadline: clock.now() + lease });
              grants.get(key)!.push(entry);
            },
            () => (entry.outcome = 'aborted'),
          );
        };

        for (const step of steps) {
          if (step.op === 'request') request(step.key, step.lease, step.abortable);
          else if (step.op === 'release') {
            const holder = holderOf(step.key);
            if (holder) {
              holder.released = true;
              await holder.handle!.release();
            }
          } else if (step.op === 'renew') {
            const holder = holderOf(step.key);
            if (holder) {
              await holder.handle!.renew();
              holder.deadline = clock.now() + holder.lease;
            }
          } else if (step.op === 'abort') {
            const waiting = requests.filter((r) => r.outcome === 'waiting' && r.controller);
            waiting[step.which % Math.max(1, waiting.length)]?.controller!.abort(new Error('aborted'));
          } else {
            clock.increment(step.ms);
          }
          await settle();
          // A holder loses the lock exactly when its lease ends without a renewal.
          for (const r of requests) {
            if (r.outcome !== 'granted' || r.released) continue;
            expect(r.handle!.signal.aborted).toBe(clock.now() >= r.deadline!);
          }
        }
        // Let every waiter through.
        while (requests.some((r) => r.outcome === 'waiting')) {
          for (const key of ['a', 'b']) {
            const holder = holderOf(key);
            if (holder) {
              holder.released = true;
              await holder.handle!.release();
            }
          }
          await settle();
        }
        for (const key of ['a', 'b']) {
          const served = grants.get(key)!;
          const expected = requests.filter((r) => r.key === key && r.outcome === 'granted');
          expect(served.map((r) => r.index)).toEqual(expected.map((r) => r.index));
          const fences = served.map((r) => r.handle!.fence);
          for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]!);
        }
        await locks.close();
      }),
      { numRuns: 150 },
    );
  });
});

/** One job of a Redis scenario: which daemon asks, when, how long it holds, and whether it gives up waiting. */
const jobArb = fc.record({
  daemon: fc.integer({ min: 0, max: 1 }),
  startMs: fc.integer({ min: 0, max: 40 }),
  holdMs: fc.integer({ min: 0, max: 8 }),
  abortAfterMs: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
});

describe('redis locks, for any mix of two daemons taking, holding, releasing and giving up on one lock', () => {
  it("never has two holders, serves each daemon's waiters in request order, hands out growing fences and leaks no lock", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(jobArb, { minLength: 2, maxLength: 12 }), async (jobs) => {
        const area = redisArea(500);
        try {
          const daemons = [area.locks(), area.locks()];
          let holder: number | undefined;
          const overlaps: string[] = [];
          const granted: Array<{ job: number; daemon: number; fence: number }> = [];
          const asked: number[][] = [[], []];
          await Promise.all(
            jobs.map(async (job, index) => {
              await sleep(job.startMs);
              asked[job.daemon]!.push(index);
              const signal = job.abortAfterMs === undefined ? undefined : AbortSignal.timeout(job.abortAfterMs);
              let lock: LockHandle;
              try {
                lock = await daemons[job.daemon]!.lock('shared', signal ? { signal } : {});
              } catch (error) {
                if (error instanceof DOMException && error.name === 'TimeoutError') return;
                throw error;
              }
              if (holder !== undefined) overlaps.push(`job ${index} granted while job ${holder} held it`);
              holder = index;
              granted.push({ job: index, daemon: job.daemon, fence: lock.fence });
              await sleep(job.holdMs);
              if (lock.signal.aborted) overlaps.push(`job ${index} lost its lease`);
              holder = undefined;
              await lock.release();
            }),
          );
          expect(overlaps).toEqual([]);
          const fences = granted.map((grant) => grant.fence);
          for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]!);
          for (const daemon of [0, 1]) {
            const order = granted.filter((grant) => grant.daemon === daemon).map((grant) => grant.job);
            expect(order).toEqual(asked[daemon]!.filter((job) => order.includes(job)));
          }
          // Waits given up just as the lock was taken left nothing behind in Redis
          // (closing waits for such an attempt to give its lock back).
          await Promise.all(daemons.map((daemon) => daemon.close()));
          expect(await area.redis.exists(area.lockKey('shared'))).toBe(0);
        } finally {
          await area.cleanup();
        }
      }),
      { numRuns: 12 },
    );
  });
});
