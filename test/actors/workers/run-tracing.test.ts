import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { tracedClient, withTraceHeaders } from '../../../actors/workers/run-tracing.js';
import type { RestClient } from '../../../src/kernel/api-client.js';
import { registerTracing } from '../../helpers/tracing.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const context = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED });
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

let tracing: ReturnType<typeof registerTracing> | undefined;
afterEach(async () => {
  await tracing?.reset();
  tracing = undefined;
});

/** A client that records each call's arguments (a unit test of the wrapper: no server). */
function recordingClient() {
  const calls: Array<[string, ...unknown[]]> = [];
  const record =
    (name: string) =>
    (...args: unknown[]) => {
      calls.push([name, ...args]);
      return Promise.resolve({ status: 200, headers: {}, body: undefined, text: '', etag: undefined }) as never;
    };
  const client: RestClient = {
    origin: 'https://api.example.com',
    get: record('get'),
    put: record('put'),
    post: record('post'),
    delete: record('delete'),
    createOrUpdate: record('createOrUpdate'),
    request: record('request'),
    close: () => Promise.resolve(),
  };
  return { client, calls };
}

describe('withTraceHeaders', () => {
  it("adds the context's traceparent through the registered propagator, and keeps a header the worker set", () => {
    tracing = registerTracing();
    expect(withTraceHeaders(context, { 'x-id': 1 })).toEqual({ traceparent: TRACEPARENT, 'x-id': 1 });
    expect(withTraceHeaders(context, { traceparent: 'mine' })).toEqual({ traceparent: 'mine' });
    expect(withTraceHeaders(context, undefined)).toEqual({ traceparent: TRACEPARENT });
  });

  it('adds nothing when no propagator is registered', () => {
    expect(withTraceHeaders(context, { 'x-id': 1 })).toEqual({ 'x-id': 1 });
  });
});

describe('tracedClient', () => {
  it('sends the trace context with every request, beside the headers given', async () => {
    tracing = registerTracing();
    const { client, calls } = recordingClient();
    const traced = tracedClient(client, context);
    expect(traced.origin).toBe('https://api.example.com');
    await traced.get('/a', { headers: { accept: 'text/plain' } });
    await traced.put('/b', { x: 1 });
    await traced.post('/c', 'text');
    await traced.delete('/d');
    await traced.createOrUpdate('/e', { y: 2 }, { maxRetries: 1 });
    await traced.request({ method: 'GET', path: '/f' });
    expect(calls).toEqual([
      ['get', '/a', { headers: { traceparent: TRACEPARENT, accept: 'text/plain' } }],
      ['put', '/b', { x: 1 }, { headers: { traceparent: TRACEPARENT } }],
      ['post', '/c', 'text', { headers: { traceparent: TRACEPARENT } }],
      ['delete', '/d', { headers: { traceparent: TRACEPARENT } }],
      ['createOrUpdate', '/e', { y: 2 }, { maxRetries: 1, headers: { traceparent: TRACEPARENT } }],
      ['request', { method: 'GET', path: '/f', headers: { traceparent: TRACEPARENT } }],
    ]);
  });
});
