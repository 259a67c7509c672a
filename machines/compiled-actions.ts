import {
  cancel,
  createActor,
  emit,
  raise,
  sendTo,
  spawnChild,
  SpecialTargets,
  stopChild,
  type AnyActorRef,
  type AnyActorScope,
  type AnyStateMachine,
  type EventObject,
} from 'xstate';
import { FlowdError } from '../src/kernel/errors.js';
import type { ActionRef, Phase, StateValue } from './compiled-table.js';

/**
 * Runs a compiled machine's actions as xstate's `resolveActionsAndContext`
 * does: each action sees the context the actions before it left; a plain
 * action goes to the actor's `actionExecutor` (which runs it, or defers it
 * while the actor starts, and tells the inspector); `assign` changes the
 * context; `spawnChild` / `stopChild` change the children. The other
 * built-ins (sendTo, raise, cancel, emit, log) are resolved and executed by
 * xstate's own functions, which read only the fields of `Work` they are
 * given. `enqueueActions` is collected here (`collect`), into plain action
 * objects with the fields xstate's action creators set, not into a new
 * function object for each action and a closure for each `enqueue` method
 * at each call: the supervisor takes such a step for every event.
 */

/** What one step changes: the fields xstate's built-ins read from a snapshot, and the state. */
export interface Work {
  machine: AnyStateMachine;
  context: Record<string, unknown>;
  children: Record<string, AnyActorRef | undefined>;
  /** The state value and the active state nodes, for a `stateIn` check inside `enqueueActions`. */
  value: StateValue;
  _nodes: unknown[];
  /** The snapshot before the step (what guards in `enqueueActions` check). */
  matches(value: unknown): boolean;
}

interface Builtin {
  (...args: never[]): unknown;
  type: string;
  resolve(
    scope: AnyActorScope,
    snapshot: Work,
    args: ActionArgs,
    params: unknown,
    action: unknown,
    extra: Extra,
  ): [unknown, unknown, ActionRef[]?];
  execute?(scope: AnyActorScope, params: unknown): void;
  retryResolve?(scope: AnyActorScope, snapshot: Work, params: unknown): void;
  assignment?: unknown;
  src?: unknown;
  id?: unknown;
  systemId?: string;
  input?: unknown;
  syncSnapshot?: boolean;
  actorRef?: unknown;
}

interface ActionArgs {
  context: Record<string, unknown>;
  event: EventObject;
  self: AnyActorRef;
  system: unknown;
}

interface Extra {
  internalQueue: EventObject[];
  deferredActorIds: string[] | undefined;
}

/** xstate's createActor with the options it gives the actors a machine spawns (parent, src, syncSnapshot), which its types keep internal. */
export const spawnActor = createActor as unknown as (logic: unknown, options: object) => AnyActorRef;

const noSpawn = (): never => {
  throw new FlowdError('ERR_INVALID_ARGUMENT', 'a compiled machine cannot spawn inside assign(); use spawnChild or invoke');
};

/** The logic a `src` names, as xstate's resolveReferencedActor finds it (an inline invoke is `xstate.invoke.<i>.<state id>`). */
export function referencedLogic(machine: AnyStateMachine, src: string): unknown {
  const inline = /^xstate\.invoke\.(\d+)\.(.*)/.exec(src);
  if (!inline) return (machine.implementations.actors as Record<string, unknown>)[src];
  const invoke = (machine.getStateNodeById(inline[2]!).config as { invoke?: unknown }).invoke;
  return ((Array.isArray(invoke) ? invoke[Number(inline[1])] : invoke) as { src: unknown }).src;
}

function assign(work: Work, action: Builtin, args: ActionArgs, params: unknown): void {
  if (!work.context) throw new Error('Cannot assign to undefined `context`. Ensure that `context` is defined in the machine config.');
  const assignment = action.assignment as ((a: unknown, p: unknown) => object) | Record<string, unknown>;
  const assignArgs = { context: work.context, event: args.event, spawn: noSpawn, self: args.self, system: args.system };
  let partial: Record<string, unknown>;
  if (typeof assignment === 'function') partial = assignment(assignArgs, params) as Record<string, unknown>;
  else {
    partial = {};
    for (const key of Object.keys(assignment)) {
      const value = assignment[key];
      partial[key] = typeof value === 'function' ? (value as (a: unknown, p: unknown) => unknown)(assignArgs, params) : value;
    }
  }
  work.context = Object.assign({}, work.context, partial);
}

function spawn(work: Work, scope: AnyActorScope, action: Builtin, args: ActionArgs): unknown {
  const { id, systemId, src, input, syncSnapshot } = action;
  const logic = typeof src === 'string' ? referencedLogic(work.machine, src) : src;
  const resolvedId = (typeof id === 'function' ? (id as (a: ActionArgs) => string)(args) : id) as string;
  let actorRef: AnyActorRef | undefined;
  let resolvedInput: unknown;
  if (logic) {
    resolvedInput =
      typeof input === 'function'
        ? (input as (a: unknown) => unknown)({ context: work.context, event: args.event, self: scope.self })
        : input;
    actorRef = spawnActor(logic, { id: resolvedId, src: src as never, parent: scope.self, syncSnapshot, systemId, input: resolvedInput });
  }
  work.children = { ...work.children, [resolvedId]: actorRef };
  return { id, systemId, actorRef, src, input: resolvedInput };
}

