import type * as PgModule from 'pg';
import type { Client, Pool, QueryResultRow } from 'pg';
import { lazy } from '../../src/kernel/lazy.js';
import { StoreError } from '../../src/kernel/errors.js';
import { untilAborted } from '../../src/kernel/ping.js';
import type {
  AppendConditions,
  AppendOutcome,
  BackendRecord,
  BackendStatus,
  RemoveOutcome,
  StoreBackend,
  WriteConditions,
  WriteOutcome,
} from './backend.js';
import { refusal, storeStatements, STORE_COLUMNS, type CurrentRow, type StoreStatements } from './postgres-statements.js';
import { LOG_COLUMNS, logStatements, type AppendRow, type LogStatements } from './postgres-log-statements.js';
import { quotedLogTableFor, quoteTableName, storeTableFor } from './postgres-table.js';
import { displayUrl } from '../display-url.js';
import { classifyPgError } from '../postgres-errors.js';

// pg loads when a PostgreSQL backend is made, not with flowd.
const pg = lazy<typeof PgModule>('pg');

/** Options of the PostgreSQL backend. */
export interface PostgresBackendOptions {
  /** `postgres://[user[:password]@]host[:port]/database[?sslmode=...]`. */
  url: string;
  /** The store's namespace (the app name). */
  namespace: string;
  /** The table (`name` or `schema.name`), created when missing. @default storeTableFor(namespace): `flowd_store_<namespace>` */
  table?: string | undefined;
  /** A statement with no answer after this long fails with ERR_STORE_UNAVAILABLE; also the connect timeout. @default 5000 */
  queryTimeoutMs?: number | undefined;
  /** Connections the pool opens at most, besides the one that watches the server. @default 4 */
  maxConnections?: number | undefined;
}

// The client's own timeout comes this long after the server's statement_timeout, which cancels cleanly.
const CLIENT_GRACE_MS = 1000;

/**
 * The backend several daemons share on a real database: one table per app,
 * one row per key (key as UTF-8 bytes, so any key fits; value as JSON text;
 * version; the highest fencing token accepted). A removed key keeps its row
 * with no value (a tombstone), so its version keeps counting up (no ABA)
 * and its fencing token is kept. The table is created when missing, under an
 * advisory lock, so daemons starting together do not trip over each other.
 *
 * A write or remove is one statement on a key that has a row (see
 * storeStatements); a key without a row is inserted with ON CONFLICT DO
 * NOTHING, and a writer that loses that race goes through the update.
 *
 * One connection (besides the pool) watches the server: when it drops, or a
 * statement fails for want of a connection, the backend reports itself
 * unavailable, reconnects with a capped, jittered backoff, and reports
 * itself available once `SELECT 1` passes. A statement cut off that way may
 * or may not have been applied: the caller reads again before deciding.
 */
export class PostgresBackend implements StoreBackend {
  readonly kind = 'postgres';
  readonly where: string;
  /** The table's name, as configured or derived from the namespace. */
  readonly table: string;
  private readonly namespace: string;
  private readonly quoted: string;
  private readonly sql: StoreStatements;
  /** The table of the store's logs (`<table>$log`), quoted, and its statements. */
  private readonly logQuoted: string;
  private readonly logSql: LogStatements;
  private readonly config: PgModule.ClientConfig;
  private readonly pool: Pool;
  private readonly listeners = new Set<(status: BackendStatus) => void>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private monitor: Client | undefined;
  private tableReady = false;
  private available = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The reconnect loop while one runs (close() waits for it). */
  private recovering: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private lastError: unknown;

  constructor(options: PostgresBackendOptions) {
    this.namespace = options.namespace;
    this.table = options.table ?? storeTableFor(options.namespace);
    this.quoted = quoteTableName(this.table);
    this.sql = storeStatements(this.quoted);
    this.logQuoted = quotedLogTableFor(this.table);
    this.logSql = logStatements(this.logQuoted);
    this.where = `${displayUrl(options.url)} table ${this.table}`;
    const timeoutMs = options.queryTimeoutMs ?? 5000;
    this.config = {
      connectionString: options.url,
      // What an operator sees in pg_stat_activity; PostgreSQL keeps 63 bytes of it.
      application_name: `flowd store ${options.namespace}`.slice(0, 63),
      statement_timeout: timeoutMs,
      query_timeout: timeoutMs + CLIENT_GRACE_MS,
      connectionTimeoutMillis: timeoutMs,
      keepAlive: true,
    };
    this.pool = new (pg().Pool)({ ...this.config, max: options.maxConnections ?? 4 });
    // An idle pooled connection that breaks emits here (and leaves the pool); the watcher reports the outage.
    this.pool.on('error', () => {});
  }

