import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, initialTransition, transition } from 'xstate';
import { eventReceived, eventsRevoked, runtimeStop, slotFailed, slotFinished } from '../../machines/events.js';
import { supervisorMachine } from '../../machines/supervisor.js';
import { deepFreeze, plainView } from '../helpers/frozen-view.js';
import { startSupervisor, testSettings } from '../helpers/supervisor-harness.js';

/** The notifications among a pure transition's actions. */
const emittedBy = (actions: ReadonlyArray<{ type: string; params?: unknown }>) =>
  actions.filter((a) => a.type === 'xstate.emit').map((a) => (a.params as { event: { type: string } }).event);

describe('supervisorMachine snapshots', () => {
  it('never changes a snapshot once taken, through runs, retries, keys, timeouts, revocations and a stop', () => {
    const h = startSupervisor({ workers: 2, retries: 1, orderBy: ['k'], queueSize: 20, highWatermark: 6, lowWatermark: 2 });
    const taken: Array<{ context: object; view: unknown }> = [];
    const take = () => {
      const { context } = h.actor.getSnapshot();
      taken.push({ context, view: plainView(context) });
      deepFreeze(context);
    };
    take();
    for (let i = 0; i < 8; i++) {
      h.deliver({ k: `k${i % 3}` });
      take();
    }
    h.running()[0]!.finish('ok');
    take();
    h.running()[0]!.fail();
    take();
    h.clock.increment(150); // the retry is due
    take();
    h.clock.increment(600); // past the execution timeout
    take();
    h.actor.send(eventsRevoked([h.running()[0]!.job.delivery.id], { code: 'ERR_REVOKED', message: 'gone' }));
    take();
    for (const run of h.running()) run.finish();
    take();
    h.actor.send(runtimeStop());
    take();
    h.clock.increment(1000);

    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.ledger().counters.received).toBe(8);
    expect(new Set(h.settlements.map((s) => s.id)).size).toBe(8);
    for (const { context, view } of taken) expect(plainView(context)).toEqual(view);
  });

  it("runs through xstate's pure transition(), its effects returned as actions and its snapshots untouched", () => {
    const origin = createActor(fromCallback(() => {})).start();
    const input = { settings: testSettings({ workers: 1 }), now: () => 10, random: () => 0.5 };
    const [started, startActions] = initialTransition(supervisorMachine, input);
    expect(startActions.filter((a) => a.type === 'xstate.spawnChild').map((a) => (a.params as { id: string }).id)).toEqual([
      'slot-0',
      'source',
    ]);
    const startedView = plainView(started.context);

    const [busy, assigned] = transition(supervisorMachine, started, eventReceived({ id: 'a', payload: 1, origin }));
    expect(assigned.map((a) => a.type)).toEqual(['xstate.sendTo', 'xstate.raise']);
    expect(assigned[0]!.params).toMatchObject({
      targetId: 'slot-0',
      event: { type: 'event.assigned', job: { seq: 0, attempt: 1, slotId: 'slot-0', startedAt: 10, delivery: { id: 'a' } } },
    });
    expect(busy.context.ledger.running).toBe(1);

    // The same snapshot, two futures: the slot fails the run in one, finishes it in the other.
    const [failed, failedActions] = transition(supervisorMachine, busy, slotFailed('slot-0', 0, { code: 'ERR_X', message: 'no' }));
    const [done, doneActions] = transition(supervisorMachine, busy, slotFinished('slot-0', 0, 'ok'));
    expect(failedActions.filter((a) => a.type === 'xstate.sendTo').map((a) => a.params as { to: unknown; event: unknown })).toEqual([
      {
        to: origin,
        targetId: undefined,
        event: { type: 'event.settled', settlement: expect.objectContaining({ id: 'a', outcome: 'failed', deadLetter: true }) },
      },
    ]);
    expect(emittedBy(failedActions).map((event) => event.type)).toEqual(['event.failed']);
    expect(emittedBy(doneActions)).toMatchObject([{ type: 'event.completed', id: 'a', result: 'ok' }]);
    expect([failed.context.ledger.counters.failed, done.context.ledger.counters.completed]).toEqual([1, 1]);
    expect([busy.context.ledger.running, busy.context.ledger.counters.completed, busy.context.ledger.counters.failed]).toEqual([1, 0, 0]);
    expect(plainView(started.context)).toEqual(startedView);
  });
});
