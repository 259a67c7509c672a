import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { formatDuration } from '../kernel/duration.js';

/** One state of a machine, with its children (for compound and parallel states). */
export interface GraphState {
  /** Dotted path from the root, e.g. `stopping.draining`; `''` for the root. */
  path: string;
  /** The state's own key (the machine id for the root). */
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** For a compound state: the dotted path of its initial child. */
  initial?: string;
  description?: string;
  children: GraphState[];
}

/**
 * One transition as the machine defines it (one entry per candidate, in
 * priority order: `[{ guard, target }, { target }]` gives two).
 */
export interface GraphTransition {
  /** Dotted path of the state that defines it (`''` for the root). */
  source: string;
  /** Dotted paths of its targets; empty for a targetless one (actions only). */
  targets: string[];
  /**
   * The event as people read it: the event type (`lock.requested`),
   * `always`, `after`, `done: <actor>` / `error: <actor>` for an invoked
   * actor's onDone / onError, `done` for a compound state's onDone, `*`.
   */
  event: string;
  /** The guard's name (`isHolder`, `not(hasWaiters)`, `inline` when anonymous). */
  guard?: string;
  /** For `after`: the delay's name (`lease`) or its duration (`5s`). */
  delay?: string;
  /** Names of its actions, when it has any. */
  actions?: string[];
  /** True when a transition to its own state exits and re-enters it. */
  reenter?: boolean;
}

/** A machine's states and transitions, as drawn by `toMermaid` and `toDot`. */
export interface MachineGraph {
  /** The machine id (`supervisor`, `worker-slot`, ...). */
  id: string;
  root: GraphState;
  /** Every transition, states in document order (parents before children). */
  transitions: GraphTransition[];
}

type AnyTransition = AnyStateNode['always'] extends (infer T)[] | undefined ? T : never;

const pathOf = (node: AnyStateNode): string => node.path.join('.');

/** A readable name for a guard: its type, a composite's shape, or the function's name. */
export function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: unknown[]; stateValue?: unknown };
    if (Array.isArray(fn.guards) && (fn.name === 'and' || fn.name === 'or' || fn.name === 'not')) {
      const parts = fn.guards.map((inner) => guardName(inner) ?? 'inline');
      return fn.name === 'not' ? `not(${parts[0] ?? ''})` : parts.join(fn.name === 'and' ? ' && ' : ' || ');
    }
    if (fn.name === 'stateIn') return `in(${JSON.stringify(fn.stateValue)})`;
    return fn.name && fn.name !== 'guard' ? fn.name : 'inline';
  }
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'inline';
}

/** A readable name for an action: its type (string or `{ type }`), or the built-in's kind. */
function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string')
    return (action as { type: string }).type;
  if (typeof action === 'function') {
    const fn = action as { type?: unknown; name?: string };
    if (typeof fn.type === 'string') return fn.type.replace(/^xstate\./, '');
    if (fn.name) return fn.name;
  }
  return 'inline';
}

function delayName(delay: unknown): string {
  return typeof delay === 'number' ? formatDuration(delay) : String(delay);
}

/** The readable event of a transition defined on `node` for the internal event type `type`. */
function eventLabel(node: AnyStateNode, type: string): string {
  const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(type);
  if (actor) {
    const invoke = node.invoke.find((candidate) => candidate.id === actor[2]);
    const src = invoke && typeof invoke.src === 'string' ? invoke.src : (invoke?.id ?? actor[2]!);
    return `${actor[1]}: ${src}`;
  }
  if (type.startsWith('xstate.done.state.')) return 'done';
  return type;
}

function transitionOf(node: AnyStateNode, definition: AnyTransition, event: string): GraphTransition {
  const transition: GraphTransition = {
    source: pathOf(node),
    targets: (definition.target ?? []).map((target: AnyStateNode) => pathOf(target)),
    event,
  };
  const guard = guardName(definition.guard);
  if (guard !== undefined) transition.guard = guard;
  const delay = (definition as { delay?: unknown }).delay;
  if (delay !== undefined) transition.delay = delayName(delay);
  const actions = (definition.actions ?? []).map(actionName);
  if (actions.length > 0) transition.actions = actions;
  if (definition.reenter && transition.targets.includes(transition.source)) transition.reenter = true;
  return transition;
}

function describeState(node: AnyStateNode, transitions: GraphTransition[]): GraphState {
  for (const [type, definitions] of node.transitions) {
    const event = type.startsWith('xstate.after.') ? 'after' : eventLabel(node, type);
    for (const definition of definitions) transitions.push(transitionOf(node, definition, event));
  }
  for (const definition of node.always ?? []) transitions.push(transitionOf(node, definition, 'always'));
  const state: GraphState = {
    path: pathOf(node),
    key: node.key,
    type: node.type,
    children: [],
  };
  const initial = node.initial?.target?.[0];
  if (node.type === 'compound' && initial) state.initial = pathOf(initial);
  if (node.description) state.description = node.description;
  state.children = Object.values(node.states).map((child) => describeState(child, transitions));
  return state;
}

/**
 * Reads a machine's definition (never runs it): every state with its
 * nesting, and every transition with its event, guard, delay and actions.
 * @example describeMachine(lockMachine).root.children.map((s) => s.key) // ['free', 'acquiring', ...]
 */
export function describeMachine(machine: AnyStateMachine): MachineGraph {
  const transitions: GraphTransition[] = [];
  const root = describeState(machine.root, transitions);
  return { id: machine.id, root, transitions };
}

/** Every state of the graph, depth first, the root first. */
export function allStates(graph: MachineGraph): GraphState[] {
  const out: GraphState[] = [];
  const walk = (state: GraphState) => {
    out.push(state);
    state.children.forEach(walk);
  };
  walk(graph.root);
  return out;
}

/** The label of a transition: `event [guard]`, `after 5s [guard]`, `always [guard]`. */
export function transitionLabel(transition: GraphTransition): string {
  const event = transition.event === 'after' ? `after ${transition.delay ?? ''}`.trim() : transition.event;
  return transition.guard === undefined ? event : `${event} [${transition.guard}]`;
}
