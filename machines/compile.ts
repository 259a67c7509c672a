import {
  matchesState,
  type ActorLogic,
  type AnyActorRef,
  type AnyActorScope,
  type ActorSystem,
  type AnyStateMachine,
  type AnyStateNode,
  type EmittedFrom,
  type EventFromLogic,
  type EventObject,
  type InputFrom,
  type SnapshotFrom,
} from 'xstate';
import { FlowdError } from '../src/kernel/errors.js';
import { referencedLogic, runPhase, spawnActor, stopChildrenPhase, type Work } from './compiled-actions.js';
import { CompiledSnapshot, persistContext, reviveContext } from './compiled-snapshot.js';
import { buildTable, keyOfValue, type Candidate, type GuardRef, type StateRecord, type StateValue, type Table } from './compiled-table.js';

/**
 * Compiled machines. A machine without parallel or history states (final
 * states only at the top, eventless transitions only out of an atomic
 * state, named guards and actions) is compiled once, from its own
 * definition, into a transition table (a row for each atomic state with
 * its ancestors), and runs as custom actor logic: an event costs a table look-up,
 * its guards and its actions, where xstate's interpreter computes exit and
 * entry sets, state values and a full snapshot for every transition. It
 * runs in the same actor system (a child of an interpreted machine, say);
 * its snapshots have the machine's state value, context, status and
 * children, and `matches`, `hasTag`, `can`; the logic keeps the machine
 * (`logic.machine`, `logic.config`), so the inspector draws and lights the
 * same diagram and the definition stays the single source of truth.
 * test/property/compiled-machines.property.test.ts runs every compiled
 * machine beside xstate's interpreter over random events.
 */

/** The compiled logic of `TMachine`: actor logic with the machine's snapshot, event, input and emitted types. */
export type CompiledMachine<TMachine extends AnyStateMachine> = ActorLogic<
  SnapshotFrom<TMachine>,
  EventFromLogic<TMachine>,
  InputFrom<TMachine>,
  ActorSystem<any>,
  EmittedFrom<TMachine>
> & {
  /** The machine it was compiled from (its definition is what the diagrams draw). */
  readonly machine: TMachine;
  readonly id: string;
  readonly config: TMachine['config'];
  /** The same as `machine.provide(implementations)`, compiled. */
  provide(implementations: Parameters<TMachine['provide']>[0]): CompiledMachine<TMachine>;
};

/** The step being taken: what xstate's built-ins read, and what the next snapshot is made of. */
class Step implements Work {
  status: CompiledSnapshot['status'] = 'active';
  output: unknown = undefined;
  error: unknown = undefined;
  constructor(
    readonly machine: AnyStateMachine,
    public context: Record<string, unknown>,
    public children: Record<string, AnyActorRef | undefined>,
    public state: StateRecord,
  ) {}
  get value(): StateValue {
    return this.state.value;
  }
  /** The active state nodes, as a machine snapshot has them (a `stateIn('#id')` guard reads them). */
  get _nodes(): AnyStateNode[] {
    return this.state.nodes;
  }
  matches(value: unknown): boolean {
    return matchesState(value as string, this.state.value as never);
  }
}

const isErrorActorEvent = (event: EventObject) => event.type.startsWith('xstate.error.actor');

/** The table and the implementations of one provided machine. */
class Core {
  readonly guards: Record<string, unknown>;
  constructor(
    readonly machine: AnyStateMachine,
    readonly table: Table,
  ) {
    this.guards = machine.implementations.guards as Record<string, unknown>;
  }

  snapshot(step: Step): CompiledSnapshot {
    return new CompiledSnapshot(step.status, step.state.value, step.context, step.children, step.output, step.error, step.state, this);
  }

  /** The first candidate whose guard passes, as xstate's StateNode.next picks it. */
  select(snapshot: { context: unknown }, state: StateRecord, event: EventObject): Candidate | undefined {
    const candidates = state.on.get(event.type);
    return candidates === undefined ? undefined : this.selectFrom(candidates, snapshot, event);
  }

  /** The first candidate whose guard passes; a guard that throws is named with its state (`eventless`: as it threw, as xstate lets it). */
  selectFrom(candidates: Candidate[], snapshot: { context: unknown }, event: EventObject, eventless = false): Candidate | undefined {
    for (const candidate of candidates) {
      if (candidate.guard === undefined || this.check(candidate, candidate.guard, snapshot, event, eventless)) return candidate;
    }
    return undefined;
  }