function stop(work: Work, action: Builtin, args: ActionArgs, params: unknown): unknown {
  const ref = action.actorRef;
  const refOrId = typeof ref === 'function' ? (ref as (a: ActionArgs, p: unknown) => unknown)(args, params) : ref;
  const actorRef = (typeof refOrId === 'string' ? work.children[refOrId] : refOrId) as AnyActorRef | undefined;
  if (actorRef) {
    const children = { ...work.children };
    delete children[actorRef.id];
    work.children = children;
  }
  return actorRef;
}

/**
 * xstate's built-in actions, made once: their `resolve`, `retryResolve` and
 * `execute` read only the fields of the action they are given, so a plain
 * object with the same fields stands for one the action creator would make.
 */
const SEND_TO = sendTo('', { type: '' }) as unknown as Builtin;
const RAISE = raise({ type: '' }) as unknown as Builtin;
const CANCEL = cancel('') as unknown as Builtin;
const EMIT = emit({ type: '' }) as unknown as Builtin;
const SPAWN = spawnChild('') as unknown as Builtin;
const STOP = stopChild('') as unknown as Builtin;
const SEND_PARENT_TARGET = SpecialTargets.Parent;

/** Marks the action objects `enqueue` makes: built-ins themselves, never the name of an implementation. */
const BUILTIN = Symbol('flowd.builtin');

/** The actions an `enqueueActions` collect function is enqueuing now (undefined between calls: collecting never nests). */
let collecting: unknown[] | undefined;
/** The snapshot its `check(guard)` reads. */
let checking: { work: Work; event: EventObject } | undefined;

const pushAction = (action: unknown): void => {
  if (!collecting) throw new Error('enqueue() was called after its enqueueActions had returned');
  collecting.push(action);
};

/** The `enqueue` a collect function is given: the same methods as xstate's, pushing plain action objects. */
const enqueue = Object.assign((action: unknown) => pushAction(action), {
  assign: (assignment: unknown) => pushAction({ [BUILTIN]: true, type: 'xstate.assign', assignment }),
  cancel: (sendId: unknown) =>
    pushAction({ [BUILTIN]: true, type: 'xstate.cancel', sendId, resolve: CANCEL.resolve, execute: CANCEL.execute }),
  raise: (event: unknown, options?: { id?: unknown; delay?: unknown }) =>
    pushAction({
      [BUILTIN]: true,
      type: 'xstate.raise',
      event,
      id: options?.id,
      delay: options?.delay,
      resolve: RAISE.resolve,
      execute: RAISE.execute,
    }),
  sendTo: (to: unknown, event: unknown, options?: { id?: unknown; delay?: unknown }) => pushAction(sendAction(to, event, options)),
  sendParent: (event: unknown, options?: { id?: unknown; delay?: unknown }) => pushAction(sendAction(SEND_PARENT_TARGET, event, options)),
  spawnChild: (src: unknown, options: { id?: unknown; systemId?: string; input?: unknown; syncSnapshot?: boolean } = {}) =>
    pushAction({
      [BUILTIN]: true,
      type: 'xstate.spawnChild',
      id: options.id,
      systemId: options.systemId,
      src,
      input: options.input,
      syncSnapshot: options.syncSnapshot ?? false,
      execute: SPAWN.execute,
    }),
  stopChild: (actorRef: unknown) => pushAction({ [BUILTIN]: true, type: 'xstate.stopChild', actorRef, execute: STOP.execute }),
  emit: (event: unknown) => pushAction({ [BUILTIN]: true, type: 'xstate.emit', event, resolve: EMIT.resolve, execute: EMIT.execute }),
});

function sendAction(to: unknown, event: unknown, options?: { id?: unknown; delay?: unknown }): object {
  return {
    [BUILTIN]: true,
    type: 'xstate.sendTo',
    to,
    event,
    id: options?.id,
    delay: options?.delay,
    resolve: SEND_TO.resolve,
    retryResolve: SEND_TO.retryResolve,
    execute: SEND_TO.execute,
  };
}

/** xstate's evaluateGuard, for `check` inside a collect function: against the snapshot before the step's actions. */
function evaluateGuard(guard: unknown, work: Work, event: EventObject): boolean {
  const isInline = typeof guard === 'function';
  const guards = work.machine.implementations.guards as Record<string, unknown>;
  const name = typeof guard === 'string' ? guard : (guard as { type: string }).type;
  const resolved = (isInline ? guard : guards[name]) as (((a: unknown, p: unknown) => boolean) & { check?: Function }) | undefined;
  if (!isInline && !resolved) throw new Error(`Guard '${name}' is not implemented.'.`);
  if (typeof resolved !== 'function') return evaluateGuard(resolved, work, event);
  const args = { context: work.context, event };
  // Its params first, as xstate works them out before it looks at the guard's kind.
  const params =
    isInline || typeof guard === 'string'
      ? undefined
      : 'params' in (guard as object)
        ? typeof (guard as { params: unknown }).params === 'function'
          ? ((guard as { params: (a: unknown) => unknown }).params as (a: unknown) => unknown)(args)
          : (guard as { params: unknown }).params
        : undefined;
  if ('check' in resolved) return (resolved.check as (s: unknown, a: unknown, i: unknown) => boolean)(work, args, resolved);
  return resolved(args, params);
}

