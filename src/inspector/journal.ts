import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { ErrorInfo } from '../kernel/error-info.js';
import type { Delivery, EventAssigned, EventReceived, EventsReceived, Job } from '../../machines/events.js';
import type { SettleHow, SupervisorEmitted } from '../../machines/supervisor.js';
import { machineOf } from '../../machines/compile.js';
import { orderingKey } from '../../machines/path.js';
import { previewOf } from './preview.js';
import { RETRY_OF_HEADER } from '../../actors/sources/retry-of.js';

/**
 * Where an event is: `queued` (waiting for a slot), `running`, `retrying`
 * (waiting out its backoff), or how it ended: `completed`, `failed`,
 * `dead-lettered` (failed after its last attempt and handed to the dead
 * letters), `expired`, `rejected`, `returned` (given back to its source).
 */
export type JournalState =
  'queued' | 'running' | 'retrying' | 'completed' | 'failed' | 'dead-lettered' | 'expired' | 'rejected' | 'returned';

/** The states `GET /api/events?state=` takes (`failed` also matches `dead-lettered`). */
export const JOURNAL_STATES: readonly JournalState[] = [
  'queued',
  'running',
  'retrying',
  'completed',
  'failed',
  'dead-lettered',
  'expired',
  'rejected',
  'returned',
];

/** One step of an event's timeline; `at` is the runtime's clock (ms since the epoch unless a test clock is injected). */
export type JournalStep = { at: number } & (
  | { step: 'received' }
  | { step: 'queued'; position: number }
  | { step: 'started'; slotId: string; attempt: number }
  | { step: 'retrying'; attempt: number; delayMs: number; error: ErrorInfo }
  | { step: 'timedOut'; slotId: string; attempt: number }
  | { step: 'abandoned'; slotId: string }
  | { step: 'completed' | 'failed' | 'dead-lettered' | 'expired' | 'rejected' | 'returned'; attempts: number; error?: ErrorInfo }
  | { step: 'settled'; how: SettleHow }
  | { step: 'retryRequested' | 'cancelRequested'; by: string }
);

/** An event as `GET /api/events` lists it. */
export interface JournalSummary {
  /** The source's id for it (a redelivery may repeat it; `seq` is unique in a run). */
  id: string;
  seq: number;
  /** The source's type (`stomp`, `interval`, ...). */
  source: string;
  /** Its ordering key (`[Flow] order by`), if any. */
  key: string | null;
  state: JournalState;
  /** The current (or last) attempt, 1 for the first. */
  attempt: number;
  /** The slot it runs on, while `running`. */
  slotId: string | null;
  /** When its current attempt started, while `running` (the page counts its elapsed time from it). */
  startedAt: number | null;
  receivedAt: number;
  updatedAt: number;
  /** The payload as JSON text, at most 2,048 characters, secrets and `[Inspector] redact` keys masked. */
  payload: string;
  /** Why it failed (or its last attempt did), without the stack. */
  error: ErrorInfo | null;
  /** The event this one is a retry of (a STOMP retry republishes it, with a new id). */
  retryOf: string | null;
}

/** An event as `GET /api/events/:id` shows it. */
export interface JournalDetail extends JournalSummary {
  /** The source's facts (a STOMP `redelivered` flag, ...), redacted as the payload. */
  meta: string | null;
  /** For a failure: its code, message and the worker's stack where there is one. */
  error: (ErrorInfo & { stack?: string }) | null;
  steps: JournalStep[];
  /** Steps left out of a long timeline (many retries), between the first and the last ones kept. */
  stepsDropped: number;
}

