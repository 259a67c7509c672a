import type { FieldDef, Pool, types } from 'pg';
import { EventLogError } from '../../src/kernel/errors.js';
import type { LogEvent } from '../plugins/plugin-api.js';
import { displayUrl } from '../display-url.js';
import { classifyPgError } from '../postgres-errors.js';
import type { EventLogReader, PostgresLogOptions } from './event-log-reader.js';
import { checkRange, parseId, toLogEvent } from './log-event.js';

const COLUMNS = 'id, type, entity, attributes, created_at, meta';
const EXPECTED = `expected a table with columns ${COLUMNS} (see docs/event-log.md)`;
const CLIENT_GRACE_MS = 1000;
// PostgreSQL's text types: a text `meta` column holds JSON text, parsed here.
const TEXT_TYPES = new Set([25, 1042, 1043]);
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;

/**
 * The table name quoted for SQL: `identifier` or `schema.identifier`, each
 * part `[A-Za-z_][A-Za-z0-9_]*`. Throws EventLogError ERR_EVENT_LOG otherwise.
 * @example quoteTable('public.flowd_events') // '"public"."flowd_events"'
 */
export function quoteTable(table: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(table)) {
    throw new EventLogError(
      'ERR_EVENT_LOG',
      `the event table "${table}" is not a table name; expected an identifier or schema.identifier (letters, digits, _)`,
    );
  }
  return table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}

/**
 * Reads the event log from a PostgreSQL table (columns id, type, entity,
 * attributes, created_at, meta; jsonb or text) through a small pool.
 * `pg` is loaded on the first connect, so apps that do not use it never load it.
 * @example const reader = postgresLogReader({ kind: 'postgres', url: 'postgres://flowd@db/shotgun', table: 'flowd_events', queryTimeoutMs: 30_000 });
 */
