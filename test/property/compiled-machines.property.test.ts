import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  and,
  assign,
  cancel,
  createActor,
  emit,
  enqueueActions,
  fromCallback,
  fromPromise,
  fromTransition,
  not,
  raise,
  sendParent,
  sendTo,
  setup,
  SimulatedClock,
  stateIn,
  type AnyActorRef,
  type AnyStateMachine,
  type EventObject,
  type InspectionEvent,
} from 'xstate';
import { compileMachine } from '../../machines/compile.js';
import { lockMachine } from '../../machines/lock.js';
import { pluginMachine } from '../../machines/plugin.js';
import { sourceMachine } from '../../machines/source.js';
import { supervisorMachine } from '../../machines/supervisor.js';
import { storeMachine } from '../../machines/store.js';
import { workerSlotMachine } from '../../machines/worker-slot.js';
import { workflowRunMachine } from '../../machines/workflow-run.js';
import { testSettings } from '../helpers/supervisor-harness.js';

/**
 * Every compiled machine runs beside xstate's own interpreter over random
 * event sequences (and ticks of a simulated clock, for `after`). Each runs as
 * the child of a recording parent, in a system of its own, and the two
 * traces must be equal, in order: the actions run (type and params, from the
 * inspector's `@xstate.action`), the events sent (to the parent, to children,
 * to itself later), the events emitted, and after every event the state
 * value, context, status, output, error, children, and `can` of the next event.
 */

type Step = { tick: number } | { event: EventObject };
/** The machine's input, or a function making it from the recording parent and the system's clock (a sink, a `now`). */
type InputOf = unknown;
type MakeInput = (parent: AnyActorRef, clock: SimulatedClock) => unknown;
type LooseEnqueue = ((action: unknown) => void) & {
  assign(values: object): void;
  raise(event: EventObject, options?: object): void;
  emit(event: unknown): void;
  cancel(id: string): void;
  sendTo(to: unknown, event: unknown, options?: object): void;
  sendParent(event: unknown): void;
  spawnChild(src: string, options?: object): void;
  stopChild(ref: unknown): void;
};

/** Actor refs by id, functions and errors by name: what two systems can share. */
function norm(value: unknown, seen = new Set<unknown>()): unknown {
  if (value === null || typeof value !== 'object')
    return typeof value === 'function' ? `fn:${(value as { type?: string }).type ?? value.name}` : value;
  if ('sessionId' in value && 'send' in value) return `ref:${(value as AnyActorRef).id}`;
  if (value instanceof Error) return `error:${value.message}`;
  if (seen.has(value)) return 'cycle';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => norm(item, seen));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, norm(item, seen)]));
}

const spawnChildOf = createActor as unknown as (logic: unknown, options: object) => AnyActorRef;

function trace(logic: unknown, given: InputOf, steps: Step[], makeInput?: MakeInput): unknown[] {
  const log: unknown[] = [];
  const clock = new SimulatedClock();
  let child: AnyActorRef | undefined;
  const inspect = (event: InspectionEvent) => {
    if (!child) return;
    if (event.type === '@xstate.action' && event.actorRef === child) log.push(['action', event.action.type, norm(event.action.params)]);
    if (event.type === '@xstate.event' && event.sourceRef === child) log.push(['sent', norm(event.actorRef), norm(event.event)]);
  };
  const parent = createActor(
    fromTransition((state: null, event: EventObject) => {
      log.push(['parent received', norm(event)]);
      return state;
    }, null),
    { clock, inspect, id: 'parent' },
  ).start();
  const input = makeInput ? makeInput(parent, clock) : given;
  child = spawnChildOf(logic, { parent, input, id: 'machine' });
  child.on('*', (event: EventObject) => log.push(['emitted', norm(event)]));
  const view = (next?: EventObject) => {
    const s = child!.getSnapshot() as {
      value: unknown;
      status: string;
      context: unknown;
      output: unknown;
      error: unknown;
      children: Record<string, unknown>;
      can(e: EventObject): boolean;
    };
    return [
      'snapshot',
      s.value,
      s.status,
      norm(s.context),
      norm(s.output),
      norm(s.error),
      Object.keys(s.children).sort(),
      next && s.status === 'active' ? s.can(next) : undefined,
    ];
  };
  child.start();
  log.push(view());
  steps.forEach((step, i) => {
    // A machine that ended takes no more events (xstate warns of each): the trace has already said it ended.
    if ((child!.getSnapshot() as { status: string }).status !== 'active') return;
    if ('tick' in step) clock.increment(step.tick);
    else child!.send(step.event);
    const next = steps.slice(i + 1).find((s): s is { event: EventObject } => 'event' in s)?.event;
    log.push(view(next));
  });
  return log;
}

