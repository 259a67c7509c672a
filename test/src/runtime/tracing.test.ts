import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { AlwaysOffSampler } from '@opentelemetry/sdk-trace-base';
import { defineWorker } from '../../../actors/workers/worker.js';
import { FlowdError } from '../../../src/kernel/errors.js';
import { createRuntime } from '../../../src/runtime/runtime.js';
import { registeredTracer } from '../../../src/runtime/tracing.js';
import { manualSource } from '../../helpers/manual-source.js';
import { registerTracing, traceparent } from '../../helpers/tracing.js';
import { until } from '../../helpers/wait.js';
import { eventReceived } from '../../../machines/events.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

let tracing: ReturnType<typeof registerTracing> | undefined;
afterEach(async () => {
  await tracing?.reset();
  tracing = undefined;
});

/** A manual source that says it is an HTTP source (its events carry headers), and records what workers publish. */
function headerSource() {
  const source = manualSource();
  const published: Array<{ destination: string; headers: Record<string, unknown> | undefined }> = [];
  const driver = {
    ...source.driver,
    type: 'http',
    publish: (destination: string, _body: unknown, headers?: Record<string, string | number | boolean>) => {
      published.push({ destination, headers });
      return Promise.resolve();
    },
  };
  return { ...source, driver, published };
}

/** A runtime over a headerSource() whose worker's start is `start`, started, its source ready. */
async function running(start: Parameters<typeof defineWorker>[0]['start']) {
  const source = headerSource();
  const runtime = createRuntime({ worker: defineWorker({ start }), source: source.driver, logger: false });
  await runtime.start();
  await source.ready;
  return { source, runtime };
}

