import mittModule from 'mitt';
import type { AnyActorRef, AnyStateMachine, InspectionEvent } from 'xstate';
import { machineOf } from '../../machines/compile.js';
import { summarize, truncate, type Summary, type SummaryContext } from './summaries.js';

// mitt's types describe a CommonJS default; under ESM the default export is the function itself.
const mitt = mittModule as unknown as typeof mittModule.default;

/** One live actor, as `GET /api/state` and the `actor` SSE event show it. */
export interface ActorView {
  /** `supervisor`, `slot-1`, `source`, `store`, `lock:<key>`, ... */
  id: string;
  /** The machine's id: `supervisor`, `worker-slot`, `source`, `store`, `lock`, or a user machine's. */
  machine: string;
  /** The parent actor's id, for a child. */
  parent?: string;
  /** The active leaf state path(s), dotted; parallel leaves joined by ', '. */
  state: string;
  /** Every active state path, ancestors included. */
  stateNodes: string[];
  status: 'active' | 'done' | 'error' | 'stopped';
  summary: Summary;
  updatedAt: number;
}

/** A snapshot whose state changed, with the event that changed it. */
export interface TransitionView {
  at: number;
  actor: string;
  event: string;
  from: string;
  to: string;
}

/** `GET /api/state`. */
export interface InspectorState {
  app: string;
  startedAt: number;
  actors: ActorView[];
  transitions: TransitionView[];
}

/** What the hub emits (for SSE). */
export type InspectionEvents = {
  actor: ActorView;
  transition: TransitionView;
  removed: { id: string };
};

/** Options of `createInspection`. */
export interface InspectionOptions extends Partial<SummaryContext> {
  app: string;
  /** How many transitions are kept. @default 200 */
  maxTransitions?: number;
  /**
   * Changes are sent to listeners at most this often, each changed actor
   * once with its latest view (a busy runtime makes thousands of
   * transitions a second); 0 sends each at once. @default 50
   */
  throttleMs?: number;
  /**
   * Also given the `@xstate.event` and `@xstate.snapshot` events that reach
   * `observer` (the event journal's feed), from the same call: a busy runtime
   * makes dozens of inspection events an event, and a second observer would
   * cost a call for each.
   */
  tap?: ((event: InspectionEvent) => void) | undefined;
}

/** The inspector's model of the running actors, fed by xstate's `inspect` option. */
export interface Inspection {
  /** Pass as `createActor(logic, { inspect })`: takes `@xstate.actor` and `@xstate.snapshot` events. */
  readonly observer: (event: InspectionEvent) => void;
  /**
   * The observer for the runs of workers that are actor logic, each a root
   * actor named `<slot id>/<machine id>`: shown under its slot while it runs,
   * gone when it ends; its failure is its event's, not the daemon's (no
   * readiness reason). Feed it a snapshot when such a run errors or is stopped.
   */
  readonly runObserver: (event: InspectionEvent) => void;
  /** Every live machine actor, now. */
  actors(): ActorView[];
  /** The machine of that id among those seen (a worker's own machine, say), for its diagram. */
  machine(id: string): AnyStateMachine | undefined;
  /** The last transitions, oldest first. */
  transitions(): TransitionView[];
  state(): InspectorState;
  /**
   * Why the runtime is not healthy: actors that failed or ended in a
   * `failed` state, but for those of the machines named in `except` (whose
   * failure the caller tells in its own words).
   */
  failures(except?: readonly string[]): string[];
  /** Subscribes to changes; returns the unsubscribe function. */
  on<K extends keyof InspectionEvents>(type: K, listener: (event: InspectionEvents[K]) => void): () => void;
  /** Sends what is pending and stops the timer. */
  close(): void;
}

interface Tracked {
  ref: AnyActorRef;
  id: string;
  machine: string;
  parent: string | undefined;
  snapshot: { value?: unknown; status?: string; context?: unknown; error?: unknown } | undefined;
  state: string;
  stateNodes: string[];
  updatedAt: number;
  /** A worker's run (runObserver). */
  run: boolean;
}

/** How many machine ids the inspector keeps for diagrams: the app's own few, and some room. */
const MAX_MACHINES = 64;