/** Runs `machine` interpreted and compiled over random steps and asserts the traces are equal. */
function agree(
  machine: AnyStateMachine,
  input: fc.Arbitrary<unknown>,
  event: fc.Arbitrary<EventObject>,
  runs = 200,
  makeInput?: (given: unknown) => MakeInput,
): void {
  const compiled = compileMachine(machine);
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 5, arbitrary: event.map((e) => ({ event: e })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2000 }).map((tick) => ({ tick })) },
  );
  fc.assert(
    fc.property(input, fc.array(step, { maxLength: 40 }), (given, steps) => {
      const interpreted = trace(machine, given, steps, makeInput?.(given));
      expect(trace(compiled, given, steps, makeInput?.(given))).toEqual(interpreted);
    }),
    { numRuns: runs },
  );
}

const errorInfo = fc.record(
  { code: fc.constantFrom('ERR_WORKER_FAILED', 'ERR_STORE_UNAVAILABLE', 'ERR_CONFLICT'), message: fc.string({ maxLength: 5 }) },
  { noNullPrototype: true },
);
const never = fromPromise(() => new Promise<never>(() => {}));

describe('compiled machines agree with xstate interpreter', () => {
  it('worker slot', () => {
    for (const terminable of [false, true]) {
      const machine = workerSlotMachine.provide({
        guards: { isTerminable: () => terminable },
        actions: { startWorker: () => {}, abortWorker: () => {} },
      });
      const job = fc.record({
        seq: fc.nat(9),
        attempt: fc.integer({ min: 1, max: 3 }),
        startedAt: fc.nat(99),
        delivery: fc.record({ id: fc.string({ maxLength: 3 }), payload: fc.nat() }),
      });
      const event = fc.oneof(
        job.map((j) => ({ type: 'event.assigned', job: j })),
        fc.option(errorInfo, { nil: undefined }).map((reason) => (reason ? { type: 'slot.abort', reason } : { type: 'slot.abort' })),
        fc.record({ run: fc.nat(3), output: fc.nat() }).map((e) => ({ type: 'worker.done', ...e })),
        fc.record({ run: fc.nat(3), error: errorInfo }).map((e) => ({ type: 'worker.failed', ...e })),
      );
      agree(machine as AnyStateMachine, fc.record({ slotId: fc.constantFrom('slot-1', 'slot-2') }), event);
    }
  });

  it('store', () => {
    const machine = storeMachine.provide({
      actors: { openBackend: never as never, closeBackend: never as never, watchBackend: fromCallback(() => {}) },
    });
    const event = fc.oneof(
      fc.constant({ type: 'store.available' }),
      errorInfo.map((error) => ({ type: 'store.unavailable', error })),
      fc.constant({ type: 'store.close' }),
      fc.constantFrom('0.store.opening', '0.store.closing').chain((id) =>
        fc.oneof(
          fc.constant({ type: `xstate.done.actor.${id}` }),
          errorInfo.map((error) => ({ type: `xstate.error.actor.${id}`, error })),
        ),
      ),
      fc.constant({ type: 'xstate.error.actor.watchBackend', error: { code: 'ERR_STORE', message: 'gone' } }),
    );
    agree(machine as AnyStateMachine, fc.constant(undefined), event);
  });

  it('workflow run', () => {
    const machine = workflowRunMachine.provide({ actions: { decide: () => {} } });
    const outcome = fc
      .option(fc.constantFrom('completed', 'failed', 'restarted'), { nil: undefined })
      .map((kind) => (kind ? { kind } : undefined));
    const event = fc.oneof(
      fc.constantFrom({ type: 'activity.finished' }, { type: 'run.deadline' }),
      fc.record({ pending: fc.nat(3), outcome }).map((output) => ({ type: 'decision.made', output })),
      errorInfo.map((error) => ({ type: 'decision.failed', error })),
    );
    agree(machine as AnyStateMachine, fc.record({ runId: fc.constantFrom('r1', 'r2') }), event);
  });

  it('plugin', () => {
    const machine = pluginMachine.provide({ actors: { load: never as never }, actions: { startLoad: () => {} } } as never);
    const ids = ['0.plugin.loading', '0.plugin.reloading'];
    const event = fc.oneof(
      fc.constantFrom({ type: 'plugin.changed' }, { type: 'plugin.removed' }),
      errorInfo.map((error) => ({ type: 'plugin.failed', error })),
      fc.constantFrom(...ids).chain((id) =>
        fc.oneof(
          fc.record({ callbacks: fc.constant([]), mtimeMs: fc.nat(9) }).map((output) => ({ type: `xstate.done.actor.${id}`, output })),
          errorInfo.map((error) => ({ type: `xstate.error.actor.${id}`, error })),
        ),
      ),
    );
    agree(
      machine as AnyStateMachine,
      fc.record({ name: fc.constant('p'), file: fc.constant('p.js'), deactivated: fc.option(errorInfo, { nil: undefined }) }),
      event,
    );
  });

  it('lock (eventless transitions out of expired and passing)', () => {
    const machine = lockMachine.provide({ actors: { acquire: never as never } });
    const requestId = fc.constantFrom('r1', 'r2', 'r3');
    const leaseMs = fc.integer({ min: 100, max: 3000 });
    const event = fc.oneof(
      fc.record({ requestId, leaseMs }).map((e) => ({ type: 'lock.requested', ...e })),
      fc.record({ requestId, leaseMs }).map((e) => ({ type: 'lock.renewed', ...e })),
      fc.constantFrom('lock.released', 'lock.cancelled', 'lock.revoked').chain((type) => requestId.map((id) => ({ type, requestId: id }))),
      fc
        .record({ fence: fc.nat(5), token: fc.constantFrom('t1', 't2'), leaseMs })
        .map((output) => ({ type: 'xstate.done.actor.0.lock.acquiring', output })),
      errorInfo.map((error) => ({ type: 'xstate.error.actor.0.lock.acquiring', error })),
    );
    agree(machine as AnyStateMachine, fc.record({ key: fc.constant('k'), fence: fc.option(fc.nat(3), { nil: undefined }) }), event);
  });

  it('a machine with every supported built-in', () => {
    // raise, emit, sendTo a child and the parent, delayed sends and their cancel, enqueueActions, params,
    // root transitions, reentry, tags, a final state with output and exit actions.
    const echo = fromCallback<EventObject>(({ receive, sendBack }) => receive((event) => sendBack({ type: 'echoed', of: event.type })));
    const machine = setup({
      types: {} as {
        context: { n: number; log: string[] };
        events: { type: string; by?: number };
        emitted: { type: 'shouted'; n: number };
      },
      actors: { echo, wait: never },
      guards: { isSmall: ({ context }) => context.n < 3, isAbove: ({ context }, params: { limit: number }) => context.n > params.limit },
      actions: {
        add: assign({ n: ({ context, event }) => context.n + ((event as { by?: number }).by ?? 1) }),
        note: assign({ log: ({ context, event }, params: { tag: string }) => [...context.log, `${params.tag}:${event.type}`] }),
        tell: sendParent(({ context }) => ({ type: 'told', n: context.n })),
        shout: emit(({ context }) => ({ type: 'shouted', n: context.n })),
        ping: sendTo('echo', { type: 'ping' }),
        later: sendTo(({ self }) => self, { type: 'late' }, { delay: 500, id: 'later' }),
        drop: cancel('later'),
        loop: raise({ type: 'looped' }),
        // Loosely typed: setup's types do not follow named guards and actions inside enqueueActions here.
        mixed: enqueueActions(((args: { enqueue: LooseEnqueue; check: (guard: unknown) => boolean }) => {
          const { enqueue, check } = args;
          enqueue.assign({ n: 0 });
          if (check('isSmall')) enqueue('tell');
          // Guards of every kind: with params, combined built-ins, inline.
          if (
            check({ type: 'isAbove', params: { limit: -1 } }) &&
            check(and(['isSmall', not(stateIn('#kitchen.c'))])) &&
            check(({ context }: { context: { n: number } }) => context.n === 0)
          )
            enqueue({ type: 'note', params: { tag: 'mixed' } });
          enqueue.sendParent(({ context }: { context: { n: number } }) => ({ type: 'told', n: context.n }));
          enqueue.sendTo(({ self }: { self: AnyActorRef }) => self, { type: 'late' }, { delay: 'soon', id: 'later' });
          enqueue.raise({ type: 'looped' }, { delay: 50, id: 'r' });
          enqueue.cancel('r');
          enqueue.raise({ type: 'looped' });
          enqueue.emit({ type: 'shouted', n: -1 });
          enqueue.emit(({ context }: { context: { n: number } }) => ({ type: 'shouted', n: context.n }));
          enqueue(() => {});
          enqueue(enqueueActions(({ enqueue: inner }) => inner.assign({ log: [] })));
        }) as never) as never,
        // Into a child being invoked in the same step, and children spawned and stopped through enqueue.
        spawnMore: enqueueActions(((args: { enqueue: LooseEnqueue }) => {
          args.enqueue.sendTo('echo', { type: 'ping' });
          args.enqueue.spawnChild('echo', {
            id: 'e2',
            systemId: 'e2',
            input: ({ context }: { context: { n: number } }) => context.n,
            syncSnapshot: true,
          });
        }) as never) as never,
        stopMore: enqueueActions(((args: { enqueue: LooseEnqueue }) => {
          args.enqueue.stopChild(
            ({ self }: { self: AnyActorRef }) => (self.getSnapshot() as { children: Record<string, unknown> }).children.e2,
          );
        }) as never) as never,
        plain: () => {},
      },
      delays: { soon: ({ context }) => 100 * (context.n + 1) },
      // The config is checked at run time (the property), not by setup's types, which cannot follow named guards with params here.
    }).createMachine({
      id: 'kitchen',
      context: { n: 0, log: [] },
      entry: ['plain', { type: 'note', params: { tag: 'root' } }],
      exit: { type: 'note', params: { tag: 'root-exit' } },
      on: { reset: { target: '.a', actions: 'mixed' }, stop: '.end' },
      initial: 'a',
      states: {
        a: {
          tags: ['start'],
          entry: 'tell',
          exit: { type: 'note', params: { tag: 'a-exit' } },
          after: { soon: 'b' },
          on: {
            go: [{ guard: 'isSmall', target: 'b', actions: 'add' }, { target: 'c' }],
            again: { target: 'a', reenter: true, actions: 'add' },
            stay: { target: 'a', actions: 'add' },
            looped: { actions: { type: 'note', params: { tag: 'loop' } } },
          },
        },
        b: {
          invoke: { id: 'echo', src: 'echo' },
          entry: ['spawnMore', 'ping', 'later', 'shout'],
          exit: ['drop', 'stopMore'],
          on: {
            echoed: { actions: { type: 'note', params: { tag: 'echo' } } },
            late: 'c',
            go: { guard: { type: 'isAbove', params: { limit: 1 } }, target: 'c', actions: ['add', 'loop'] },
            looped: { actions: 'add' },
          },
        },
        c: {
          invoke: { src: 'wait', onDone: 'end', onError: { target: 'a', actions: 'add' } },
          on: { go: { actions: ['add', 'shout'] }, looped: 'end' },
        },
        end: { type: 'final', entry: 'tell', exit: { type: 'note', params: { tag: 'end-exit' } } },
      },
      output: ({ context }: { context: { n: number; log: string[] } }) => ({ n: context.n, log: context.log.length }),
    } as never);
    const event = fc.oneof(
      fc.constantFrom('go', 'again', 'stay', 'reset', 'stop', 'looped', 'late').map((type) => ({ type })),
      fc.nat(3).map((by) => ({ type: 'go', by })),
      fc.constantFrom({ type: 'xstate.done.actor.0.kitchen.c' }, { type: 'xstate.error.actor.0.kitchen.c', error: 'no' }),
    );
    agree(machine as unknown as AnyStateMachine, fc.constant(undefined), event, 300);
  });

  it('a machine with nested states', () => {
    // Transitions between levels (child, sibling, ancestor, by id), a compound state reentered and
    // retargeted without reentry, invokes and delays of compound and atomic states, eventless
    // transitions out of a nested state, a transition that blocks its ancestors', tags up the tree.
    const echo = fromCallback<EventObject>(({ receive, sendBack }) => receive((event) => sendBack({ type: 'echoed', of: event.type })));
    const machine = setup({
      types: {} as { context: { n: number; log: string[] }; events: { type: string; by?: number } },
      actors: { echo, wait: never },
      guards: {
        isSmall: ({ context }) => context.n < 3,
        isOdd: ({ context }) => context.n % 2 === 1,
        // An eventless guard that reads the event: an event no transition takes can still fire it.
        isPoke: ({ event }) => event.type === 'poke',
        // Read from the active state nodes, in a raised event's step too.
        inTop: stateIn('#nest.top'),
      },
      actions: {
        add: assign({ n: ({ context, event }) => context.n + ((event as { by?: number }).by ?? 1) }),
        note: assign({ log: ({ context, event }, params: { tag: string }) => [...context.log, `${params.tag}:${event.type}`] }),
        tell: sendParent(({ context }) => ({ type: 'told', n: context.n })),
        ping: sendTo('echo', { type: 'ping' }),
        loop: raise({ type: 'looped' }),
      },
      delays: { soon: ({ context }) => 100 * (context.n + 1) },
    }).createMachine({
      id: 'nest',
      context: { n: 0, log: [] },
      entry: { type: 'note', params: { tag: 'root' } },
      on: { reset: { target: '#nest.outer.one', actions: 'add' }, top: '.top', bump: { actions: 'add' }, stop: '.end' },
      initial: 'outer',
      states: {
        outer: {
          tags: ['outer'],
          entry: { type: 'note', params: { tag: 'outer-in' } },
          exit: { type: 'note', params: { tag: 'outer-out' } },
          invoke: { id: 'echo', src: 'echo' },
          on: {
            echoed: { actions: { type: 'note', params: { tag: 'echo' } } },
            go: '.two',
            again: { target: 'outer', reenter: true, actions: 'add' },
            same: { target: 'outer', actions: 'add' },
            leave: 'top',
            looped: { actions: 'add' },
          },
          initial: 'one',
          states: {
            one: {
              tags: ['first'],
              entry: ['ping', { type: 'note', params: { tag: 'one-in' } }],
              exit: { type: 'note', params: { tag: 'one-out' } },
              after: { soon: 'two' },
              on: { go: [{ guard: 'isSmall', target: 'inner', actions: 'add' }], bump: {} },
            },
            two: {
              always: { guard: 'isOdd', target: 'one', actions: 'add' },
              on: { go: { target: '#nest.top', actions: 'loop' }, back: 'one' },
            },
            inner: {
              entry: { type: 'note', params: { tag: 'inner-in' } },
              exit: { type: 'note', params: { tag: 'inner-out' } },
              invoke: { id: 'waiter', src: 'wait', onDone: '#nest.top', onError: { target: 'two', actions: 'add' } },
              on: { up: 'two' },
              initial: 'a',
              states: {
                a: { always: { guard: 'isPoke', target: 'b' }, on: { go: 'b', deep: { target: '#nest.outer', actions: 'add' } } },
                b: { tags: ['deep'], entry: 'tell', after: { soon: 'a' }, on: { go: '#nest.end', again: { target: 'b', reenter: true } } },
              },
            },
          },
        },
        top: {
          entry: 'tell',
          after: { soon: 'outer.inner' },
          on: { go: 'outer', looped: { guard: 'inTop', actions: { type: 'note', params: { tag: 'loop' } } } },
        },
        end: { type: 'final', entry: 'tell', exit: { type: 'note', params: { tag: 'end-exit' } } },
      },
      output: ({ context }: { context: { n: number; log: string[] } }) => ({ n: context.n, log: context.log }),
    } as never);
    const event = fc.oneof(
      fc
        .constantFrom('go', 'again', 'same', 'leave', 'reset', 'top', 'bump', 'stop', 'back', 'deep', 'up', 'looped', 'poke')
        .map((type) => ({ type })),
      fc.nat(3).map((by) => ({ type: 'bump', by })),
      fc.constantFrom({ type: 'xstate.done.actor.waiter' }, { type: 'xstate.error.actor.waiter', error: 'no' }),
    );
    agree(machine as unknown as AnyStateMachine, fc.constant(undefined), event, 300);
    // The snapshot offers what an interpreted one does, nested.
    const actor = createActor(compileMachine(machine as unknown as AnyStateMachine)).start();
    actor.send({ type: 'go' });
    const snapshot = actor.getSnapshot();
    expect([snapshot.value, snapshot.matches('outer'), snapshot.matches({ outer: 'inner' }), snapshot.hasTag('outer')]).toEqual([
      { outer: { inner: 'a' } },
      true,
      true,
      true,
    ]);
    actor.stop();
  });

  it('source (a compound state with an invoke, an eventless transition into paused)', () => {
    const machine = sourceMachine.provide({
      actors: { connect: never as never, disconnect: never as never, feed: fromCallback(() => {}) as never },
      actions: { settleEvent: () => {} },
    });
    const reason = fc.option(fc.constantFrom('backpressure', 'dependency', 'shutdown'), { nil: undefined });
    const error = fc.record({ code: fc.constant('ERR_SOURCE'), message: fc.string({ maxLength: 3 }), retryable: fc.boolean() });
    const event = fc.oneof(
      reason.map((r) => (r ? { type: 'source.pause', reason: r } : { type: 'source.pause' })),
      reason.map((r) => (r ? { type: 'source.resume', reason: r } : { type: 'source.resume' })),
      fc.constantFrom({ type: 'source.stop' }, { type: 'feed.ended' }, { type: 'event.settled', settlement: { id: 'e1', how: 'ack' } }),
      error.map((e) => ({ type: 'feed.lost', error: e })),
      fc.constantFrom('0.source.connecting', '0.source.stopping').chain((id) =>
        fc.oneof(
          fc.constant({ type: `xstate.done.actor.${id}` }),
          error.map((e) => ({ type: `xstate.error.actor.${id}`, error: e })),
        ),
      ),
    );
    agree(
      machine as unknown as AnyStateMachine,
      fc.record({ batchSize: fc.integer({ min: 1, max: 4 }), reconnectDelayMs: fc.integer({ min: 10, max: 1000 }) }),
      event,
      200,
      (given) => (parent) => ({ ...(given as object), sink: parent, random: () => 0.5 }),
    );
  });

  it('supervisor (its stopping state is compound; the routing ledger in its actions)', () => {
    const slot = fromCallback(() => {});
    const machine = supervisorMachine.provide({
      actors: { workerSlot: slot as never, source: fromCallback(() => {}) as never, pingDependency: never as never },
    });
    const delivery = fc.record({ id: fc.constantFrom('e1', 'e2', 'e3', 'e4'), payload: fc.nat(9) });
    const slotId = fc.constantFrom('slot-1', 'slot-2');
    const seq = fc.integer({ min: 1, max: 5 });
    const report = fc.oneof(
      fc.record({ slotId, seq, result: fc.nat(3) }).map((r) => ({ type: 'slot.finished', ...r })),
      fc.record({ slotId, seq, error: errorInfo }).map((r) => ({ type: 'slot.failed', ...r })),
    );
    const event = fc.oneof(
      { weight: 4, arbitrary: delivery.map((d) => ({ type: 'event.received', delivery: d })) },
      {
        weight: 1,
        arbitrary: fc.array(delivery, { minLength: 1, maxLength: 3 }).map((ds) => ({ type: 'events.received', deliveries: ds })),
      },
      { weight: 4, arbitrary: report },
      { weight: 1, arbitrary: fc.array(report, { minLength: 1, maxLength: 3 }).map((rs) => ({ type: 'slots.reported', reports: rs })) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          { type: 'queue.filled' },
          { type: 'queue.drained' },
          { type: 'work.drained' },
          { type: 'runtime.stop' },
          { type: 'source.ended' },
          { type: 'source.stopped' },
          { type: 'queue.expiryDue' },
          { type: 'execution.deadlineDue' },
        ),
      },
      { weight: 1, arbitrary: errorInfo.map((error) => ({ type: 'source.failed', error })) },
      { weight: 1, arbitrary: slotId.map((id) => ({ type: 'slot.retired', slotId: id })) },
      { weight: 1, arbitrary: fc.record({ seq, reason: errorInfo }).map((e) => ({ type: 'event.cancel', ...e })) },
    );
    agree(
      machine as unknown as AnyStateMachine,
      fc.record({
        retries: fc.nat(2),
        queueSize: fc.integer({ min: 2, max: 6 }),
        lifecycle: fc.boolean(),
      }),
      event,
      200,
      (given) => (_parent, clock) => {
        const { retries, queueSize, lifecycle } = given as { retries: number; queueSize: number; lifecycle: boolean };
        return {
          settings: testSettings({ retries, queueSize, highWatermark: queueSize - 1, lowWatermark: 1 }),
          now: () => clock.now(),
          random: () => 0.5,
          lifecycle,
        };
      },
    );
  });
});