/** What the journal keeps of one event; an entry that leaves the ring is used again for the next event. */
interface Entry {
  id: string;
  seq: number;
  key: string | undefined;
  payload: unknown;
  meta: Record<string, unknown> | undefined;
  /** The bytes its source read it from (Delivery.raw), kept while a retry may write them back: dropped once it ends otherwise. */
  raw: Uint8Array | undefined;
  receivedAt: number;
  state: JournalState;
  attempt: number;
  slotId: string | undefined;
  startedAt: number | undefined;
  error: (ErrorInfo & { stack?: string }) | undefined;
  retryOf: string | undefined;
  /** Who asked for a retry of it, once one was asked for (and made): it is not retried twice. */
  retriedBy: string | undefined;
  /** Offered again by a retry without its source (no origin): its outcome is not settled with the source. */
  unsettled: boolean;
  /** The preview, made the first time it is asked for. */
  preview: string | undefined;
  /** Its `queued` step's position (events waiting, it included); 0 when it was settled as it arrived (no such step). */
  position: number;
  /** When its outcome came (and it was settled with the source); NaN before. */
  endedAt: number;
  /**
   * Its timeline, once it is more than the usual one (received, queued,
   * started, its outcome, settled: told by the fields above, which is what
   * most events take): `STRIDE` slots a step, its kind (an index in
   * `KINDS`), its time after `receivedAt` and two details (see `stepAt`).
   * Flat, so a step costs no object; its length may exceed what is used.
   */
  log: unknown[] | undefined;
  /** Steps in `log`. */
  steps: number;
  stepsDropped: number;
}

/** The kinds of steps, by their index in a log. */
const KINDS = [
  'received',
  'queued',
  'started',
  'completed',
  'failed',
  'dead-lettered',
  'expired',
  'rejected',
  'returned',
  'settled',
  'timedOut',
  'abandoned',
  'retrying',
  'retryRequested',
  'cancelRequested',
] as const satisfies readonly JournalStep['step'][];
type Kind = (typeof KINDS)[number];
const KIND = Object.fromEntries(KINDS.map((kind, index) => [kind, index])) as Record<Kind, number>;
const STRIDE = 4;

/** What the journal needs: the runtime's `on()` and its clock. */
export interface JournalOptions {
  /** The runtime's notifications: the journal listens to outcomes, `event.retrying`, `event.timedOut` and `event.abandoned`. */
  on<T extends SupervisorEmitted['type']>(type: T, listener: (event: Extract<SupervisorEmitted, { type: T }>) => void): () => void;
  now(): number;
  /** Finished events kept (`[Inspector] journal size`); events in flight are kept besides. */
  size: number;
  /** Keys masked in previews besides the usual secrets (`[Inspector] redact`). */
  redact: readonly string[];
  /** The source's type. */
  source: string;
  /** `[Flow] order by`, for the key. */
  orderBy?: readonly string[] | undefined;
  /** Whether the source takes outcomes (its driver has `settle`): each event then ends with a `settled` step. @default false */
  settles?: boolean | undefined;
  /** Changes reach listeners at most this often, each changed event once. @default 100 */
  throttleMs?: number;
}

/** `GET /api/events`'s query. */
export interface JournalQuery {
  state?: JournalState | undefined;
  key?: string | undefined;
  /** @default 100 */
  limit?: number | undefined;
}

/** The inspector's journal of events (see createJournal). */
export interface Journal {
  /**
   * Pass every inspection event of the runtime's actors (xstate's `inspect`):
   * the events sent to the supervisor (`events.received`) and to its slots
   * (`event.assigned`) are each event's `received`, `queued` and `started` steps.
   */
  observe(event: InspectionEvent): void;
  /** Newest first. */
  list(query?: JournalQuery): JournalSummary[];
  /** The latest event with that source id, with its timeline. */
  get(id: string): JournalDetail | undefined;
  /** What a retry needs: the event's payload and meta, its state, and who retried it already (if anyone did). */
  original(id: string):
    | {
        id: string;
        seq: number;
        state: JournalState;
        payload: unknown;
        meta: Record<string, unknown> | undefined;
        /** The bytes its source read it from, when the source kept them (a STOMP message's body). */
        raw: Uint8Array | undefined;
        retriedBy: string | undefined;
      }
    | undefined;
  /**
   * Adds an operator's action to the timeline of the latest event with that
   * id, or of the one numbered `seq` when given (a retry offered to the
   * supervisor anew has the same id: the step belongs to the event retried).
   */
  note(id: string, step: 'retryRequested' | 'cancelRequested', by: string, seq?: number): void;
  /**
   * The latest event that is a retry of event `id` (numbered `seq`): one
   * republished with `x-flowd-retry-of: <id>`, or offered anew with the same
   * id after it. None until it has arrived.
   */
  retriedAs(id: string, seq: number): { id: string; seq: number; state: JournalState } | undefined;
  /** Calls `listener` with the events that changed, batched. Returns the unsubscribe function. */
  onChange(listener: (events: JournalSummary[]) => void): () => void;
  /** Counts: events kept finished, and in flight. */
  size(): { finished: number; inFlight: number };
  /** How many events it keeps in each state (the page's tabs). */
  counts(): Record<JournalState, number>;
  /** The runtime's clock, which the events' times are on. */
  now(): number;
  close(): void;
}

