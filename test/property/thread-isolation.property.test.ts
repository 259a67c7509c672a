import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Settlement } from '../../machines/events.js';
import { createRuntime } from '../../src/index.js';
import { manualSource } from '../helpers/manual-source.js';

const fixture = path.resolve(import.meta.dirname, '../fixtures/workers/threaded.ts');

const eventArb = fc.record({
  key: fc.constantFrom('a', 'b'),
  kind: fc.constantFrom<'ok' | 'fail'>('ok', 'ok', 'fail'),
  ms: fc.integer({ min: 0, max: 40 }),
});

const scenarioArb = fc.record({
  workers: fc.integer({ min: 1, max: 3 }),
  events: fc.array(eventArb, { minLength: 1, maxLength: 8 }),
  // At most one busy loop a scenario (each costs an execution timeout); undefined: none.
  hang: fc.option(fc.nat(7), { nil: undefined }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Runs a scenario under isolation = thread; returns the settlements with the time each arrived. */
async function run(scenario: Scenario) {
  // One beat a key, shared by the key's events in their threads: a busy loop beats on it, the others check that nothing does.
  const beats = { a: new Int32Array(new SharedArrayBuffer(4)), b: new Int32Array(new SharedArrayBuffer(4)) };
  const events = scenario.events.map((event, i) => ({
    ...event,
    kind: i === scenario.hang ? ('hang' as const) : event.kind,
    beat: beats[event.key],
  }));
  const source = manualSource();
  const settledAt = new Map<string, number>();
  const settle = source.driver.settle!.bind(source.driver);
  source.driver.settle = (s: Settlement) => {
    settledAt.set(s.id, Date.now());
    settle(s);
  };
  const runtime = createRuntime({
    isolation: 'thread',
    workerModule: { file: fixture, export: 'scripted' },
    source: source.driver,
    workers: scenario.workers,
    executionTimeout: '1500ms',
    orderBy: 'key',
    logger: false,
    app: { dir: mkdtempSync(path.join(os.tmpdir(), 'flowd-thread-property-')) },
  });
  await runtime.start();
  await source.ready;
  events.forEach((event, i) => source.deliver(event, `e${i}`));
  source.end();
  await runtime.done;
  return { events, settlements: source.settlements, settledAt };
}

/** When a run started, as its result or its error message says (a busy loop says nothing). */
function startedAt(s: Settlement): number | undefined {
  if (s.outcome === 'completed') return (s.result as { startedAt: number }).startedAt;
  const match = /started at (\d+)/.exec(s.error?.message ?? '');
  return match ? Number(match[1]) : undefined;
}

describe('isolation = thread, for any events, keys, failures and busy loops', () => {
  it('gives every event exactly one outcome, the one its worker earned, and starts a same-key event only after the one before it settled', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const { events, settlements, settledAt } = await run(scenario);
        // Exactly one outcome each.
        expect(settlements.map((s) => s.id).sort()).toEqual(events.map((_, i) => `e${i}`).sort());
        const by = new Map(settlements.map((s) => [s.id, s]));
        events.forEach((event, i) => {
          const s = by.get(`e${i}`)!;
          if (event.kind === 'ok') expect(s).toMatchObject({ outcome: 'completed', result: { overlapped: false } });
          else
            expect(s).toMatchObject({
              outcome: 'failed',
              error: { code: event.kind === 'hang' ? 'ERR_WORKER_TIMEOUT' : 'ERR_WORKER_FAILED' },
            });
        });
        // No run overlapped a busy loop of its key: the loop's thread was terminated before the key was released.
        expect(settlements.filter((s) => /overlapped true/.test(s.error?.message ?? ''))).toEqual([]);
        // Per key, in arrival order: the next one started only once the one before it had settled (a busy loop: once terminated).
        for (const key of ['a', 'b']) {
          const ids = events.flatMap((event, i) => (event.key === key ? [`e${i}`] : []));
          for (let i = 1; i < ids.length; i++) {
            const started = startedAt(by.get(ids[i]!)!);
            if (started !== undefined) expect(started).toBeGreaterThanOrEqual(settledAt.get(ids[i - 1]!)!);
          }
        }
      }),
      { numRuns: 4 },
    );
  }, 120_000);
});
