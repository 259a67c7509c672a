import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, setup, type AnyActor, type AnyActorRef } from 'xstate';
import { eventAssigned, eventReceived, eventSettled, type Job } from '../../machines/events.js';
import { lockMachine } from '../../machines/lock.js';
import { notProvidedError } from '../../machines/not-provided.js';
import { pluginMachine } from '../../machines/plugin.js';
import { sourceMachine, type FeedInput, type SourceEvent } from '../../machines/source.js';
import { storeMachine } from '../../machines/store.js';
import { supervisorMachine } from '../../machines/supervisor.js';
import { workerSlotMachine } from '../../machines/worker-slot.js';
import { workflowRunMachine } from '../../machines/workflow-run.js';
import { FlowdError } from '../../src/kernel/errors.js';
import { testSettings } from '../helpers/supervisor-harness.js';
import { flush as settle } from '../helpers/wait.js';

const missing = (machine: string, kind: 'action' | 'actor', name: string) =>
  `${machine} machine: ${kind} "${name}" was not provided (the runtime must provide it)`;

/** Starts `actor`, keeping the error it fails with (so xstate does not report it as unhandled). */
function watch<T extends AnyActor>(actor: T): { actor: T; error: () => unknown } {
  let error: unknown;
  actor.subscribe({ error: (e) => void (error = e) });
  actor.start();
  return { actor, error: () => error };
}

/** A sink that records what it is told. */
function sink() {
  const told: Array<{ type: string; error?: { code: string; message: string } }> = [];
  const ref = createActor(fromCallback(({ receive }) => receive((e: (typeof told)[number]) => void told.push(e)))).start();
  return { ref: ref as AnyActorRef, told };
}

const job: Job = { seq: 1, delivery: { id: 'e1', payload: 1 }, attempt: 1, startedAt: 0 };

// The source's actors as a test provides them, each to be left out in turn.
const sourceActors = {
  connect: fromPromise<void, undefined>(async () => {}),
  feed: fromCallback<SourceEvent, FeedInput>(() => {}),
  disconnect: fromPromise<void, undefined>(async () => {}),
};

describe('notProvidedError', () => {
  it('is a FlowdError coded ERR_INTERNAL that names the machine and the missing piece', () => {
    const error = notProvidedError('source', 'action', 'settleEvent');
    expect(error).toBeInstanceOf(FlowdError);
    expect(error.code).toBe('ERR_INTERNAL');
    expect(error.message).toBe('source machine: action "settleEvent" was not provided (the runtime must provide it)');
  });
});

