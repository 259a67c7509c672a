import { spawnChild, stopChild, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { FlowdError } from '../src/kernel/errors.js';

/**
 * The transition table of a machine without parallel or history states,
 * built once from its own xstate definition (`machine.root` and its state
 * nodes, as xstate formatted them: `after` is already an entry `raise`, an
 * exit `cancel` and a transition on `xstate.after.<delay>.<state>`;
 * `invoke` an `xstate.done.actor.<id>` / `xstate.error.actor.<id>`
 * transition). Its rows are the atomic (and final) states, each with its
 * ancestors: for an event, the candidates of the state, then of its
 * parent, up to the root's, as xstate selects them. A candidate's step is
 * worked out here, by xstate's own rules (SCXML's transition domain, exit
 * and entry sets), into the actions in the order xstate's algorithm runs
 * them: each exited state's exit actions and the stop of its invoked
 * actors (innermost first), the transition's actions, then each entered
 * state's entry actions and the spawn of its invoked actors (outermost
 * first). Eventless transitions (`always`) are taken as xstate takes them,
 * after every step, before raised events; each must leave its state (one
 * that stays would loop or, in xstate, stop being selected).
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

/** xstate's state value: the key of a state of the root, or `{ parent: value }` below a compound state. */
export type StateValue = string | { readonly [key: string]: StateValue };

/** One atomic (or final) state, with its ancestors: a configuration the machine can be in. */
export interface StateRecord {
  /** Its path from the root, joined by dots (`stopping.draining`). */
  key: string;
  /** The state value of the configuration (frozen: snapshots share it). */
  value: StateValue;
  node: AnyStateNode;
  /** The active state nodes: the root, the state's ancestors, the state (document order). */
  nodes: AnyStateNode[];
  final: boolean;
  /** Its candidates for an event type, in xstate's order: its own transitions, then its parent's, up to the root's. */
  on: Map<string, Candidate[]>;
  /** Its eventless candidates (none: an empty list). */
  always: Candidate[];
  /** The tags of every active state node. */
  tags: Set<string>;
}

/** A transition from one state, with everything its step does. */
export interface Candidate {
  guard: GuardRef | undefined;
  eventType: string;
  /** The id of the state node whose transition it is (an ancestor of the state, perhaps), for messages. */
  sourceId: string;
  /** The configuration it goes to; undefined when it stays (no target, or its own state without `reenter`). */
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
  /** Each compound state's initial configuration, by the compound state's key (restoring a value that stops at it). */
  initialOf: Map<string, StateRecord>;
  /** The phases of the initial step: the root's entry (and invokes), then each initial state's, outermost first. */
  initialPhases: Phase[];
}

const refuse = (machine: AnyStateMachine, what: string): never => {
  throw new FlowdError(
    'ERR_INVALID_ARGUMENT',
    `machine "${machine.id}" cannot be compiled: ${what}; expected a machine without parallel or history states (final states only at the top, eventless transitions only out of an atomic state, named guards and actions)`,
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

/** Every state node under `node` (not `node` itself), in document order. */
function descendants(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states).flatMap((child) => [child, ...descendants(child)]);
}

/** xstate's isDescendant: whether `node` is strictly inside `ancestor`. */
function isDescendant(node: AnyStateNode, ancestor: AnyStateNode): boolean {
  for (let at = node.parent; at; at = at.parent) if (at === ancestor) return true;
  return false;
}

/** The state's ancestors, innermost first, up to (not including) `upTo`. */
function properAncestors(node: AnyStateNode, upTo?: AnyStateNode): AnyStateNode[] {
  const found: AnyStateNode[] = [];
  for (let at = node.parent; at && at !== upTo; at = at.parent) found.push(at);
  return found;
}

/** Refuses, naming what, a machine the table cannot run. */
function checkCompilable(machine: AnyStateMachine): void {
  const root = machine.root;
  if (root.type !== 'compound') refuse(machine, `its root is ${root.type}, not a compound state`);
  if ((root.config as { onDone?: unknown }).onDone) refuse(machine, 'the root has onDone');
  if (root.initial.actions.length) refuse(machine, 'the root has initial actions');
  for (const node of [root, ...descendants(root)]) {
    const where = node === root ? 'the root' : `state "${node.path.join('.')}"`;
    if (node !== root) {
      if (node.type === 'parallel' || node.type === 'history') refuse(machine, `${where} is a ${node.type} state`);
      if (node.type === 'final' && node.parent !== root) refuse(machine, `${where} is a final state inside a compound state`);
      if (node.type === 'compound') {
        if (node.initial.actions.length) refuse(machine, `${where} has initial actions`);
        if ((node.config as { onDone?: unknown }).onDone) refuse(machine, `${where} has onDone`);
        if (node.always?.length) refuse(machine, `${where} is a compound state with eventless transitions (always)`);
      }
      for (const t of node.always ?? []) {
        if (!t.target || t.target[0] === node) refuse(machine, `${where} has an eventless transition (always) that stays in it`);
        if (isDescendant(node, t.target![0]!)) refuse(machine, `${where} has an eventless transition (always) to its ancestor`);
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
        if (t.target && t.target.length !== 1) refuse(machine, `${on} has ${t.target.length} targets`);
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

type Transition = AnyStateNode['transitions'] extends Map<string, Array<infer T>> ? T : never;

/** xstate's transition domain: the state whose descendants a transition leaves and enters. */
function domainOf(t: Transition, root: AnyStateNode): AnyStateNode {
  const target = t.target![0]!;
  if (!t.reenter && (target === t.source || isDescendant(target, t.source))) return t.source;
  // The least common compound ancestor of the target and the source (the root's reentering transitions are refused).
  for (const ancestor of properAncestors(target)) if (isDescendant(t.source, ancestor)) return ancestor;
  return root;
}

/** The state nodes a transition with a target enters, by xstate's computeEntrySet (no parallel or history states), in document order. */
function entrySet(t: Transition, domain: AnyStateNode): AnyStateNode[] {
  const target = t.target![0]!;
  const entered = new Set<AnyStateNode>();
  if (t.source !== target || t.source !== domain || t.reenter) entered.add(target);
  // A compound target is entered down to its initial states.
  for (let at = target; at.type === 'compound';) {
    at = at.initial.target[0]!;
    entered.add(at);
  }
  for (const ancestor of properAncestors(target, domain)) if (isDescendant(ancestor, domain)) entered.add(ancestor);
  return [...entered].sort((a, b) => a.order - b.order);
}

/** The configuration whose active nodes are `nodes`: the one atomic state among them. */
function recordOf(states: Map<string, StateRecord>, nodes: Iterable<AnyStateNode>): StateRecord {
  for (const node of nodes) if (node.type === 'atomic' || node.type === 'final') return states.get(node.path.join('.'))!;
  throw new Error('a configuration without an atomic state');
}

/** The step of transition `t` (formatted by xstate) taken while in `from`. */
function candidate(states: Map<string, StateRecord>, root: AnyStateNode, from: StateRecord, t: Transition): Candidate {
  const phases: Phase[] = [];
  let target: StateRecord | undefined;
  if (t.target) {
    const domain = domainOf(t, root);
    const exited = from.nodes.filter((node) => isDescendant(node, domain)).sort((a, b) => b.order - a.order);
    const entered = entrySet(t, domain);
    if (exited.length > 0 || entered.length > 0) {
      const stays = from.nodes.filter((node) => !exited.includes(node));
      target = recordOf(states, [...entered, ...stays]);
      for (const node of exited) phases.push(exitPhase(node));
      phases.push({ actions: t.actions as ActionRef[] });
      for (const node of entered) phases.push(entryPhase(node));
    }
  }
  if (target === undefined) phases.push({ actions: t.actions as ActionRef[] });
  return {
    guard: t.guard as GuardRef | undefined,
    eventType: t.eventType,
    sourceId: t.source.id,
    target,
    moves: target !== undefined,
    phases,
    enabling: t.target !== undefined || t.actions.length > 0,
  };
}

/** The state value of a configuration whose innermost state is `node`. */
function valueOf(node: AnyStateNode): StateValue {
  let value: StateValue = node.key;
  for (let at = node.parent; at?.parent; at = at.parent) value = Object.freeze({ [at.key]: value });
  return value;
}

/** The key of the configuration a state value names (`{ stopping: 'draining' }`: `stopping.draining`), for restoring a snapshot. */
export function keyOfValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return undefined;
  const entries = Object.entries(value);
  if (entries.length !== 1) return undefined;
  const [key, inner] = entries[0]!;
  // `{ active: {} }`: the compound state itself.
  if (inner && typeof inner === 'object' && Object.keys(inner).length === 0) return key;
  const rest = keyOfValue(inner);
  return rest === undefined ? undefined : `${key}.${rest}`;
}

/** Builds the table of a machine, or refuses it naming what the table cannot run. */
export function buildTable(machine: AnyStateMachine): Table {
  checkCompilable(machine);
  const root = machine.root;
  const states = new Map<string, StateRecord>();
  for (const node of descendants(root)) {
    if (node.type !== 'atomic' && node.type !== 'final') continue;
    const nodes = [node, ...properAncestors(node)].reverse();
    states.set(node.path.join('.'), {
      key: node.path.join('.'),
      value: valueOf(node),
      node,
      nodes,
      final: node.type === 'final',
      on: new Map(),
      always: [],
      tags: new Set(nodes.flatMap((n) => n.tags)),
    });
  }
  for (const record of states.values()) {
    // The state's own transitions first, then its parent's, up to the root's: xstate's order of selection.
    for (const source of [...record.nodes].reverse()) {
      for (const [descriptor, transitions] of source.transitions) {
        let list = record.on.get(descriptor);
        if (!list) record.on.set(descriptor, (list = []));
        for (const t of transitions) list.push(candidate(states, root, record, t));
      }
    }
    for (const t of record.node.always ?? []) record.always.push(candidate(states, root, record, t));
  }
  // The initial configuration: the root's initial state, down to an atomic one.
  const chain: AnyStateNode[] = [];
  for (let at = root.initial.target[0]!; ; at = at.initial.target[0]!) {
    chain.push(at);
    if (at.type !== 'compound') break;
  }
  const initial = recordOf(states, chain);
  const initialOf = new Map<string, StateRecord>();
  for (const node of descendants(root)) {
    if (node.type !== 'compound') continue;
    let at = node;
    while (at.type === 'compound') at = at.initial.target[0]!;
    initialOf.set(node.path.join('.'), states.get(at.path.join('.'))!);
  }
  return { root, states, initial, initialOf, initialPhases: [entryPhase(root), ...chain.map(entryPhase)] };
}
