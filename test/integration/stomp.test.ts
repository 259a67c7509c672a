import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { StompEvent } from '../../actors/sources/stomp.js';
import { defineWorker, type WorkerContext } from '../../actors/workers/worker.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import {
  deleteQueues,
  findQueue,
  numbered,
  produce,
  queueCounts,
  rabbitmqctl,
  STOMP_PORT,
  stompUrl,
  take,
  uniqueQueue,
  vhostQueueMessages,
  virtualHost,
} from '../helpers/broker.js';
import { fixture, flowd, tempDir, type FlowdProcess } from '../helpers/cli.js';
import { logSink } from '../helpers/log-sink.js';
import { tcpProxy } from '../helpers/tcp-proxy.js';

// Every test here talks to the machine's RabbitMQ on 127.0.0.1:61613 (the global setup makes sure it is up).

const created: string[] = [];
/** A fresh queue name (and its dead-letter queue), deleted after the file. */
const newQueue = (label: string) => {
  const name = uniqueQueue(label);
  created.push(name, `${name}.dlq`, `${name}.out`);
  return name;
};
// One rabbitmqctl a queue (three a test): under load that takes longer than the default hook timeout.
afterAll(() => deleteQueues(...created), 300_000);

let runtime: Runtime | undefined;
afterEach(async () => {
  if (runtime && runtime.snapshot().state !== 'stopped') await runtime.stop();
  runtime = undefined;
});

type Body = { n: number };
const xid = (event: StompEvent) => event.headers['x-id']!;

/** Starts an embedded runtime on a queue; resolves its `done` count promise when `count` events completed. */
async function consume(
  queue: string,
  start: (event: StompEvent<Body>, ctx: WorkerContext) => unknown,
  options: Partial<RuntimeOptions> & { stomp?: Partial<Parameters<typeof sources.stomp>[0]> } = {},
) {
  const { stomp, ...flow } = options;
  runtime = createRuntime({
    worker: defineWorker({ start }),
    source: sources.stomp({ stompUrl: stompUrl(`/queue/${queue}`), payloadClass: 'json', ...stomp }),
    ...flow,
  });
  const current = runtime;
  await current.start();
  return {
    runtime: current,
    /** Resolves once `count` events have completed. */
    completed: (count: number) =>
      new Promise<void>((resolve) => {
        let seen = current.snapshot().counters.completed;
        if (seen >= count) return resolve();
        const off = current.on('event.completed', () => {
          if (++seen >= count) {
            off();
            resolve();
          }
        });
      }),
  };
}

const stats = (r: Runtime) => r.snapshot().source.stats as Record<string, number>;

