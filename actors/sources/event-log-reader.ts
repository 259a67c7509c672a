import type { LogEvent } from '../plugins/plugin-api.js';

/**
 * Where an event-log source reads: a PostgreSQL table or an HTTP JSON feed.
 * Errors are EventLogError: `ERR_EVENT_LOG_UNAVAILABLE` for anything a retry
 * may cure (refused, timed out, a 5xx), `ERR_EVENT_LOG` for what it will not
 * (a missing table, a row or item of the wrong shape, a 4xx).
 */
export interface EventLogReader {
  /** The URL without its password, for logs and errors. */
  readonly displayUrl: string;
  /** Connects (or checks the feed answers); rejects with EventLogError. May answer warnings about the log, for the source to log once. */
  connect(): Promise<{ warnings?: string[] } | void>;
  /** True when latestId walks the whole log (a feed without a latest URL): the source then does not check cursors against it. */
  readonly walksToLatest?: boolean;
  /** The highest id in the log now; 0 when it is empty. */
  latestId(signal?: AbortSignal): Promise<number>;
  /** The lowest id in the log now minus one; 0 when it is empty. */
  earliestId(signal?: AbortSignal): Promise<number>;
  /** At most `limit` events with `id > after`, in id order. */
  read(after: number, limit: number, signal?: AbortSignal): Promise<LogEvent[]>;
  /**
   * PostgreSQL only, at start: whether ids are handed out in the order of
   * their draws, which closing a gap at once relies on (see openWriters).
   * `sequence` names the id column's own sequence; `problem` says why the
   * guarantee cannot hold (no sequence of its own, CACHE above 1, a standby).
   */
  idOrder?(signal?: AbortSignal): Promise<{ sequence: string; problem: string | undefined }>;
  /**
   * PostgreSQL only: the transactions (virtual ids, `3/1234`) that may still
   * write an id: every one holding RowExclusiveLock on the table or on its id
   * sequence, which nextval takes and keeps until its transaction ends.
   */
  openWriters?(signal?: AbortSignal): Promise<string[]>;
  /** Closes connections; safe to call more than once. */
  close(): Promise<void>;
}

/** `url = postgres://...`: a table with columns id, type, entity, attributes, created_at, meta. */
export interface PostgresLogOptions {
  kind: 'postgres';
  /** postgres://user:pass@host:port/database */
  url: string;
  /** A table name, optionally schema-qualified (`public.flowd_events`); checked to be an identifier. @default 'flowd_events' */
  table: string;
  /** Each query's limit (statement_timeout and the client's own). @default 30_000 */
  queryTimeoutMs: number;
}

/** `url = http://...?after={id}&limit={n}`: a GET that answers a JSON array of events, or `{ "events": [...] }`. */
export interface HttpLogOptions {
  kind: 'http';
  /** The feed URL with `{id}` (events after this id) and `{n}` (at most this many). */
  url: string;
  /**
   * Answers the latest id (`{ "id": 123 }` or `123`), for `start from = latest`.
   * Without it the reader walks the feed to its end.
   */
  latestUrl: string | undefined;
  /** Each request's limit. @default 30_000 */
  timeoutMs: number;
}

export type EventLogReaderOptions = PostgresLogOptions | HttpLogOptions;
