import { describe, expect, it } from 'vitest';
import { createActor, setup, type AnyActorRef } from 'xstate';
import { eventAssigned, slotAbort, workerDone, workerFailed, type Job } from '../../machines/events.js';
import { workerSlotMachine, type SlotActionArgs } from '../../machines/worker-slot.js';

const job = (seq: number): Job => ({ seq, delivery: { id: `e${seq}`, payload: seq }, attempt: 1, startedAt: 0 });

/** The slot under a parent that records what it reports; startWorker/abortWorker are stubs. */
function harness(terminable = false) {
  const reports: Array<{ type: string }> = [];
  const started: Array<{ seq: number; run: number }> = [];
  const aborted: number[] = [];
  const slot = workerSlotMachine.provide({
    guards: { isTerminable: () => terminable },
    actions: {
      startWorker: ({ context }: SlotActionArgs) => started.push({ seq: context.job!.seq, run: context.run }),
      abortWorker: ({ context }: SlotActionArgs) => aborted.push(context.run),
    },
  });
  const parent = createActor(
    setup({ actors: { slot } }).createMachine({
      invoke: { id: 'slot', src: 'slot', input: { slotId: 'slot-0' } },
      on: { '*': { actions: ({ event }) => reports.push(event) } },
    }),
  ).start();
  const child = parent.getSnapshot().children.slot as AnyActorRef;
  return { child, reports, started, aborted, state: () => child.getSnapshot().value as string };
}

describe('workerSlotMachine', () => {
  it('starts the worker when an event is assigned and reports the result when it finishes', () => {
    const h = harness();
    h.child.send(eventAssigned(job(1)));
    expect(h.state()).toBe('busy');
    expect(h.started).toEqual([{ seq: 1, run: 1 }]);
    h.child.send(workerDone(1, 'ok'));
    expect(h.state()).toBe('idle');
    expect(h.reports).toContainEqual({ type: 'slot.finished', slotId: 'slot-0', seq: 1, result: 'ok' });
  });

  it('reports a failure with its code and message', () => {
    const h = harness();
    h.child.send(eventAssigned(job(1)));
    h.child.send(workerFailed(1, { code: 'ERR_X', message: 'nope' }));
    expect(h.reports).toContainEqual({ type: 'slot.failed', slotId: 'slot-0', seq: 1, error: { code: 'ERR_X', message: 'nope' } });
    expect(h.state()).toBe('idle');
  });

  it('ignores a result from an earlier run', () => {
    const h = harness();
    h.child.send(eventAssigned(job(1)));
    h.child.send(workerDone(1, 'first'));
    h.child.send(eventAssigned(job(2)));
    h.child.send(workerDone(1, 'stale'));
    expect(h.state()).toBe('busy');
    expect(h.reports.filter((r) => r.type === 'slot.finished')).toHaveLength(1);
  });

  it('aborts an abandoned run and retires once that run settles, reporting nothing but its retirement', () => {
    const h = harness();
    h.child.send(eventAssigned(job(1)));
    h.child.send(slotAbort());
    expect(h.state()).toBe('abandoned');
    expect(h.aborted).toEqual([1]);
    h.child.send(eventAssigned(job(2)));
    expect(h.started).toHaveLength(1);
    h.child.send(workerDone(1, 'late'));
    expect(h.child.getSnapshot().status).toBe('done');
    expect(h.reports.map((r) => r.type).filter((t) => t.startsWith('slot.'))).toEqual(['slot.retired']);
  });

  it('goes to terminating, not abandoned, when its worker runs in a thread it can terminate, and retires once the run settles', () => {
    const h = harness(true);
    h.child.send(eventAssigned(job(1)));
    h.child.send(slotAbort());
    expect(h.state()).toBe('terminating');
    expect(h.aborted).toEqual([1]);
    h.child.send(workerFailed(1, { code: 'ERR_WORKER_TIMEOUT', message: 'terminated' }));
    expect(h.child.getSnapshot().status).toBe('done');
    expect(h.reports.map((r) => r.type).filter((t) => t.startsWith('slot.'))).toEqual(['slot.retired']);
  });

  it('retires at once when told to abort while idle (its run finished just in time)', () => {
    const h = harness();
    h.child.send(slotAbort());
    expect(h.child.getSnapshot().status).toBe('done');
    expect(h.reports).toContainEqual({ type: 'slot.retired', slotId: 'slot-0' });
  });
});
