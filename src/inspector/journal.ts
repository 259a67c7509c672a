import type { ErrorInfo } from '../kernel/error-info.js';
import type { SettleHow, SupervisorEmitted } from '../../machines/supervisor.js';
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

/** What the journal keeps of one event. */
interface Entry {
  id: string;
  seq: number;
  key: string | undefined;
  payload: unknown;
  meta: Record<string, unknown> | undefined;
  receivedAt: number;
  updatedAt: number;
  state: JournalState;
  attempt: number;
  slotId: string | undefined;
  startedAt: number | undefined;
  error: (ErrorInfo & { stack?: string }) | undefined;
  steps: JournalStep[];
  stepsDropped: number;
  retryOf: string | undefined;
  /** Offered again by a retry without its source: its outcome is not settled with the source. */
  unsettled?: boolean;
  /** The preview, made the first time it is asked for. */
  preview?: string;
}

/** What the journal needs: the runtime's `on()` and its clock. */
export interface JournalOptions {
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
  /** Newest first. */
  list(query?: JournalQuery): JournalSummary[];
  /** The latest event with that source id, with its timeline. */
  get(id: string): JournalDetail | undefined;
  /** What a retry needs: the event's payload and meta, and its state. */
  original(
    id: string,
  ): { id: string; seq: number; state: JournalState; payload: unknown; meta: Record<string, unknown> | undefined } | undefined;
  /** Adds an operator's action to the event's timeline. */
  note(id: string, step: 'retryRequested' | 'cancelRequested', by: string): void;
  /** The next event of this id was offered again by a retry, not by its source (it is not settled with the source). */
  expectOffered(id: string, expected?: boolean): void;
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

/**
 * A bounded journal of events fed by the runtime's notifications (its
 * lifecycle ones included): each event's id, key, payload, arrival and
 * timeline. It keeps every event in flight and a ring of the last `size`
 * finished ones; memory is bounded by those (with their payloads, kept
 * for a retry), never by the events seen. Previews are made when read.
 * @example
 * const journal = createJournal({ on: runtime.on, now: Date.now, size: 1000, redact: ['card'], source: 'stomp' });
 * journal.list({ state: 'failed', limit: 20 });
 */
export function createJournal(options: JournalOptions): Journal {
  const { now, redact, source, orderBy } = options;
  const settles = options.settles === true;
  /** Events the journal has in state `queued`: the supervisor's queue (waiting and key-blocked ones). */
  let waiting = 0;
  /** Ids whose next arrival is a retry offered without the source. */
  const offered = new Set<string>();
  const size = Math.max(1, options.size);
  const inFlight = new Map<number, Entry>();
  const ring: Array<Entry | undefined> = new Array<Entry | undefined>(size);
  let head = 0;
  let finished = 0;
  const byId = new Map<string, Entry>();
  const changed = new Set<Entry>();
  const listeners = new Set<(events: JournalSummary[]) => void>();
  const throttleMs = options.throttleMs ?? 100;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const touch = (entry: Entry, at: number) => {
    entry.updatedAt = at;
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
  const step = (entry: Entry, next: JournalStep) => {
    if (entry.steps.length >= MAX_STEPS) {
      entry.steps.splice(KEEP_FIRST, 1);
      entry.stepsDropped++;
    }
    entry.steps.push(next);
    touch(entry, next.at);
  };
  const finish = (entry: Entry) => {
    inFlight.delete(entry.seq);
    const old = ring[head];
    if (old && byId.get(old.id) === old) byId.delete(old.id);
    ring[head] = entry;
    head = (head + 1) % size;
    if (finished < size) finished++;
  };
  const found = (seq: number) => inFlight.get(seq);

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
    updatedAt: entry.updatedAt,
    payload: (entry.preview ??= previewOf(entry.payload, redact)),
    error: entry.error ? { code: entry.error.code, message: entry.error.message } : null,
    retryOf: entry.retryOf ?? null,
  });

