import { context, propagation, ROOT_CONTEXT, trace, type Context, type ContextManager } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';

/**
 * Registers an OpenTelemetry SDK globally, as an application would: a tracer
 * provider that exports each span when it ends to memory, and the W3C trace
 * context propagator. `reset()` unregisters both (call it after the test).
 */
export function registerTracing(options: { contextManager?: boolean; sampler?: Sampler } = {}) {
  if (options.contextManager) context.setGlobalContextManager(stackContextManager());
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...(options.sampler ? { sampler: options.sampler } : {}),
  });
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return {
    exporter,
    /** The spans ended so far. */
    spans: (): ReadableSpan[] => exporter.getFinishedSpans(),
    /** The ended spans called `name`. */
    named: (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((span) => span.name === name),
    /** The span's parent among the ended spans. */
    parentOf: (span: ReadableSpan): ReadableSpan | undefined =>
      exporter.getFinishedSpans().find((other) => other.spanContext().spanId === span.parentSpanContext?.spanId),
    async reset(): Promise<void> {
      trace.disable();
      propagation.disable();
      context.disable();
      await provider.shutdown();
    },
  };
}

/** A W3C `traceparent` header of a sampled span in trace `traceId`. */
export const traceparent = (traceId: string, spanId = '00f067aa0ba902b7') => `00-${traceId}-${spanId}-01`;

/**
 * A context manager for synchronous code (an application registers
 * AsyncLocalStorage's, which follows awaits too): `with` makes a context
 * active until its function returns.
 */
function stackContextManager(): ContextManager {
  const stack: Context[] = [];
  const manager: ContextManager = {
    active: () => stack.at(-1) ?? ROOT_CONTEXT,
    with(ctx, fn, thisArg, ...args) {
      stack.push(ctx);
      try {
        return fn.call(thisArg, ...args);
      } finally {
        stack.pop();
      }
    },
    bind: (_ctx, target) => target,
    enable: () => manager,
    disable: () => manager,
  };
  return manager;
}