/** Past this many steps, the middle of a timeline is dropped (the first steps and the latest stay). */
const MAX_STEPS = 40;
const KEEP_FIRST = 4;
/** Events in flight are found by `seq` in a table this big (a power of 2), those that collide in a map. */
const TABLE_SIZE = 2048;
/** Entries kept to be used again, at most. */
const SPARES = 256;

/** The supervisor's context as far as the journal reads it: its ledger's next `seq`. */
type SupervisorSnapshot = { status?: string; context?: { ledger?: { nextSeq?: unknown } } };

/** How many deliveries the supervisor has admitted (each took the next `seq`, from 0): its ledger's `nextSeq`. */
const admittedBy = (snapshot: SupervisorSnapshot | undefined): number | undefined => {
  const next = snapshot?.context?.ledger?.nextSeq;
  return typeof next === 'number' ? next : undefined;
};

/** What the supervisor asks of the source for an outcome (see SettleHow): the source's settle() itself is not observed. */
const settledHow = (state: JournalState): SettleHow => (state === 'completed' ? 'ack' : state === 'dead-lettered' ? 'dead-letter' : 'nack');

/** Step `i` of an entry's log, as the API shows it. */
function stepAt(entry: Entry, i: number): JournalStep {
  const log = entry.log!;
  const kind = KINDS[log[i * STRIDE] as number]!;
  const at = entry.receivedAt + (log[i * STRIDE + 1] as number);
  const a = log[i * STRIDE + 2];
  const b = log[i * STRIDE + 3];
  switch (kind) {
    case 'received':
      return { step: kind, at };
    case 'queued':
      return { step: kind, position: a as number, at };
    case 'started':
    case 'timedOut':
      return { step: kind, slotId: a as string, attempt: b as number, at };
    case 'abandoned':
      return { step: kind, slotId: a as string, at };
    case 'settled':
      return { step: kind, how: a as SettleHow, at };
    case 'retrying': {
      const { delayMs, error } = b as { delayMs: number; error: ErrorInfo };
      return { step: kind, attempt: a as number, delayMs, error: { code: error.code, message: error.message }, at };
    }
    case 'retryRequested':
    case 'cancelRequested':
      return { step: kind, by: a as string, at };
    default: {
      const error = b as ErrorInfo | undefined;
      return { step: kind, attempts: a as number, ...(error ? { error: { code: error.code, message: error.message } } : {}), at };
    }
  }
}

/**
 * A bounded journal of events: each event's id, key, payload, arrival and
 * timeline. It keeps every event in flight and a ring of the last `size`
 * finished ones; memory is bounded by those (with their payloads, kept
 * for a retry), never by the events seen. Previews are made when read.
 *
 * It is fed by the inspection feed (`observe`), which the inspector gets
 * anyway, for the steps every event takes (received, queued, started), and
 * by the supervisor's notifications for the others (outcomes and retries,
 * which it emits anyway; timeouts and abandoned runs, rare): it turns on no
 * notification that costs something per event. A timeline is kept flat
 * (no object a step) and an entry leaving the ring is used again: a busy
 * runtime makes little garbage for it.
 * @example
 * const journal = createJournal({ on: runtime.on, now: Date.now, size: 1000, redact: ['card'], source: 'stomp' });
 * createActor(supervisor, { inspect: journal.observe });
 * journal.list({ state: 'failed', limit: 20 });
 */
