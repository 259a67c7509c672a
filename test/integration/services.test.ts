import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../actors/stores/store.js';
import { defineWorker, type WorkerContext } from '../../actors/workers/worker.js';
import { createAppServices } from '../../src/runtime/app-services.js';
import { compileServiceSettings } from '../../src/config/service-settings.js';
import { FencedError } from '../../src/kernel/errors.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { dropPrefix, onPostgres, REDIS_URL, testPrefix, testTable } from '../fixtures/stores/spaces.js';
import { POSTGRES_URL } from '../helpers/services.js';
import { manualSource } from '../helpers/manual-source.js';
import { redisGate } from '../helpers/redis-gate.js';
import { cleanupsAfterEach } from '../helpers/once.js';

const cleanups = cleanupsAfterEach();

const counter = defineWorker({
  start: async (_event: unknown, ctx: WorkerContext) => (await ctx.store.update<number>('count', (n = 0) => n + 1)).value,
});

describe('ctx.store, ctx.lock and ctx.withLock in a running app', () => {
  it("counts 200 events from 4 workers exactly in a Redis store shared with another process's view of it", async () => {
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    const source = manualSource();
    const runtime = createRuntime({
      worker: counter,
      source: source.driver,
      workers: 4,
      app: { name: 'counting' },
      store: { backend: 'redis', url: REDIS_URL, prefix },
    });
    await runtime.start();
    await source.ready;
    for (let i = 0; i < 200; i++) source.deliver(i);
    source.end();
    const summary = await runtime.done;
    expect(summary.counters).toMatchObject({ completed: 200, failed: 0 });
    const reader = openStore({ backend: 'redis', url: REDIS_URL, namespace: 'counting', prefix });
    cleanups.push(() => reader.close());
    expect(await reader.store.getVersioned('count')).toMatchObject({ value: 200 });
  });

  it("keeps the default file store under the app's state folder, and opens it only when a worker uses it", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'flowd-state-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const idle = manualSource();
    const unused = createRuntime({
      worker: defineWorker({ start: () => 'nothing stored' }),
      source: idle.driver,
      app: { name: 'idle', stateDir },
    });
    await unused.start();
    await idle.ready;
    idle.deliver(1);
    idle.end();
    await unused.done;
    expect(await readdir(stateDir)).toEqual([]);

    const source = manualSource();
    const runtime = createRuntime({ worker: counter, source: source.driver, workers: 3, app: { name: 'files', stateDir } });
    await runtime.start();
    await source.ready;
    for (let i = 0; i < 30; i++) source.deliver(i);
    source.end();
    expect((await runtime.done).counters).toMatchObject({ completed: 30 });
    const reader = openStore({ backend: 'file', folder: join(stateDir, 'store'), namespace: 'files' });
    cleanups.push(() => reader.close());
    expect(await reader.store.get('count')).toBe(30);
  });

  it('holds events while Redis is down, returning and dead-lettering none, and completes them once it is back', async () => {
    const prefix = testPrefix();
    const gate = await redisGate();
    cleanups.push(
      () => dropPrefix(prefix),
      () => gate.close(),
    );
    const source = manualSource();
    const runtime = createRuntime({
      worker: counter,
      source: source.driver,
      workers: 2,
      retries: 1,
      retryDelay: 10,
      app: { name: 'outage' },
      store: { backend: 'redis', url: gate.url(), prefix },
    });
    await runtime.start();
    await source.ready;
    await gate.shut();
    const down = new Promise((resolve) => runtime.on('dependency.down', resolve));
    for (let i = 0; i < 4; i++) source.deliver(i, `e${i}`);
    await down;
    expect(source.settlements).toEqual([]);
    expect(source.calls).toContain('pause');
    await gate.open();
    source.end();
    const summary = await runtime.done;
    expect(summary.counters).toMatchObject({ completed: 4, failed: 0, deadLettered: 0, returned: 0, retried: 0 });
    expect(source.settlements).toHaveLength(4);
    for (const settlement of source.settlements) expect(settlement).toMatchObject({ outcome: 'completed', ack: true, attempts: 1 });
  });

  it('counts 200 events from 4 workers exactly in a PostgreSQL store, in the table flowd_store_<app name> it creates', async () => {
    const name = `counting_${randomBytes(6).toString('hex')}`;
    cleanups.push(() => onPostgres(`DROP TABLE IF EXISTS flowd_store_${name}, "flowd_store_${name}$log"`));
    const source = manualSource();
    const runtime = createRuntime({
      worker: counter,
      source: source.driver,
      workers: 4,
      app: { name },
      store: { backend: 'postgres', url: POSTGRES_URL, queryTimeout: '2s', poolSize: 2 },
    });
    await runtime.start();
    await source.ready;
    for (let i = 0; i < 200; i++) source.deliver(i);
    source.end();
    expect((await runtime.done).counters).toMatchObject({ completed: 200, failed: 0 });
    expect(await onPostgres(`SELECT value FROM flowd_store_${name} WHERE key = convert_to('count', 'UTF8')`)).toEqual([{ value: '200' }]);
  });

  it('holds events while PostgreSQL is down, returning and dead-lettering none, and completes them once it is back', async () => {
    const table = testTable();
    const gate = await redisGate(5432);
    cleanups.push(
      () => onPostgres(`DROP TABLE IF EXISTS ${table}, "${table}$log"`),
      () => gate.close(),
    );
    const source = manualSource();
    const runtime = createRuntime({
      worker: counter,
      source: source.driver,
      workers: 2,
      retries: 1,
      retryDelay: 10,
      app: { name: 'pg-outage' },
      store: { backend: 'postgres', url: `postgres://postgres@127.0.0.1:${gate.port}/test`, table },
    });
    await runtime.start();
    await source.ready;
    await gate.shut();
    const down = new Promise((resolve) => runtime.on('dependency.down', resolve));
    for (let i = 0; i < 4; i++) source.deliver(i, `e${i}`);
    await down;
    expect(source.settlements).toEqual([]);
    expect(source.calls).toContain('pause');
    await gate.open();
    source.end();
    const summary = await runtime.done;
    expect(summary.counters).toMatchObject({ completed: 4, failed: 0, deadLettered: 0, returned: 0, retried: 0 });
    for (const settlement of source.settlements) expect(settlement).toMatchObject({ outcome: 'completed', ack: true, attempts: 1 });
    expect(await onPostgres(`SELECT value FROM ${table}`)).toEqual([{ value: '4' }]);
  });

  it("stops retrying ctx.store.update when the event's signal fires, instead of spending every retry", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'flowd-update-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    let attempts = 0;
    let settle!: (outcome: unknown) => void;
    const updateEnded = new Promise((resolve) => (settle = resolve));
    const worker = defineWorker({
      async start(_event: unknown, ctx: WorkerContext) {
        // Every attempt conflicts: another write lands while fn runs.
        await ctx.store
          .update('hot', async () => {
            attempts++;
            await ctx.store.put('hot', attempts);
            return -1;
          })
          .then(settle, settle);
      },
    });
    const source = manualSource();
    const runtime = createRuntime({ worker, source: source.driver, executionTimeout: 150, app: { name: 'hot', stateDir } });
    await runtime.start();
    await source.ready;
    source.deliver('e');
    // The run stays up until the update has ended: once it ends, the store closes, and a write in flight would fail for that reason instead.
    expect(await updateEnded).toMatchObject({ code: 'ERR_WORKER_TIMEOUT' });
    expect(attempts).toBeLessThan(11);
    source.end();
    await runtime.done;
  });

  it("stops waiting for a lock when the event's signal fires (its execution timeout), leaving the holder alone", async () => {
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    const lock = { backend: 'redis', url: REDIS_URL, prefix } as const;
    // Another daemon holds the lock for the whole test.
    const other = createAppServices(
      compileServiceSettings({ lock }, { dir: tmpdir(), stateDir: tmpdir() }),
      'waiting',
      pino({ level: 'silent' }),
    );
    cleanups.push(() => other.close());
    const held = await other.locks.lock('asset-1');
    const source = manualSource();
    const worker = defineWorker({
      async start(_event: unknown, ctx: WorkerContext) {
        await using mine = await ctx.lock('asset-1');
        return mine.fence;
      },
    });
    const runtime = createRuntime({ worker, source: source.driver, executionTimeout: 300, app: { name: 'waiting' }, lock });
    await runtime.start();
    await source.ready;
    source.deliver('waiter', 'waiter');
    source.end();
    const summary = await runtime.done;
    expect(summary.counters).toMatchObject({ completed: 0, failed: 1 });
    expect(source.settlements).toMatchObject([{ id: 'waiter', outcome: 'failed', error: { code: 'ERR_WORKER_TIMEOUT' } }]);
    expect(held.signal.aborted).toBe(false);
    await held.renew();
    await held.release();
  });
});