  const offs = [
    options.on('event.received', (e) => {
      const headers = (e.payload as { headers?: Record<string, unknown> } | null)?.headers;
      const retryOf = headers && typeof headers[RETRY_OF_HEADER] === 'string' ? (headers[RETRY_OF_HEADER] as string) : undefined;
      const entry: Entry = {
        id: e.id,
        seq: e.seq,
        key: orderingKey(e.payload, orderBy),
        payload: e.payload,
        meta: e.meta,
        receivedAt: e.at,
        updatedAt: e.at,
        state: 'queued',
        attempt: 1,
        slotId: undefined,
        startedAt: undefined,
        error: undefined,
        steps: [{ step: 'received', at: e.at }],
        stepsDropped: 0,
        retryOf,
      };
      if (offered.delete(e.id)) entry.unsettled = true;
      inFlight.set(e.seq, entry);
      byId.set(e.id, entry);
      touch(entry, e.at);
      // Queued in the same step, unless it is settled at once (its outcome follows at once): waiting are those queued before it, and it.
      entry.steps.push({ step: 'queued', position: ++waiting, at: e.at });
    }),
    options.on('event.started', (e) => {
      const entry = found(e.seq);
      if (!entry) return;
      if (entry.state === 'queued') waiting--;
      entry.state = 'running';
      entry.attempt = e.attempt;
      entry.slotId = e.slotId;
      entry.startedAt = e.at;
      step(entry, { step: 'started', slotId: e.slotId, attempt: e.attempt, at: e.at });
    }),
    options.on('event.timedOut', (e) => {
      const entry = found(e.seq);
      if (entry) step(entry, { step: 'timedOut', slotId: e.slotId, attempt: e.attempt, at: e.at });
    }),
    options.on('event.abandoned', (e) => {
      const entry = found(e.seq);
      if (entry) step(entry, { step: 'abandoned', slotId: e.slotId, at: e.at });
    }),
    options.on('event.retrying', (e) => {
      const entry = found(e.seq);
      if (!entry) return;
      entry.state = 'retrying';
      entry.slotId = undefined;
      entry.error = e.error;
      step(entry, { step: 'retrying', attempt: e.attempt, delayMs: e.delayMs, error: e.error, at: now() });
    }),
    options.on('event.completed', (e) => {
      const entry = found(e.seq);
      if (!entry) return;
      const at = now();
      entry.state = 'completed';
      entry.attempt = e.attempts;
      step(entry, { step: 'completed', attempts: e.attempts, at });
      if (settles && !entry.unsettled) entry.steps.push({ step: 'settled', how: 'ack', at });
      finish(entry);
    }),
    ...(['failed', 'expired', 'rejected', 'returned'] as const).map((outcome) =>
      options.on(`event.${outcome}`, (e) => {
        const entry = found(e.seq);
        if (!entry) return;
        const state: JournalState = outcome === 'failed' && e.deadLetter ? 'dead-lettered' : outcome;
        const at = now();
        if (entry.state === 'queued') {
          waiting--;
          // Settled as it arrived (rejected, unreadable, or the runtime is stopping): it never was in the queue.
          const last = entry.steps.at(-1);
          if (last?.step === 'queued' && entry.steps.length === 2 && last.at === at && outcome !== 'expired') entry.steps.pop();
        }
        entry.state = state;
        entry.attempt = e.attempts;
        entry.error = e.error;
        step(entry, { step: state, attempts: e.attempts, error: { code: e.error.code, message: e.error.message }, at });
        // What the supervisor asks of the source (see SettleHow): the source's settle() itself is not observed.
        if (settles && !entry.unsettled) entry.steps.push({ step: 'settled', how: e.deadLetter ? 'dead-letter' : 'nack', at });
        finish(entry);
      }),
    ),
  ];

  const ordered = (): Entry[] => {
    const all: Entry[] = [...inFlight.values()];
    for (let i = 0; i < finished; i++) all.push(ring[(head - 1 - i + size) % size]!);
    return all.sort((a, b) => b.seq - a.seq);
  };

  return {
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
      const entry = byId.get(id);
      if (!entry) return undefined;
      const stack = entry.error && (entry.error as { stack?: unknown }).stack;
      return {
        ...summaryOf(entry),
        meta: entry.meta ? previewOf(entry.meta, redact) : null,
        error: entry.error
          ? { code: entry.error.code, message: entry.error.message, ...(typeof stack === 'string' ? { stack } : {}) }
          : null,
        steps: entry.steps.map((s) => ({ ...s })),
        stepsDropped: entry.stepsDropped,
      };
    },
    original(id) {
      const entry = byId.get(id);
      return entry && { id: entry.id, seq: entry.seq, state: entry.state, payload: entry.payload, meta: entry.meta };
    },
    expectOffered(id, expected = true) {
      if (expected) offered.add(id);
      else offered.delete(id);
    },
    note(id, kind, by) {
      const entry = byId.get(id);
      if (entry) step(entry, { step: kind, by, at: now() });
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    size: () => ({ finished, inFlight: inFlight.size }),
    counts() {
      const counts = Object.fromEntries(JOURNAL_STATES.map((state) => [state, 0])) as Record<JournalState, number>;
      for (const entry of inFlight.values()) counts[entry.state]++;
      for (let i = 0; i < finished; i++) counts[ring[(head - 1 - i + size) % size]!.state]++;
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