export function createJournal(options: JournalOptions): Journal {
  const { now, redact, source, orderBy } = options;
  const settles = options.settles === true;
  /** Events the journal has in state `queued`: the supervisor's queue (waiting and key-blocked ones). */
  let waiting = 0;
  const size = Math.max(1, options.size);
  /**
   * Events in flight: at `seq % TABLE_SIZE` in `table`, or in `overflow` when
   * that place is taken (an event in flight for long). A table, not a map:
   * a map that takes and lets go of an entry an event makes V8 keep much of
   * what passes through it past a young-generation collection.
   */
  const table = new Array<Entry | undefined>(TABLE_SIZE).fill(undefined);
  const overflow = new Map<number, Entry>();
  let inFlight = 0;
  const ring: Array<Entry | undefined> = new Array<Entry | undefined>(size);
  let head = 0;
  let finished = 0;
  /** Entries that left the ring, to be used again. */
  const spares: Entry[] = [];
  const changed = new Set<Entry>();
  const listeners = new Set<(events: JournalSummary[]) => void>();
  const throttleMs = options.throttleMs ?? 100;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** The supervisor, once seen: the root actor of machine `supervisor` that deliveries are sent to. */
  let supervisor: AnyActorRef | undefined;
  /** The `seq` the supervisor gives the next delivery sent to it (it numbers them in the order they arrive). */
  let nextSeq: number | undefined;
  /** Deliveries below this `seq` were admitted: an outcome before that is one settled as it arrived (never queued). */
  let admitted = 0;

  const changes = (entry: Entry) => {
    if (listeners.size === 0) return;
    changed.add(entry);
    timer ??= setTimeout(flushChanges, throttleMs);
  };
  const flushChanges = () => {
    timer = undefined;
    const events = [...changed].map(summaryOf);
    changed.clear();
    for (const listener of listeners) listener(events);
  };
  /** Writes step `i` of a log. */
  const put = (log: unknown[], i: number, kind: number, dt: number, a?: unknown, b?: unknown) => {
    log[i * STRIDE] = kind;
    log[i * STRIDE + 1] = dt;
    log[i * STRIDE + 2] = a;
    log[i * STRIDE + 3] = b;
  };
  /** The entry's timeline as a log, from its fields if it has none yet. */
  const logOf = (entry: Entry): unknown[] => {
    if (entry.log !== undefined) return entry.log;
    const log: unknown[] = [];
    let n = 0;
    put(log, n++, KIND.received, 0);
    if (entry.position > 0) put(log, n++, KIND.queued, 0, entry.position);
    if (entry.startedAt !== undefined) put(log, n++, KIND.started, entry.startedAt - entry.receivedAt, entry.slotId, entry.attempt);
    if (!Number.isNaN(entry.endedAt)) {
      // Ended (an operator's action on it comes after).
      const dt = entry.endedAt - entry.receivedAt;
      put(log, n++, KIND[entry.state as Kind], dt, entry.attempt, entry.error);
      if (settles && !entry.unsettled) put(log, n++, KIND.settled, dt, settledHow(entry.state));
    }
    entry.log = log;
    entry.steps = n;
    return log;
  };
  /** An event's outcome: told by its fields while it keeps to the usual timeline, else added to its log with the settled step. */
  const end = (entry: Entry, state: JournalState, attempts: number, error: ErrorInfo | undefined, at: number) => {
    entry.state = state;
    entry.attempt = attempts;
    // A completed event keeps the error of its last failed attempt.
    if (error !== undefined) entry.error = error;
    entry.endedAt = at;
    // Only a failed or dead-lettered event is retried: no other needs its bytes.
    if (state !== 'failed' && state !== 'dead-lettered') entry.raw = undefined;
    if (entry.log !== undefined) {
      step(entry, KIND[state as Kind], at, attempts, error);
      if (settles && !entry.unsettled) step(entry, KIND.settled, at, settledHow(state));
    } else changes(entry);
    finish(entry);
  };
  /** Adds a step past the usual timeline to the log (past MAX_STEPS, the oldest after the first KEEP_FIRST goes). */
  const step = (entry: Entry, kind: number, at: number, a?: unknown, b?: unknown) => {
    const log = logOf(entry);
    if (entry.steps >= MAX_STEPS) {
      log.copyWithin(KEEP_FIRST * STRIDE, (KEEP_FIRST + 1) * STRIDE, entry.steps * STRIDE);
      entry.steps--;
      entry.stepsDropped++;
    }
    put(log, entry.steps++, kind, at - entry.receivedAt, a, b);
    changes(entry);
  };
  const finish = (entry: Entry) => {
    const at = entry.seq & (TABLE_SIZE - 1);
    if (table[at] === entry) table[at] = undefined;
    else overflow.delete(entry.seq);
    inFlight--;
    const old = ring[head];
    // Unless a listener is yet to hear of it.
    if (old !== undefined && spares.length < SPARES && !changed.has(old)) spares.push(old);
    ring[head] = entry;
    head = (head + 1) % size;
    if (finished < size) finished++;
  };
  const found = (seq: number): Entry | undefined => {
    const entry = table[seq & (TABLE_SIZE - 1)];
    if (entry !== undefined && entry.seq === seq) return entry;
    return overflow.size === 0 ? undefined : overflow.get(seq);
  };

  const updatedAt = (entry: Entry): number =>
    entry.log !== undefined
      ? entry.receivedAt + (entry.log[(entry.steps - 1) * STRIDE + 1] as number)
      : !Number.isNaN(entry.endedAt)
        ? entry.endedAt
        : (entry.startedAt ?? entry.receivedAt);
  /** The timeline as the API shows it. */
  const stepsOf = (entry: Entry): JournalStep[] => {
    if (entry.log !== undefined) return Array.from({ length: entry.steps }, (_, i) => stepAt(entry, i));
    const steps: JournalStep[] = [{ step: 'received', at: entry.receivedAt }];
    if (entry.position > 0) steps.push({ step: 'queued', position: entry.position, at: entry.receivedAt });
    if (entry.startedAt !== undefined) steps.push({ step: 'started', slotId: entry.slotId!, attempt: entry.attempt, at: entry.startedAt });
    const at = entry.endedAt;
    if (Number.isNaN(at)) return steps;
    const { state, attempt: attempts, error } = entry;
    if (state === 'completed') steps.push({ step: state, attempts, at });
    else steps.push({ step: state as 'failed', attempts, error: { code: error!.code, message: error!.message }, at });
    if (settles && !entry.unsettled) steps.push({ step: 'settled', how: settledHow(state), at });
    return steps;
  };
  const summaryOf = (entry: Entry): JournalSummary => ({
    id: entry.id,
    seq: entry.seq,
    source,
    key: entry.key ?? null,
    state: entry.state,
    attempt: entry.attempt,
    slotId: entry.state === 'running' ? (entry.slotId ?? null) : null,
    startedAt: entry.state === 'running' ? (entry.startedAt ?? null) : null,
    receivedAt: entry.receivedAt,
    updatedAt: updatedAt(entry),
    payload: (entry.preview ??= previewOf(entry.payload, redact)),
    error: entry.error ? { code: entry.error.code, message: entry.error.message } : null,
    retryOf: entry.retryOf ?? null,
  });

  /** A delivery sent to the supervisor: received, and queued (unless it is settled at once: its outcome follows before it is admitted). */
  const receive = (delivery: Delivery, at: number) => {
    const seq = nextSeq!++;
    const { payload } = delivery;
    const headers = (payload as { headers?: Record<string, unknown> } | null)?.headers;
    const retryOf = headers && typeof headers[RETRY_OF_HEADER] === 'string' ? (headers[RETRY_OF_HEADER] as string) : undefined;
    let entry = spares.pop();
    if (entry === undefined)
      entry = {
        id: delivery.id,
        seq,
        key: undefined,
        payload,
        meta: undefined,
        raw: undefined,
        receivedAt: at,
        state: 'queued',
        attempt: 1,
        slotId: undefined,
        startedAt: undefined,
        error: undefined,
        retryOf: undefined,
        retriedBy: undefined,
        unsettled: false,
        preview: undefined,
        position: 0,
        endedAt: NaN,
        log: undefined,
        steps: 0,
        stepsDropped: 0,
      };
    entry.id = delivery.id;
    entry.seq = seq;
    entry.key = orderingKey(payload, orderBy);
    entry.payload = payload;
    entry.meta = delivery.meta;
    entry.raw = delivery.raw;
    entry.receivedAt = at;
    entry.state = 'queued';
    entry.attempt = 1;
    entry.slotId = undefined;
    entry.startedAt = undefined;
    entry.error = undefined;
    entry.retryOf = retryOf;
    entry.retriedBy = undefined;
    entry.unsettled = delivery.origin === undefined;
    entry.preview = undefined;
    // Waiting are those queued before it, and it.
    entry.position = ++waiting;
    entry.endedAt = NaN;
    entry.log = undefined;
    entry.steps = 0;
    entry.stepsDropped = 0;
    const place = seq & (TABLE_SIZE - 1);
    if (table[place] === undefined) table[place] = entry;
    else overflow.set(seq, entry);
    inFlight++;
    changes(entry);
  };
  /** A slot was given a job: its attempt started. */
  const start = (job: Job & { slotId?: string }, slot: string) => {
    const entry = found(job.seq);
    if (!entry) return;
    if (entry.state === 'queued') waiting--;
    const slotId = job.slotId ?? slot;
    // A first start keeps to the usual timeline; another (a retry) goes to the log.
    if (entry.startedAt !== undefined) logOf(entry);
    entry.state = 'running';
    entry.attempt = job.attempt;
    entry.slotId = slotId;
    entry.startedAt = job.startedAt;
    if (entry.log !== undefined) step(entry, KIND.started, job.startedAt, slotId, job.attempt);
    else changes(entry);
  };
  const isSupervisor = (ref: AnyActorRef | undefined): ref is AnyActorRef => {
    if (ref === undefined || ref === supervisor) return ref !== undefined;
    if (supervisor !== undefined || (ref as { _parent?: unknown })._parent !== undefined) return false;
    if (machineOf((ref as { logic?: unknown }).logic)?.id !== 'supervisor') return false;
    supervisor = ref;
    return true;
  };

  const observe = (event: InspectionEvent) => {
    if (event.type === '@xstate.event') {
      const sent = event.event as { type: string };
      if (sent.type === 'event.assigned') {
        if (event.sourceRef !== undefined && event.sourceRef === supervisor)
          start((sent as EventAssigned).job, (event.actorRef as AnyActorRef).id);
      } else if (sent.type === 'events.received' || sent.type === 'event.received') {
        const target = event.actorRef as AnyActorRef;
        if (!isSupervisor(target)) return;
        const snapshot = target.getSnapshot() as SupervisorSnapshot | undefined;
        // A supervisor that has stopped drops what is sent to it.
        if (snapshot !== undefined && snapshot.status !== undefined && snapshot.status !== 'active') return;
        // Attached to a supervisor already running: its next seq is the number it has admitted.
        nextSeq ??= admitted = admittedBy(snapshot) ?? 0;
        const at = now();
        if (sent.type === 'event.received') receive((sent as EventReceived).delivery, at);
        else for (const delivery of (sent as EventsReceived).deliveries) receive(delivery, at);
      }
    } else if (event.type === '@xstate.snapshot' && event.actorRef === supervisor) {
      const type = (event.event as { type: string }).type;
      if (type === 'events.received' || type === 'event.received') admitted = admittedBy(event.snapshot as SupervisorSnapshot) ?? admitted;
    }
  };

  const offs = [
    options.on('event.timedOut', (e) => {
      const entry = found(e.seq);
      if (entry) step(entry, KIND.timedOut, e.at, e.slotId, e.attempt);
    }),
    options.on('event.abandoned', (e) => {
      const entry = found(e.seq);
      if (entry) step(entry, KIND.abandoned, e.at, e.slotId);
    }),
    options.on('event.retrying', (e) => {
      const entry = found(e.seq);
      if (!entry) return;
      logOf(entry);
      entry.state = 'retrying';
      entry.slotId = undefined;
      entry.error = e.error;
      step(entry, KIND.retrying, now(), e.attempt, { delayMs: e.delayMs, error: e.error });
    }),
    options.on('event.completed', (e) => {
      const entry = found(e.seq);
      if (entry) end(entry, 'completed', e.attempts, undefined, now());
    }),
    ...(['failed', 'expired', 'rejected', 'returned'] as const).map((outcome) =>
      options.on(`event.${outcome}`, (e) => {
        const entry = found(e.seq);
        if (!entry) return;
        const state: JournalState = outcome === 'failed' && e.deadLetter ? 'dead-lettered' : outcome;
        if (entry.state === 'queued') {
          waiting--;
          // Settled as it arrived (rejected, unreadable, or the runtime is stopping): it never was in the queue.
          if (entry.seq >= admitted && entry.log === undefined && outcome !== 'expired') entry.position = 0;
        }
        // What the supervisor asks of the source (see SettleHow): the source's settle() itself is not observed.
        end(entry, state, e.attempts, e.error, now());
      }),
    ),
  ];

  /** Every entry kept, in flight and finished, in no order. */
  const each = (fn: (entry: Entry) => void) => {
    for (const entry of table) if (entry !== undefined) fn(entry);
    overflow.forEach(fn);
    for (let i = 0; i < finished; i++) fn(ring[i]!);
  };
  /** The latest event of that id, in flight or kept. */
  const latest = (id: string): Entry | undefined => {
    let best: Entry | undefined;
    each((entry) => {
      if (entry.id === id && (best === undefined || entry.seq > best.seq)) best = entry;
    });
    return best;
  };
  const ordered = (): Entry[] => {
    const all: Entry[] = [];
    each((entry) => all.push(entry));
    return all.sort((a, b) => b.seq - a.seq);
  };

  return {
    observe,
    list(query = {}) {
      const limit = Math.max(1, Math.min(query.limit ?? 100, 1000));
      const out: JournalSummary[] = [];
      for (const entry of ordered()) {
        if (query.state && entry.state !== query.state && !(query.state === 'failed' && entry.state === 'dead-lettered')) continue;
        if (query.key !== undefined && entry.key !== query.key) continue;
        out.push(summaryOf(entry));
        if (out.length >= limit) break;
      }
      return out;
    },
    get(id) {
      const entry = latest(id);
      if (!entry) return undefined;
      const stack = entry.error && (entry.error as { stack?: unknown }).stack;
      return {
        ...summaryOf(entry),
        meta: entry.meta ? previewOf(entry.meta, redact) : null,
        error: entry.error
          ? { code: entry.error.code, message: entry.error.message, ...(typeof stack === 'string' ? { stack } : {}) }
          : null,
        steps: stepsOf(entry),
        stepsDropped: entry.stepsDropped,
      };
    },
    original(id) {
      const entry = latest(id);
      return (
        entry && {
          id: entry.id,
          seq: entry.seq,
          state: entry.state,
          payload: entry.payload,
          meta: entry.meta,
          raw: entry.raw,
          retriedBy: entry.retriedBy,
        }
      );
    },
    note(id, kind, by, seq) {
      let entry: Entry | undefined;
      if (seq === undefined) entry = latest(id);
      else
        each((kept) => {
          if (kept.seq === seq && kept.id === id) entry = kept;
        });
      if (!entry) return;
      if (kind === 'retryRequested') entry.retriedBy = by;
      step(entry, KIND[kind], now(), by);
    },
    retriedAs(id, seq) {
      let best: Entry | undefined;
      each((entry) => {
        if ((entry.retryOf === id || (entry.id === id && entry.seq > seq)) && (best === undefined || entry.seq > best.seq)) best = entry;
      });
      return best && { id: best.id, seq: best.seq, state: best.state };
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    size: () => ({ finished, inFlight }),
    counts() {
      const counts = Object.fromEntries(JOURNAL_STATES.map((state) => [state, 0])) as Record<JournalState, number>;
      each((entry) => counts[entry.state]++);
      return counts;
    },
    now,
    close() {
      offs.forEach((off) => off());
      listeners.clear();
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
