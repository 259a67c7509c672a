import {
  defaultTextMapGetter,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { Job, ErrorInfo } from '../../machines/events.js';
import { orderingKey } from '../../machines/path.js';
import type { SupervisorEmitted } from '../../machines/supervisor.js';

/** The instrumentation scope of flowd's spans. */
export const TRACER_NAME = 'flowd';

/**
 * The tracer of the application's registered tracer provider, or undefined
 * when none is registered (the API's no-op): flowd then makes no spans and
 * asks for no lifecycle notifications, so tracing costs nothing.
 */
export function registeredTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider() as ReturnType<typeof trace.getTracerProvider> & {
    getDelegateTracer?: (name: string) => Tracer | undefined;
  };
  // The API's proxy provider has a delegate only once an SDK registered one; another copy of the API's provider is taken as registered.
  if (typeof provider.getDelegateTracer === 'function') return provider.getDelegateTracer(TRACER_NAME);
  return provider.getTracer(TRACER_NAME);
}

/** The sources whose events carry the headers of a message or request, where a W3C trace context may be. */
const HEADER_SOURCES: ReadonlySet<string> = new Set(['stomp', 'http']);

/** The trace context in the event's headers (a STOMP message's, an HTTP request's), or none. */
function parentOf(sourceType: string, payload: unknown): Context {
  if (!HEADER_SOURCES.has(sourceType)) return ROOT_CONTEXT;
  const headers = (payload as { headers?: unknown } | null | undefined)?.headers;
  if (typeof headers !== 'object' || headers === null) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

/** One event's spans while it is held. */
interface EventSpans {
  span: Span;
  context: Context;
  queue: Span | undefined;
  attempt: Span | undefined;
  attemptContext: Context | undefined;
  key: string | undefined;
  /** Sampled: a trace sampled out gets no queue or attempt spans (its context still reaches what the worker sends). */
  recording: boolean;
  /** Its source is told how it ended, so `event.settled` ends the span; otherwise the outcome does. */
  settles: boolean;
  ended: boolean;
}

type Emitted<T extends SupervisorEmitted['type']> = Extract<SupervisorEmitted, { type: T }>;
type On = <T extends SupervisorEmitted['type']>(type: T, listener: (event: Emitted<T>) => void) => unknown;

/** The outcomes an event ends in (`event.<outcome>`), and whether each is an error. */
const OUTCOMES = { completed: false, failed: true, expired: true, rejected: true, returned: false } as const;

function endWith(span: Span, outcome: string, error: ErrorInfo | undefined, isError: boolean): void {
  span.setAttribute('flowd.outcome', outcome);
  if (error) span.setAttribute('flowd.error.code', error.code);
  if (isError) span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? outcome });
  span.end();
}

/**
 * Each event as an OpenTelemetry trace, made from the supervisor's
 * lifecycle notifications: a `flowd.event` span from receipt to settlement
 * (its parent the W3C trace context of the message or request, when it has
 * one), with a child `flowd.queue` span for each wait in the queue and a
 * child `flowd.attempt` span for each attempt on a slot. `contextOf` gives
 * the slots an attempt's context, which its worker runs in and its
 * ctx.publish and ctx.client carry on. See docs/tracing.md.
 */
