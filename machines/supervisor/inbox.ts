import type {
  EventCancel,
  EventReceived,
  EventsReceived,
  EventsRevoked,
  RuntimeStop,
  SlotFailed,
  SlotFinished,
  SlotRetired,
  SlotsReported,
  SourceEnded,
  SourceFailed,
  SourceReconnecting,
  SourceStarted,
  SourceStopped,
} from '../events.js';
import type { PingResult } from '../outage.js';
import type { SupervisorLifecycle } from './notifications.js';

/** The supervisor's own timers and signals, raised to itself. */
export type RetryDue = { type: 'retry.due'; seq: number };
export type ExpiryDue = { type: 'queue.expiryDue' };
export type DeadlineDue = { type: 'execution.deadlineDue' };
export type ProbeDue = { type: 'dependency.probeDue' };
/** The ping of an outage answered (the `pingDependency` child, spawned as `dependency-ping`, is done). */
export type PingDone = { type: 'xstate.done.actor.dependency-ping'; output: PingResult };
/** The ping found the store or locks still down. */
export type PingError = { type: 'xstate.error.actor.dependency-ping'; error: unknown };
export type QueueSignal = { type: 'queue.filled' } | { type: 'queue.drained' } | { type: 'work.drained' };
/** Turns lifecycle notifications on (something started listening to them after start): those `types`, or all. */
export type LifecycleObserve = { type: 'lifecycle.observe'; types?: readonly SupervisorLifecycle['type'][] };

/** Every event the supervisor takes: from its source, its slots, the runtime, and itself. */
export type SupervisorEvent =
  | EventReceived
  | EventsReceived
  | EventsRevoked
  | ExpiryDue
  | DeadlineDue
  | SlotFinished
  | SlotFailed
  | SlotRetired
  | SlotsReported
  | SourceStarted
  | SourceEnded
  | SourceFailed
  | SourceReconnecting
  | SourceStopped
  | RuntimeStop
  | RetryDue
  | ProbeDue
  | PingDone
  | PingError
  | QueueSignal
  | LifecycleObserve
  | EventCancel;