describe('after the run ends', () => {
  it('refuses store, lock and client calls with clear errors, and opens nothing again (an abandoned run cannot bring them back)', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'flowd-closed-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const source = manualSource();
    let late!: WorkerContext;
    const runtime = createRuntime({
      worker: defineWorker({
        start: (_event: unknown, ctx: WorkerContext) => {
          late = ctx;
        },
      }),
      source: source.driver,
      app: { name: 'closed', stateDir },
      api: { hostname: '127.0.0.1:9' },
    });
    await runtime.start();
    await source.ready;
    source.deliver(1);
    source.end();
    await runtime.done;
    await expect(late.store.put('k', 1)).rejects.toMatchObject({
      code: 'ERR_STORE_CLOSED',
      message: expect.stringContaining('app "closed"') as string,
    });
    await expect(late.lock('k')).rejects.toMatchObject({ code: 'ERR_LOCK_UNAVAILABLE' });
    expect(() => late.client).toThrow(/API client of app "closed" was closed/);
    expect(await readdir(stateDir)).toEqual([]);
  });

  it('closes the inspector when start() fails, so no port stays open', async () => {
    const runtime = createRuntime({
      worker: defineWorker({
        configure: () => {
          throw new Error('no config');
        },
        start: () => undefined,
      }),
      source: manualSource().driver,
    });
    const handle = await runtime.inspect({ port: 0 }).catch(() => undefined);
    const url = handle?.url ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    await expect(fetch(new URL('healthz', url))).resolves.toMatchObject({ status: 200 });
    await expect(runtime.start()).rejects.toMatchObject({ code: 'ERR_WORKER_CONFIGURE' });
    await expect(fetch(new URL('healthz', url))).rejects.toThrow();
  });
});