const check = (guard: unknown): boolean => {
  if (!checking) throw new Error('check() was called after its enqueueActions had returned');
  return evaluateGuard(guard, checking.work, checking.event);
};

/**
 * Runs an `enqueueActions` collect function, as xstate's resolveEnqueueActions does, and returns what it enqueued.
 * Its `enqueue` and `check` are good while it runs (a collect function that sends an event to an idle actor runs that
 * actor's step inside it, collects included, so the one under way is put back after each); kept and called later,
 * they throw, where xstate's would do nothing or check an old snapshot. Only flowd's own machines run compiled.
 */
function collect(action: Builtin, work: Work, args: ActionArgs, params: unknown): ActionRef[] {
  const fn = (action as unknown as { collect: (a: object, p: unknown) => void }).collect;
  const actions: unknown[] = [];
  const outer = collecting;
  const outerCheck = checking;
  // The check reads the step as it is now (xstate's closes over the snapshot): nothing changes it while the function runs.
  collecting = actions;
  checking = { work, event: args.event };
  try {
    fn({ context: args.context, event: args.event, enqueue, check, self: args.self, system: args.system }, params);
  } finally {
    collecting = outer;
    checking = outerCheck;
  }
  return actions as ActionRef[];
}

function runList(
  work: Work,
  event: EventObject,
  scope: AnyActorScope,
  actions: readonly ActionRef[],
  extra: Extra,
  retries: Array<[Builtin, unknown]> | undefined,
): void {
  const implementations = work.machine.implementations.actions as Record<string, unknown>;
  for (const action of actions) {
    const isInline = typeof action === 'function' || (typeof action === 'object' && BUILTIN in action);
    const resolved = (isInline ? action : implementations[typeof action === 'string' ? action : action.type]) as Builtin | undefined;
    const args: ActionArgs = { context: work.context, event, self: scope.self, system: scope.system };
    const params =
      isInline || typeof action === 'string'
        ? undefined
        : 'params' in action
          ? typeof action.params === 'function'
            ? (action.params as (a: unknown) => unknown)({ context: work.context, event })
            : action.params
          : undefined;
    if (!resolved || !('resolve' in resolved || BUILTIN in resolved)) {
      scope.actionExecutor({
        type: typeof action === 'string' ? action : typeof action === 'object' ? action.type : action.name || '(anonymous)',
        info: args as never,
        params: params as never,
        exec: resolved as never,
      });
      continue;
    }
    let resolvedParams: unknown;
    let more: ActionRef[] | undefined;
    switch (resolved.type) {
      case 'xstate.assign':
        assign(work, resolved, args, params);
        continue;
      case 'xstate.spawnChild':
        resolvedParams = spawn(work, scope, resolved, args);
        break;
      case 'xstate.stopChild':
        resolvedParams = stop(work, resolved, args, params);
        break;
      case 'xstate.enqueueActions':
        more = collect(resolved, work, args, params);
        break;
      case 'xstate.sendTo':
      case 'xstate.raise':
      case 'xstate.cancel':
      case 'xstate.emit':
      case 'xstate.log':
        [, resolvedParams, more] = resolved.resolve(scope, work, args, params, resolved, extra);
        break;
      default:
        throw new FlowdError(
          'ERR_INVALID_ARGUMENT',
          `machine "${work.machine.id}" ran the built-in action ${resolved.type}, which a compiled machine does not support`,
        );
    }
    if (resolved.retryResolve) retries?.push([resolved, resolvedParams]);
    if (resolved.execute)
      scope.actionExecutor({
        type: resolved.type,
        info: args as never,
        params: resolvedParams as never,
        exec: resolved.execute.bind(null, scope, resolvedParams) as never,
      });
    if (more) runList(work, event, scope, more, extra, retries);
  }
}

/** Runs one phase of a step (one call of xstate's resolveActionsAndContext). */
export function runPhase(work: Work, event: EventObject, scope: AnyActorScope, phase: Phase, internalQueue: EventObject[]): void {
  if (phase.actions.length === 0) return;
  const retries: Array<[Builtin, unknown]> | undefined = phase.deferred ? [] : undefined;
  runList(work, event, scope, phase.actions, { internalQueue, deferredActorIds: phase.deferred }, retries);
  if (retries) for (const [action, params] of retries) action.retryResolve!(scope, work, params);
}

/** The stop of every child, as xstate does when a machine is done, fails or is stopped. */
export function stopChildrenPhase(work: Work): Phase {
  return { actions: Object.values(work.children).map((child) => stopChild(child!) as unknown as ActionRef) };
}
