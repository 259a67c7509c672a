import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { StompEvent } from '../../actors/sources/stomp.js';
import { defineWorker } from '../../actors/workers/worker.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import { deleteQueues, produce, stompUrl, take, uniqueQueue } from '../helpers/broker.js';
import { registerTracing, traceparent } from '../helpers/tracing.js';

// The machine's RabbitMQ on 127.0.0.1:61613 (the global setup makes sure it is up), with an SDK exporting to memory.

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