describe('stomp source against RabbitMQ', () => {
  it('carries 1,000 messages through 4 workers, acknowledges each once and leaves the queue empty', async () => {
    const queue = newQueue('round-trip');
    await produce(`/queue/${queue}`, numbered(1000));
    const seen = new Map<string, number>();
    const { runtime: r, completed } = await consume(queue, (event) => void seen.set(xid(event), (seen.get(xid(event)) ?? 0) + 1), {
      workers: 4,
    });
    await completed(1000);
    await r.stop();
    expect(seen.size).toBe(1000);
    expect([...seen.values()].every((times) => times === 1)).toBe(true);
    expect(stats(r)).toMatchObject({ received: 1000, acked: 1000, nacked: 0, deadLettered: 0, voided: 0, connections: 1 });
    expect(await queueCounts(queue)).toMatchObject({ messages: 0, unacked: 0, consumers: 0 });
  });

  it('consumes from a queue of its virtual host', async () => {
    const vhost = await virtualHost();
    onTestFinished(vhost.remove);
    const queue = uniqueQueue('vhost');
    await produce(`/queue/${queue}`, numbered(20), vhost.name);
    const seen = new Set<string>();
    const { runtime: r, completed } = await consume(queue, (event) => void seen.add(xid(event)), { stomp: { virtualHost: vhost.name } });
    await completed(20);
    await r.stop();
    expect(seen.size).toBe(20);
    expect(await vhostQueueMessages(vhost.name, queue)).toBe(0);
    expect(await findQueue(queue)).toBeUndefined();
  });

  it('hands the worker the destination, headers, parsed body and redelivery flag', async () => {
    const queue = newQueue('event');
    await produce(`/queue/${queue}`, [{ body: '{"asset":"a-1"}', headers: { 'x-id': '1', 'asset-id': 'a-1' } }]);
    let got: { event: StompEvent; attempt: number; meta: unknown } | undefined;
    const { runtime: r, completed } = await consume(queue, (event, ctx) => void (got = { event, attempt: ctx.attempt, meta: ctx.meta }));
    await completed(1);
    await r.stop();
    expect(got!.event).toMatchObject({
      destination: `/queue/${queue}`,
      redelivered: false,
      body: { asset: 'a-1' },
      headers: { 'x-id': '1', 'asset-id': 'a-1' },
    });
    expect(got!.event.messageId).toMatch(/\S/);
    expect(got!.attempt).toBe(1);
    expect(got!.meta).toEqual({ redelivered: false });
  });

  it('never has more unacknowledged messages than the prefetch', async () => {
    const queue = newQueue('prefetch');
    await produce(`/queue/${queue}`, numbered(40));
    let peak = 0;
    let brokerUnacked: number | undefined;
    const { runtime: r, completed } = await consume(
      queue,
      async (event) => {
        const s = stats(runtime!);
        peak = Math.max(peak, s.received! - s.acked! - s.nacked! - s.deadLettered!);
        if (xid(event) === '20') brokerUnacked = (await queueCounts(queue)).unacked;
      },
      { workers: 1, stomp: { prefetch: 3 } },
    );
    await completed(40);
    await r.stop();
    expect(peak).toBe(3);
    expect(brokerUnacked).toBeLessThanOrEqual(3);
    expect(brokerUnacked).toBeGreaterThan(0);
  });

  it('dead-letters a message that always fails after retries + 1 attempts, with the error in its headers, while others flow', async () => {
    const queue = newQueue('poison');
    await produce(`/queue/${queue}`, numbered(30));
    const order: string[] = [];
    const { runtime: r, completed } = await consume(
      queue,
      (event, ctx) => {
        order.push(`${xid(event)}#${ctx.attempt}`);
        if (xid(event) === '3') throw Object.assign(new Error('asset 3 cannot be parsed'), { code: 'ERR_ASSET' });
      },
      { workers: 2, retries: 2, retryDelay: '20ms' },
    );
    const failed = new Promise((resolve) => r.on('event.failed', resolve));
    await completed(29);
    await failed;
    await vi.waitFor(() => expect(stats(r).deadLettered).toBe(1));
    await r.stop();
    expect(order.filter((entry) => entry.startsWith('3#'))).toEqual(['3#1', '3#2', '3#3']);
    // Other messages completed between the poison's first and last attempt.
    expect(order.indexOf('3#3') - order.indexOf('3#1')).toBeGreaterThan(2);
    const [dead] = await take(`/queue/${queue}.dlq`, 1);
    expect(dead!.body).toBe('{"n":3}');
    expect(dead!.headers).toMatchObject({
      'x-id': '3',
      'x-flowd-error-code': 'ERR_ASSET',
      'x-flowd-error-message': 'asset 3 cannot be parsed',
      'x-flowd-attempts': '3',
      'x-flowd-original-destination': `/queue/${queue}`,
      persistent: 'true',
    });
    expect(await queueCounts(queue)).toMatchObject({ messages: 0 });
  });

  it('dead-letters XML with a DOCTYPE without running the worker, and never expands entities', async () => {
    const queue = newQueue('xml');
    await produce(`/queue/${queue}`, [
      { body: '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "boom">]><asset>&x;</asset>', headers: { 'x-id': 'evil' } },
      { body: '<asset id="7"><title>News &amp; more</title></asset>', headers: { 'x-id': 'good' } },
    ]);
    const bodies: unknown[] = [];
    const { runtime: r, completed } = await consume(queue, (event) => void bodies.push(event.body), { stomp: { payloadClass: 'xml' } });
    await completed(1);
    await vi.waitFor(() => expect(stats(r).deadLettered).toBe(1));
    await r.stop();
    expect(bodies).toEqual([{ asset: { '@_id': '7', title: 'News &amp; more' } }]);
    const [dead] = await take(`/queue/${queue}.dlq`, 1);
    expect(dead!.headers['x-flowd-error-code']).toBe('ERR_PAYLOAD');
    expect(dead!.headers['x-flowd-error-message']).toMatch(/DOCTYPE/);
  });

  it('speaks STOMP over WebSocket for a ws:// URL (RabbitMQ Web STOMP)', async () => {
    const queue = newQueue('ws');
    await produce(`/queue/${queue}`, numbered(50));
    const seen = new Set<string>();
    const { runtime: r, completed } = await consume(queue, (event) => void seen.add(xid(event)), {
      workers: 2,
      stomp: { stompUrl: `ws://guest:guest@127.0.0.1:15674/ws/queue/${queue}` },
    });
    await completed(50);
    await r.stop();
    expect(seen.size).toBe(50);
    expect(stats(r)).toMatchObject({ acked: 50, connections: 1 });
    expect(await queueCounts(queue)).toMatchObject({ messages: 0 });
  });

  it("lets workers publish persistent messages and waits for the broker's receipt", async () => {
    const queue = newQueue('publish');
    await produce(`/queue/${queue}`, numbered(5));
    const { runtime: r, completed } = await consume(queue, async (event, ctx) => {
      await ctx.publish(`/queue/${queue}.out`, { done: event.body.n }, { 'x-from': xid(event) });
    });
    await completed(5);
    await r.stop();
    const out = await take(`/queue/${queue}.out`, 5);
    expect(
      out
        .map((m) => JSON.parse(m.body) as { done: number })
        .map((b) => b.done)
        .sort(),
    ).toEqual([0, 1, 2, 3, 4]);
    expect(out[0]!.headers).toMatchObject({ persistent: 'true', 'content-type': 'application/json' });
    expect(out.map((m) => m.headers['x-from']).sort()).toEqual(['0', '1', '2', '3', '4']);
  });

  it('voids the outcome of work whose connection died, and the broker redelivers the message', async () => {
    const queue = newQueue('void');
    await produce(`/queue/${queue}`, numbered(3));
    const proxy = await tcpProxy(STOMP_PORT);
    onTestFinished(() => proxy.close());
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const runs: Array<{ id: string; redelivered: unknown }> = [];
    const { runtime: r, completed } = await consume(
      queue,
      async (event, ctx) => {
        runs.push({ id: xid(event), redelivered: ctx.meta.redelivered });
        if (runs.length === 1) await held;
      },
      { workers: 1, stomp: { stompUrl: `stomp://guest:guest@127.0.0.1:${proxy.port}/queue/${queue}`, reconnectDelay: '50ms' } },
    );
    const reconnecting = new Promise((resolve) => r.on('source.reconnecting', resolve));
    await vi.waitFor(() => expect(runs).toHaveLength(1));
    await vi.waitFor(() => expect(stats(r).received).toBe(3));
    expect(proxy.cut()).toBe(1);
    await reconnecting;
    release();
    await completed(4);
    await r.stop();
    // Message 0 finished after its connection died; 1 and 2 were waiting and were dropped, not run.
    expect(stats(r)).toMatchObject({ voided: 1, revoked: 2, acked: 3, connections: 2 });
    // The first message ran on the dead connection, then again, flagged as redelivered.
    expect(runs.filter((run) => run.id === '0')).toEqual([
      { id: '0', redelivered: false },
      { id: '0', redelivered: true },
    ]);
    expect(new Set(runs.map((run) => run.id))).toEqual(new Set(['0', '1', '2']));
    expect(await queueCounts(queue)).toMatchObject({ messages: 0 });
  });

  it('keeps running when a worker publishes to a bad destination: an invalid one is refused locally, a missing exchange costs one reconnect', async () => {
    const queue = newQueue('bad-publish');
    await produce(`/queue/${queue}`, numbered(3));
    const errors: string[] = [];
    const { runtime: r, completed } = await consume(
      queue,
      async (event, ctx) => {
        if (xid(event) === '0') {
          await ctx.publish('/bogus/x', 'nope').catch((error: { code: string }) => void errors.push(error.code));
        }
        // The first delivery of message 1 publishes where RabbitMQ has no exchange: it answers with an ERROR frame.
        if (xid(event) === '1' && !event.redelivered) await ctx.publish(`/exchange/${queue}-missing`, 'x');
      },
      { workers: 1, stomp: { reconnectDelay: '50ms' } },
    );
    const failed = vi.fn();
    r.on('event.failed', failed);
    await completed(3);
    await r.stop();
    expect(errors).toEqual(['ERR_INVALID_DESTINATION']);
    expect(failed).not.toHaveBeenCalled();
    expect(stats(r).connections).toBe(2);
    expect(await queueCounts(queue)).toMatchObject({ messages: 0 });
  });

  it('lets a dead letter in flight at shutdown finish and ACKs its original, so it is neither lost nor duplicated', async () => {
    const queue = newQueue('stop-dlq');
    await produce(`/queue/${queue}`, numbered(1));
    runtime = createRuntime({
      worker: defineWorker({
        start: () => {
          throw new Error('always');
        },
      }),
      source: sources.stomp({ stompUrl: stompUrl(`/queue/${queue}`) }),
    });
    const stopped = new Promise<unknown>((resolve) => runtime!.on('event.failed', () => resolve(runtime!.stop())));
    await runtime.start();
    await stopped;
    expect(stats(runtime).deadLettered).toBe(1);
    expect(await queueCounts(queue)).toMatchObject({ messages: 0 });
    expect(await queueCounts(`${queue}.dlq`)).toMatchObject({ messages: 1 });
  });

  it('closes the connection attempt when stopped while connecting, leaving nothing open', async () => {
    // A broker that accepts TCP and never answers CONNECT.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => {
      sockets.push(socket);
      socket.resume(); // read (and drop) what the client sends, so its close is seen
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    const port = (silent.address() as AddressInfo).port;
    runtime = createRuntime({
      worker: defineWorker({ start: () => {} }),
      source: sources.stomp({ stompUrl: `stomp://127.0.0.1:${port}/queue/x` }),
    });
    await runtime.start();
    await vi.waitFor(() => expect(sockets).toHaveLength(1));
    const closed = new Promise((resolve) => sockets[0]!.once('close', resolve));
    expect((await runtime.stop()).reason).toBe('requested');
    await closed;
    expect(runtime.snapshot().source.state).toBe('stopped');
  });

  describe('graceful stop', () => {
    it('takes no new messages, lets in-flight work finish and be acked, then disconnects with a receipt', async () => {
      const queue = newQueue('stop');
      await produce(`/queue/${queue}`, numbered(10));
      const sink = logSink('info');
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const started: string[] = [];
      runtime = createRuntime({
        worker: defineWorker({
          start: async (event: StompEvent) => {
            started.push(xid(event));
            await held;
          },
        }),
        source: sources.stomp({ stompUrl: stompUrl(`/queue/${queue}`) }),
        workers: 2,
        logger: sink.logger,
      });
      await runtime.start();
      await vi.waitFor(() => expect(started).toHaveLength(2));
      const stopped = runtime.stop();
      release();
      const summary = await stopped;
      expect(started).toHaveLength(2);
      expect(summary.counters).toMatchObject({ completed: 2 });
      expect(stats(runtime)).toMatchObject({ acked: 2 });
      expect(await queueCounts(queue)).toEqual({ messages: 8, ready: 8, unacked: 0, consumers: 0 });
      expect(sink.messages().find((m) => m.startsWith('disconnected from'))).toBe(
        `disconnected from stomp://guest@127.0.0.1:61613/queue/${queue}`,
      );
    });

    it('NACKs work that does not finish within the shutdown timeout, so nothing is lost', async () => {
      const queue = newQueue('stop-nack');
      await produce(`/queue/${queue}`, numbered(6));
      const started: string[] = [];
      runtime = createRuntime({
        worker: defineWorker({
          start: (event: StompEvent) => {
            started.push(xid(event));
            return new Promise(() => {});
          },
        }),
        source: sources.stomp({ stompUrl: stompUrl(`/queue/${queue}`) }),
        workers: 2,
        shutdownTimeout: '100ms',
      });
      await runtime.start();
      await vi.waitFor(() => expect(started).toHaveLength(2));
      const summary = await runtime.stop();
      expect(summary.counters).toMatchObject({ completed: 0 });
      expect(stats(runtime).acked).toBe(0);
      expect(await queueCounts(queue)).toMatchObject({ messages: 6, unacked: 0 });
    });
  });
});

