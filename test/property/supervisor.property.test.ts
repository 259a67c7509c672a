import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startSupervisor, type Run } from '../helpers/supervisor-harness.js';

/** What one event does on each attempt: run for `duration` ms, then fail or succeed; or hang forever. */
const attemptArb = fc.record({
  duration: fc.integer({ min: 0, max: 300 }),
  fails: fc.boolean(),
  hangs: fc.integer({ min: 0, max: 14 }).map((n) => n === 0),
});

const eventArb = fc.record({
  gap: fc.integer({ min: 0, max: 60 }),
  key: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
  attempts: fc.array(attemptArb, { minLength: 1, maxLength: 4 }),
});

const scenarioArb = fc.record({
  workers: fc.integer({ min: 1, max: 4 }),
  retries: fc.integer({ min: 0, max: 2 }),
  ordered: fc.boolean(),
  queueTimeoutMs: fc.integer({ min: 50, max: 3000 }),
  executionTimeoutMs: fc.integer({ min: 50, max: 400 }),
  queueSize: fc.integer({ min: 3, max: 30 }),
  events: fc.array(eventArb, { minLength: 1, maxLength: 40 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Runs a scenario in simulated time and returns everything observed. */
function simulate(scenario: Scenario) {
  const { workers, retries, ordered, queueTimeoutMs, executionTimeoutMs, queueSize, events } = scenario;
  const index = new Map<string, number>();
  const starts: Array<{ event: number; attempt: number }> = [];
  const running = new Set<Run>();
  const runningKeys = new Map<string, number>();
  let maxBusy = 0;
  const overlaps: string[] = [];
  const keyOf = (event: number) => events[event]!.key;
  const stop = (run: Run) => {
    if (!running.delete(run)) return;
    const key = keyOf(index.get(run.job.delivery.id)!);
    if (ordered && key !== undefined) runningKeys.set(key, runningKeys.get(key)! - 1);
  };

  const h = startSupervisor(
    {
      workers,
      retries,
      queueTimeoutMs,
      executionTimeoutMs,
      queueSize,
      highWatermark: Math.max(1, Math.ceil(queueSize * 0.8)),
      lowWatermark: Math.floor(queueSize * 0.4),
      backoff: { kind: 'exponential', delayMs: 20, maxDelayMs: 200 },
      orderBy: ordered ? ['k'] : undefined,
    },
    {
      onStart: (run) => {
        const event = index.get(run.job.delivery.id)!;
        starts.push({ event, attempt: run.attempt });
        running.add(run);
        maxBusy = Math.max(maxBusy, running.size);
        const key = keyOf(event);
        if (ordered && key !== undefined) {
          const now = (runningKeys.get(key) ?? 0) + 1;
          runningKeys.set(key, now);
          if (now > 1) overlaps.push(key);
        }
        const script = events[event]!.attempts;
        const plan = script[Math.min(run.attempt, script.length) - 1]!;
        if (plan.hangs) return;
        h.clock.setTimeout(() => {
          if (run.aborted) {
            run.finish(); // the abandoned promise settles at last
            return;
          }
          stop(run);
          if (plan.fails) run.fail();
          else run.finish(event);
        }, plan.duration);
      },
      onAbort: (run) => stop(run),
    },
  );

  let at = 0;
  events.forEach((event, i) => {
    at += event.gap;
    h.clock.setTimeout(() => {
      const id = `e${i}`;
      index.set(id, i);
      h.deliver({ k: event.key }, { id });
    }, at);
  });
  h.clock.setTimeout(() => h.actor.send({ type: 'source.ended' }), at);

  for (let step = 0; step < 10_000 && h.actor.getSnapshot().status === 'active'; step++) h.clock.increment(50);
  return { h, starts, maxBusy, overlaps };
}

describe('supervisor properties (fast-check, simulated time)', () => {
  it('holds ordering, bounds, exactly-one-outcome and attempt limits for any arrivals, durations, failures and keys', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { h, starts, maxBusy, overlaps } = simulate(scenario);
        const { events, workers, retries, ordered } = scenario;

        // (c) every event ends in exactly one outcome, and the run ends once all have.
        expect(h.actor.getSnapshot().status).toBe('done');
        const outcomes = new Map<string, string[]>();
        for (const s of h.settlements) outcomes.set(s.id, [...(outcomes.get(s.id) ?? []), s.outcome]);
        expect(outcomes.size).toBe(events.length);
        for (const list of outcomes.values()) expect(list).toHaveLength(1);
        const counters = h.ledger().counters;
        const count = (outcome: string) => h.settlements.filter((s) => s.outcome === outcome).length;
        expect(counters.completed).toBe(count('completed'));
        expect(counters.failed).toBe(count('failed'));
        expect(counters.expired).toBe(count('expired'));
        expect(counters.rejected).toBe(count('rejected'));

        // (b) busy workers never exceed N.
        expect(maxBusy).toBeLessThanOrEqual(workers);

        // (a) first attempts start in arrival order (per key when ordered).
        const firsts = starts.filter((s) => s.attempt === 1).map((s) => s.event);
        const groups = new Map<string, number[]>();
        for (const event of firsts) {
          const group = ordered ? String(events[event]!.key) : 'all';
          groups.set(group, [...(groups.get(group) ?? []), event]);
        }
        for (const order of groups.values()) expect(order).toEqual([...order].sort((a, b) => a - b));

        // (d) events with the same key never run at once.
        expect(overlaps).toEqual([]);

        // (e) attempts never exceed retries + 1.
        const attempts = new Map<number, number>();
        for (const s of starts) attempts.set(s.event, (attempts.get(s.event) ?? 0) + 1);
        for (const n of attempts.values()) expect(n).toBeLessThanOrEqual(retries + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('completes every event whose worker always succeeds in time, when nothing can expire', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 20 }), duration: fc.integer({ min: 0, max: 100 }) }), {
          minLength: 1,
          maxLength: 60,
        }),
        (workers, list) => {
          const events = list.map(({ gap, duration }) => ({ gap, key: undefined, attempts: [{ duration, fails: false, hangs: false }] }));
          const { h } = simulate({
            workers,
            retries: 0,
            ordered: false,
            queueTimeoutMs: 1_000_000,
            executionTimeoutMs: 1000,
            queueSize: 100,
            events,
          });
          expect(h.settlements.map((s) => s.outcome)).toEqual(events.map(() => 'completed'));
          expect(h.actor.getSnapshot().output).toMatchObject({ reason: 'ended' });
        },
      ),
      { numRuns: 200 },
    );
  });
});
