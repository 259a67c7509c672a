import { assign, enqueueActions, sendTo, setup, type AnyActorRef } from 'xstate';
import { backoffDelay, RECONNECT_MAX_DELAY_MS } from './backoff.js';
import {
  sourceEnded,
  sourceFailed,
  sourceReconnecting,
  sourceStarted,
  sourceStopped,
  type ErrorInfo,
  type EventSettled,
  type PauseReason,
  type EventsSettled,
  type SourcePause,
  type SourceResume,
  type SourceStop,
} from './events.js';
import { actionNotProvided, callbackNotProvided, promiseNotProvided } from './not-provided.js';

export interface SourceInput {
  /** Where deliveries and lifecycle facts go: the supervisor. */
  sink: AnyActorRef;
  /** The most deliveries the feed hands over in one message. @default 1 */
  batchSize?: number;
  reconnectDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** [0, 1), for reconnect jitter. @default Math.random */
  random?: () => number;
}

export interface SourceContext {
  sink: AnyActorRef;
  batchSize: number;
  reconnectDelayMs: number;
  reconnectMaxDelayMs: number;
  random: () => number;
  /** Connection attempts since the last success. */
  attempt: number;
  /** The wait before the next attempt, drawn when the last one failed. */
  retryDelayMs: number;
  lastError: ErrorInfo | undefined;
  /** Whether `source.started` was sent (once per life). */
  announced: boolean;
  /** Whether the source is paused for any reason (kept across reconnects). */
  paused: boolean;
  /** Why it is paused: every reason the supervisor paused it for and has not resumed (`backpressure`, `dependency`, `shutdown`). */
  pausedFor: PauseReason[];
}

/** Errors a source's actors report; `retryable` ones lead to `reconnecting`. */
export interface SourceErrorInfo extends ErrorInfo {
  retryable?: boolean;
}

/** What the `feed` actor is started with. */
export interface FeedInput {
  /** Where deliveries go: the supervisor. */
  sink: AnyActorRef;
  /** The source actor, which outlives each feed: settlements reach the driver through it. */
  source: AnyActorRef;
  /** The most deliveries in one message. */
  batchSize: number;
  /** Whether the supervisor last said pause. */
  paused: boolean;
}

type FeedLost = { type: 'feed.lost'; error: SourceErrorInfo };
type FeedEnded = { type: 'feed.ended' };
export type SourceEvent = SourcePause | SourceResume | SourceStop | EventSettled | EventsSettled | FeedLost | FeedEnded;

/**
 * A source's lifecycle. The runtime provides three actors for each kind of
 * source: `connect` (open the connection or resource), `feed` (deliver
 * events to the sink, honour pause/resume, take settlements) and
 * `disconnect`, and the `settleEvent` action (an event's outcome, for the
 * driver to acknowledge). A lost connection is retried with backoff and
 * jitter.
 */