export function createEventTracing(
  tracer: Tracer,
  options: {
    sourceType: string;
    orderBy: readonly string[] | undefined;
    /** Whether the source takes outcomes (it has `settle()`): its events' spans end at `event.settled`, the others' at the outcome. */
    settles: boolean;
  },
) {
  const { sourceType, orderBy, settles } = options;
  const events = new Map<number, EventSpans>();

  const finish = (seq: number, how?: string) => {
    const spans = events.get(seq);
    if (!spans || spans.ended) return;
    spans.ended = true;
    events.delete(seq);
    if (how) spans.span.setAttribute('flowd.settled', how);
    spans.span.end();
  };

  const endAttempt = (spans: EventSpans, outcome: string, error: ErrorInfo | undefined, isError: boolean) => {
    if (!spans.attempt) return;
    endWith(spans.attempt, outcome, error, isError);
    spans.attempt = undefined;
    spans.attemptContext = undefined;
  };

  const received = (e: Emitted<'event.received'>) => {
    const parent = parentOf(sourceType, e.payload);
    const attributes: Attributes = { 'flowd.source': sourceType, 'flowd.event.id': e.id };
    const key = orderingKey(e.payload, orderBy);
    if (key !== undefined) attributes['flowd.event.key'] = key;
    const span = tracer.startSpan('flowd.event', { kind: SpanKind.CONSUMER, attributes }, parent);
    events.set(e.seq, {
      span,
      context: trace.setSpan(parent, span),
      queue: undefined,
      attempt: undefined,
      attemptContext: undefined,
      key,
      recording: span.isRecording(),
      settles: settles && e.settles,
      ended: false,
    });
  };

  const outcome = (name: keyof typeof OUTCOMES) => (e: Emitted<`event.${typeof name}`>) => {
    const spans = events.get(e.seq);
    if (!spans) return;
    const error = 'error' in e ? e.error : undefined;
    const isError = OUTCOMES[name];
    if (spans.queue) {
      endWith(spans.queue, name, error, isError);
      spans.queue = undefined;
    }
    endAttempt(spans, name, error, isError);
    spans.span.setAttribute('flowd.attempts', e.attempts);
    if ('deadLetter' in e && e.deadLetter) spans.span.setAttribute('flowd.dead_lettered', true);
    spans.span.setAttribute('flowd.outcome', name);
    if (error) spans.span.setAttribute('flowd.error.code', error.code);
    if (isError) spans.span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? name });
    // A source that takes outcomes is told in the same step: `event.settled` follows and ends the span
    // (not for an event the inspector offered again, which no source settles).
    if (!spans.settles) finish(e.seq);
  };

  return {
    /** Registers the listeners (before the runtime starts, so the supervisor emits its lifecycle notifications). */
    listen(on: On): void {
      on('event.received', received);
      on('event.queued', (e) => {
        const spans = events.get(e.seq);
        if (!spans?.recording) return;
        spans.queue?.end();
        spans.queue = tracer.startSpan('flowd.queue', { attributes: { 'flowd.queue.position': e.position } }, spans.context);
      });
      on('event.started', (e) => {
        const spans = events.get(e.seq);
        if (!spans?.recording) return;
        spans.queue?.end();
        spans.queue = undefined;
        const attributes: Attributes = {
          'flowd.source': sourceType,
          'flowd.event.id': e.id,
          'flowd.attempt': e.attempt,
          'flowd.slot': e.slotId,
        };
        if (spans.key !== undefined) attributes['flowd.event.key'] = spans.key;
        spans.attempt = tracer.startSpan('flowd.attempt', { attributes }, spans.context);
        spans.attemptContext = trace.setSpan(spans.context, spans.attempt);
      });
      on('event.timedOut', (e) => {
        events.get(e.seq)?.attempt?.setAttribute('flowd.timed_out', true).addEvent('flowd.timed_out');
      });
      on('event.abandoned', (e) => {
        events.get(e.seq)?.attempt?.addEvent('flowd.abandoned');
      });
      on('event.retrying', (e) => {
        const spans = events.get(e.seq);
        if (spans) endAttempt(spans, 'retrying', e.error, true);
      });
      for (const name of Object.keys(OUTCOMES) as Array<keyof typeof OUTCOMES>) on(`event.${name}`, outcome(name) as never);
      on('event.settled', (e) => finish(e.seq, e.how));
    },
    /** The context of the job's attempt (its `flowd.attempt` span), for the slot that runs it. */
    contextOf(job: Job): Context | undefined {
      const spans = events.get(job.seq);
      return spans?.attemptContext ?? spans?.context;
    },
    /** Events whose spans are open. */
    open: () => events.size,
  };
}

/** An event tracing (createEventTracing). */
export type EventTracing = ReturnType<typeof createEventTracing>;