describe("fencing: a lock whose lease lapsed cannot overwrite its successor's write", () => {
  it('refuses the late write of a holder that paused past its lease (Redis locks and store)', async () => {
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    const settings = compileServiceSettings(
      { store: { backend: 'redis', url: REDIS_URL, prefix }, lock: { prefix, lease: 1000 } },
      { dir: tmpdir(), stateDir: tmpdir() },
    );
    expect(settings.lock).toMatchObject({ backend: 'redis', url: REDIS_URL });
    const first = createAppServices(settings, 'fenced', pino({ level: 'silent' }));
    const second = createAppServices(settings, 'fenced', pino({ level: 'silent' }));
    cleanups.push(
      () => first.close(),
      () => second.close(),
    );
    await Promise.all([first.open(), second.open()]);

    const paused = await first.locks.lock('asset-7');
    await first.store.put('asset-7', { title: 'by the first holder' }, { fence: paused.fence });
    // The first holder stalls (a GC pause, a stopped process) and does not renew: its lease lapses.
    const lost = new Promise((resolve) => paused.signal.addEventListener('abort', () => resolve(paused.signal.reason), { once: true }));
    const successor = await second.locks.lock('asset-7');
    expect(await lost).toMatchObject({ code: 'ERR_LOCK_LOST' });
    expect(successor.fence).toBeGreaterThan(paused.fence);
    await second.store.put('asset-7', { title: 'by the successor' }, { fence: successor.fence });

    const late = first.store.put('asset-7', { title: 'late write' }, { fence: paused.fence });
    await expect(late).rejects.toBeInstanceOf(FencedError);
    await expect(late).rejects.toMatchObject({ code: 'ERR_FENCED' });
    expect(await second.store.get('asset-7')).toEqual({ title: 'by the successor' });
    await successor.release();
  });
});
