import { RECONNECT_MAX_DELAY_MS } from '../../machines/backoff.js';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { formatDuration } from '../../src/kernel/duration.js';
import { ConfigError, FlowdError, type ErrorCode } from '../../src/kernel/errors.js';
import { displayUrl } from '../display-url.js';
import type { Settlement } from '../../machines/events.js';
import type { LockHandle, Locks } from '../locks/lock-api.js';
import { keepRenewed } from '../locks/keep-renewed.js';
import type { LogEvent, PluginChange, PluginHost } from '../plugins/plugin-api.js';
import type { Store } from '../stores/store-api.js';
import type { Feed, SourceDriver } from './driver.js';
import { cursorKey, readCursor, type CursorRecord, type Deactivation } from './event-log-cursors.js';
import { fingerprintMismatch, fingerprintOf, type Fingerprint } from './event-log-fingerprint.js';
import { isReactivationRequest, reactivationKey } from './event-log-reactivation.js';
import type { EventLogReader, EventLogReaderOptions } from './event-log-reader.js';
import { LogWindow } from './event-log-window.js';
import { WriterHorizon } from './event-log-writers.js';
import { holdReaderFile } from './reader-file.js';
import { isLoopback, type DurationOption, type SourceApp, type SourceKind } from './source-kind.js';
import type { SectionReader } from '../../src/kernel/section-reader.js';

/** `[Source] type = event-log`, compiled. */
export interface EventLogOptions {
  reader: EventLogReaderOptions;
  /** @default 5000 */
  fetchIntervalMs: number;
  /** @default 500 */
  maxBatchSize: number;
  /** How long a gap in the ids holds plugins back before it is given up: for PostgreSQL, the bound for a transaction left open. @default 300_000 (PostgreSQL), 30_000 (HTTP) */
  backlogTimeoutMs: number;
  /** Where a plugin without a cursor starts. @default 'latest' */
  startFrom: 'latest' | 'earliest' | number;
  /** The lock that makes one daemon of several the reader. @default 'event-log/reader' */
  lockKey: string;
  /** A file in the app's state folder that makes one daemon of several on this machine the reader, whatever `[Lock]` is. */
  readerFile?: string | undefined;
}

/** What the driver uses from the app. */
export interface EventLogDeps {
  log: Logger;
  store: Store;
  locks: Locks;
  plugins: PluginHost;
  /** The reader lock's lease (`[Lock] lease`): it is renewed every third of it. */
  leaseMs: number;
  /** @default Date.now */
  now?: () => number;
  /**
   * Fence cursor writes with at least the wall clock (x1000): for in-process
   * locks, whose fences count from their own process's start, so a daemon
   * that takes over from another on this machine is not fenced out by it.
   * @default false
   */
  clockFence?: boolean;
  /** A reader made elsewhere (tests); by default one is made from `options.reader`. */
  reader?: EventLogReader;
}

/** One plugin's place in the log. */
interface Cursor {
  name: string;
  /** In memory: every id up to here is done. */
  last: number;
  /** What the store has. */
  stored: CursorRecord;
  /** The last event passed, as read (id at most `last`): what a restart checks the log still holds. */
  fingerprint: Fingerprint | undefined;
  inFlight: number | undefined;
  writing: Promise<void> | undefined;
  /** After an outcome that was not final (shutdown, a store that was down): not before this. */
  notBefore: number;
  /** Events that appeared after their gap was given up, behind `last`: handed over before the next in order, out of order. */
  late: LogEvent[];
}

type SourceError = Error & { code: string; retryable: boolean };

const sourceError = (error: unknown, retryable?: boolean): SourceError => {
  const code = (error as { code?: unknown })?.code;
  const text = typeof code === 'string' ? code : 'ERR_SOURCE';
  const again =
    retryable ??
    ['ERR_EVENT_LOG_UNAVAILABLE', 'ERR_STORE_UNAVAILABLE', 'ERR_LOCK_UNAVAILABLE', 'ERR_LOCK_LOST', 'ERR_FENCED'].includes(text);
  return Object.assign(new FlowdError(text as ErrorCode, (error as Error)?.message ?? String(error), { cause: error }), {
    retryable: again,
  });
};

async function makeReader(options: EventLogReaderOptions): Promise<EventLogReader> {
  if (options.kind === 'postgres') return (await import('./event-log-postgres.js')).postgresLogReader(options);
  return (await import('./event-log-http.js')).httpLogReader(options);
}

/**
 * The event-log source: reads the log in id order and hands each event to
 * each active plugin whose callbacks match it, one event at a time per
 * plugin, so a plugin sees its events in id order while plugins run in
 * parallel on the worker slots. A plugin's cursor (and its backlog of gaps)
 * is written to the store after each of its events, before its next one, so
 * a crash repeats at most the event in flight. One daemon of several is the
 * reader: the one holding the reader lock, whose fence guards every write.
 */
