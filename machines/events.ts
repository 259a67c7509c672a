import type { AnyActorRef } from 'xstate';

/**
 * The events that cross actors, with a small creator for each. Facts are in
 * the past tense (`event.received`, `slot.finished`); commands are
 * imperative (`source.pause`, `runtime.stop`).
 */

export { toErrorInfo, type ErrorInfo } from '../src/kernel/error-info.js';
import type { ErrorInfo } from '../src/kernel/error-info.js';

/** One event as a source hands it over. */
export interface Delivery {
  /** The source's id for the event (a message id, a line number, ...). */
  id: string;
  /** What the worker's `start(event)` receives. */
  payload: unknown;
  /** Source-specific facts (headers, redelivery flag, ...). */
  meta?: Record<string, unknown>;
  /** The actor that is told the event's outcome (acknowledged or not). */
  origin?: AnyActorRef;
  /**
   * Set when the source could not read the event (a line that is not JSON,
   * say): it fails at once, without running a worker or retrying.
   */
  error?: ErrorInfo;
  /**
   * The bytes the source read it from (a STOMP message's body), kept so the
   * inspector's retry can write the message back as it came, whatever
   * `payload class` made of it.
   */
  raw?: Uint8Array;
}

/** A unit of work given to a slot. */
export interface Job {
  seq: number;
  delivery: Delivery;
  /** 1 for the first try. */
  attempt: number;
  /** When the slot was given the job, by the supervisor's clock. */
  startedAt: number;
}

/** How an event ended. Every event ends in exactly one. */
export type Outcome = 'completed' | 'failed' | 'expired' | 'rejected' | 'returned';

/** What the source is told when an event ends. */
export interface Settlement {
  id: string;
  outcome: Outcome;
  /** completed: acknowledge; anything else: not acknowledged (nack). */
  ack: boolean;
  attempts: number;
  /** failed after its last attempt: the source dead-letters it. */
  deadLetter: boolean;
  result?: unknown;
  error?: ErrorInfo;
  meta?: Record<string, unknown>;
}

// Source -> supervisor
export type EventReceived = { type: 'event.received'; delivery: Delivery };
/** Several deliveries at once: a fast source batches them so the supervisor takes one transition per batch. */
export type EventsReceived = { type: 'events.received'; deliveries: Delivery[] };
/** The source can no longer acknowledge these (their connection died): waiting ones are dropped, since the broker redelivers them. */
export type EventsRevoked = { type: 'events.revoked'; ids: string[]; error: ErrorInfo };
export type SourceStarted = { type: 'source.started' };
export type SourceEnded = { type: 'source.ended' };
export type SourceFailed = { type: 'source.failed'; error: ErrorInfo };
export type SourceStopped = { type: 'source.stopped' };
/** The connection was lost or refused; the source tries again after `delayMs`. */
export type SourceReconnecting = { type: 'source.reconnecting'; error: ErrorInfo; attempt: number; delayMs: number };

// Supervisor -> source
/**
 * Why the supervisor pauses its source: `backpressure` (the queue passed its
 * high watermark), `dependency` (the app's store or locks are unavailable),
 * `shutdown` (the runtime is stopping). The source runs again only once
 * every reason it was paused for is resumed.
 */
export type PauseReason = 'backpressure' | 'dependency' | 'shutdown';
export type SourcePause = { type: 'source.pause'; reason?: PauseReason };
export type SourceResume = { type: 'source.resume'; reason?: PauseReason };
export type SourceStop = { type: 'source.stop' };
export type EventSettled = { type: 'event.settled'; settlement: Settlement };
/** The outcomes of several events of one source, settled in the same step. */
export type EventsSettled = { type: 'events.settled'; settlements: Settlement[] };

