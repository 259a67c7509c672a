import { propagation, type Context } from '@opentelemetry/api';
import type { RestClient } from '../../src/kernel/api-client.js';
import type { Job } from '../../machines/events.js';

/**
 * How the slots trace a run (see src/runtime/tracing.ts). The runtime sets
 * `contextOf` only when the app registered an OpenTelemetry tracer
 * provider; without one a run costs one property check.
 */
export interface RunTracing {
  /** The OpenTelemetry context of the job's attempt: active while the worker runs, and carried by its ctx.publish and ctx.client. */
  contextOf?: ((job: Job) => Context | undefined) | undefined;
}

/**
 * `headers` with the W3C trace context of `context` (`traceparent`,
 * `tracestate`) added by the application's registered propagator; a
 * header the worker set itself wins.
 */
export function withTraceHeaders<V>(context: Context, headers: Record<string, V> | undefined): Record<string, V | string> {
  const carrier: Record<string, V | string> = {};
  propagation.inject(context, carrier);
  return headers ? Object.assign(carrier, headers) : carrier;
}

type WithHeaders = { headers?: Record<string, string> | undefined };

/** The options with the trace headers added (the client's request options, or a request). */
function traced<O extends WithHeaders>(context: Context, options: O | undefined): O {
  return { ...options, headers: withTraceHeaders(context, options?.headers) } as O;
}

/** `ctx.client` for a traced run: every request carries the attempt's trace context in its headers. */
export function tracedClient(client: RestClient, context: Context): RestClient {
  return {
    get origin() {
      return client.origin;
    },
    get: (path, options) => client.get(path, traced(context, options)),
    put: (path, body, options) => client.put(path, body, traced(context, options)),
    post: (path, body, options) => client.post(path, body, traced(context, options)),
    delete: (path, options) => client.delete(path, traced(context, options)),
    createOrUpdate: (url, payload, options) => client.createOrUpdate(url, payload, traced(context, options)),
    request: (req) => client.request(traced(context, req)),
    close: () => client.close(),
  };
}