  async open(): Promise<void> {
    try {
      await this.establish();
    } catch (error) {
      const failure = this.failure(error);
      if (failure.code === 'ERR_STORE_UNAVAILABLE') this.lost(error);
      throw failure;
    }
    this.setAvailable(true);
  }

  async read(key: string): Promise<BackendRecord | undefined> {
    const { rows } = await this.query<{ value: string; version: string }>(this.sql.read, [Buffer.from(key, 'utf8')]);
    const row = rows[0];
    if (!row) return undefined;
    const corrupt = (problem: string, cause?: unknown) =>
      new StoreError('ERR_STORE', `Store "${this.namespace}": key ${JSON.stringify(key)} in ${this.where} is corrupt (${problem})`, {
        cause,
      });
    let value: unknown;
    try {
      value = JSON.parse(row.value);
    } catch (error) {
      throw corrupt(`its value is not JSON: ${(error as Error).message}`, error);
    }
    const version = Number(row.version);
    if (!Number.isSafeInteger(version) || version < 1) throw corrupt(`expected a version of at least 1, found ${row.version}`);
    return { value, version };
  }

  write(key: string, json: string, { ifVersion, fence }: WriteConditions): Promise<WriteOutcome> {
    const bytes = Buffer.from(key, 'utf8');
    return this.track(async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const { rows } = await this.query<CurrentRow>(this.sql.write, [bytes, json, ifVersion ?? null, fence ?? null]);
        const current = rows[0];
        if (current) {
          const refused = refusal(current, { ifVersion, fence });
          if (refused) return refused;
          return { kind: 'written', version: this.checked(key, current.changed) };
        }
        // No row yet: nothing to fence against, and its version is 0.
        if (ifVersion !== undefined && ifVersion !== 0) return { kind: 'conflict', version: 0 };
        const inserted = await this.query(this.sql.insert, [bytes, json, fence ?? 0]);
        if (inserted.rows.length > 0) return { kind: 'written', version: 1 };
        // Another writer inserted the key meanwhile: go through the update, which sees its row.
      }
      throw this.vanishing(key);
    });
  }

  remove(key: string, { ifVersion, fence }: WriteConditions): Promise<RemoveOutcome> {
    const bytes = Buffer.from(key, 'utf8');
    return this.track(async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const { rows } = await this.query<CurrentRow>(this.sql.remove, [bytes, ifVersion ?? null, fence ?? null]);
        const current = rows[0];
        if (current) {
          const refused = refusal(current, { ifVersion, fence });
          if (refused) return refused;
          if (current.present || (fence ?? 0) > Number(current.fence)) this.checked(key, current.changed);
          return { kind: current.present ? 'removed' : 'absent' };
        }
        if (ifVersion !== undefined && ifVersion !== 0) return { kind: 'conflict', version: 0 };
        if (!fence) return { kind: 'absent' };
        // A fenced remove of a key never written: a tombstone at version 0 remembers the token.
        const inserted = await this.query(this.sql.tombstone, [bytes, fence]);
        if (inserted.rows.length > 0) return { kind: 'absent' };
      }
      throw this.vanishing(key);
    });
  }

  /**
   * One statement (logStatements): the fence, then the length, then the
   * entries after the last row. Two appends that race for the same places
   * meet in the primary key: with `ifLength` the loser is a conflict; without
   * it, it tries again at the new end.
   */
  append(key: string, jsons: readonly string[], { ifLength, fence }: AppendConditions): Promise<AppendOutcome> {
    const bytes = Buffer.from(key, 'utf8');
    return this.track(async () => {
      for (let attempt = 0; ; attempt++) {
        let row: AppendRow | undefined;
        try {
          ({
            rows: [row],
          } = await this.query<AppendRow>(this.logSql.append, [bytes, ifLength ?? null, fence ?? null, jsons]));
        } catch (error) {
          // Another append took the same places between our look at the last row and our insert.
          if ((error as { cause?: { code?: unknown } }).cause?.code !== '23505') throw error;
          if (ifLength === undefined && attempt < 100) continue;
          if (ifLength === undefined)
            throw new StoreError(
              'ERR_STORE',
              `Store "${this.namespace}": log ${JSON.stringify(key)} kept meeting other appends (100 tries)`,
            );
          // The winner's fence may be newer than ours: look again, with nothing to add, to say which it is.
          const {
            rows: [found],
          } = await this.query<AppendRow>(this.logSql.append, [bytes, null, null, []]);
          if (fence !== undefined && fence < Number(found!.fence)) return { kind: 'fenced', fence: Number(found!.fence) };
          return { kind: 'conflict', length: Number(found!.length) };
        }
        const length = Number(row!.length);
        const accepted = Number(row!.fence);
        if (fence !== undefined && fence < accepted) return { kind: 'fenced', fence: accepted };
        if (ifLength !== undefined && ifLength !== length) return { kind: 'conflict', length };
        return { kind: 'appended', length: length + jsons.length };
      }
    });
  }

  async readLog(key: string, from: number): Promise<unknown[]> {
    const { rows } = await this.query<{ value: string }>(this.logSql.read, [Buffer.from(key, 'utf8'), from]);
    return rows.map(({ value }, index) => {
      try {
        return JSON.parse(value) as unknown;
      } catch (error) {
        throw new StoreError(
          'ERR_STORE',
          `Store "${this.namespace}": entry ${from + index} of log ${JSON.stringify(key)} in ${this.logQuoted} at ${this.where} is corrupt (it is not JSON: ${(error as Error).message})`,
          { cause: error },
        );
      }
    });
  }

  /** `SELECT 1` through the pool: fails at once while the server refuses connections, within the query timeout when it hangs. */
  async ping(signal?: AbortSignal): Promise<void> {
    try {
      await untilAborted(this.query('SELECT 1', []), signal);
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      if (error instanceof StoreError && error.code === 'ERR_STORE_UNAVAILABLE') throw error;
      throw new StoreError('ERR_STORE_UNAVAILABLE', (error as Error).message, { cause: error });
    }
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.closed = true;
      this.listeners.clear();
      this.wake?.();
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      await this.recovering;
      const monitor = this.monitor;
      this.monitor = undefined;
      await Promise.allSettled([monitor?.end(), this.pool.end()]);
    })());
  }

  onStatus(listener: (status: BackendStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Connects the watching connection, creates the table when missing, and checks that the pool can serve. */
  private async establish(): Promise<void> {
    if (!this.monitor) {
      const client = new (pg().Client)(this.config);
      const drop = (error?: unknown) => {
        if (this.monitor === client) this.lost(error ?? new Error('the connection was closed'));
      };
      client.on('error', drop);
      client.on('end', () => drop());
      await client.connect().catch((error: unknown) => {
        client.end().catch(() => {});
        throw error;
      });
      if (this.closed) {
        await client.end().catch(() => {});
        return;
      }
      this.monitor = client;
    }
    if (!this.tableReady) {
      await this.createTable(this.monitor);
      this.tableReady = true;
    }
    await this.pool.query('SELECT 1');
  }

  private async createTable(client: Client): Promise<void> {
    await this.createOne(client, this.quoted, this.sql.create, this.sql.checkColumns, STORE_COLUMNS);
    await this.createOne(client, this.logQuoted, this.logSql.create, this.logSql.checkColumns, LOG_COLUMNS);
  }

  private async createOne(client: Client, quoted: string, create: string, checkColumns: string, columns: string): Promise<void> {
    // Looked up first: CREATE ... IF NOT EXISTS needs the right to create in the schema even when the table is there.
    const { rows } = await client.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [quoted]);
    if (rows[0]?.found == null) {
      try {
        await client.query('BEGIN');
        // Two daemons creating one table at once would collide in the catalog (a unique violation); one waits here instead.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`flowd store table ${quoted}`]);
        await client.query(create);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    }
    try {
      await client.query(checkColumns);
    } catch (error) {
      if ((error as { code?: unknown }).code !== '42703') throw error;
      throw new StoreError(
        'ERR_STORE',
        `Store "${this.namespace}": ${quoted === this.quoted ? this.where : `${this.where} (its logs' table ${quoted})`} is not a flowd store table (${(error as Error).message}); expected columns ${columns}, or set [Store] table to another name`,
        { cause: error },
      );
    }
  }

  private async query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<{ rows: R[] }> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      const failure = this.failure(error);
      if (classifyPgError(error).kind === 'connection') this.lost(error);
      throw failure;
    }
  }

  /** Runs an operation that close() waits for. */
  private track<T>(operation: () => Promise<T>): Promise<T> {
    const work = operation();
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    void work.then(done, done);
    return work;
  }

  /** The connection is gone: say so once, and reconnect in the background until it is back. */
  private lost(error: unknown): void {
    if (this.closed) return;
    this.lastError = error;
    const monitor = this.monitor;
    this.monitor = undefined;
    monitor?.end().catch(() => {});
    this.setAvailable(false);
    if (this.recovering) return;
    const run = this.recover();
    this.recovering = run;
    void run.finally(() => {
      if (this.recovering === run) this.recovering = undefined;
    });
  }

  private async recover(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      // Capped at 500ms, so the store is back within half a second of the server, and jittered,
      // so daemons that lost it together do not return together (as the Redis backend).
      const delay = Math.min(500, 50 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      if (this.closed) return;
      try {
        await this.establish();
      } catch (error) {
        this.lastError = error;
        const monitor = this.monitor;
        this.monitor = undefined;
        monitor?.end().catch(() => {});
        continue;
      }
      if (this.closed) return;
      // Lost again while the pool was checked: keep going.
      if (!this.monitor) continue;
      // Done before telling the listeners, so a loss they cause starts a loop of its own.
      this.recovering = undefined;
      this.setAvailable(true);
      return;
    }
  }

  private setAvailable(available: boolean): void {
    if (available === this.available) return;
    this.available = available;
    const status: BackendStatus = available
      ? { available }
      : { available, error: { code: 'ERR_STORE_UNAVAILABLE', message: this.failure(this.lastError).message } };
    for (const listener of [...this.listeners]) listener(status);
  }

  /** A pg failure as a StoreError: UNAVAILABLE unless the server refused (then ERR_STORE, naming what to fix). */
  private failure(error: unknown): StoreError {
    if (error instanceof StoreError) return error;
    const { kind, reason, code } = classifyPgError(error);
    if (kind !== 'refused') {
      return new StoreError(
        'ERR_STORE_UNAVAILABLE',
        `Store "${this.namespace}" cannot reach PostgreSQL at ${this.where}: ${reason}${kind === 'connection' ? ' (reconnecting)' : ''}`,
        { cause: error },
      );
    }
    const hint =
      code === '28P01' || code === '28000' || code === undefined
        ? '; check the user, password and sslmode of [Store] url'
        : code === '3D000'
          ? '; expected the database named in [Store] url to exist'
          : code === '42501'
            ? `; the user of [Store] url needs the right to create ${this.table} and its logs' table ${this.logQuoted} (or existing ones) and to read and write them`
            : '';
    return new StoreError('ERR_STORE', `Store "${this.namespace}": PostgreSQL at ${this.where} refused: ${reason}${hint}`, {
      cause: error,
    });
  }

  private checked(key: string, changed: string | null): number {
    const version = Number(changed);
    if (changed === null || !Number.isSafeInteger(version) || version < 1) {
      throw new StoreError(
        'ERR_STORE',
        `Store "${this.namespace}": the write of key ${JSON.stringify(key)} to ${this.where} was allowed but not applied (found version ${String(changed)})`,
      );
    }
    return version;
  }

  private vanishing(key: string): StoreError {
    return new StoreError(
      'ERR_STORE',
      `Store "${this.namespace}": the row of key ${JSON.stringify(key)} in ${this.where} keeps appearing and disappearing; is something else deleting rows of this table?`,
    );
  }
}
