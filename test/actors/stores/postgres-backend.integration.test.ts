import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from 'xstate';
import { openStore, type OpenedStore } from '../../../actors/stores/store.js';
import { storeContract } from '../../contracts/store.js';
import { logSink } from '../../helpers/log-sink.js';
import { closedPort } from '../../helpers/ports.js';
import { redisGate } from '../../helpers/redis-gate.js';
import { POSTGRES_URL } from '../../helpers/services.js';
import { until } from '../../helpers/wait.js';
import { onPostgres, postgresSpace, testTable } from '../../fixtures/stores/spaces.js';

storeContract('postgres', postgresSpace, { canLoseConnection: true });

describe('the postgres backend', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  function dropLater(table: string): void {
    cleanups.push(() => onPostgres(`DROP TABLE IF EXISTS ${table}, "${table}$log"`));
  }
  function open(
    options: { url?: string; namespace?: string; table?: string; queryTimeoutMs?: number; maxConnections?: number },
    log?: ReturnType<typeof logSink>['logger'],
  ): OpenedStore {
    const opened = openStore(
      {
        backend: 'postgres',
        url: options.url ?? POSTGRES_URL,
        namespace: options.namespace ?? 'postgres-test',
        ...(options.table ? { table: options.table } : {}),
        ...(options.queryTimeoutMs ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
        ...(options.maxConnections ? { maxConnections: options.maxConnections } : {}),
      },
      log,
    );
    cleanups.push(() => opened.close());
    return opened;
  }
  const unique = () => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

  it('creates flowd_store_<namespace> when missing: a row per key with its UTF-8 bytes, JSON text, version and fencing token', async () => {
    const namespace = unique();
    const table = `flowd_store_${namespace}`;
    dropLater(table);
    const { store } = open({ namespace });
    const { version } = await store.put('asset/1', { id: 1 }, { fence: 7 });
    expect(await onPostgres(`SELECT convert_from(key, 'UTF8') AS key, value, version::int, fence::int FROM ${table}`)).toEqual([
      { key: 'asset/1', value: '{"id":1}', version, fence: 7 },
    ]);
  });

  it('keeps a removed key as a row with no value, its version and fencing token, so neither is handed out again', async () => {
    const table = testTable();
    dropLater(table);
    const { store } = open({ table });
    const { version } = await store.put('gone', 'x', { fence: 3 });
    await expect(store.delete('gone')).resolves.toBe(true);
    expect(await onPostgres(`SELECT value, version::int, fence::int FROM ${table}`)).toEqual([{ value: null, version, fence: 3 }]);
    await expect(store.put('gone', 'again')).resolves.toEqual({ value: 'again', version: version + 1 });
  });

  it('lets several daemons create one table at once, all of them opening', async () => {
    const table = testTable();
    dropLater(table);
    const stores = Array.from({ length: 4 }, () => open({ table }));
    await Promise.all(stores.map((opened) => opened.ready));
    await Promise.all(stores.map((opened, i) => opened.store.put(`from-${i}`, i)));
    expect(await onPostgres(`SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 4 }]);
  });

  it('refuses a table of another shape with ERR_STORE naming the table and the columns it expects', async () => {
    const table = testTable();
    dropLater(table);
    await onPostgres(`CREATE TABLE ${table} (id serial PRIMARY KEY, payload jsonb)`);
    const opened = open({ table });
    const error = await opened.ready.then(
      () => undefined,
      (failure: unknown) => failure as Error,
    );
    expect(error?.message).toContain(`table ${table} is not a flowd store table`);
    expect(error?.message).toContain('expected columns key bytea, value text, version bigint, fence bigint');
  });

  it('gives up on a statement after the query timeout with ERR_STORE_UNAVAILABLE, staying ready (the server is there)', async () => {
    const table = testTable();
    dropLater(table);
    const opened = open({ table, queryTimeoutMs: 300 });
    await opened.store.put('held', 1);
    const holder = new pg.Client(POSTGRES_URL);
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('BEGIN');
    await holder.query(`SELECT * FROM ${table} FOR UPDATE`);
    const started = performance.now();
    await expect(opened.store.put('held', 2)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      message: expect.stringMatching(/canceling statement due to statement timeout/) as string,
    });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(opened.actor.getSnapshot().value).toBe('ready');
    await holder.query('ROLLBACK');
    await expect(opened.store.update<number>('held', (n = 0) => n + 1)).resolves.toMatchObject({ value: 2 });
  });

  it('opens no more pooled connections than its pool size, plus the one that watches the server', async () => {
    const namespace = unique();
    const table = testTable();
    dropLater(table);
    const { store } = open({ namespace, table, maxConnections: 2 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`k${i}`, i)));
    const sessions = await onPostgres<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
      `flowd store ${namespace}`,
    ]);
    expect(sessions).toEqual([{ n: 3 }]);
  });

  it('names a missing database, and says what to check', async () => {
    const { ready } = open({ url: 'postgres://postgres@127.0.0.1:5432/flowd_no_such_database', table: testTable() });
    await expect(ready).rejects.toThrow(
      /refused: database "flowd_no_such_database" does not exist.*expected the database named in \[Store\] url/,
    );
  });

  it('fails fast while PostgreSQL is unreachable from the start, naming the URL without its password, and opens once it is there', async () => {
    const gate = await redisGate(5432);
    cleanups.push(() => gate.close());
    await gate.shut();
    const table = testTable();
    dropLater(table);
    const sink = logSink();
    const started = performance.now();
    const opened = open({ url: `postgres://postgres:s3cret-pw@127.0.0.1:${gate.port}/test`, table }, sink.logger);
    const failure = await opened.ready.then(
      () => undefined,
      (error: unknown) => error as Error & { code: string },
    );
    expect(failure?.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(failure?.message).toContain(`postgres://postgres:***@127.0.0.1:${gate.port}/test table ${table}`);
    expect(failure?.message).toContain('connection refused');
    await expect(opened.store.put('k', 1)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(2000);
    await gate.open();
    await waitFor(opened.actor, (s) => s.value === 'ready', { timeout: 10_000 });
    await expect(opened.store.put('k', 1)).resolves.toMatchObject({ value: 1 });
    expect(JSON.stringify(sink.lines)).not.toContain('s3cret-pw');
    expect(sink.messages()).toContain('store available again');
  });

  it('reports itself unavailable when the server kills its sessions (pg_terminate_backend), and serves again on its own', async () => {
    const namespace = unique();
    const table = testTable();
    dropLater(table);
    const sink = logSink();
    const opened = open({ namespace, table }, sink.logger);
    await opened.store.put('k', 'before');
    const states: string[] = [];
    opened.actor.subscribe((snapshot) => states.push(String(snapshot.value)));
    const killed = await onPostgres<{ killed: boolean }>(
      'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1',
      [`flowd store ${namespace}`],
    );
    expect(killed.length).toBeGreaterThanOrEqual(2); // the watching connection and at least one pooled one
    await until(() => states.includes('failed') && states.at(-1) === 'ready', { what: 'the store to fail and come back' });
    await expect(opened.store.get('k')).resolves.toBe('before');
    const unavailable = sink.lines.find((line) => line.msg.startsWith('store unavailable'));
    expect(unavailable?.msg).toMatch(/cannot reach PostgreSQL at .* table .*: terminating connection due to administrator command/);
    expect(unavailable?.error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });
});