// Supervisor <-> slot
export type EventAssigned = { type: 'event.assigned'; job: Job };
/** Why the run is aborted: ERR_WORKER_TIMEOUT past the execution timeout, ERR_SHUTDOWN at the end of the shutdown timeout (none: ERR_WORKER_TIMEOUT). */
export type SlotAbort = { type: 'slot.abort'; reason?: ErrorInfo };
export type SlotFinished = { type: 'slot.finished'; slotId: string; seq: number; result: unknown };
export type SlotFailed = { type: 'slot.failed'; slotId: string; seq: number; error: ErrorInfo };
export type SlotRetired = { type: 'slot.retired'; slotId: string };
/** Several slots' reports at once: runs that settle in the same tick are reported together. */
export type SlotsReported = { type: 'slots.reported'; reports: Array<SlotFinished | SlotFailed> };

// Runner -> slot
export type WorkerDone = { type: 'worker.done'; run: number; output: unknown };
export type WorkerFailed = { type: 'worker.failed'; run: number; error: ErrorInfo };

// Runtime -> supervisor
export type RuntimeStop = { type: 'runtime.stop' };
/** Cancel the running event `seq` (an operator asked, through the inspector): its run is aborted with `reason`, and it fails without a retry. */
export type EventCancel = { type: 'event.cancel'; seq: number; reason: ErrorInfo };

export const eventReceived = (delivery: Delivery): EventReceived => ({ type: 'event.received', delivery });
export const eventsReceived = (deliveries: Delivery[]): EventsReceived => ({ type: 'events.received', deliveries });
export const eventsRevoked = (ids: string[], error: ErrorInfo): EventsRevoked => ({ type: 'events.revoked', ids, error });
export const sourceStarted = (): SourceStarted => ({ type: 'source.started' });
export const sourceEnded = (): SourceEnded => ({ type: 'source.ended' });
export const sourceFailed = (error: ErrorInfo): SourceFailed => ({ type: 'source.failed', error });
export const sourceStopped = (): SourceStopped => ({ type: 'source.stopped' });
export const sourceReconnecting = (error: ErrorInfo, attempt: number, delayMs: number): SourceReconnecting => ({
  type: 'source.reconnecting',
  error,
  attempt,
  delayMs,
});
/** `source.pause`, for a reason (`backpressure` when none is given). */
export const sourcePause = (reason: PauseReason = 'backpressure'): SourcePause => ({ type: 'source.pause', reason });
/** `source.resume` of one pause reason (`backpressure` when none is given). */
export const sourceResume = (reason: PauseReason = 'backpressure'): SourceResume => ({ type: 'source.resume', reason });
export const sourceStop = (): SourceStop => ({ type: 'source.stop' });
export const eventSettled = (settlement: Settlement): EventSettled => ({ type: 'event.settled', settlement });
export const eventsSettled = (settlements: Settlement[]): EventsSettled => ({ type: 'events.settled', settlements });
export const eventAssigned = (job: Job): EventAssigned => ({ type: 'event.assigned', job });
export const slotAbort = (reason?: ErrorInfo): SlotAbort => (reason ? { type: 'slot.abort', reason } : { type: 'slot.abort' });
export const slotFinished = (slotId: string, seq: number, result: unknown): SlotFinished => ({
  type: 'slot.finished',
  slotId,
  seq,
  result,
});
export const slotFailed = (slotId: string, seq: number, error: ErrorInfo): SlotFailed => ({ type: 'slot.failed', slotId, seq, error });
export const slotRetired = (slotId: string): SlotRetired => ({ type: 'slot.retired', slotId });
export const slotsReported = (reports: Array<SlotFinished | SlotFailed>): SlotsReported => ({ type: 'slots.reported', reports });
export const workerDone = (run: number, output: unknown): WorkerDone => ({ type: 'worker.done', run, output });
export const workerFailed = (run: number, error: ErrorInfo): WorkerFailed => ({ type: 'worker.failed', run, error });
export const runtimeStop = (): RuntimeStop => ({ type: 'runtime.stop' });
export const eventCancel = (seq: number, reason: ErrorInfo): EventCancel => ({ type: 'event.cancel', seq, reason });
