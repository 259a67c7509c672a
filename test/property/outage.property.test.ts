import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startSupervisor } from '../helpers/supervisor-harness.js';

const scenarioArb = fc.record({
  workers: fc.integer({ min: 1, max: 4 }),
  retries: fc.integer({ min: 0, max: 2 }),
  ordered: fc.boolean(),
  /** When the store goes down and for how long (simulated ms). */
  downAt: fc.integer({ min: 0, max: 2000 }),
  downForMs: fc.integer({ min: 1, max: 20_000 }),
  events: fc.array(
    fc.record({
      gap: fc.integer({ min: 0, max: 100 }),
      key: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
      duration: fc.integer({ min: 1, max: 200 }),
    }),
    { minLength: 1, maxLength: 30 },
  ),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/**
 * Runs a scenario: the store is down from `downAt` for `downForMs`; a run
 * fails on it while it is down. With `pinged`, the outage's pings answer
 * as the store would; without, the store cannot be pinged and held events
 * are the probes. Returns the harness and when runs started during an outage.
 */
function simulate({ workers, retries, ordered, downAt, downForMs, events }: Scenario, pinged: boolean) {
  const isDown = (now: number) => now >= downAt && now < downAt + downForMs;
  const probeStarts: number[] = [];
  const pingsAt: number[] = [];
  const ping = () => {
    pingsAt.push(h.clock.now());
    if (isDown(h.clock.now())) throw new Error('store down');
    return 'up' as const;
  };
  const h = startSupervisor(
    {
      workers,
      retries,
      queueSize: 100,
      highWatermark: 80,
      lowWatermark: 40,
      queueTimeoutMs: 10_000_000,
      executionTimeoutMs: 10_000,
      orderBy: ordered ? ['k'] : undefined,
    },
    {
      ...(pinged ? { pings: ping } : {}),
      onStart: (run) => {
        if (h.ledger().outage) probeStarts.push(h.clock.now());
        const duration = events[Number(run.job.delivery.id.slice(1))]!.duration;
        h.clock.setTimeout(() => {
          if (isDown(h.clock.now())) run.fail({ code: 'ERR_STORE_UNAVAILABLE', message: 'store down' });
          else run.finish('ok');
        }, duration);
      },
    },
  );
  let at = 0;
  events.forEach((event, i) => {
    at += event.gap;
    h.clock.setTimeout(() => h.deliver({ k: event.key }, { id: `e${i}` }), at);
  });
  h.clock.setTimeout(() => h.actor.send({ type: 'source.ended' }), at);
  for (let step = 0; step < 20_000 && h.actor.getSnapshot().status === 'active'; step++) h.clock.increment(25);
  return { h, probeStarts, pingsAt };
}

/** What holds for every outage, probed either way: one outcome each, down and up in turn, pauses matched. */
function expectEveryEventDone(h: ReturnType<typeof startSupervisor>, events: Scenario['events']): void {
  expect(h.actor.getSnapshot().status).toBe('done');
  // Exactly one outcome each, all completed: an outage fails, returns and dead-letters nothing.
  expect(h.settlements).toHaveLength(events.length);
  expect(new Set(h.settlements.map((s) => s.id)).size).toBe(events.length);
  for (const s of h.settlements) expect(s).toMatchObject({ outcome: 'completed', attempts: 1 });
  expect(h.ledger().counters).toMatchObject({ retried: 0, failed: 0, returned: 0, deadLettered: 0 });
  // Down and up are said once per outage, and in turn.
  const said = h.emitted.filter((e) => e.type === 'dependency.down' || e.type === 'dependency.up').map((e) => e.type);
  expect(said).toEqual(said.map((_, i) => (i % 2 === 0 ? 'dependency.down' : 'dependency.up')));
  expect(said.length % 2).toBe(0);
  // Every pause for the dependency is matched by a resume.
  const reasons = h.toSource.map((e) => `${e.type}:${(e as { reason?: string }).reason}`);
  expect(reasons.filter((r) => r === 'source.pause:dependency').length).toBe(
    reasons.filter((r) => r === 'source.resume:dependency').length,
  );
}

/** One at a time, at least 100ms apart. */
function expectSpaced(times: number[]): void {
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(100);
}

describe('dependency outages (fast-check, simulated time)', () => {
  it('ends every event in exactly one outcome, completed on its first counted attempt, pinging the store one ping at a time and running no worker while it is down', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { h, probeStarts, pingsAt } = simulate(scenario, true);
        expectEveryEventDone(h, scenario.events);
        expect(probeStarts).toEqual([]);
        expectSpaced(pingsAt);
      }),
      { numRuns: 200 },
    );
  });

  it('does the same when the store cannot be pinged, with one held event at a time as the probe', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { h, probeStarts } = simulate(scenario, false);
        expectEveryEventDone(h, scenario.events);
        expectSpaced(probeStarts);
      }),
      { numRuns: 200 },
    );
  });
});