  private check(candidate: Candidate, guard: GuardRef, snapshot: { context: unknown }, event: EventObject, eventless: boolean): boolean {
    const name = typeof guard === 'string' ? guard : guard.type;
    try {
      const impl = this.guards[name] as ((args: unknown, params: unknown) => boolean) & { check?: Function };
      if (!impl) throw new Error(`Guard '${name}' is not implemented.'.`);
      const args = { context: snapshot.context, event };
      if ('check' in impl) return (impl.check as (s: unknown, a: unknown, i: unknown) => boolean)(snapshot, args, impl);
      const params =
        typeof guard === 'string' || !('params' in guard)
          ? undefined
          : typeof guard.params === 'function'
            ? (guard.params as (a: unknown) => unknown)(args)
            : guard.params;
      return impl(args, params);
    } catch (err) {
      if (eventless) throw err;
      throw new Error(
        `Unable to evaluate guard '${name}' in transition for event '${candidate.eventType}' in state node '${candidate.sourceId}':\n${(err as Error).message}`,
      );
    }
  }

  /** Takes `candidate`'s step: its phases, then, in a final state, the machine's end. */
  take(step: Step, candidate: Candidate, event: EventObject, scope: AnyActorScope, queue: EventObject[]): void {
    for (const phase of candidate.phases) runPhase(step, event, scope, phase, queue);
    if (candidate.target) this.enter(step, candidate.target, event, scope, queue);
  }

  enter(step: Step, target: StateRecord, event: EventObject, scope: AnyActorScope, queue: EventObject[]): void {
    step.state = target;
    if (!target.final) return;
    const root = this.table.root;
    step.status = 'done';
    if (root.output !== undefined) {
      const resolve = (mapper: unknown, ev: unknown) =>
        typeof mapper === 'function' ? (mapper as (a: unknown) => unknown)({ context: step.context, event: ev, self: scope.self }) : mapper;
      const done = {
        type: `xstate.done.state.${target.node.id}`,
        output: target.node.output !== undefined ? resolve(target.node.output, event) : undefined,
      };
      step.output = resolve(root.output, done);
    }
    runPhase(step, event, scope, { actions: [...target.node.exit, ...root.exit] as never }, queue);
  }

  /** xstate's macrostep after the first microstep: raised events, then the stop of the children of a machine that ended. */
  settle(step: Step, event: EventObject, scope: AnyActorScope, queue: EventObject[]): EventObject {
    let last = event;
    while (step.status === 'active') {
      // Eventless transitions first (each goes to another state, so this ends unless the machine loops), then raised events.
      const eventless = step.state.always.length > 0 ? this.selectFrom(step.state.always, step, last, true) : undefined;
      if (eventless) {
        this.take(step, eventless, last, scope, queue);
        continue;
      }
      if (queue.length === 0) break;
      last = queue.shift()!;
      const next = this.select(step, step.state, last);
      if (next) this.take(step, next, last, scope, queue);
    }
    if (step.status !== 'active') {
      // As xstate does, the children are stopped but stay in the last snapshot.
      const children = step.children;
      runPhase(step, last, scope, stopChildrenPhase(step), []);
      step.children = children;
    }
    return last;
  }
}

/**
 * Compiles a machine, or throws ERR_INVALID_ARGUMENT naming what the table
 * cannot run (such machines keep xstate's interpreter).
 * @example createActor(compileMachine(workerSlotMachine.provide({ actions })), { input }).start()
 */