/** Leaf paths and every active path of a state value. */
export function statePaths(value: unknown): { leaves: string[]; nodes: string[] } {
  const leaves: string[] = [];
  const nodes: string[] = [];
  const walk = (item: unknown, prefix: string) => {
    if (typeof item === 'string') {
      const path = prefix ? `${prefix}.${item}` : item;
      nodes.push(path);
      leaves.push(path);
      return;
    }
    if (!item || typeof item !== 'object') return;
    const entries = Object.entries(item);
    if (entries.length === 0 && prefix) leaves.push(prefix);
    for (const [key, child] of entries) {
      const path = prefix ? `${prefix}.${key}` : key;
      nodes.push(path);
      if (child && typeof child === 'object' && Object.keys(child).length === 0) leaves.push(path);
      else walk(child, path);
    }
  };
  walk(value, '');
  return { leaves, nodes };
}

/**
 * Creates the inspector's hub. Cheap per transition: it keeps the latest
 * snapshot reference and compares state paths; summaries are computed only
 * when a view is read or sent.
 * @example
 * const inspection = createInspection({ app: 'thumbnails' });
 * const actor = createActor(machine, { inspect: inspection.observer });
 */
export function createInspection(options: InspectionOptions): Inspection {
  const now = options.now ?? (() => Date.now());
  const maxTransitions = options.maxTransitions ?? 200;
  const throttleMs = options.throttleMs ?? 50;
  const context: SummaryContext = { now, source: options.source };
  const startedAt = now();
  const tracked = new Map<AnyActorRef, Tracked>();
  const ids = new Set<string>();
  const history: TransitionView[] = [];
  /** By actor id: its machine and what is wrong. */
  const failed = new Map<string, { machine: string; reason: string }>();
  /** Machines seen, by id: the first one of an id is kept. */
  const machines = new Map<string, AnyStateMachine>();
  const emitter = mitt<InspectionEvents>();
  let listeners = 0;
  const dirty = new Set<Tracked>();
  let pendingTransitions: TransitionView[] = [];
  let pendingRemoved: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  const viewOf = (t: Tracked): ActorView => {
    const status = (t.snapshot?.status ?? 'active') as ActorView['status'];
    return {
      id: t.id,
      machine: t.machine,
      ...(t.parent !== undefined ? { parent: t.parent } : {}),
      state: t.state,
      stateNodes: t.stateNodes,
      status,
      summary: summarize(t.machine, t.state, t.snapshot?.context, context),
      updatedAt: t.updatedAt,
    };
  };

  const flush = () => {
    timer = undefined;
    const transitions = pendingTransitions;
    const removed = pendingRemoved;
    pendingTransitions = [];
    pendingRemoved = [];
    // Removals first: an id removed and taken again in one window (a slot running its machine again) ends shown.
    for (const id of removed) emitter.emit('removed', { id });
    for (const t of dirty) if (tracked.get(t.ref) === t) emitter.emit('actor', viewOf(t));
    dirty.clear();
    for (const transition of transitions) emitter.emit('transition', transition);
  };
  const schedule = () => {
    if (listeners === 0) return;
    if (throttleMs === 0) return flush();
    if (timer === undefined) {
      timer = setTimeout(flush, throttleMs);
      timer.unref?.();
    }
  };

  const uniqueId = (wanted: string, ref: AnyActorRef) => (ids.has(wanted) ? `${wanted}#${ref.sessionId}` : wanted);
  const register = (ref: AnyActorRef, run = false) => {
    // A machine, or a compiled one (machines/compile.ts), which keeps its machine for the diagram.
    const logic = machineOf((ref as { logic?: unknown }).logic);
    if (!logic || tracked.has(ref)) return;
    if (!machines.has(logic.id) && machines.size < MAX_MACHINES) machines.set(logic.id, logic);
    const parentRef = (ref as { _parent?: AnyActorRef })._parent;
    // A run is named after its slot: `<slot id>/<machine id>`.
    const parent = parentRef ? tracked.get(parentRef)?.id : run ? ref.id.slice(0, ref.id.indexOf('/')) || undefined : undefined;
    // A child is known by its id in the parent; a root by its machine (a lock by its key), unless it was given an id.
    let id = (ref as { systemId?: string }).systemId ?? (parentRef || ref.id !== ref.sessionId ? ref.id : logic.id);
    const t: Tracked = { ref, id, machine: logic.id, parent, snapshot: undefined, state: '', stateNodes: [], updatedAt: now(), run };
    if (!parentRef && ref.id === ref.sessionId && logic.id === 'lock') t.id = id = `lock:${String(lockKey(ref))}`;
    t.id = uniqueId(t.id, ref);
    ids.add(t.id);
    tracked.set(ref, t);
  };
  const lockKey = (ref: AnyActorRef) => {
    try {
      return (ref.getSnapshot() as { context?: { key?: unknown } } | undefined)?.context?.key ?? ref.sessionId;
    } catch {
      return ref.sessionId;
    }
  };

  const onSnapshot = (ref: AnyActorRef, snapshot: Tracked['snapshot'], event: { type: string }, run = false) => {
    let t = tracked.get(ref);
    if (!t) {
      // A run that already ended (its end is reported after xstate's last snapshot) is not taken up again.
      if (run && snapshot?.status !== undefined && snapshot.status !== 'active') return;
      register(ref, run);
      t = tracked.get(ref);
      if (!t) return;
    }
    if (t.machine === 'lock' && t.snapshot === undefined && t.id.startsWith('lock:x:')) {
      ids.delete(t.id);
      t.id = uniqueId(`lock:${String((snapshot?.context as { key?: unknown } | undefined)?.key)}`, ref);
      ids.add(t.id);
    }
    const at = now();
    const { leaves, nodes } = statePaths(snapshot?.value);
    const state = leaves.join(', ');
    if (t.snapshot !== undefined && state !== t.state) {
      const transition = { at, actor: t.id, event: truncate(event.type), from: t.state, to: state };
      history.push(transition);
      if (history.length > maxTransitions) history.splice(0, history.length - maxTransitions);
      if (listeners > 0) pendingTransitions.push(transition);
    }
    t.snapshot = snapshot;
    t.state = state;
    t.stateNodes = nodes;
    t.updatedAt = at;
    const status = snapshot?.status ?? 'active';
    if (t.run) {
      // A run's failure is its event's (event.failed), not the daemon's.
    } else if (status === 'error')
      failed.set(t.id, {
        machine: t.machine,
        reason: `${t.id} failed: ${truncate(String((snapshot?.error as Error | undefined)?.message ?? snapshot?.error))}`,
      });
    // A workflow run that failed is the workflow's outcome (its record says why), not a fault of the daemon.
    else if (t.machine !== 'workflow-run' && leaves.some((leaf) => leaf === 'failed' || leaf.endsWith('.failed')))
      failed.set(t.id, { machine: t.machine, reason: `${t.id} is ${state}` });
    else failed.delete(t.id);
    if (status !== 'active') {
      tracked.delete(ref);
      ids.delete(t.id);
      dirty.delete(t);
      if (listeners > 0) pendingRemoved.push(t.id);
    } else if (listeners > 0) dirty.add(t);
    schedule();
  };

  const tap = options.tap;
  const observer = (event: InspectionEvent) => {
    if (event.type === '@xstate.actor') register(event.actorRef as AnyActorRef);
    else if (event.type === '@xstate.snapshot') {
      onSnapshot(event.actorRef as AnyActorRef, event.snapshot as Tracked['snapshot'], event.event);
      if (tap) tap(event);
    } else if (tap && event.type === '@xstate.event') tap(event);
  };
  const runObserver = (event: InspectionEvent) => {
    if (event.type === '@xstate.actor') register(event.actorRef as AnyActorRef, true);
    else if (event.type === '@xstate.snapshot')
      onSnapshot(event.actorRef as AnyActorRef, event.snapshot as Tracked['snapshot'], event.event, true);
  };

  // An actor that throws goes to `error` without a snapshot event: found when the views are read.
  const sweep = () => {
    for (const t of tracked.values()) {
      const snapshot = t.ref.getSnapshot() as Tracked['snapshot'];
      if (snapshot?.status === 'error') onSnapshot(t.ref, { ...t.snapshot, ...snapshot }, { type: 'xstate.error' });
    }
  };
  const actors = () => {
    sweep();
    return [...tracked.values()].filter((t) => t.snapshot !== undefined).map(viewOf);
  };
  return {
    observer,
    runObserver,
    actors,
    machine: (id) => machines.get(id),
    transitions: () => history.slice(),
    state: () => ({ app: options.app, startedAt, actors: actors(), transitions: history.slice() }),
    failures: (except = []) => {
      sweep();
      return [...failed.values()].filter((failure) => !except.includes(failure.machine)).map((failure) => failure.reason);
    },
    on(type, listener) {
      emitter.on(type, listener);
      listeners++;
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        listeners--;
        emitter.off(type, listener);
      };
    },
    close() {
      if (timer !== undefined) clearTimeout(timer);
      flush();
    },
  };
}