export const sourceMachine = setup({
  types: {} as { context: SourceContext; events: SourceEvent; input: SourceInput },
  actors: {
    connect: promiseNotProvided<void, undefined>('source', 'connect'),
    feed: callbackNotProvided<SourceEvent, FeedInput>('source', 'feed'),
    disconnect: promiseNotProvided<void, undefined>('source', 'disconnect'),
  },
  actions: {
    announceStarted: enqueueActions(({ context, enqueue }) => {
      if (context.announced) return;
      enqueue.assign({ announced: true, attempt: 0 });
      enqueue.sendTo(context.sink, sourceStarted());
    }),
    announceEnded: sendTo(({ context }) => context.sink, sourceEnded()),
    announceStopped: sendTo(({ context }) => context.sink, sourceStopped()),
    announceReconnecting: sendTo(
      ({ context }) => context.sink,
      ({ context }) =>
        sourceReconnecting(
          context.lastError ?? { code: 'ERR_SOURCE', message: 'the connection was lost' },
          context.attempt,
          context.retryDelayMs,
        ),
    ),
    announceFailed: sendTo(
      ({ context }) => context.sink,
      ({ context }) => sourceFailed(context.lastError ?? { code: 'ERR_SOURCE', message: 'the source failed' }),
    ),
    forwardToFeed: sendTo('feed', ({ event }) => event),
    /** Tells the driver an event's outcome, in any state: one whose connection is gone is void there. */
    settleEvent: actionNotProvided('source', 'settleEvent'),
    recordError: assign(({ context, event }) => ({
      lastError: errorOf(event),
      attempt: context.attempt + 1,
      retryDelayMs: backoffDelay(
        { kind: 'exponential', delayMs: context.reconnectDelayMs, maxDelayMs: context.reconnectMaxDelayMs },
        context.attempt + 1,
        context.random,
      ),
    })),
    resetAttempts: assign({ attempt: 0 }),
    rememberPause: assign(({ context, event }) => {
      const reason = reasonOf(event);
      return context.pausedFor.includes(reason) ? {} : { paused: true, pausedFor: [...context.pausedFor, reason] };
    }),
    rememberResume: assign(({ context, event }) => {
      const pausedFor = context.pausedFor.filter((reason) => reason !== reasonOf(event));
      return { paused: pausedFor.length > 0, pausedFor };
    }),
  },
  guards: {
    isRetryable: ({ event }) => errorOf(event).retryable === true,
    isPauseRequested: ({ context }) => context.paused,
    /** A resume that lifts the last reason the source is paused for. */
    isLastPauseReason: ({ context, event }) => context.pausedFor.every((reason) => reason === reasonOf(event)),
  },
  delays: {
    reconnectDelay: ({ context }) => context.retryDelayMs,
  },
}).createMachine({
  id: 'source',
  context: ({ input }) => ({
    sink: input.sink,
    batchSize: input.batchSize ?? 1,
    reconnectDelayMs: input.reconnectDelayMs ?? 1000,
    reconnectMaxDelayMs: input.reconnectMaxDelayMs ?? RECONNECT_MAX_DELAY_MS,
    random: input.random ?? Math.random,
    attempt: 0,
    retryDelayMs: 0,
    lastError: undefined,
    announced: false,
    paused: false,
    pausedFor: [],
  }),
  // Pause and resume may arrive while connecting: remember them for when the feed runs.
  on: {
    'source.pause': { actions: 'rememberPause' },
    'source.resume': { actions: 'rememberResume' },
    'event.settled': { actions: 'settleEvent' },
    'events.settled': { actions: 'settleEvent' },
  },
  initial: 'connecting',
  states: {
    connecting: {
      description: 'Opening the connection or resource.',
      invoke: {
        src: 'connect',
        onDone: { target: 'active' },
        onError: [
          { guard: 'isRetryable', target: 'reconnecting', actions: 'recordError' },
          { target: 'failed', actions: 'recordError' },
        ],
      },
      // Through stopping, so a connection that opens after all is closed by disconnect.
      on: { 'source.stop': 'stopping' },
    },
    active: {
      invoke: {
        id: 'feed',
        src: 'feed',
        input: ({ context, self }: { context: SourceContext; self: AnyActorRef }): FeedInput => ({
          sink: context.sink,
          source: self,
          batchSize: context.batchSize,
          paused: context.paused,
        }),
      },
      entry: ['announceStarted', 'resetAttempts'],
      initial: 'running',
      states: {
        running: {
          description: 'Delivering events.',
          always: { guard: 'isPauseRequested', target: 'paused' },
          on: { 'source.pause': { target: 'paused', actions: ['rememberPause', 'forwardToFeed'] } },
        },
        paused: {
          description:
            "No new events until the supervisor resumes every reason it paused for (`pausedFor`): its queue is past the high watermark, the app's store or locks are unavailable, or it is stopping.",
          on: {
            'source.resume': [
              { guard: 'isLastPauseReason', target: 'running', actions: ['rememberResume', 'forwardToFeed'] },
              { actions: 'rememberResume' },
            ],
          },
        },
        ended: {
          description: 'The input is exhausted; the feed stays to hear the outcomes of its last events until the supervisor says stop.',
          entry: 'announceEnded',
          on: { 'source.pause': {}, 'source.resume': {} },
        },
      },
      on: {
        'feed.lost': [
          { guard: 'isRetryable', target: 'reconnecting', actions: 'recordError' },
          { target: 'failed', actions: 'recordError' },
        ],
        'feed.ended': { target: '.ended' },
        'source.stop': 'stopping',
      },
    },
    reconnecting: {
      description: 'The connection was lost or refused: trying again after a backoff with jitter.',
      entry: 'announceReconnecting',
      after: { reconnectDelay: 'connecting' },
      on: { 'source.stop': 'stopping' },
    },
    stopping: {
      description: 'Closing the connection or resource.',
      invoke: { src: 'disconnect', onDone: 'stopped', onError: 'stopped' },
    },
    stopped: { type: 'final', entry: 'announceStopped' },
    failed: { type: 'final', entry: 'announceFailed' },
  },
});

function reasonOf(event: { type: string }): PauseReason {
  return (event as { reason?: PauseReason }).reason ?? 'backpressure';
}

function errorOf(event: { type: string }): SourceErrorInfo {
  const raw = (event as { error?: unknown }).error;
  if (raw && typeof raw === 'object' && 'message' in raw) {
    const { code, message, retryable } = raw as { code?: unknown; message: unknown; retryable?: unknown };
    return { code: typeof code === 'string' ? code : 'ERR_SOURCE', message: String(message), retryable: retryable === true };
  }
  return { code: 'ERR_SOURCE', message: String(raw) };
}
