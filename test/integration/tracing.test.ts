import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { httpDriver, type HttpEvent } from '../../actors/sources/http.js';
import type { StompEvent } from '../../actors/sources/stomp.js';
import { defineWorker } from '../../actors/workers/worker.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import { deleteQueues, produce, stompUrl, take, uniqueQueue } from '../helpers/broker.js';
import { registerTracing, traceparent } from '../helpers/tracing.js';
import { until } from '../helpers/wait.js';

// The machine's RabbitMQ on 127.0.0.1:61613 and HTTP on loopback (the global setup makes sure it is up), with an SDK exporting to memory.

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const created: string[] = [];
afterAll(() => deleteQueues(...created));

let runtime: Runtime | undefined;
let tracing: ReturnType<typeof registerTracing> | undefined;
afterEach(async () => {
  if (runtime && runtime.snapshot().state !== 'stopped') await runtime.stop();
  runtime = undefined;
  await tracing?.reset();
  tracing = undefined;
});

describe('tracing over STOMP', () => {
  it("carries the trace id of an incoming message's traceparent into the message its worker publishes, under flowd.event and flowd.attempt spans", async () => {
    tracing = registerTracing();
    const queue = uniqueQueue('trace');
    const out = `${queue}.out`;
    created.push(queue, `${queue}.dlq`, out);
    runtime = createRuntime({
      worker: defineWorker({
        start: (event: StompEvent<{ n: number }>, ctx) => ctx.publish(`/queue/${out}`, { n: event.body.n }, { 'x-from': event.messageId }),
      }),
      source: sources.stomp({ stompUrl: stompUrl(`/queue/${queue}`), payloadClass: 'json' }),
      logger: false,
    });
    await runtime.start();
    await produce(`/queue/${queue}`, [
      {
        body: JSON.stringify({ n: 7 }),
        headers: { 'content-type': 'application/json', traceparent: traceparent(TRACE_ID), tracestate: 'vendor=1' },
      },
    ]);
    const [published] = await take(`/queue/${out}`, 1);
    // Every outcome is in once the runtime has stopped: its spans have ended.
    await runtime.stop();

    const [event] = tracing.named('flowd.event');
    const [queued] = tracing.named('flowd.queue');
    const [attempt] = tracing.named('flowd.attempt');
    expect(event!.spanContext().traceId).toBe(TRACE_ID);
    expect(event!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(event!.attributes).toMatchObject({ 'flowd.source': 'stomp', 'flowd.outcome': 'completed', 'flowd.settled': 'ack' });
    expect(tracing.parentOf(queued!)).toBe(event);
    expect(tracing.parentOf(attempt!)).toBe(event);
    expect(attempt!.attributes).toMatchObject({ 'flowd.source': 'stomp', 'flowd.attempt': 1, 'flowd.outcome': 'completed' });

    // The published message is in the same trace, its parent the attempt that published it; tracestate passes on too.
    expect(published!.headers.traceparent).toBe(`00-${TRACE_ID}-${attempt!.spanContext().spanId}-01`);
    expect(published!.headers.tracestate).toBe('vendor=1');
    expect(published!.headers['x-from']).toBeTruthy();
    expect(JSON.parse(published!.body)).toEqual({ n: 7 });
  });
});

describe('tracing over HTTP', () => {
  it("continues the trace of a request's traceparent and carries it into the worker's ctx.client requests", async () => {
    tracing = registerTracing();
    // The service the worker calls: it records the headers of each request.
    const seen: IncomingHttpHeaders[] = [];
    const service = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => service.close(() => resolve())));
    const driver = httpDriver({
      interface: '127.0.0.1',
      port: 0,
      path: '/api',
      reply: 'sync',
      maxBodySize: 1024,
      retryAfterS: 2,
      keepResults: 10,
      maxConnections: 10,
    });
    runtime = createRuntime({
      worker: defineWorker({ start: async (_event: HttpEvent, ctx) => (await ctx.client.get('/asset/1')).body }),
      source: driver,
      api: { hostname: `127.0.0.1:${(service.address() as AddressInfo).port}`, useHttps: false },
      logger: false,
    });
    await runtime.start();
    await until(() => driver.address() !== undefined, { what: 'the HTTP source to listen' });
    const res = await request(`${driver.address()!.replace(/\/$/, '')}/assets`, { headers: { traceparent: traceparent(TRACE_ID) } });
    expect(await res.body.json()).toEqual({ ok: true });
    await runtime.stop();

    const [event] = tracing.named('flowd.event');
    const [attempt] = tracing.named('flowd.attempt');
    expect(event!.spanContext().traceId).toBe(TRACE_ID);
    expect(event!.attributes).toMatchObject({ 'flowd.source': 'http', 'flowd.outcome': 'completed' });
    expect(tracing.parentOf(attempt!)).toBe(event);
    expect(seen.map((headers) => headers.traceparent)).toEqual([`00-${TRACE_ID}-${attempt!.spanContext().spanId}-01`]);
  });
});
