import { createActor, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { zeroCounters } from '../../machines/supervisor.js';
import { readiness } from '../../src/inspector/attach.js';
import { createInspection } from '../../src/inspector/inspection.js';

/** A running runtime's snapshot with `slots` slots, `abandoned` of them abandoned, and what `extra` changes. */
const snapshot = (slots: number, abandoned: number, extra: Record<string, unknown> = {}) => ({
  app: 'ready',
  state: 'flowing',
  source: { type: 'stomp', state: 'running' },
  waiting: 0,
  running: 0,
  abandoned,
  slots: Array.from({ length: slots }, (_, i) => ({ id: `slot-${i}` })),
  counters: zeroCounters(),
  ...extra,
});
const reasons = (snap: ReturnType<typeof snapshot>) =>
  readiness({ snapshot: () => snap }, createInspection({ app: 'ready', now: () => 0 }));

describe('readiness (/readyz)', () => {
  it('is ready with a running source and at most half the slots abandoned', () => {
    expect(reasons(snapshot(3, 0))).toEqual([]);
    // Four usable slots and two abandoned ones: half, not more.
    expect(reasons(snapshot(6, 2))).toEqual([]);
  });

  it('is not ready when more than half the slots are abandoned, saying how many', () => {
    expect(reasons(snapshot(5, 2))).toEqual([
      '2 worker slot(s) are abandoned, more than half of 3: their runs passed the execution timeout and have not settled (a worker that ignores its AbortSignal)',
    ]);
  });

  it('is not ready while the source reconnects or has failed, or a dependency is down', () => {
    expect(reasons(snapshot(3, 0, { source: { type: 'stomp', state: 'reconnecting' } }))).toEqual(['source stomp is reconnecting']);
    expect(reasons(snapshot(3, 0, { source: { type: 'stomp', state: 'failed' } }))).toEqual(['source stomp is failed']);
    expect(
      reasons(
        snapshot(3, 0, { dependency: { down: true, error: { code: 'ERR_STORE_UNAVAILABLE', message: 'redis is down' }, downForMs: 1200 } }),
      ),
    ).toEqual(["the app's store or locks are unavailable (for 1200ms): redis is down"]);
  });

  it('names a failed source once, by its type, though its actor is seen failed too; other failed actors each give their reason', () => {
    const inspection = createInspection({ app: 'ready', now: () => 0 });
    const failing = (id: string) =>
      setup({}).createMachine({ id, initial: 'running', states: { running: { on: { lost: 'failed' } }, failed: { type: 'final' } } });
    for (const id of ['source', 'store']) createActor(failing(id), { inspect: inspection.observer }).start().send({ type: 'lost' });
    expect(inspection.failures()).toEqual(['source is failed', 'store is failed']);
    const failed = snapshot(3, 0, { source: { type: 'stomp', state: 'failed' } });
    expect(readiness({ snapshot: () => failed }, inspection)).toEqual(['source stomp is failed', 'store is failed']);
    // A source actor that failed while the runtime's snapshot still has the source running is told as the actor.
    expect(readiness({ snapshot: () => snapshot(3, 0) }, inspection)).toEqual(['source is failed', 'store is failed']);
  });
});