export function compileMachine<TMachine extends AnyStateMachine>(machine: TMachine): CompiledMachine<TMachine> {
  const core = new Core(machine, buildTable(machine));
  const { table } = core;
  const config = machine.config as { context?: unknown };

  const transition = (snapshot: CompiledSnapshot, event: EventObject, scope: AnyActorScope): CompiledSnapshot => {
    const step = new Step(machine, snapshot.context, snapshot.children, snapshot._state);
    const queue: EventObject[] = [];
    if (event.type === 'xstate.stop') {
      runPhase(step, event, scope, stopChildrenPhase(step), queue);
      step.status = 'stopped';
      return core.snapshot(step);
    }
    const candidate = core.select(snapshot, snapshot._state, event);
    if (candidate === undefined) {
      if (!isErrorActorEvent(event)) {
        // As xstate's macrostep: the eventless transitions are looked at after every event (their guards see it).
        if (snapshot._state.always.length === 0 || core.selectFrom(snapshot._state.always, snapshot, event, true) === undefined)
          return snapshot;
        core.settle(step, event, scope, queue);
        return core.snapshot(step);
      }
      // An actor's error that no transition takes fails the machine.
      runPhase(step, event, scope, stopChildrenPhase(step), queue);
      step.status = 'error';
      step.error = (event as { error?: unknown }).error;
      return core.snapshot(step);
    }
    core.take(step, candidate, event, scope, queue);
    core.settle(step, event, scope, queue);
    return core.snapshot(step);
  };

  const getInitialSnapshot = (scope: AnyActorScope, input: unknown): CompiledSnapshot => {
    const initEvent = { type: 'xstate.init', input };
    const context = typeof config.context !== 'function' && config.context ? (config.context as Record<string, unknown>) : {};
    const step = new Step(machine, context, {}, table.initial);
    try {
      if (typeof config.context === 'function') {
        const made = (config.context as (args: unknown) => Record<string, unknown>)({ spawn: noSpawn, input, self: scope.self });
        step.context = Object.assign({}, step.context, made);
      }
      const queue: EventObject[] = [];
      for (const phase of table.initialPhases) runPhase(step, initEvent, scope, phase, queue);
      core.enter(step, table.initial, initEvent, scope, queue);
      core.settle(step, initEvent, scope, queue);
    } catch (error) {
      step.status = 'error';
      step.error = error;
    }
    return core.snapshot(step);
  };

  const logic = {
    id: machine.id,
    machine,
    config: machine.config,
    transition,
    getInitialSnapshot,
    getPersistedSnapshot(snapshot: CompiledSnapshot, options?: unknown) {
      const children: Record<string, unknown> = {};
      for (const [id, child] of Object.entries(snapshot.children)) {
        if (!child) continue;
        const ref = child as unknown as {
          getPersistedSnapshot(o?: unknown): unknown;
          src: unknown;
          systemId?: string;
          _syncSnapshot?: boolean;
        };
        children[id] = {
          snapshot: ref.getPersistedSnapshot(options),
          src: ref.src,
          systemId: ref.systemId,
          syncSnapshot: ref._syncSnapshot,
        };
      }
      const { status, output, error, value } = snapshot;
      return { status, output, error, value, historyValue: {}, context: persistContext(snapshot.context), children };
    },
    restoreSnapshot(
      persisted: { value: StateValue; context: Record<string, unknown>; children?: Record<string, never> } & object,
      scope: AnyActorScope,
    ) {
      const key = keyOfValue(persisted.value);
      // A compound state's value without its children (`'active'`, `{ active: {} }`) is its initial state, as xstate restores it.
      const state = key === undefined ? undefined : (table.states.get(key) ?? table.initialOf.get(key));
      if (!state)
        throw new FlowdError(
          'ERR_INVALID_STATE',
          `machine "${machine.id}": a persisted snapshot is in state ${JSON.stringify(persisted.value)}, which it does not have`,
        );
      const children: Record<string, AnyActorRef> = {};
      for (const [id, data] of Object.entries(persisted.children ?? {}) as Array<
        [string, { snapshot: unknown; src: unknown; systemId?: string; syncSnapshot?: boolean }]
      >) {
        const src = data.src;
        const childLogic = typeof src === 'string' ? referencedLogic(machine, src) : src;
        if (!childLogic) continue;
        children[id] = spawnActor(childLogic, {
          id,
          parent: scope.self,
          syncSnapshot: data.syncSnapshot,
          snapshot: data.snapshot as never,
          src: src as never,
          systemId: data.systemId,
        });
      }
      const { status, output, error } = persisted as unknown as CompiledSnapshot;
      const restored = new CompiledSnapshot(status, state.value, persisted.context, children, output, error, state, core);
      reviveContext(restored.context, children);
      return restored;
    },
    start(snapshot: CompiledSnapshot) {
      for (const child of Object.values(snapshot.children)) if (child && child.getSnapshot().status === 'active') child.start();
    },
    provide(implementations: Parameters<TMachine['provide']>[0]) {
      return compileMachine(machine.provide(implementations as never) as TMachine);
    },
  };
  return logic as unknown as CompiledMachine<TMachine>;
}

const noSpawn = (): never => {
  throw new FlowdError('ERR_INVALID_ARGUMENT', 'a compiled machine cannot spawn in its context factory; use invoke or spawnChild');
};

/** The machine behind actor logic: the logic itself when it is a machine, the machine it was compiled from when compiled. */
export function machineOf(logic: unknown): AnyStateMachine | undefined {
  const isMachine = (x: unknown): x is AnyStateMachine =>
    !!x && typeof x === 'object' && 'root' in x && typeof (x as { id?: unknown }).id === 'string';
  if (isMachine(logic)) return logic;
  const compiled = (logic as { machine?: unknown } | undefined)?.machine;
  return isMachine(compiled) ? compiled : undefined;
}