export function postgresLogReader(options: PostgresLogOptions): EventLogReader {
  const shownUrl = displayUrl(options.url);
  const table = quoteTable(options.table);
  const where = `${shownUrl} table ${options.table}`;
  let pool: Promise<Pool> | undefined;

  const open = (): Promise<Pool> =>
    (pool ??= import('pg').then(
      ({ default: pg }) => {
        const created = new pg.Pool({
          connectionString: options.url,
          max: 2,
          application_name: 'flowd',
          // The server's statement_timeout cancels cleanly; the client's own, a second later, covers a server that went silent.
          statement_timeout: options.queryTimeoutMs,
          query_timeout: options.queryTimeoutMs + CLIENT_GRACE_MS,
          connectionTimeoutMillis: options.queryTimeoutMs,
          // This pool's own parsers, not pg.types: the app's other uses of pg keep theirs.
          types: { getTypeParser: utcTimestamps(pg.types.getTypeParser) },
        });
        // An idle connection that breaks (a server restart) emits here; the next query reconnects or fails with the reason.
        created.on('error', () => {});
        return created;
      },
      (error: unknown) => {
        pool = undefined;
        throw new EventLogError('ERR_EVENT_LOG', `cannot load the pg package to read ${where}: ${(error as Error).message}`, {
          cause: error,
        });
      },
    ));

  async function query(text: string, values: unknown[], signal: AbortSignal | undefined) {
    signal?.throwIfAborted();
    const running = open().then((p) => p.query(text, values));
    try {
      return await abortable(running, signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof EventLogError) throw error;
      throw classify(error, where, shownUrl, options.table);
    }
  }

  async function boundary(fn: 'max' | 'min', signal?: AbortSignal): Promise<number | undefined> {
    const { rows } = await query(`SELECT ${fn}(id) AS id FROM ${table}`, [], signal);
    const value: unknown = rows[0]?.id;
    if (value === null || value === undefined) return undefined;
    const id = parseId(value);
    if (id === undefined)
      throw new EventLogError('ERR_EVENT_LOG', `${where}: ${fn}(id) is ${String(value)}; expected a non-negative integer id`);
    return id;
  }

  return {
    displayUrl: shownUrl,
    async connect() {
      // Checks the table and its columns, not only the server.
      const { fields } = await query(`SELECT ${COLUMNS} FROM ${table} WHERE false`, [], undefined);
      const createdAt = fields.find((field) => field.name === 'created_at');
      if (createdAt && createdAt.dataTypeID !== TIMESTAMPTZ)
        return {
          warnings: [
            `column created_at of table ${options.table} is ${createdAt.dataTypeID === TIMESTAMP ? 'timestamp without time zone' : `of type oid ${createdAt.dataTypeID}`}, not timestamptz: flowd reads it as UTC, so it must be written in UTC (a DEFAULT now() on a server whose TimeZone is not UTC shifts it); expected timestamptz (ALTER TABLE ${options.table} ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC')`,
          ],
        };
      return {};
    },
    async latestId(signal) {
      return (await boundary('max', signal)) ?? 0;
    },
    async earliestId(signal) {
      const min = await boundary('min', signal);
      return min === undefined ? 0 : Math.max(min - 1, 0);
    },
    async read(after, limit, signal) {
      checkRange(after, limit);
      const result = await query(`SELECT ${COLUMNS} FROM ${table} WHERE id > $1 ORDER BY id LIMIT $2`, [after, limit], signal);
      const textMeta = isText(result.fields, 'meta');
      return result.rows.map((row: Record<string, unknown>): LogEvent => {
        const meta = textMeta && typeof row.meta === 'string' ? parseJson(row.meta) : row.meta;
        return toLogEvent({ ...row, meta }, `${where}, row id ${String(row.id)}`);
      });
    },
    async idOrder(signal) {
      const { rows } = await query(
        // pg_sequence by oid, not pg_sequences by name: naming every sequence of the database fails on a schema this user may not use.
        `WITH seq AS (SELECT to_regclass(pg_get_serial_sequence($1, 'id')) AS oid),
           access AS (SELECT seq.oid, has_sequence_privilege(seq.oid, 'SELECT') OR has_sequence_privilege(seq.oid, 'USAGE') AS readable FROM seq)
         SELECT pg_get_serial_sequence($1, 'id') AS sequence, pg_is_in_recovery() AS standby, p.seqcache AS cache, p.seqincrement AS increment,
           CASE WHEN access.readable THEN pg_sequence_last_value(access.oid) END AS last, access.readable,
           (SELECT max(id) FROM ${table}) AS max
         FROM access LEFT JOIN pg_sequence p ON p.seqrelid = access.oid`,
        [table],
        signal,
      );
      const row = rows[0] as {
        sequence: string | null;
        standby: boolean;
        cache: unknown;
        increment: unknown;
        last: unknown;
        readable: boolean | null;
        max: unknown;
      };
      const sequence = row.sequence ?? '';
      const cache = Number(row.cache ?? 1);
      const increment = Number(row.increment ?? 1);
      const max = row.max === null ? undefined : Number(row.max);
      const last = row.last === null ? undefined : Number(row.last);
      let problem: string | undefined;
      if (row.standby) problem = `${shownUrl} is a standby (in recovery): the transactions of its primary cannot be seen from it`;
      else if (!row.sequence)
        problem = `column id of table ${options.table} has no sequence of its own (pg_get_serial_sequence is null); expected a bigserial or identity column, or ALTER SEQUENCE <its sequence> OWNED BY ${options.table}.id`;
      else if (cache > 1)
        problem = `sequence ${sequence} of table ${options.table} has CACHE ${cache}, so each connection hands out ids from its own block, not in order; expected CACHE 1 (ALTER SEQUENCE ${sequence} CACHE 1)`;
      else if (increment !== 1)
        // Ids drawn in blocks (hi/lo: one nextval, many ids given by the writer) are not each drawn under the sequence's lock.
        problem = `sequence ${sequence} of table ${options.table} has INCREMENT BY ${increment}, so the ids may be drawn in blocks that the writer hands out itself (hi/lo), not one nextval each; expected INCREMENT BY 1 (ALTER SEQUENCE ${sequence} INCREMENT BY 1)`;
      else if (row.readable && max !== undefined && (last === undefined || max > last))
        // A logical replica's rows, or ids the writer gives itself: the sequence is not what hands them out.
        problem = `the highest id of table ${options.table} is ${max}, but its sequence ${sequence} has handed out ${last === undefined ? 'none' : `ids up to ${last}`}; expected the ids to be drawn from it (a logical replica, or ids given by the writer?)`;
      return { sequence, problem };
    },
    async openWriters(signal) {
      const { rows } = await query(
        `SELECT DISTINCT l.virtualtransaction AS vxid FROM pg_locks l
         WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.relation IN (to_regclass($1), to_regclass(pg_get_serial_sequence($1, 'id')))
           AND l.pid IS DISTINCT FROM pg_backend_pid()`,
        [table],
        signal,
      );
      return rows.map((row: { vxid: string }) => row.vxid);
    },
    async close() {
      const closing = pool;
      pool = undefined;
      if (closing) await (await closing).end();
    },
  };
}

