import type { ErrorInfo } from '../events.js';
import type { Dependency, Outage } from '../outage.js';
import type { Effect } from './effects.js';
import { KeyMap } from './key-map.js';
import { LIFECYCLE_LIST, type SupervisorLifecycle } from './notifications.js';
import { zeroCounters, type JobRecord, type SupervisorCounters, type SupervisorInput, type SupervisorSettings } from './types.js';
import { SlotTable } from './slot-table.js';
import { WaitQueue } from './wait-queue.js';

/** Which lifecycle notifications are emitted, by type. */
export type Emits = Readonly<Record<SupervisorLifecycle['type'], boolean>>;

/**
 * The supervisor's working set, as a value: the ledger functions take one
 * and return the next, and never change one they were given. Its large
 * parts (the queue, the retrying events) are persistent structures that
 * share what did not change; its small ones (the slot table, counters) are
 * copied when a step changes them.
 */
export interface Ledger {
  readonly settings: SupervisorSettings;
  readonly queue: WaitQueue<JobRecord>;
  /** Usable slots by child id, and the job each runs (undefined: idle). */
  readonly slots: SlotTable;
  /** Idle slots; the last is given the next event. */
  readonly idle: readonly string[];
  readonly running: number;
  /** Whether the execution-deadline timer is armed (it is whenever a job runs). */
  readonly deadlineArmed: boolean;
  /** Events waiting for their retry, by seq. */
  readonly retrying: KeyMap<number, JobRecord>;
  /** Slots whose run timed out or was abandoned and has not settled yet. */
  readonly abandoned: number;
  /** Under `isolation = thread`: timed-out runs whose thread is being terminated, by slot; their outcome waits for `slot.retired`. */
  readonly terminating: ReadonlyMap<string, { readonly job: JobRecord; readonly error: ErrorInfo }>;
  readonly nextSeq: number;
  readonly nextSlot: number;
  readonly counters: Readonly<SupervisorCounters>;
  readonly sourceEnded: boolean;
  /** The source reached its final state (stopped or failed). */
  readonly sourceStopped: boolean;
  readonly stopReason: 'requested' | 'ended' | 'source failed' | undefined;
  readonly sourceError: ErrorInfo | undefined;
  /** The app's store or locks are down (see machines/outage.ts): events are held while the runtime pings them. */
  readonly outage: Outage | undefined;
  /** What the last ping found up, until a run ends without a dependency error (see `runFailed`). */
  readonly vouched: readonly Dependency[];
  /** The lifecycle notifications emitted, by type (from `lifecycle`). */
  readonly emits: Emits;
}

/** What a ledger function needs of the world: the time now, and a draw in [0, 1) for jitter. */
export interface Clock {
  now: number;
  random: () => number;
}

/** A ledger function's answer: the next ledger, and what to do, in order. */
export interface LedgerStep {
  ledger: Ledger;
  effects: Effect[];
}

/** Which lifecycle types `lifecycle` turns on, besides those on in `current`. */
export function emitsOf(lifecycle: SupervisorInput['lifecycle'], current?: Emits): Emits {
  const on = new Set(lifecycle === true ? LIFECYCLE_LIST : Array.isArray(lifecycle) ? lifecycle : []);
  return Object.fromEntries(LIFECYCLE_LIST.map((type) => [type, on.has(type) || current?.[type] === true])) as Emits;
}

/** The ledger before the first event: no slots yet (see `openSlots`). */
export function emptyLedger(settings: SupervisorSettings, lifecycle: SupervisorInput['lifecycle']): Ledger {
  return {
    settings,
    queue: WaitQueue.empty(),
    slots: SlotTable.empty(),
    idle: [],
    running: 0,
    deadlineArmed: false,
    retrying: KeyMap.empty(),
    abandoned: 0,
    terminating: new Map(),
    nextSeq: 0,
    nextSlot: 0,
    counters: zeroCounters(),
    sourceEnded: false,
    sourceStopped: false,
    stopReason: undefined,
    sourceError: undefined,
    outage: undefined,
    vouched: [],
    emits: emitsOf(lifecycle),
  };
}

/** Nothing waits, runs, retries or is being terminated. */
export function isSettled(ledger: Ledger): boolean {
  return ledger.running === 0 && ledger.queue.size === 0 && ledger.retrying.size === 0 && ledger.terminating.size === 0;
}
