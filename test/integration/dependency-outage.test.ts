import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { StompEvent } from '../../actors/sources/stomp.js';
import { defineWorker, type WorkerContext } from '../../actors/workers/worker.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import { dropPrefix, testPrefix } from '../fixtures/stores/spaces.js';
import { deleteQueues, numbered, produce, STOMP_PORT, uniqueQueue } from '../helpers/broker.js';
import { tempDir } from '../helpers/cli.js';
import { logSink } from '../helpers/log-sink.js';
import { manualSource } from '../helpers/manual-source.js';
import { redisGate, type RedisGate } from '../helpers/redis-gate.js';
import { until } from '../helpers/wait.js';

// RabbitMQ (STOMP on 61613) and Redis (6379) are the machine's own; each outage is a gate in front of them
// (test/helpers/redis-gate.ts forwards any TCP port), never the service itself stopped.

const created: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
let runtime: Runtime | undefined;
afterEach(async () => {
  if (runtime && runtime.snapshot().state !== 'stopped') await runtime.stop();
  runtime = undefined;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => deleteQueues(...created));

const newQueue = (label: string) => {
  const name = uniqueQueue(label);
  created.push(name, `${name}.dlq`);
  return name;
};
const gateFor = async (port: number): Promise<RedisGate> => {
  const gate = await redisGate(port);
  cleanups.push(() => gate.close());
  return gate;
};
const xid = (event: StompEvent) => event.headers['x-id']!;
/** Holds a gate shut for the length of the outage under test: the duration is what is tested, not something to await. */
const outageOf = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** An app folder of its own, for the state folder the inspector writes its address to. */
const appDir = async (): Promise<string> => {
  const tmp = await tempDir();
  cleanups.push(() => tmp.cleanup());
  return tmp.dir;
};
/** What the inspector's `/readyz` answers now. */
const readyz = async (url: string): Promise<{ status: number; reasons: string[] }> => {
  const response = await fetch(new URL('/readyz', url));
  const body = (await response.json()) as { reasons?: string[] };
  return { status: response.status, reasons: body.reasons ?? [] };
};
/** Polls `/readyz` every 50 ms until `check` holds; rejects at `until`'s deadline, with its last answer. */
const untilReadyz = async (url: string, check: (answer: { status: number; reasons: string[] }) => boolean, what: string) => {
  let last: { status: number; reasons: string[] } | undefined;
  await until(async () => check((last = await readyz(url))), { interval: 50, what: `/readyz to answer ${what}` }).catch((error: Error) => {
    throw new Error(`${error.message}; it last answered ${JSON.stringify(last)}`);
  });
  return last!;
};

describe('a dependency outage', () => {
  it('pauses the source while the Redis store is down: few redeliveries, few log lines, nothing lost, work back within a second', async () => {
    // A 5 s outage; the issue's rates (under 5 redeliveries and under 1 log line a second) scaled to it.
    const OUTAGE_MS = 5000;
    const queue = newQueue('store-outage');
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    const redis = await gateFor(6379);
    const log = logSink('info');
    const completed = new Set<string>();
    const started: number[] = [];
    const worker = defineWorker({
      async start(event: StompEvent, ctx: WorkerContext) {
        started.push(Date.now());
        await ctx.store.put(`seen:${xid(event)}`, true);
        completed.add(xid(event));
      },
    });
    runtime = createRuntime({
      worker,
      workers: 4,
      retries: 3,
      app: { name: 'outage' },
      logger: log.logger,
      store: { backend: 'redis', url: redis.url(), prefix },
      source: sources.stomp({ stompUrl: `stomp://guest:guest@127.0.0.1:${STOMP_PORT}/queue/${queue}`, payloadClass: 'json' }),
    });
    const downs: number[] = [];
    const ups: Array<{ at: number; downForMs: number }> = [];
    runtime.on('dependency.down', () => downs.push(Date.now()));
    runtime.on('dependency.up', (e) => ups.push({ at: Date.now(), downForMs: e.downForMs }));
    await runtime.start();
    await produce(`/queue/${queue}`, numbered(40));
    await until(() => completed.size === 40, { what: 'the first 40 events' });

    const stats = () => runtime!.snapshot().source.stats as { nacked: number; received: number };
    const before = stats();
    const shutAt = Date.now();
    await redis.shut();
    await produce(`/queue/${queue}`, numbered(40, 40));
    await until(() => downs.length === 1, { what: 'the store to be found down' });
    expect(runtime.snapshot().source).toMatchObject({ state: 'paused', pausedFor: ['dependency'] });
    expect(runtime.snapshot().dependency).toMatchObject({ down: true, error: { code: 'ERR_STORE_UNAVAILABLE' } });
    await outageOf(OUTAGE_MS - (Date.now() - shutAt));
    const during = stats();
    const openAt = Date.now();
    await redis.open();

    await until(() => completed.size === 80, { what: 'all 80 events after Redis is back' });
    expect(ups).toHaveLength(1);
    expect(ups[0]!.at - openAt).toBeLessThanOrEqual(1000);
    expect(ups[0]!.downForMs).toBeGreaterThanOrEqual(OUTAGE_MS - 1000);
    expect(downs).toHaveLength(1);
    // The store was pinged, not probed with an event: no worker ran from the first failure until Redis was back.
    expect(started.filter((at) => at > downs[0]! && at < openAt)).toEqual([]);
    const seconds = OUTAGE_MS / 1000;
    // Redeliveries: messages the broker had to hand over again, and NACKs that would make it.
    expect(during.nacked - before.nacked).toBeLessThan(5 * seconds);
    expect(during.received - before.received).toBeLessThanOrEqual(40 + 5 * seconds);
    const lines = log.lines.filter((line) => (line.time as number) >= shutAt && (line.time as number) < openAt);
    expect(lines.length).toBeLessThan(seconds);
    expect(
      lines.filter((line) => line.msg.startsWith('outage: its store or locks are unavailable (Store "outage" cannot reach Redis')),
    ).toHaveLength(1);
    expect(log.messages().filter((msg) => msg.startsWith('outage: its store and locks are available again after'))).toHaveLength(1);
    // Nothing lost, nothing dead-lettered, nothing failed.
    expect(runtime.snapshot().counters).toMatchObject({ completed: 80, failed: 0, deadLettered: 0, expired: 0 });
    expect(runtime.snapshot().source.pausedFor).toBeUndefined();
  });

  it('holds events while the Redis locks are down, with one warning, and completes them within a second of Redis being back', async () => {
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    const redis = await gateFor(6379);
    const log = logSink('info');
    const source = manualSource();
    const started: number[] = [];
    runtime = createRuntime({
      worker: defineWorker({
        start: (n: number, ctx: WorkerContext) => {
          started.push(Date.now());
          return ctx.withLock(`item-${n}`, () => n * 2);
        },
      }),
      workers: 2,
      app: { name: 'locked', dir: await appDir() },
      logger: log.logger,
      lock: { backend: 'redis', url: redis.url(), prefix },
      source: source.driver,
    });
    const ups: Array<{ at: number; downForMs: number }> = [];
    runtime.on('dependency.up', (e) => ups.push({ at: Date.now(), downForMs: e.downForMs }));
    const { url } = await runtime.inspect({ port: 0 });
    await runtime.start();
    await source.ready;
    source.deliver(0, 'e0');
    await until(() => source.settlements.length === 1, { what: 'the first event' });
    expect(await readyz(url)).toEqual({ status: 200, reasons: [] });
    await redis.shut();
    for (let i = 1; i <= 6; i++) source.deliver(i, `e${i}`);
    await until(() => runtime!.snapshot().dependency !== undefined, { what: 'the locks to be found down' });
    const downAt = Date.now();
    const runsAtDown = started.length;
    expect(runtime.snapshot().dependency?.error.code).toBe('ERR_LOCK_UNAVAILABLE');
    expect(runtime.snapshot().source.pausedFor).toEqual(['dependency']);
    // Not ready while the locks are down, saying why; the paused source is not a reason of its own.
    const down = await readyz(url);
    expect(down.status).toBe(503);
    expect(down.reasons).toEqual([
      expect.stringMatching(
        /^the app's store or locks are unavailable \(for \d+ms\): cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/\d+ for lock "item-\d"/,
      ),
    ]);
    await outageOf(3000);
    expect(source.settlements).toHaveLength(1);
    // The locks were pinged, not probed with an event: no worker ran while they were down.
    expect(started.filter((at) => at > downAt)).toEqual([]);
    expect(started).toHaveLength(runsAtDown);
    const openAt = Date.now();
    await redis.open();
    await until(() => source.settlements.length === 7, { what: 'the 6 held events after Redis is back' });
    expect(await readyz(url)).toEqual({ status: 200, reasons: [] });
    expect(ups).toHaveLength(1);
    expect(ups[0]!.at - openAt).toBeLessThanOrEqual(1000);
    expect(source.settlements.map((s) => [s.id, s.outcome, s.attempts, s.result])).toEqual(
      expect.arrayContaining([1, 2, 3, 4, 5, 6].map((n) => [`e${n}`, 'completed', 1, n * 2])),
    );
    expect(log.messages().filter((msg) => msg.startsWith('locked: its store or locks are unavailable'))).toHaveLength(1);
    expect(log.messages().filter((msg) => msg.startsWith('locked: its store and locks are available again'))).toHaveLength(1);
  });

  it('reconnects to the broker within 2 s of its coming back after an outage longer than the longest reconnect backoff', async () => {
    const queue = newQueue('broker-outage');
    const broker = await gateFor(STOMP_PORT);
    const completed: Array<{ id: string; at: number }> = [];
    runtime = createRuntime({
      worker: defineWorker({ start: (event: StompEvent) => void completed.push({ id: xid(event), at: Date.now() }) }),
      workers: 2,
      app: { name: 'broker-outage', dir: await appDir() },
      logger: false,
      source: sources.stomp({ stompUrl: `stomp://guest:guest@127.0.0.1:${broker.port}/queue/${queue}`, payloadClass: 'json' }),
    });
    const reconnects: number[] = [];
    runtime.on('source.reconnecting', (e) => reconnects.push(e.delayMs));
    const { url } = await runtime.inspect({ port: 0 });
    await runtime.start();
    await until(() => runtime!.snapshot().source.state === 'running', { what: 'the source to run' });
    expect(await readyz(url)).toEqual({ status: 200, reasons: [] });
    const shutAt = Date.now();
    await broker.shut();
    // Not ready while the broker is away: between its attempts to connect, the source is reconnecting (waiting out a backoff).
    const away = await untilReadyz(url, (r) => r.reasons.includes('source stomp is reconnecting'), 'that the source reconnects');
    expect(away).toEqual({ status: 503, reasons: ['source stomp is reconnecting'] });
    // Ten times the longest backoff (1.5s by default): enough draws to reach the cap.
    await outageOf(15_000 - (Date.now() - shutAt));
    // Still not ready as the outage ends, between two attempts or in one.
    const late = await readyz(url);
    expect(late.status).toBe(503);
    expect(late.reasons).toEqual([expect.stringMatching(/^source stomp is (reconnecting|connecting)$/)]);
    expect(reconnects.length).toBeGreaterThanOrEqual(8);
    expect(Math.max(...reconnects)).toBeLessThanOrEqual(1500);
    // Jittered: the waits are not all the same.
    expect(new Set(reconnects).size).toBeGreaterThan(1);
    await produce(`/queue/${queue}`, numbered(5));
    const openAt = Date.now();
    await broker.open();
    await until(() => completed.length === 5, { what: 'the 5 messages after the broker is back' });
    expect(completed[0]!.at - openAt).toBeLessThanOrEqual(2000);
    // Ready again: the source runs (it took the 5 messages).
    expect(await readyz(url)).toEqual({ status: 200, reasons: [] });
  }, 40_000);
});
