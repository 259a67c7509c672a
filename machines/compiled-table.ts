import { spawnChild, stopChild, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { FlowdError } from '../src/kernel/errors.js';

/**
 * The transition table of a flat machine, built once from its own xstate
 * definition (`machine.root` and its state nodes, as xstate formatted them:
 * `after` is already an entry `raise`, an exit `cancel` and a transition on
 * `xstate.after.<delay>.<state>`; `invoke` an `xstate.done.actor.<id>` /
 * `xstate.error.actor.<id>` transition). Eventless transitions (`always`)
 * are taken as xstate takes them, after every step, before raised events;
 * each must go to another state (one that stays would loop or, in xstate,
 * stop being selected). The actions of a step are listed in
 * the order xstate's algorithm runs them: the exited state's exit actions
 * and the stop of its invoked actors, the transition's actions, then the
 * entered state's entry actions and the spawn of its invoked actors.
 */

/** An action as a definition names it: a name, `{ type, params }`, or a built-in action (assign, sendTo, raise, ...). */
export type ActionRef = string | { type: string; params?: unknown } | ((...args: never[]) => unknown);
/** A guard as a definition names it. */
export type GuardRef = string | { type: string; params?: unknown };

/** Actions run in one call of xstate's `resolveActionsAndContext`: `deferred` are the ids of the actors the entered state invokes. */
export interface Phase {
  actions: ActionRef[];
  deferred?: string[];
}

/** One atomic (or final) state of the root. */
export interface StateRecord {
  key: string;
  node: AnyStateNode;
  final: boolean;
  /** Its candidates for an event type, in xstate's order: its own transitions, then the root's. */
  on: Map<string, Candidate[]>;
  /** Its eventless candidates, its own then the root's (none: an empty list). */
  always: Candidate[];
  tags: Set<string>;
}

/** A transition from one state, with everything its step does. */
export interface Candidate {
  guard: GuardRef | undefined;
  eventType: string;
  /** The state it goes to; undefined when it stays (no target, or its own state without `reenter`). */
  target: StateRecord | undefined;
  /** Whether it leaves the state (exits it, and enters the target). */
  moves: boolean;
  phases: Phase[];
  /** Whether it has a target or actions (what `snapshot.can(event)` asks). */
  enabling: boolean;
}

export interface Table {
  root: AnyStateNode;
  states: Map<string, StateRecord>;
  initial: StateRecord;
  /** The phases of the initial step: the root's entry (and invokes), then the initial state's. */
  initialPhases: Phase[];
}

const refuse = (machine: AnyStateMachine, what: string): never => {
  throw new FlowdError(
    'ERR_INVALID_ARGUMENT',
    `machine "${machine.id}" cannot be compiled: ${what}; expected a flat machine (one level of atomic or final states, no parallel or history states, eventless transitions only to another state, named guards and actions)`,
  );
};

const refName = (ref: ActionRef | GuardRef): string =>
  typeof ref === 'string' ? ref : typeof ref === 'function' ? ((ref as { type?: string }).type ?? ref.name) : ref.type;

/** Built-in actions the compiled logic runs (the rest are refused). */
export const SUPPORTED_BUILTINS = new Set([
  'xstate.assign',
  'xstate.sendTo',
  'xstate.raise',
  'xstate.cancel',
  'xstate.emit',
  'xstate.log',
  'xstate.enqueueActions',
  'xstate.spawnChild',
  'xstate.stopChild',
]);

function checkAction(machine: AnyStateMachine, ref: ActionRef, where: string): void {
  if (typeof ref === 'function') {
    const type = (ref as { type?: unknown }).type;
    if (!('resolve' in ref) || typeof type !== 'string') refuse(machine, `${where} has an inline action (${ref.name || 'anonymous'})`);
    if (!SUPPORTED_BUILTINS.has(type as string)) refuse(machine, `${where} uses the built-in action ${String(type)}`);
    return;
  }
  const impl = (machine.implementations.actions as Record<string, unknown>)[refName(ref)];
  if (typeof impl === 'function' && 'resolve' in impl)
    checkAction(machine, impl as unknown as ActionRef, `${where} (action "${refName(ref)}")`);
}

function checkGuard(machine: AnyStateMachine, guard: unknown, where: string): void {
  if (guard === undefined) return;
  if (typeof guard === 'function') refuse(machine, `${where} has an inline guard`);
  const name = refName(guard as GuardRef);
  const impl = (machine.implementations.guards as Record<string, unknown>)[name];
  if (impl !== undefined && typeof impl !== 'function') refuse(machine, `${where}: guard "${name}" refers to another guard`);
}

/** Refuses, naming what, a machine that is not flat. */
function checkFlat(machine: AnyStateMachine): void {
  const root = machine.root;
  if (root.type !== 'compound') refuse(machine, `its root is ${root.type}, not a compound state`);
  if ((root.config as { onDone?: unknown }).onDone) refuse(machine, 'the root has onDone');
  if (root.initial.actions.length) refuse(machine, 'the root has initial actions');
  for (const node of [root, ...Object.values(root.states)]) {
    const where = node === root ? 'the root' : `state "${node.key}"`;
    if (node !== root) {
      if (node.type === 'parallel' || node.type === 'history' || node.type === 'compound')
        refuse(machine, `${where} is ${node.type === 'compound' ? 'a compound state (nested states)' : `a ${node.type} state`}`);
      for (const t of node.always ?? []) {
        if (!t.target || t.target[0] === node) refuse(machine, `${where} has an eventless transition (always) that stays in it`);
      }
    }
    for (const ref of [...node.entry, ...node.exit] as ActionRef[]) checkAction(machine, ref, `${where}'s entry or exit`);
    for (const invoke of node.invoke) if (invoke.onSnapshot) refuse(machine, `${where} invokes "${invoke.id}" with onSnapshot`);
    if (node === root && root.always) refuse(machine, 'the root has eventless transitions (always)');
    const eventless: Array<[string, AnyStateNode['transitions'] extends Map<string, infer T> ? T : never]> = node.always
      ? [['always', node.always]]
      : [];
    for (const [descriptor, transitions] of [...node.transitions, ...eventless]) {
      if (descriptor === '*' || descriptor.endsWith('.*')) refuse(machine, `${where} has the wildcard event "${descriptor}"`);
      if (descriptor === 'xstate.route') refuse(machine, `${where} has routes`);
      for (const t of transitions) {
        const on = `${where}, on "${descriptor}"`;
        checkGuard(machine, t.guard, on);
        for (const ref of t.actions as ActionRef[]) checkAction(machine, ref, on);
        if (t.target && (t.target.length !== 1 || t.target[0]!.parent !== root))
          refuse(machine, `${on} targets something other than one state of the root`);
        if (node === root && t.reenter) refuse(machine, `${on} is a reentering transition of the root`);
      }
    }
  }
}

const exitPhase = (node: AnyStateNode): Phase => ({
  actions: [...(node.exit as ActionRef[]), ...node.invoke.map((def) => stopChild(def.id) as unknown as ActionRef)],
});

const entryPhase = (node: AnyStateNode): Phase => {
  const actions = [...(node.entry as ActionRef[])];
  for (const def of node.invoke) actions.push(spawnChild(def.src, { ...def, syncSnapshot: !!def.onSnapshot }) as unknown as ActionRef);
  return node.invoke.length ? { actions, deferred: node.invoke.map((def) => def.id) } : { actions };
};

/** The step of transition `t` (formatted by xstate) taken while in `from`. */
function candidate(
  states: Map<string, StateRecord>,
  from: StateRecord,
  t: AnyStateNode['transitions'] extends Map<string, Array<infer T>> ? T : never,
): Candidate {
  const target = t.target?.[0] ? states.get(t.target[0].key)! : undefined;
  // A state's transition to itself leaves it only with `reenter`; the root's to any state always does.
  const moves = target !== undefined && (t.source !== from.node || target !== from || t.reenter);
  const phases: Phase[] = [];
  if (moves) phases.push(exitPhase(from.node));
  phases.push({ actions: t.actions as ActionRef[] });
  if (moves) phases.push(entryPhase(target.node));
  return {
    guard: t.guard as GuardRef | undefined,
    eventType: t.eventType,
    target: moves ? target : undefined,
    moves,
    phases,
    enabling: t.target !== undefined || t.actions.length > 0,
  };
}

/** Builds the table of a flat machine, or refuses it naming what makes it not flat. */
export function buildTable(machine: AnyStateMachine): Table {
  checkFlat(machine);
  const root = machine.root;
  const states = new Map<string, StateRecord>();
  for (const node of Object.values(root.states)) {
    states.set(node.key, { key: node.key, node, final: node.type === 'final', on: new Map(), always: [], tags: new Set(node.tags) });
  }
  for (const record of states.values()) {
    for (const source of [record.node, root]) {
      for (const [descriptor, transitions] of source.transitions) {
        let list = record.on.get(descriptor);
        if (!list) record.on.set(descriptor, (list = []));
        for (const t of transitions) list.push(candidate(states, record, t));
      }
    }
    for (const t of record.node.always ?? []) record.always.push(candidate(states, record, t));
  }
  const initial = states.get(root.initial.target[0]!.key)!;
  const rootEntry = entryPhase(root);
  return { root, states, initial, initialPhases: [rootEntry, entryPhase(initial.node)] };
}