export function eventLogDriver(options: EventLogOptions, deps: EventLogDeps): SourceDriver {
  const { log, store, locks, plugins } = deps;
  const now = deps.now ?? Date.now;
  const window = new LogWindow(0, options.backlogTimeoutMs);
  const cursors = new Map<string, Cursor>();
  /** Delivery id -> what it was, for the outcome. */
  const inFlight = new Map<
    string,
    { plugin: string; eventId: number; generation: number; fingerprint: Fingerprint | undefined; late: LogEvent | undefined }
  >();
  const stats = {
    reader: 0,
    delivered: 0,
    completed: 0,
    callbackFailures: 0,
    deactivations: 0,
    gapsGivenUp: 0,
    gapsClosed: 0,
    lateEvents: 0,
    voided: 0,
  };
  /** PostgreSQL with ids handed out in order: a gap closes once no transaction that could fill it is open (see event-log-writers.ts). */
  let closesGaps = false;
  let warnedOrder = false;
  /** The gap check failed for good once (givesUpProof): warned. */
  let warnedProof = false;
  /** The store failed with ERR_STORE_UNAVAILABLE at the last ask for reactivation requests: warned once, quiet until it answers. */
  let storeDown = false;
  /** What the reader warned of at a connect: once a process, not at every reconnect. */
  const warned = new Set<string>();
  const writers = new WriterHorizon();
  /** The highest id any read of this connection returned: every id drawn after that read is above it. */
  let seenMax = 0;
  let reader: EventLogReader | undefined = deps.reader;
  let generation = 0;
  let lock: LockHandle | undefined;
  /** The fence of every cursor write: the lock's, or the clock's when that is higher (in-process locks count from their own start). */
  let fence = 0;
  let releaseFile: (() => Promise<void>) | undefined;
  let stopRenewing: (() => void) | undefined;
  let abort = new AbortController();
  let feed: Feed | undefined;
  let paused = false;
  let polling = false;
  let lastReadFull = false;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let wakeTimer: ReturnType<typeof setTimeout> | undefined;
  let unsubscribe: (() => void) | undefined;
  let startPoint: Promise<number> | undefined;
  /** The log's newest id, read once per connection for the cursor checks. */
  let latestNow: Promise<number> | undefined;

  const where = () => reader?.displayUrl ?? 'the event log';
  const logName = () => (options.reader.kind === 'postgres' ? `${where()} table ${options.reader.table}` : where());
  const isActive = (name: string) => plugins.get(name)?.state === 'active';
  const active = () => [...cursors.values()].filter((cursor) => isActive(cursor.name));

  /** The connection is gone (a read failed, the reader lock lapsed): outcomes still due are void, and the source reconnects. */
  const lose = (error: SourceError) => {
    if (!feed) return;
    const lost = feed;
    feed = undefined;
    halt();
    const ids = [...inFlight].filter(([, entry]) => entry.generation === generation).map(([id]) => id);
    lost.revoke(ids, { code: error.code, message: error.message });
    lost.lost({ code: error.code, message: error.message, retryable: error.retryable });
  };

  const halt = () => {
    if (pollTimer) clearTimeout(pollTimer);
    if (wakeTimer) clearTimeout(wakeTimer);
    pollTimer = wakeTimer = undefined;
  };

  const recordOf = (cursor: Cursor, deactivated: Deactivation | undefined): CursorRecord => ({
    last: cursor.last,
    backlog: window.backlogAfter(cursor.last),
    ...(deactivated ? { deactivated } : {}),
    ...(cursor.fingerprint && cursor.fingerprint.id <= cursor.last ? { fingerprint: cursor.fingerprint } : {}),
  });

  /** Writes the cursor, fenced by the reader lock; a store that is down is tried again until it answers or the reader stops. */
  const persist = (cursor: Cursor, deactivated?: Deactivation | null): Promise<void> => {
    const mine = generation;
    const write = async (): Promise<void> => {
      await cursor.writing?.catch(() => undefined);
      for (let attempt = 1; ; attempt++) {
        const record = recordOf(cursor, deactivated === null ? undefined : (deactivated ?? cursor.stored.deactivated));
        try {
          await store.put(cursorKey(cursor.name), record, lock ? { fence } : {});
          cursor.stored = record;
          return;
        } catch (error) {
          const failure = sourceError(error);
          if (failure.code !== 'ERR_STORE_UNAVAILABLE' || mine !== generation || !feed) {
            lose(failure);
            throw failure;
          }
          const delayMs = Math.min(30_000, 250 * 2 ** Math.min(attempt, 7));
          log.warn(
            { plugin: cursor.name, attempt, delayMs, error: failure.message },
            `event-log: cannot write the cursor of plugin "${cursor.name}" (${failure.message}); trying again in ${delayMs}ms`,
          );
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
      }
    };
    const writing = write().finally(() => {
      if (cursor.writing === writing) cursor.writing = undefined;
    });
    cursor.writing = writing;
    return writing;
  };

  const dispatch = (cursor: Cursor): void => {
    if (!feed || paused || cursor.inFlight !== undefined || cursor.writing || !isActive(cursor.name)) return;
    const at = now();
    if (at < cursor.notBefore) return wakeAt(cursor.notBefore);
    const late = cursor.late.shift();
    if (late) return deliver(cursor, late, true);
    const step = window.next(cursor.last, at, (event) => plugins.matches(cursor.name, event));
    if (step.kind === 'behind') {
      // Back from far behind (a plugin that resumed): read again from the lowest cursor.
      window.reset(floor());
      return requestPoll(0);
    }
    if (step.skippedTo > cursor.last) {
      cursor.last = step.skippedTo;
      remember(cursor, window.eventAtOrBefore(cursor.last));
    }
    if (step.kind === 'event') return deliver(cursor, step.event);
    if (step.kind === 'blocked') wakeAt(step.until);
    else if (lastReadFull) requestPoll(0);
    // Passed events that did not match: remembered without holding anything up.
    if (cursor.last > cursor.stored.last)
      void persist(cursor).then(
        () => dispatch(cursor),
        () => undefined,
      );
  };

  /** The cursor's fingerprint moves to `event` (the last it passed), unless that has no created_at or is below it. */
  const remember = (cursor: Cursor, event: LogEvent | undefined) => {
    const fingerprint = fingerprintOf(event);
    if (fingerprint && fingerprint.id >= (cursor.fingerprint?.id ?? 0)) cursor.fingerprint = fingerprint;
  };

  const deliver = (cursor: Cursor, event: LogEvent, late = false) => {
    const id = `${event.id}@${cursor.name}`;
    cursor.inFlight = event.id;
    inFlight.set(id, {
      plugin: cursor.name,
      eventId: event.id,
      generation,
      fingerprint: fingerprintOf(event),
      late: late ? event : undefined,
    });
    stats.delivered++;
    feed!.deliver(event, { id, meta: { plugin: cursor.name, eventId: event.id, eventType: event.type } });
  };

  const dispatchAll = () => {
    for (const cursor of cursors.values()) dispatch(cursor);
    for (const gap of window.takeGivenUp()) {
      stats.gapsGivenUp++;
      const ids = gap.from === gap.to ? `id ${gap.from}` : `ids ${gap.from}-${gap.to}`;
      log.warn(
        { from: gap.from, to: gap.to },
        `event-log: event ${ids} never appeared within the backlog timeout; given up (plugins go on past it)`,
      );
    }
  };

  /** The lowest cursor of the active plugins: the window forgets what is below it. */
  const floor = () => {
    const lasts = active().map((cursor) => cursor.last);
    return lasts.length === 0 ? window.high : Math.min(...lasts);
  };

  const wakeAt = (when: number) => {
    if (wakeTimer) return;
    wakeTimer = setTimeout(
      () => {
        wakeTimer = undefined;
        dispatchAll();
      },
      Math.max(0, when - now()),
    );
  };

  const requestPoll = (delayMs: number) => {
    if (!feed) return;
    if (pollTimer) {
      if (delayMs > 0) return;
      clearTimeout(pollTimer);
    }
    pollTimer = setTimeout(() => {
      pollTimer = undefined;
      void poll();
    }, delayMs);
  };

  /** Reads events after `after`, noting the highest id seen. */
  const readLog = async (after: number): Promise<LogEvent[]> => {
    const events = await reader!.read(after, options.maxBatchSize, abort.signal);
    if (events.length > 0) seenMax = Math.max(seenMax, events.at(-1)!.id);
    return events;
  };

  /** Reads every open gap again (a read after the last list of writers), and closes those drained and still missing. */
  const recheck = async () => {
    noteLate(await window.recheckGaps(readLog, options.maxBatchSize, now));
    for (const gap of window.closeDrained()) {
      stats.gapsClosed++;
      const ids = gap.from === gap.to ? `id ${gap.from}` : `ids ${gap.from}-${gap.to}`;
      log.debug(
        { from: gap.from, to: gap.to },
        `event-log: event ${ids} will never appear (no transaction that could write it is open: it rolled back); plugins go on past it`,
      );
    }
  };

  /**
   * PostgreSQL: asks which transactions hold the id sequence or write the
   * table now, after the reads that saw the gaps; the gaps none of them can
   * fill are read once more and, still missing, closed (event-log-writers.ts).
   */
  const drainGaps = async (mine: number) => {
    const seenBefore = seenMax;
    let open: string[];
    try {
      open = await reader!.openWriters!(abort.signal);
    } catch (error) {
      if (!givesUpProof(error, 'list the transactions that may still write ids (pg_locks)')) throw error;
      return;
    }
    if (mine !== generation) return;
    if (window.drain(writers.observe(open, seenBefore)) > 0) await recheck();
  };

  /**
   * A failure of the gap check that a retry will not cure (a permission, a
   * server without pg_sequence): warned once, and gaps wait for the backlog
   * timeout from then on, as for a log whose ids cannot be vouched for.
   * False for what the source should fail on as for any read (a server
   * that is down, a shutdown).
   */
  const givesUpProof = (error: unknown, what: string): boolean => {
    const code = (error as { code?: unknown })?.code;
    if (abort.signal.aborted || code === 'ERR_EVENT_LOG_UNAVAILABLE' || !(error instanceof FlowdError)) return false;
    closesGaps = false;
    window.expiresOldGaps = true;
    if (!warnedProof)
      log.warn(
        { error: (error as Error).message },
        `event-log: cannot ${what}: ${(error as Error).message}. flowd cannot prove that a gap in the ids will never fill, so a gap holds every plugin for the backlog timeout (${formatDuration(options.backlogTimeoutMs)}) instead (see docs/event-log.md#gaps)`,
      );
    warnedProof = true;
    return true;
  };

  const poll = async () => {
    if (polling || !feed || !reader) return;
    polling = true;
    const mine = generation;
    try {
      await takeReactivations();
      if (mine !== generation) return;
      if (active().length > 0) {
        const lowest = floor();
        if (lowest < window.base) window.reset(lowest);
        else window.evict(lowest);
        await recheck();
        if (mine !== generation) return;
        if (window.lateRangeCount > 0 && now() - lastLateRead >= lateEveryMs) {
          lastLateRead = now();
          noteLate(await window.rereadLate(readLog, options.maxBatchSize, now()));
          if (mine !== generation) return;
        }
        lastReadFull = false;
        let read = 0;
        if (window.eventCount < options.maxBatchSize * 4) {
          const after = window.high;
          const events = await readLog(after);
          if (mine !== generation) return;
          read = events.length;
          noteLate(window.add(after, events, now()));
          if (events.length === 0) await checkLogBehind();
          if (mine !== generation) return;
          lastReadFull = events.length === options.maxBatchSize;
          if (lastReadFull)
            log.info(
              { high: window.high, plugins: Object.fromEntries(active().map((c) => [c.name, c.last])) },
              `event-log: read up to event ${window.high}; more are waiting`,
            );
        }
        // New ids or a gap still open: the writers are asked (new ids keep each transaction's low bound close).
        if (closesGaps && (read > 0 || window.hasOpenGaps)) await drainGaps(mine);
        if (mine !== generation) return;
        dispatchAll();
      }
    } catch (error) {
      if (mine === generation) lose(sourceError(error));
      return;
    } finally {
      polling = false;
    }
    requestPoll(lastReadFull && window.eventCount < options.maxBatchSize * 4 ? 0 : options.fetchIntervalMs);
  };

  /** Ids given up are read again this often (10 fetch intervals, or the backlog timeout up to a minute, whichever is longer). */
  const lateEveryMs = Math.max(10 * options.fetchIntervalMs, Math.min(options.backlogTimeoutMs, 60_000));
  let lastLateRead = now();

  /** Nothing new to read: a log emptied or restored while the daemon runs leaves cursors above its newest id, or on events that are gone or others: each such plugin is stopped. */
  // At most every 20 fetch intervals (5 s at least): asking for the newest id on every idle read would double an idle daemon's queries.
  const behindCheckEveryMs = Math.max(20 * options.fetchIntervalMs, 5_000);
  let lastBehindCheck = now();
  // While running, only a PostgreSQL log is asked (one cheap max(id)); an HTTP feed's latest url is asked at start and when a plugin changes.
  const checkLogBehind = async () => {
    if (reader!.walksToLatest || options.reader.kind !== 'postgres') return;
    if (now() - lastBehindCheck < behindCheckEveryMs) return;
    lastBehindCheck = now();
    latestNow = reader!.latestId(abort.signal);
    const latest = await latestNow;
    const ahead = active().filter((cursor) => cursor.last > latest);
    for (const cursor of ahead) await stopIfUnfit(cursor);
    // The last event each plugin passed is still there as it was read.
    const rest = active();
    const found = await fingerprintsFound(rest);
    let moved = false;
    for (const cursor of rest) if (isActive(cursor.name) && (await stopIfMoved(cursor, found))) moved = true;
    if (ahead.length > 0 || moved) window.reset(floor());
  };

  /** Events that appeared after their gap was given up: each plugin that went past one and wants it gets it next, out of order. */
  const noteLate = (late: LogEvent[]) => {
    for (const event of late) {
      stats.lateEvents++;
      const past = active().filter((cursor) => cursor.last >= event.id && plugins.matches(cursor.name, event));
      for (const cursor of past) cursor.late.push(event);
      const names = past.map((cursor) => `"${cursor.name}"`).join(', ');
      log.warn(
        { event: event.id, plugins: past.map((cursor) => cursor.name) },
        `event-log: event ${event.id} appeared after it was given up; ${past.length === 0 ? 'no plugin that went past it wants it' : `handed to ${names} out of order`} (the plugins not past it yet get it in order)`,
      );
    }
  };

  /** A plugin's cursor from the store, or a new one at `start from` (written at once, so a restart does not move it). */
  const loadCursor = async (name: string): Promise<void> => {
    const info = plugins.get(name);
    if (!info || info.state === 'removed') return;
    let record = await readCursor(store, name);
    if (!record) {
      startPoint ??= startAt();
      record = { last: await startPoint, backlog: [] };
      await store.put(cursorKey(name), record, lock ? { fence } : {});
      log.info(
        { plugin: name, last: record.last },
        `event-log: plugin "${name}" has no cursor; it starts after event ${record.last} (start from = ${options.startFrom})`,
      );
    }
    window.remember(record.backlog);
    const cursor: Cursor = {
      name,
      last: record.last,
      stored: record,
      fingerprint: record.fingerprint,
      inFlight: undefined,
      writing: undefined,
      notBefore: 0,
      late: [],
    };
    cursors.set(name, cursor);
    if (await stopIfUnfit(cursor)) return;
    const deactivated = record.deactivated;
    // A cursor that did not fit the log needs a reset, whatever its file did; a failure is retried by a start, as shotgunEvents does.
    if (deactivated?.code === 'ERR_CURSOR') {
      if (info.state !== 'deactivated') plugins.deactivate(name, deactivated);
      log.warn(
        { plugin: name, error: deactivated },
        `event-log: plugin "${name}" stays deactivated until its cursor is reset (flowd plugins <app.ini> --reset-cursor ${name}): ${deactivated.message}`,
      );
    } else if (deactivated) {
      log.warn(
        { plugin: name, eventId: deactivated.eventId, error: { code: deactivated.code, message: deactivated.message } },
        `event-log: plugin "${name}" was deactivated${failedOn(deactivated)}; this start re-activates it: ${goesOn(record.last, deactivated)}`,
      );
      await persist(cursor, null);
    }
  };

  /**
   * Plugins deactivated by a failure whose reactivation was asked for
   * (`flowd plugins --reactivate`, see event-log-reactivation.ts): the record
   * is cleared and the plugin loaded again, to retry the event it failed on.
   * A store that does not answer is asked again at the next read.
   */
  const takeReactivations = async () => {
    for (const cursor of [...cursors.values()]) {
      const deactivated = cursor.stored.deactivated;
      if (!deactivated || deactivated.code === 'ERR_CURSOR' || cursor.writing) continue;
      const key = reactivationKey(cursor.name);
      try {
        const request: unknown = await store.get(key);
        storeDown = false;
        if (request === undefined) continue;
        await store.delete(key, lock ? { fence } : {});
        if (!isReactivationRequest(request) || request.deactivatedAt !== deactivated.at) {
          log.info(
            { plugin: cursor.name, request },
            `event-log: dropped a reactivation request of plugin "${cursor.name}" made for an earlier deactivation`,
          );
          continue;
        }
      } catch (error) {
        const message = (error as Error).message;
        if ((error as { code?: unknown }).code !== 'ERR_STORE_UNAVAILABLE') {
          log.warn(
            { plugin: cursor.name, error: message },
            `event-log: cannot read the reactivation request "${key}" (${message}); asking again at the next read`,
          );
          continue;
        }
        // The store is down: one line an outage, not one per plugin and read; the other plugins' requests wait for it too.
        if (storeDown)
          log.debug({ plugin: cursor.name, error: message }, `event-log: cannot read the reactivation request "${key}" (${message})`);
        else
          log.warn(
            { error: message },
            `event-log: cannot read reactivation requests (flowd plugins --reactivate): the store is unavailable (${message}); asking again at each read, quietly until it answers`,
          );
        storeDown = true;
        return;
      }
      log.warn(
        { plugin: cursor.name, eventId: deactivated.eventId, error: { code: deactivated.code, message: deactivated.message } },
        `event-log: plugin "${cursor.name}" was deactivated${failedOn(deactivated)}; reactivated on request (flowd plugins --reactivate): ${goesOn(cursor.last, deactivated)}`,
      );
      await persist(cursor, null);
      if (!plugins.reactivate(cursor.name)) dispatch(cursor);
    }
  };

  /**
   * A cursor above the log's newest id, or whose last event is gone or
   * another one (the table was emptied with RESTART IDENTITY, recreated or
   * restored): the plugin would skip every event up to it, so it is
   * deactivated with ERR_CURSOR naming both values until its cursor is
   * reset. The newest id is not asked of a feed that can only be walked to
   * its end; a cursor without a fingerprint (an older record, a feed
   * without created_at) is only checked against the newest id.
   */
  const stopIfUnfit = async (cursor: Cursor): Promise<boolean> => {
    if (!reader!.walksToLatest) {
      latestNow ??= reader!.latestId(abort.signal);
      const latest = await latestNow;
      if (cursor.last > latest) {
        const problem = `but the newest event in ${logName()} is ${latest} (the log was emptied, recreated or restored?); expected at most ${latest}`;
        await stopAtCursor(cursor, problem, { latest });
        return true;
      }
    }
    return stopIfMoved(cursor, await fingerprintsFound([cursor]));
  };

  /** What the log holds now in place of each cursor's fingerprint (undefined: as it was), one read per fingerprint id. */
  const fingerprintsFound = async (list: Cursor[]): Promise<Map<Fingerprint, string | undefined>> => {
    const found = new Map<Fingerprint, string | undefined>();
    const byId = new Map<number, Promise<LogEvent | undefined>>();
    for (const { fingerprint, last } of list) {
      if (!fingerprint || fingerprint.id > last) continue;
      const event = byId.get(fingerprint.id) ?? reader!.read(fingerprint.id - 1, 1, abort.signal).then(([first]) => first);
      byId.set(fingerprint.id, event);
      found.set(fingerprint, fingerprintMismatch(await event, fingerprint));
    }
    return found;
  };

  /**
   * The cursor's last event is gone from the log, or another one has its id
   * (the log was emptied with RESTART IDENTITY, recreated or restored, then
   * grew past the cursor while the daemon was stopped): as for a cursor ahead.
   */
  const stopIfMoved = async (cursor: Cursor, found: Map<Fingerprint, string | undefined>): Promise<boolean> => {
    const fingerprint = cursor.fingerprint;
    const now = fingerprint && found.get(fingerprint);
    if (!fingerprint || now === undefined) return false;
    const which = fingerprint.id === cursor.last ? `event ${fingerprint.id}` : `event ${fingerprint.id}, the last event it passed,`;
    const problem =
      `and ${which} had created_at ${fingerprint.createdAt} when it passed it, but event ${fingerprint.id} in ${logName()} now ${now}` +
      ` (the log was emptied, recreated or restored?); expected event ${fingerprint.id} with created_at ${fingerprint.createdAt}`;
    await stopAtCursor(cursor, problem, { fingerprint, found: now });
    return true;
  };

  /** Deactivates a plugin whose cursor does not fit the log, with ERR_CURSOR naming its key, what is wrong and the reset command. */
  const stopAtCursor = async (cursor: Cursor, problem: string, fields: Record<string, unknown>) => {
    const message =
      `the cursor "${cursorKey(cursor.name)}" of plugin "${cursor.name}" is at event ${cursor.last}, ${problem}: the plugin would skip every new event up to ${cursor.last}.` +
      ` Reset its cursor: flowd plugins <app.ini> --reset-cursor ${cursor.name} [--to latest|earliest|<id>]`;
    const deactivated: Deactivation = { at: Date.now(), code: 'ERR_CURSOR', message };
    plugins.deactivate(cursor.name, deactivated);
    log.error({ plugin: cursor.name, cursor: cursor.last, ...fields, error: { code: 'ERR_CURSOR', message } }, `event-log: ${message}`);
    await persist(cursor, deactivated);
  };

  const startAt = async (): Promise<number> => {
    // One ask of the newest id serves both the start point and the cursors' check against it.
    if (options.startFrom === 'latest') return (latestNow ??= reader!.latestId(abort.signal));
    if (options.startFrom === 'earliest') return reader!.earliestId(abort.signal);
    return options.startFrom - 1;
  };

  const onChange = (change: PluginChange) => {
    if (!lock) return;
    const cursor = cursors.get(change.name);
    if (change.type === 'plugin.removed') {
      cursors.delete(change.name);
    } else if (change.type === 'plugin.added' && !cursor) {
      // "latest" for a plugin added now is the log's end now.
      startPoint = latestNow = undefined;
      loadCursor(change.name).then(
        () => dispatchAll(),
        (error: unknown) => lose(sourceError(error)),
      );
    } else if (change.type === 'plugin.activated' && cursor && cursor.stored.deactivated?.code === 'ERR_CURSOR') {
      // Its file changed, its cursor did not: only --reset-cursor lifts ERR_CURSOR. A log that grew past a cursor
      // ahead of it (or a record without a fingerprint) would fit again, and the plugin would skip every event up to it.
      const deactivated = cursor.stored.deactivated;
      plugins.deactivate(change.name, deactivated);
      log.warn(
        { plugin: change.name, error: deactivated },
        `event-log: plugin "${change.name}" stays deactivated until its cursor is reset (a changed file does not lift ERR_CURSOR): ${deactivated.message}`,
      );
    } else if (change.type === 'plugin.activated' && cursor) {
      if (cursor.stored.deactivated)
        void persist(cursor, null).then(
          () => dispatch(cursor),
          () => undefined,
        );
      else dispatch(cursor);
      log.info(
        { plugin: change.name, last: cursor.last },
        `event-log: plugin "${change.name}" is active; it goes on after event ${cursor.last}`,
      );
    }
  };

  /** Lets go of what the last connection held. */
  const teardown = async () => {
    halt();
    unsubscribe?.();
    unsubscribe = undefined;
    stopRenewing?.();
    stopRenewing = undefined;
    const held = lock;
    lock = undefined;
    stats.reader = 0;
    await held?.release().catch(() => undefined);
    const file = releaseFile;
    releaseFile = undefined;
    await file?.().catch(() => undefined);
  };

  return {
    type: 'event-log',
    async connect() {
      await teardown();
      generation++;
      abort = new AbortController();
      cursors.clear();
      startPoint = latestNow = undefined;
      try {
        reader ??= await makeReader(options.reader);
        const connected = await reader.connect();
        for (const warning of connected?.warnings ?? []) {
          if (warned.has(warning)) continue;
          warned.add(warning);
          log.warn(`event-log: ${warning}`);
        }
        writers.reset();
        seenMax = 0;
        closesGaps = false;
        if (reader.idOrder && reader.openWriters) {
          const order = await reader.idOrder(abort.signal).catch((error: unknown) => {
            if (givesUpProof(error, 'check how the ids are handed out (pg_get_serial_sequence, pg_sequence)')) return undefined;
            throw error;
          });
          closesGaps = order !== undefined && order.problem === undefined;
          // Gaps close on proof here: created_at (another clock, or a transaction's start) must not give one up early.
          window.expiresOldGaps = !closesGaps;
          if (order?.problem && !warnedOrder)
            log.warn(
              { sequence: order.sequence || undefined },
              `event-log: ${order.problem}. flowd cannot prove that a gap in the ids will never fill, so a gap (a rolled-back transaction) holds every plugin for the backlog timeout (${formatDuration(options.backlogTimeoutMs)}) instead of until the transactions that could fill it end (see docs/event-log.md#gaps)`,
            );
          warnedOrder ||= order?.problem !== undefined;
        }
        const tellWaiting = () =>
          log.info(
            { lock: options.lockKey },
            `event-log: another daemon is the reader of ${where()}; waiting to take over (lock "${options.lockKey}")`,
          );
        if (options.readerFile) releaseFile = await holdReaderFile(options.readerFile, abort.signal, tellWaiting);
        const waiting = setTimeout(tellWaiting, 1000);
        try {
          lock = await locks.lock(options.lockKey, { signal: abort.signal });
        } finally {
          clearTimeout(waiting);
        }
        fence = deps.clockFence ? Math.max(lock.fence, Date.now() * 1000) : lock.fence;
        stats.reader = 1;
        stopRenewing = keepRenewed(lock, deps.leaseMs);
        const held = lock;
        held.signal.addEventListener(
          'abort',
          () => {
            if (lock === held)
              lose(
                sourceError(
                  {
                    code: 'ERR_LOCK_LOST',
                    message: `event-log: the reader lock "${options.lockKey}" lapsed; another daemon may read ${where()} now`,
                  },
                  true,
                ),
              );
          },
          { once: true },
        );
        for (const plugin of plugins.list()) await loadCursor(plugin.name);
        const lowest = floor();
        window.reset(lowest);
        unsubscribe = plugins.onChange(onChange);
        log.info(
          { plugins: Object.fromEntries([...cursors.values()].map((c) => [c.name, c.last])) },
          `event-log: reading ${where()} for ${cursors.size} plugin(s)`,
        );
      } catch (error) {
        await teardown();
        throw sourceError(error);
      }
    },
    start(next) {
      feed = next;
      paused = false;
      requestPoll(0);
    },
    stop() {
      feed = undefined;
      halt();
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      dispatchAll();
    },
    settle(settlement: Settlement) {
      const entry = inFlight.get(settlement.id);
      if (!entry) return;
      inFlight.delete(settlement.id);
      const cursor = cursors.get(entry.plugin);
      if (entry.generation !== generation || !cursor || cursor.inFlight !== entry.eventId) {
        stats.voided++;
        return;
      }
      cursor.inFlight = undefined;
      if (entry.late && settlement.outcome === 'completed') {
        // Behind the cursor: nothing to write.
        stats.completed++;
        const failed = (settlement.result as { failed?: unknown } | undefined)?.failed;
        if (Array.isArray(failed)) stats.callbackFailures += failed.length;
        dispatch(cursor);
      } else if (entry.late && settlement.outcome !== 'failed') {
        // Returned (shutdown, a store that was down) or expired: again after a fetch interval.
        cursor.late.unshift(entry.late);
        cursor.notBefore = now() + options.fetchIntervalMs;
        wakeAt(cursor.notBefore);
      } else if (settlement.outcome === 'completed') {
        stats.completed++;
        // Callbacks with stopOnError = false that failed: logged by the host, counted here.
        const failed = (settlement.result as { failed?: unknown } | undefined)?.failed;
        if (Array.isArray(failed)) stats.callbackFailures += failed.length;
        cursor.last = entry.eventId;
        if (entry.fingerprint) cursor.fingerprint = entry.fingerprint;
        void persist(cursor).then(
          () => dispatch(cursor),
          () => undefined,
        );
      } else if (settlement.outcome === 'failed' && plugins.get(entry.plugin)?.state === 'deactivated') {
        // It was deactivated meanwhile (a reload that failed): that reason stands; the event is not done.
        cursor.notBefore = now() + options.fetchIntervalMs;
      } else if (settlement.outcome === 'failed') {
        stats.deactivations++;
        const error = settlement.error ?? { code: 'ERR_PLUGIN', message: 'failed' };
        // Wall-clock time, compared with the plugin file's mtime after a restart.
        const deactivated: Deactivation = { at: Date.now(), code: error.code, message: error.message, eventId: entry.eventId };
        plugins.deactivate(entry.plugin, deactivated);
        log.error(
          { plugin: entry.plugin, event: entry.eventId, error },
          `event-log: plugin "${entry.plugin}" is deactivated: ${error.message}; it stays on event ${entry.eventId} until its file changes, the daemon restarts or flowd plugins <app.ini> --reactivate ${entry.plugin}`,
        );
        void persist(cursor, deactivated).catch(() => undefined);
      } else {
        // Returned (shutdown, a store that was down) or expired: the same event again after a fetch interval.
        cursor.notBefore = now() + options.fetchIntervalMs;
        wakeAt(cursor.notBefore);
      }
    },
    async disconnect() {
      abort.abort(new FlowdError('ERR_SHUTDOWN', 'the event-log source is stopping'));
      feed = undefined;
      halt();
      // Progress past events that did not match is written too, then the reader lock goes.
      await Promise.allSettled(
        [...cursors.values()].map((cursor) => (lock && cursor.last > cursor.stored.last ? persist(cursor) : cursor.writing)),
      );
      await teardown();
      await reader?.close();
    },
    stats: () => ({ ...stats, plugins: cursors.size }),
  };
}

/** ` when it failed on event 7 (ERR_PLUGIN: ...)`: what a deactivation on record says. */
const failedOn = (deactivated: Deactivation) =>
  `${deactivated.eventId === undefined ? '' : ` when it failed on event ${deactivated.eventId}`} (${deactivated.code}: ${deactivated.message})`;

/** Where a re-activated plugin goes on: after its cursor, so the event it failed on comes again. */
const goesOn = (last: number, deactivated: Deactivation) =>
  `it goes on after event ${last}${deactivated.eventId === undefined ? '' : `, retrying event ${deactivated.eventId}`}`;

/** `sources.eventLog({ ... })`: the `[Source] type = event-log` keys, in camelCase. */
export interface EventLogSourceOptions {
  /** `postgres://user@host:5432/database`, or an HTTP feed with `{id}` (and `{n}`), such as `http://host/events?after={id}&limit={n}`. */
  url: string;
  /** The PostgreSQL table (a PostgreSQL url only). @default 'flowd_events' */
  table?: string;
  /** An URL answering `{ "id": <latest id> }` (an HTTP feed only); unset: the feed is read to its end. */
  latestUrl?: string;
  /** How often the log is read when the last read was not full. @default '5s' */
  fetchInterval?: DurationOption;
  /** Events read at most at once (1 to 100000). @default 500 */
  maxBatchSize?: number;
  /**
   * How long a gap in the ids holds plugins back before it is given up. For
   * PostgreSQL only the bound for a transaction left open (a gap closes as
   * soon as no transaction that could fill it is open); for a feed, the wait
   * at every rolled-back id. @default '5min' (PostgreSQL), '30s' (HTTP)
   */
  backlogTimeout?: DurationOption;
  /** Where a plugin without a cursor starts: `latest`, `earliest` or an event id. @default 'latest' */
  startFrom?: EventLogOptions['startFrom'];
  /** How long one read may take. @default '30s' */
  queryTimeout?: DurationOption;
  /** The first wait before connecting again; it doubles each attempt. @default '1s' */
  reconnectDelay?: DurationOption;
  /** The longest wait between attempts. @default '30s' (or the reconnect delay, if longer) */
  reconnectMaxDelay?: DurationOption;
}

/** `[Source] type = event-log`: reads its keys and makes its driver. */
export const eventLogSource: SourceKind = {
  compile(reader: SectionReader, app: SourceApp) {
    const url = reader.string('url');
    if (url === undefined)
      reader.fail(
        'url',
        'is missing; expected postgres://user@host:5432/database or an HTTP feed such as http://host/events?after={id}&limit={n}',
      );
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reader.fail(
        'url',
        `found "${displayUrl(url)}"; expected postgres://user@host:5432/database or http://host/events?after={id}&limit={n}`,
      );
    }
    const queryTimeoutMs = reader.duration('query timeout', 30_000, { minMs: 1 });
    let readerOptions: EventLogReaderOptions;
    if (parsed.protocol === 'postgres:' || parsed.protocol === 'postgresql:') {
      const table = reader.string('table', 'flowd_events');
      if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(table))
        reader.fail('table', `found "${table}"; expected a table name such as flowd_events or events.log (letters, digits and _)`);
      if (reader.has('latest url')) reader.fail('latest url', 'is only read for an HTTP feed; the url is a PostgreSQL one');
      readerOptions = { kind: 'postgres', url, table, queryTimeoutMs };
    } else if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
      if (!url.includes('{id}'))
        reader.fail(
          'url',
          `found "${displayUrl(url)}"; expected {id} where the feed takes the last id seen, e.g. http://host/events?after={id}&limit={n}`,
        );
      if (reader.has('table')) reader.fail('table', 'is only read for a PostgreSQL url; the url is an HTTP feed');
      const latestUrl = reader.string('latest url');
      if (latestUrl !== undefined && !/^https?:\/\//.test(latestUrl))
        reader.fail('latest url', `found "${displayUrl(latestUrl)}"; expected an http:// or https:// URL answering { "id": <latest id> }`);
      readerOptions = { kind: 'http', url, latestUrl, timeoutMs: queryTimeoutMs };
    } else {
      reader.fail('url', `found "${displayUrl(url)}"; expected postgres://, postgresql://, http:// or https://`);
    }
    const startText = reader.string('start from', 'latest').trim().toLowerCase();
    let startFrom: EventLogOptions['startFrom'];
    if (startText === 'latest' || startText === 'earliest') startFrom = startText;
    else if (/^\d+$/.test(startText) && Number(startText) >= 1 && Number.isSafeInteger(Number(startText))) startFrom = Number(startText);
    else reader.fail('start from', `found "${startText}"; expected latest, earliest or an event id (a whole number of at least 1)`);
    const delayMs = reader.duration('reconnect delay', 1000, { minMs: 1 });
    const maxDelayMs = reader.duration('reconnect max delay', Math.max(RECONNECT_MAX_DELAY_MS, delayMs));
    if (maxDelayMs < delayMs)
      reader.fail('reconnect max delay', `found ${maxDelayMs}ms; expected at least the reconnect delay (${delayMs}ms)`);
    const options: EventLogOptions = {
      reader: readerOptions,
      fetchIntervalMs: reader.duration('fetch interval', 5000, { minMs: 1 }),
      maxBatchSize: reader.integer('max batch size', 500, { min: 1, max: 100_000 }),
      // PostgreSQL closes a gap once the transactions that could fill it end; a feed cannot tell, so its gaps wait less (docs/event-log.md#gaps).
      backlogTimeoutMs: reader.duration('backlog timeout', readerOptions.kind === 'http' ? 30_000 : 300_000),
      startFrom,
      lockKey: 'event-log/reader',
      readerFile: path.join(app.stateDir, 'event-log.reader'),
    };
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    return {
      type: 'event-log',
      description: `event-log ${displayUrl(url)}${readerOptions.kind === 'postgres' ? ` table ${readerOptions.table}` : ''} (start from ${startText}, fetch interval ${formatDuration(options.fetchIntervalMs)}, max batch size ${options.maxBatchSize}, backlog timeout ${formatDuration(options.backlogTimeoutMs)})${isLoopback(host) ? '' : ', NOT loopback'}`,
      reconnect: { delayMs, maxDelayMs },
      eventLog: {
        reader: readerOptions,
        lockKey: options.lockKey,
        readerFile: options.readerFile,
        fetchIntervalMs: options.fetchIntervalMs,
      },
      create: (deps = {}) => {
        if (!deps.plugins || !deps.services)
          throw new ConfigError(
            { section: 'Source', key: 'type' },
            'is event-log, which hands events to plugins: the app needs a [Plugins] section (paths = ./plugins)',
          );
        return eventLogDriver(options, {
          log: deps.log ?? pino({ level: 'silent' }),
          store: deps.services.store,
          locks: deps.services.locks,
          leaseMs: deps.services.leaseMs,
          plugins: deps.plugins,
          clockFence: deps.services.lockBackend !== 'redis',
        });
      },
    };
  },
};
