import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRuntime, defineWorker } from '../../../src/index.js';
import { logSink } from '../../helpers/log-sink.js';
import { manualSource } from '../../helpers/manual-source.js';
import { until } from '../../helpers/wait.js';

const fixture = path.resolve(import.meta.dirname, '../../fixtures/workers/threaded.ts');

/** A runtime whose worker runs in threads (`isolation: 'thread'`), fed by hand. */
function threaded(exportName: string, options: Partial<Parameters<typeof createRuntime>[0]> = {}, source = manualSource()) {
  const sink = logSink('info');
  const runtime = createRuntime({
    isolation: 'thread',
    workerModule: { file: fixture, export: exportName },
    source: source.driver,
    logger: sink.logger,
    app: { dir: mkdtempSync(path.join(os.tmpdir(), 'flowd-thread-')) },
    ...options,
  });
  return { source, runtime, sink };
}

describe('isolation = thread', () => {
  it('runs each event in a worker thread configured once, with ctx.store and ctx.log served by the main thread', async () => {
    const { source, runtime, sink } = threaded('counter', { workers: 2 });
    await runtime.start();
    await source.ready;
    for (const n of [1, 2, 3, 4]) source.deliver({ n }, `e${n}`);
    source.end();
    const summary = await runtime.done;
    expect(summary.counters).toMatchObject({ received: 4, completed: 4, failed: 0 });
    const results = source.settlements.map((s) => s.result as { double: number; thread: number; configured: number; total: number });
    expect(results.map((r) => r.double).sort()).toEqual([2, 4, 6, 8]);
    // Not the main thread (0); each thread's module ran configure() once.
    expect(results.every((r) => r.thread > 0 && r.configured === 1)).toBe(true);
    // ctx.store.update from the threads: no update was lost.
    expect(Math.max(...results.map((r) => r.total))).toBe(10);
    const logged = sink.lines.filter((line) => line.msg.startsWith('doubling'));
    expect(logged.map((line) => [line.event, line.n]).sort()).toEqual([
      ['e1', 1],
      ['e2', 2],
      ['e3', 3],
      ['e4', 4],
    ]);
  });

  it('terminates a busy-looping worker at the execution timeout: the event fails ERR_WORKER_TIMEOUT, the CPU goes idle, the other events complete, and a same-key event starts only after the termination', async () => {
    const { source, runtime, sink } = threaded('spinner', { workers: 2, executionTimeout: '1s', orderBy: 'key' });
    let failedAt: number | undefined;
    runtime.on('event.failed', (e) => {
      if (e.id === 'spin') failedAt = Date.now();
    });
    await runtime.start();
    await source.ready;
    // The spinning run beats on shared memory; the same-key run checks that nothing beats while it runs.
    const beat = new Int32Array(new SharedArrayBuffer(4));
    source.deliver({ key: 'k', n: 0, spin: true, beat }, 'spin');
    source.deliver({ key: 'k', n: 1, beat }, 'same');
    source.deliver({ key: 'other', n: 2 }, 'other');
    await until(() => source.settlements.length === 3, { what: 'three outcomes' });
    const by = new Map(source.settlements.map((s) => [s.id, s]));
    expect(by.get('spin')).toMatchObject({ outcome: 'failed', error: { code: 'ERR_WORKER_TIMEOUT' } });
    expect(by.get('other')).toMatchObject({ outcome: 'completed', result: { n: 2 } });
    expect(by.get('same')).toMatchObject({ outcome: 'completed', result: { n: 1, overlapped: false } });
    expect(Atomics.load(beat, 0)).toBeGreaterThan(0);
    // The key was released only once the spinning thread was gone (the failure is reported after termination).
    expect((by.get('same')!.result as { startedAt: number }).startedAt).toBeGreaterThanOrEqual(failedAt!);
    // The replacement of the terminated thread is up (its configure() logged): from now on nothing should be busy.
    await until(() => sink.lines.filter((line) => line.msg === 'spinner configured').length === 3, { what: 'the replacement thread' });
    // The process's CPU over a window after the termination: a thread still spinning would use a whole core.
    // (A measurement window: there is no event to await for "nothing is running".)
    const cpu = process.cpuUsage();
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const used = process.cpuUsage(cpu);
    const wallMs = performance.now() - started;
    expect((used.user + used.system) / 1000).toBeLessThan(wallMs * 0.5);
    source.end();
    await runtime.done;
  });

  it('retries a timed-out event in a fresh thread once the old one is terminated', async () => {
    const { source, runtime } = threaded('spinOnce', { workers: 1, executionTimeout: '2s', retries: 1, retryDelay: 1 });
    await runtime.start();
    await source.ready;
    source.deliver({ n: 7 }, 'again');
    source.end();
    const summary = await runtime.done;
    expect(summary.counters).toMatchObject({ completed: 1, failed: 0, timedOut: 1 });
    expect(source.settlements).toMatchObject([{ id: 'again', outcome: 'completed', attempts: 2, result: { n: 7, attempt: 2 } }]);
  });

  it('serves ctx.lock and ctx.withLock from the main thread: the lock excludes across threads, so no update is lost', async () => {
    const { source, runtime } = threaded('locker', { workers: 3 });
    await runtime.start();
    await source.ready;
    for (let n = 0; n < 6; n++) source.deliver({ n, how: n % 2 === 0 ? 'withLock' : 'lock' }, `e${n}`);
    source.end();
    const summary = await runtime.done;
    expect(summary.counters).toMatchObject({ completed: 6, failed: 0 });
    const results = source.settlements.map((s) => s.result as { wrote: number; fence: number });
    // Each increment read the one before it: 1 to 6, none lost; each holder had a fencing token of its own.
    expect(results.map((r) => r.wrote).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(results.map((r) => r.fence)).size).toBe(6);
  });

  it("serves ctx.client's requests from the main thread's client", async () => {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, url: req.url, body: body ? (JSON.parse(body) as unknown) : null }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const { source, runtime } = threaded('caller', { api: { hostname: `127.0.0.1:${port}` } });
    await runtime.start();
    await source.ready;
    source.deliver({ n: 7 }, 'call');
    source.end();
    await runtime.done;
    expect(source.settlements[0]).toMatchObject({
      outcome: 'completed',
      result: {
        origin: `http://127.0.0.1:${port}`,
        got: [200, { method: 'GET', url: '/things/7', body: null }],
        posted: [200, { method: 'POST', url: '/things', body: { n: 7 } }],
      },
    });
  });

  it("serves ctx.publish from the main thread, through the source's connection", async () => {
    const published: unknown[] = [];
    const manual = manualSource();
    manual.driver.publish = async (destination, body, headers) => {
      published.push([destination, body, headers]);
    };
    const { source, runtime } = threaded('publisher', {}, manual);
    await runtime.start();
    await source.ready;
    source.deliver({ n: 3 }, 'pub');
    source.end();
    await runtime.done;
    expect(source.settlements[0]).toMatchObject({ outcome: 'completed', result: 'published' });
    expect(published).toEqual([['/queue/done', { n: 3 }, { 'x-n': 3 }]]);
  });

  it('fails an event whose result cannot cross back, and ctx.client without [Api] with ERR_CONFIG as in the main thread', async () => {
    const { source, runtime } = threaded('misfit');
    await runtime.start();
    await source.ready;
    source.deliver({ n: 1 }, 'fn');
    source.deliver({ n: 2 }, 'client');
    source.end();
    await runtime.done;
    const by = new Map(source.settlements.map((s) => [s.id, s]));
    expect(by.get('fn')).toMatchObject({ outcome: 'failed', error: { code: 'ERR_WORKER_FAILED' } });
    expect(by.get('fn')!.error!.message).toMatch(/cannot cross back from its thread as a structured clone/);
    expect(by.get('client')).toMatchObject({ outcome: 'failed', error: { code: 'ERR_CONFIG' } });
    expect(by.get('client')!.error!.message).toMatch(/ctx\.client needs an \[Api\] section/);
  });

  it('fails start() when configure() fails in a thread, naming the worker and the reason', async () => {
    const { runtime } = threaded('badConfigure', { workers: 2 });
    await expect(runtime.start()).rejects.toMatchObject({
      code: 'ERR_WORKER_CONFIGURE',
      message: expect.stringMatching(/badConfigure.*no licence in this thread/s),
    });
  });

  it('refuses a worker given as an object in code, which cannot move to a thread', () => {
    expect(() =>
      createRuntime({ isolation: 'thread', worker: defineWorker({ start: () => 1 }), source: manualSource().driver, logger: false }),
    ).toThrow(/isolation.*is thread, but worker "worker" has no module a thread can load/);
  });

  it('refuses workerModule without isolation: thread', () => {
    expect(() => createRuntime({ workerModule: { file: fixture }, source: manualSource().driver, logger: false })).toThrow(
      /workerModule.*isolation is not 'thread'/,
    );
  });
});