describe('compileMachine', () => {
  it('refuses a machine it cannot run, naming why', () => {
    const nested = setup({}).createMachine({
      id: 'nested',
      initial: 'a',
      states: { a: { initial: 'x', states: { x: { type: 'final' } } } },
    });
    expect(() => compileMachine(nested)).toThrow(
      /machine "nested" cannot be compiled: state "a.x" is a final state inside a compound state/,
    );
    const history = setup({}).createMachine({
      id: 'history',
      initial: 'a',
      states: { a: { initial: 'x', states: { x: {}, h: { type: 'history' } } } },
    });
    expect(() => compileMachine(history)).toThrow(/state "a.h" is a history state/);
    const eventless = setup({}).createMachine({
      id: 'eventless',
      initial: 'a',
      states: { a: { always: { target: 'a', reenter: true } }, b: {} },
    });
    expect(() => compileMachine(eventless)).toThrow(/state "a" has an eventless transition \(always\) that stays in it/);
    const inline = setup({}).createMachine({
      id: 'inline',
      initial: 'a',
      states: { a: { on: { go: { guard: () => true, target: 'a' } } } },
    });
    expect(() => compileMachine(inline)).toThrow(/state "a", on "go" has an inline guard/);
    const parallel = setup({}).createMachine({ id: 'par', type: 'parallel', states: { a: {}, b: {} } });
    expect(() => compileMachine(parallel)).toThrow(/its root is parallel/);
  });

  it("names the state whose transition's guard threw, as xstate does", () => {
    const machine = setup({
      guards: {
        boom: () => {
          throw new Error('no');
        },
      },
    }).createMachine({
      id: 'm',
      initial: 'p',
      states: { p: { initial: 'c', on: { X: { guard: 'boom', target: 'q' } }, states: { c: {} } }, q: {} },
    });
    const errors = [machine, compileMachine(machine)].map((logic) => {
      const actor = createActor(logic as AnyStateMachine).start();
      actor.subscribe({ error: () => {} });
      actor.send({ type: 'X' });
      return String((actor.getSnapshot().error as Error | undefined)?.message);
    });
    expect(errors[1]).toBe(errors[0]);
    expect(errors[1]).toMatch(/in state node 'm\.p':/);
  });

  it("restores a compound state's value without its children as its initial state, as xstate does", () => {
    const machine = setup({}).createMachine({
      id: 'm',
      initial: 'q',
      states: { p: { initial: 'c', states: { c: {}, d: {} } }, q: {} },
    });
    for (const value of ['p', { p: {} }]) {
      const persisted = { ...createActor(machine).getPersistedSnapshot(), value } as never;
      const values = [machine, compileMachine(machine)].map(
        (logic) => createActor(logic as AnyStateMachine, { snapshot: persisted }).getSnapshot().value,
      );
      expect(values).toEqual([{ p: 'c' }, { p: 'c' }]);
    }
  });

  it('runs an enqueueActions whose collect function sends to a compiled actor that collects its own, as xstate does', () => {
    const child = compileMachine(
      setup({ actions: { bump: enqueueActions(({ enqueue }) => enqueue.assign({ hits: 1 })) } }).createMachine({
        id: 'child',
        context: { hits: 0 },
        initial: 'on',
        states: { on: { on: { poke: { actions: 'bump' } } } },
      }),
    );
    const parent = setup({
      actors: { child },
      actions: {
        go: enqueueActions(({ enqueue, self }) => {
          // The child is idle: it takes the event now, inside this function.
          (self.getSnapshot() as { children: Record<string, AnyActorRef> }).children.c!.send({ type: 'poke' });
          enqueue.assign({ done: true });
        }),
      },
    }).createMachine({
      id: 'parent',
      context: { done: false },
      initial: 'on',
      states: { on: { invoke: { id: 'c', src: 'child' }, on: { go: { actions: 'go' } } } },
    } as never);
    for (const logic of [parent, compileMachine(parent as unknown as AnyStateMachine)]) {
      const actor = createActor(logic as unknown as AnyStateMachine).start();
      actor.send({ type: 'go' });
      const snapshot = actor.getSnapshot();
      expect([snapshot.status, snapshot.context, snapshot.children.c!.getSnapshot().context]).toEqual([
        'active',
        { done: true },
        { hits: 1 },
      ]);
    }
  });

  it('persists and restores snapshots in the format of xstate, both ways', () => {
    const machine = workerSlotMachine.provide({ actions: { startWorker: () => {}, abortWorker: () => {}, reportFinished: () => {} } });
    const compiled = compileMachine(machine);
    const job = { seq: 4, attempt: 1, startedAt: 0, delivery: { id: 'e', payload: 1 } };
    for (const [from, to] of [
      [machine, compiled],
      [compiled, machine],
    ] as const) {
      const actor = createActor(from as AnyStateMachine, { input: { slotId: 's' } }).start();
      actor.send({ type: 'event.assigned', job });
      const persisted = actor.getPersistedSnapshot();
      const restored = createActor(to as AnyStateMachine, { snapshot: persisted }).start();
      expect([restored.getSnapshot().value, restored.getSnapshot().context]).toEqual([
        'busy',
        { slotId: 's', job, run: 1, startedAt: job.startedAt },
      ]);
      restored.send({ type: 'worker.done', run: 1, output: 'ok' });
      expect(restored.getSnapshot().value).toBe('idle');
    }
  });

  it('keeps the machine for the inspector and the diagrams', () => {
    const compiled = compileMachine(workerSlotMachine);
    expect(compiled.machine).toBe(workerSlotMachine);
    expect(compiled.id).toBe('worker-slot');
    expect(compiled.config).toBe(workerSlotMachine.config);
    const snapshot = createActor(compiled, { input: { slotId: 's' } }).getSnapshot();
    expect([snapshot.value, snapshot.matches('idle'), snapshot.status]).toEqual(['idle', true, 'active']);
  });
});