describe('a machine run without its wiring fails at once, naming what is missing', () => {
  it('source: an outcome with no settleEvent fails the source rather than losing the acknowledgement', async () => {
    const { ref } = sink();
    const { actor, error } = watch(createActor(sourceMachine.provide({ actors: sourceActors }), { input: { sink: ref } }));
    await settle();
    expect(actor.getSnapshot().value).toEqual({ active: 'running' });
    actor.send(eventSettled({ id: 'e1', outcome: 'completed', ack: true, attempts: 1, deadLetter: false }));
    expect(actor.getSnapshot().status).toBe('error');
    expect(error()).toBeInstanceOf(FlowdError);
    expect((error() as FlowdError).message).toBe(missing('source', 'action', 'settleEvent'));
  });

  it('source: no connect fails the source, and the sink is told why', async () => {
    const { ref, told } = sink();
    const { connect: _, ...rest } = sourceActors;
    const { actor } = watch(createActor(sourceMachine.provide({ actors: rest }), { input: { sink: ref } }));
    await settle();
    expect(actor.getSnapshot().value).toBe('failed');
    expect(told).toMatchObject([
      { type: 'source.failed', error: { code: 'ERR_INTERNAL', message: missing('source', 'actor', 'connect') } },
    ]);
  });

  it('source: no feed fails the source as it becomes active', async () => {
    const { ref } = sink();
    const { feed: _, ...rest } = sourceActors;
    const { actor, error } = watch(createActor(sourceMachine.provide({ actors: rest }), { input: { sink: ref } }));
    await settle();
    expect(actor.getSnapshot().status).toBe('error');
    expect((error() as FlowdError).message).toBe(missing('source', 'actor', 'feed'));
  });

  it('store: no openBackend leaves the store failed with the reason', async () => {
    const logic = storeMachine.provide({ actors: { closeBackend: fromPromise(async () => {}), watchBackend: fromCallback(() => {}) } });
    const { actor } = watch(createActor(logic));
    await settle();
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.error).toEqual({ code: 'ERR_INTERNAL', message: missing('store', 'actor', 'openBackend') });
  });

  it('store: no watchBackend fails the store as it starts', () => {
    const logic = storeMachine.provide({ actors: { openBackend: fromPromise(async () => {}), closeBackend: fromPromise(async () => {}) } });
    const { actor, error } = watch(createActor(logic));
    expect(actor.getSnapshot().status).toBe('error');
    expect((error() as FlowdError).message).toBe(missing('store', 'actor', 'watchBackend'));
  });

  it('lock: no acquire tells the waiter lock.failed with the reason', async () => {
    const failed: unknown[] = [];
    const actor = createActor(lockMachine, { input: { key: 'k' } });
    actor.on('lock.failed', (event) => void failed.push(event.error));
    actor.start();
    actor.send({ type: 'lock.requested', requestId: 'a', leaseMs: 1000 });
    await settle();
    expect(failed).toHaveLength(1);
    expect(failed[0]).toBeInstanceOf(FlowdError);
    expect((failed[0] as FlowdError).message).toBe(missing('lock', 'actor', 'acquire'));
  });

  it('plugin: no load deactivates the plugin with the reason', async () => {
    const { actor } = watch(createActor(pluginMachine, { input: { name: 'notify', file: '/plugins/notify.mjs' } }));
    await settle();
    expect(actor.getSnapshot().value).toBe('deactivated');
    expect(actor.getSnapshot().context.error?.message).toContain(missing('plugin', 'actor', 'load'));
  });

  it('workflow-run: no decide fails the run actor with the reason', async () => {
    const { actor, error } = watch(createActor(workflowRunMachine, { input: { runId: 'r1', workflow: { name: 'hello', version: 1 } } }));
    await settle();
    expect(actor.getSnapshot().status).toBe('error');
    expect((error() as FlowdError).message).toBe(missing('workflow-run', 'action', 'decide'));
  });

  it('worker-slot: no startWorker fails the slot at its first event', () => {
    const abortWorker = () => {};
    const parent = createActor(
      setup({ actors: { slot: workerSlotMachine.provide({ actions: { abortWorker } }) } }).createMachine({
        invoke: { id: 'slot', src: 'slot', input: { slotId: 'slot-0' } },
      }),
    );
    const { actor, error } = watch(parent);
    (actor.getSnapshot().children.slot as AnyActorRef).send(eventAssigned(job));
    expect(actor.getSnapshot().status).toBe('error');
    expect((error() as FlowdError).message).toBe(missing('worker-slot', 'action', 'startWorker'));
  });

  it('supervisor: no source stops the supervisor, naming the missing source', async () => {
    const logic = supervisorMachine.provide({ actors: { workerSlot: workerSlotMachine.provide({ actions: { startWorker: () => {} } }) } });
    const { actor } = watch(createActor(logic, { input: { settings: testSettings(), now: () => 0, random: () => 0.5 } }));
    await settle();
    expect(actor.getSnapshot().context.ledger.stopReason).toBe('source failed');
    expect(actor.getSnapshot().context.ledger.sourceError).toMatchObject({
      code: 'ERR_INTERNAL',
      message: missing('supervisor', 'actor', 'source'),
    });
  });

  it('supervisor: no workerSlot fails the supervisor at the first event it assigns', async () => {
    let toSupervisor: AnyActorRef | undefined;
    const source = sourceMachine.provide({
      actors: { ...sourceActors, feed: fromCallback(({ input }) => void (toSupervisor = input.sink)) },
      actions: { settleEvent: () => {} },
    });
    const logic = supervisorMachine.provide({ actors: { source } });
    const { actor, error } = watch(createActor(logic, { input: { settings: testSettings(), now: () => 0, random: () => 0.5 } }));
    await settle();
    toSupervisor!.send(eventReceived({ id: 'e1', payload: 1 }));
    expect(actor.getSnapshot().status).toBe('error');
    expect((error() as FlowdError).message).toBe(missing('supervisor', 'actor', 'workerSlot'));
  });
});

describe('the stand-ins carry the real types, so .provide() is type-checked', () => {
  it('refuses an actor of the wrong output or input (checked by tsc)', () => {
    // Each line below fails typecheck; the test only shows that they still build a machine.
    // @ts-expect-error acquire resolves with { fence, token }, not a number.
    lockMachine.provide({ actors: { acquire: fromPromise(async () => 42) } });
    const loadByPath = fromPromise(async ({ input }: { input: { path: string } }) => ({ callbacks: [], mtimeMs: input.path.length }));
    // @ts-expect-error load is given { name, file, loads }, not { path }.
    pluginMachine.provide({ actors: { load: loadByPath } });
    // @ts-expect-error decide is given { context, self }, whose context has no `path`.
    workflowRunMachine.provide({ actions: { decide: ({ context }: { context: { path: string } }) => void context.path } });
    // @ts-expect-error the feed is given { sink, source, batchSize, paused }.
    sourceMachine.provide({ actors: { feed: fromCallback(({ input }: { input: { url: string } }) => void input.url) } });
    // @ts-expect-error openBackend resolves with nothing.
    storeMachine.provide({ actors: { openBackend: fromPromise(async () => 'ready') } });
    // @ts-expect-error the supervisor's source is a source machine, not any actor.
    supervisorMachine.provide({ actors: { source: fromPromise(async () => {}) } });
    expect(true).toBe(true);
  });
});