/**
 * pg's parsers, with `timestamp without time zone` read as UTC: pg reads it
 * in the daemon's time zone, so the same row would be another instant under
 * another TZ (a cursor's fingerprint would no longer match it).
 */
function utcTimestamps(parsers: typeof types.getTypeParser): typeof types.getTypeParser {
  const withZone = parsers(TIMESTAMPTZ, 'text') as (text: string) => unknown;
  return ((oid: number, format?: 'text' | 'binary') => {
    if (oid !== TIMESTAMP || format === 'binary') return parsers(oid, format);
    // '2026-03-02 10:14:07.312' -> '...+00'; a BC date keeps its suffix last; infinity stays as it is.
    return (text: string) => withZone(/^\d/.test(text) ? text.replace(/( BC)?$/, '+00$1') : text);
  }) as typeof types.getTypeParser;
}

function isText(fields: FieldDef[], name: string): boolean {
  const field = fields.find((f) => f.name === name);
  return field !== undefined && TEXT_TYPES.has(field.dataTypeID);
}

/** JSON text as a value; text that is not JSON stays as it is (toLogEvent then names it). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A pg failure as an EventLogError: UNAVAILABLE when a retry may cure it (classifyPgError decides), else what to fix. */
function classify(error: unknown, where: string, url: string, table: string): EventLogError {
  const failure = classifyPgError(error);
  if (failure.kind !== 'refused')
    return new EventLogError('ERR_EVENT_LOG_UNAVAILABLE', `cannot read ${where}: ${failure.reason}`, { cause: error });
  const broken = (text: string) => new EventLogError('ERR_EVENT_LOG', text, { cause: error });
  const message = (error as { message?: string } | undefined)?.message ?? '';
  switch (failure.code) {
    case '42P01':
      return broken(`table ${table} does not exist in ${url}; ${EXPECTED}`);
    case '42703':
      return broken(`${where}: ${message}; ${EXPECTED}`);
    case '28P01':
    case '28000':
      return broken(`${url} refused the login: ${message}; expected a user (and password) of url that may read table ${table}`);
    case '3D000':
      return broken(`${url}: ${message}; expected the database named in url to exist, holding table ${table}`);
    case undefined:
      // pg's own failures carry no code: a refused password or TLS setting.
      return broken(`${url} refused the login: ${message}; check the user, password and sslmode of url`);
    default:
      return broken(`${where}: ${failure.reason}`);
  }
}

/** The promise, or its signal's reason as soon as the signal aborts (the query itself runs on, its answer dropped). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort))
      .catch(() => {});
  });
}