describe('event tracing', () => {
  it('finds no tracer without a registered provider: the supervisor emits no lifecycle notifications and workers get no headers', async () => {
    expect(registeredTracer()).toBeUndefined();
    const { source, runtime } = await running((_e, ctx) => ctx.publish('/queue/out', 'x'));
    expect(runtime.actor!.getSnapshot().context.lifecycle).toEqual([]);
    source.deliver({ headers: { traceparent: traceparent(TRACE_ID) } }, 'a');
    source.end();
    await runtime.done;
    expect(source.published).toEqual([{ destination: '/queue/out', headers: undefined }]);
  });

  it('makes a flowd.event span with flowd.queue and flowd.attempt children, in the trace of the incoming traceparent, and carries it into ctx.publish', async () => {
    tracing = registerTracing();
    const source = headerSource();
    const runtime = createRuntime({
      worker: defineWorker({ start: (_e, ctx) => ctx.publish('/queue/out', 'x', { 'x-mine': 'kept' }) }),
      source: source.driver,
      orderBy: 'body.asset',
      logger: false,
    });
    await runtime.start();
    await source.ready;
    source.deliver({ headers: { traceparent: traceparent(TRACE_ID) }, body: { asset: 'A1' } }, 'a');
    source.end();
    await runtime.done;

    const [event] = tracing.named('flowd.event');
    const [queue] = tracing.named('flowd.queue');
    const [attempt] = tracing.named('flowd.attempt');
    expect(event!.spanContext().traceId).toBe(TRACE_ID);
    expect(event!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(event!.kind).toBe(SpanKind.CONSUMER);
    expect(event!.attributes).toMatchObject({
      'flowd.source': 'http',
      'flowd.event.id': 'a',
      'flowd.event.key': 'A1',
      'flowd.outcome': 'completed',
      'flowd.attempts': 1,
      'flowd.settled': 'ack',
    });
    expect(tracing.parentOf(queue!)).toBe(event);
    expect(tracing.parentOf(attempt!)).toBe(event);
    expect(attempt!.attributes).toMatchObject({
      'flowd.attempt': 1,
      'flowd.slot': expect.stringMatching(/^slot-/),
      'flowd.outcome': 'completed',
    });

    // The published message carries the attempt's context: the same trace, the attempt as its parent; the worker's own header stays.
    const headers = source.published[0]!.headers!;
    expect(headers['x-mine']).toBe('kept');
    expect(headers.traceparent).toBe(`00-${TRACE_ID}-${attempt!.spanContext().spanId}-01`);
  });

  it("runs the worker in its attempt's context: a span the worker starts is the attempt's child", async () => {
    tracing = registerTracing({ contextManager: true });
    const { source, runtime } = await running(() => trace.getTracer('app').startSpan('app.work').end());
    source.deliver({ headers: {} }, 'a');
    source.end();
    await runtime.done;
    const [work] = tracing.named('app.work');
    expect(tracing.parentOf(work!)).toBe(tracing.named('flowd.attempt')[0]);
  });

  it('carries the context into ctx.publish from a worker thread (isolation = thread), whose publishes go through the main thread', async () => {
    tracing = registerTracing();
    const source = headerSource();
    const runtime = createRuntime({
      isolation: 'thread',
      workerModule: { file: path.resolve(import.meta.dirname, '../../fixtures/workers/threaded.ts'), export: 'publisher' },
      source: source.driver,
      workers: 1,
      logger: false,
      app: { dir: mkdtempSync(path.join(os.tmpdir(), 'flowd-trace-')) },
    });
    await runtime.start();
    await source.ready;
    source.deliver({ n: 3, headers: { traceparent: traceparent(TRACE_ID) } }, 'a');
    source.end();
    await runtime.done;
    const [attempt] = tracing.named('flowd.attempt');
    expect(source.published).toEqual([
      { destination: '/queue/done', headers: { 'x-n': 3, traceparent: `00-${TRACE_ID}-${attempt!.spanContext().spanId}-01` } },
    ]);
  });

  it('makes only the event span of a trace the sampler drops, and still carries its context into ctx.publish', async () => {
    tracing = registerTracing({ sampler: new AlwaysOffSampler() });
    const { source, runtime } = await running((_e, ctx) => ctx.publish('/queue/out', 'x'));
    source.deliver({ headers: { traceparent: traceparent(TRACE_ID) } }, 'a');
    source.end();
    await runtime.done;
    expect(tracing.spans()).toEqual([]);
    expect(source.published[0]!.headers!.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
  });

  it('starts a new trace for an event without a traceparent', async () => {
    tracing = registerTracing();
    const { source, runtime } = await running(() => 1);
    source.deliver({ headers: {} }, 'a');
    source.end();
    await runtime.done;
    const [event] = tracing.named('flowd.event');
    expect(event!.parentSpanContext).toBeUndefined();
    expect(event!.spanContext().traceId).not.toBe(TRACE_ID);
  });

  it('ends each attempt with its outcome and error code: a retried attempt, then a failure for good that marks the event as an error', async () => {
    tracing = registerTracing();
    const source = headerSource();
    const runtime = createRuntime({
      worker: defineWorker({
        start: () => {
          throw new FlowdError('ERR_HTTP', 'the server said no');
        },
      }),
      source: source.driver,
      retries: 1,
      retryDelay: 1,
      logger: false,
    });
    await runtime.start();
    await source.ready;
    source.deliver({ headers: {} }, 'a');
    source.end();
    await runtime.done;

    const attempts = tracing
      .named('flowd.attempt')
      .sort((a, b) => Number(a.attributes['flowd.attempt']) - Number(b.attributes['flowd.attempt']));
    expect(
      attempts.map((span) => [span.attributes['flowd.attempt'], span.attributes['flowd.outcome'], span.attributes['flowd.error.code']]),
    ).toEqual([
      [1, 'retrying', 'ERR_HTTP'],
      [2, 'failed', 'ERR_HTTP'],
    ]);
    expect(attempts.every((span) => span.status.code === SpanStatusCode.ERROR)).toBe(true);
    // Two waits in the queue: the first, and the one after the retry's delay.
    expect(tracing.named('flowd.queue')).toHaveLength(2);
    const [event] = tracing.named('flowd.event');
    expect(event!.attributes).toMatchObject({
      'flowd.outcome': 'failed',
      'flowd.attempts': 2,
      'flowd.error.code': 'ERR_HTTP',
      'flowd.dead_lettered': true,
      'flowd.settled': 'dead-letter',
    });
    expect(event!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'the server said no' });
    for (const span of [...attempts, ...tracing.named('flowd.queue')]) expect(tracing.parentOf(span)).toBe(event);
  });

  it('ends the event span of a source that takes no outcomes at the outcome', async () => {
    tracing = registerTracing();
    const source = headerSource();
    const { settle: _settle, ...driver } = source.driver;
    const runtime = createRuntime({ worker: defineWorker({ start: () => 1 }), source: driver, logger: false });
    await runtime.start();
    await source.ready;
    source.deliver({ headers: {} }, 'a');
    source.end();
    await runtime.done;
    const [event] = tracing.named('flowd.event');
    expect(event!.attributes['flowd.outcome']).toBe('completed');
    expect(event!.attributes['flowd.settled']).toBeUndefined();
  });

  it('ends the event span of an event the inspector offered again (no source settles it) at its outcome', async () => {
    tracing = registerTracing();
    const { source, runtime } = await running(() => 1);
    source.deliver({ headers: {} }, 'a');
    await until(() => tracing!.named('flowd.event').length === 1, { what: 'the first event span ended by its settlement' });
    // What the journal's retry does for a source that cannot re-offer: the event again, with no origin.
    runtime.actor!.send(eventReceived({ id: 'a', payload: { headers: {} } }));
    await until(() => tracing!.named('flowd.event').length === 2, { what: "the offered event's span ended at its outcome" });
    expect(tracing.named('flowd.event').map((span) => span.attributes['flowd.outcome'])).toEqual(['completed', 'completed']);
    source.end();
    await runtime.done;
  });
});