describe('flowd run with a stomp source', () => {
  const ini = (queue: string, extra = '', url = stompUrl(`/queue/${queue}`)) => `[Flow]
class = ${fixture('stomp-recorder.mjs')}:default
workers = 8

[Source]
type = stomp
stomp url = ${url}
payload class = json
reconnect delay = 100ms
${extra}
[Recorder]
file = \${RECORDER_FILE}
delay = 3
`;

  const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const empty = (queue: string) =>
    vi.waitFor(async () => expect(await queueCounts(queue)).toMatchObject({ messages: 0 }), { timeout: 90_000, interval: 500 });
  const stop = async (p: FlowdProcess) => {
    p.child.kill('SIGTERM');
    return p.exit;
  };

  it('processes every message at least once when the daemon is killed mid-stream and started again', async () => {
    const queue = newQueue('crash');
    const tmp = await tempDir();
    try {
      const app = await tmp.write('app.ini', ini(queue));
      const env = { RECORDER_FILE: path.join(tmp.dir, 'seen.txt') };
      await produce(`/queue/${queue}`, numbered(2000));
      const first = flowd(['run', app], { env });
      await first.waitFor('stderr', /"count":500\b/);
      first.child.kill('SIGKILL');
      expect((await first.exit).signal).toBe('SIGKILL');
      const second = flowd(['run', app], { env });
      await empty(queue);
      expect((await stop(second)).code).toBe(0);
      const ids = await lines(env.RECORDER_FILE);
      const unique = new Set(ids);
      expect(unique.size).toBe(2000);
      const duplicates = ids.length - unique.size;
      // At-least-once: only what was in flight when the process died may run twice.
      expect(duplicates).toBeLessThanOrEqual(10); // the prefetch: workers + 2
      console.info(`stomp crash test: 2000 messages, ${duplicates} processed twice after SIGKILL`);
    } finally {
      await tmp.cleanup();
    }
  }, 120_000);

  it('shares one queue between two daemons with the same INI file: none lost, both did work', async () => {
    const queue = newQueue('competing');
    const tmp = await tempDir();
    try {
      const app = await tmp.write('app.ini', ini(queue));
      const files = [path.join(tmp.dir, 'a.txt'), path.join(tmp.dir, 'b.txt')];
      const daemons = files.map((file) => flowd(['run', app], { env: { RECORDER_FILE: file } }));
      await Promise.all(daemons.map((d) => d.waitFor('stderr', /connected to stomp:/)));
      await produce(`/queue/${queue}`, numbered(5000));
      await empty(queue);
      for (const d of daemons) expect((await stop(d)).code).toBe(0);
      const [a, b] = await Promise.all(files.map(lines));
      expect(new Set([...a!, ...b!]).size).toBe(5000);
      expect(a!.length).toBeGreaterThan(0);
      expect(b!.length).toBeGreaterThan(0);
    } finally {
      await tmp.cleanup();
    }
  }, 120_000);

  it('fails with a clear error naming the URL, without its password, when the broker refuses the login', async () => {
    const queue = newQueue('login');
    const tmp = await tempDir();
    try {
      const app = await tmp.write('app.ini', ini(queue, '', stompUrl(`/queue/${queue}`, 'guest:wrong-secret-77')));
      const run = flowd(['run', app], { env: { RECORDER_FILE: path.join(tmp.dir, 'seen.txt') } });
      const { code } = await run.exit;
      expect(code).toBe(1);
      expect(run.stderr()).toContain(`refused the connection`);
      expect(run.stderr()).toContain(`stomp://guest@127.0.0.1:61613/queue/${queue}`);
      expect(run.stdout() + run.stderr()).not.toContain('wrong-secret-77');
    } finally {
      await tmp.cleanup();
    }
  });

  it("flowd check validates the stomp url's form (exit 2) without connecting", async () => {
    const tmp = await tempDir();
    try {
      const app = await tmp.write('app.ini', ini('x', '', 'stomp://guest:check-secret-11@127.0.0.1:61613/assets'));
      const check = flowd(['check', app], { env: { RECORDER_FILE: '/dev/null' } });
      expect((await check.exit).code).toBe(2);
      expect(check.stderr()).toContain(`${app}`);
      expect(check.stderr()).toMatch(/\[Source\] "stomp url".*has no destination; expected a path such as \/queue\/name/);
      expect(check.stderr()).not.toContain('check-secret-11');
    } finally {
      await tmp.cleanup();
    }
  });

  it('retries an unreachable broker, warning on the first attempt (the next ones are debug lines), naming the URL without its password', async () => {
    const tmp = await tempDir();
    try {
      const app = await tmp.write('app.ini', ini('nowhere', '', 'stomp://guest:hidden-pass-93@127.0.0.1:1/queue/nowhere'));
      const run = flowd(['run', app, '--log-level', 'debug'], { env: { RECORDER_FILE: path.join(tmp.dir, 'seen.txt') } });
      await run.waitFor('stderr', /attempt 2, retrying in/);
      expect((await stop(run)).code).toBe(0);
      expect(run.stderr()).toMatch(
        /source stomp: cannot connect to stomp:\/\/guest@127\.0\.0\.1:1\/queue\/nowhere: connect ECONNREFUSED 127\.0\.0\.1:1 \(attempt 1, retrying in \d+(ms|\.\d+s)\)/,
      );
      const levels = run
        .stderr()
        .split('\n')
        .filter((line) => line.includes('retrying in'))
        .map((line) => [(JSON.parse(line) as { attempt: number }).attempt, (JSON.parse(line) as { level: number }).level]);
      expect(levels.slice(0, 2)).toEqual([
        [1, 40],
        [2, 20],
      ]);
      expect(run.stdout() + run.stderr()).not.toContain('hidden-pass-93');
    } finally {
      await tmp.cleanup();
    }
  });
});
