import type { BackoffPolicy } from '../backoff.js';
import type { Delivery, ErrorInfo } from '../events.js';
import type { SupervisorLifecycle } from './notifications.js';
import type { Waiting } from './wait-queue.js';

/** The supervisor's compiled settings (see `[Flow]` in docs/configuration.md). */
export interface SupervisorSettings {
  workers: number;
  queueSize: number;
  highWatermark: number;
  lowWatermark: number;
  queueTimeoutMs: number;
  executionTimeoutMs: number;
  shutdownTimeoutMs: number;
  retries: number;
  backoff: BackoffPolicy;
  /** `[Flow] order by`, split on dots. */
  orderBy: readonly string[] | undefined;
  /**
   * `[Flow] isolation`: with `thread`, a timed-out run's thread is
   * terminated, and its event's outcome (and its key) wait for the slot to
   * retire, so a same-key event never overlaps it. Default `process`.
   */
  isolation?: 'process' | 'thread' | undefined;
}

export interface SupervisorInput {
  settings: SupervisorSettings;
  /** The clock's current time in ms (injected so tests use simulated time). */
  now: () => number;
  /** [0, 1), for retry jitter. */
  random: () => number;
  /** How the source retries a lost connection (for sources that have one). */
  reconnect?: { delayMs: number; maxDelayMs: number } | undefined;
  /**
   * Emit the lifecycle notifications (`SupervisorLifecycle`: `event.received`,
   * `event.queued`, `event.started`, `event.timedOut`, `event.abandoned`,
   * `event.settled`) beside the outcome ones: `true` all of them, a list
   * only those types. Off by default: each costs an emit per event even
   * with no listener, so the runtime turns on only the types something
   * listens to (the inspector's journal, a tracer: a `runtime.on()` of one
   * of these types). `lifecycle.observe` turns them on later. @default false
   */
  lifecycle?: boolean | readonly SupervisorLifecycle['type'][] | undefined;
}

/**
 * An event the supervisor holds, from arrival to outcome. A record is never
 * changed once made: each step of the event (started, finished, retried)
 * makes a new one (machines/supervisor/job-record.ts), so a snapshot that
 * holds the old one keeps it as it was.
 */
export interface JobRecord extends Waiting {
  readonly delivery: Delivery;
  readonly attempt: number;
  readonly slotId: string | undefined;
  /** When the current attempt started; undefined while not running. */
  readonly startedAt: number | undefined;
  readonly lastError: ErrorInfo | undefined;
  /** How long its last attempt waited in the queue, and ran (for the inspector's histograms). */
  readonly waitMs: number | undefined;
  readonly runMs: number | undefined;
  /** Set while it runs when its source revoked it: it is not retried, and its outcome is void at the source. */
  readonly revoked: ErrorInfo | undefined;
  /** Whether it runs as the probe of a dependency outage that cannot be pinged. */
  readonly probe: boolean;
  /** Whether an operator cancelled its run (`event.cancel`): it fails without a retry. */
  readonly cancelled: boolean;
}

/** Counters of outcomes and states; part of `runtime.snapshot()`. */
export interface SupervisorCounters {
  received: number;
  started: number;
  completed: number;
  failed: number;
  expired: number;
  rejected: number;
  returned: number;
  retried: number;
  deadLettered: number;
  timedOut: number;
}

/** Counters before the first event. */
export const zeroCounters = (): SupervisorCounters => ({
  received: 0,
  started: 0,
  completed: 0,
  failed: 0,
  expired: 0,
  rejected: 0,
  returned: 0,
  retried: 0,
  deadLettered: 0,
  timedOut: 0,
});
