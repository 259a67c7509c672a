/**
 * The executor's types, in a file of their own: the executor, its support
 * and its calls all use them, and none of those imports another for them.
 */
import type { Logger } from 'pino';
import type { HistoryEvent, ScheduledCall } from './history.js';
import type { ActivityDefinition } from './workflow-api.js';

/** One activity call to run. */
export interface ActivityTask {
  runId: string;
  /** From decide(): callId, activity {name, version}, taskList, input (JSON, already serialised), options (ms). */
  call: ScheduledCall;
  /** When it was scheduled (ms, the executor's clock): scheduleToStart and scheduleToClose count from here. */
  scheduledAt: number;
  /**
   * Attempts already made: a daemon that restarted resumes a call with the
   * highest attempt number its history has (started, failed or timed out);
   * the next attempt runs even if that was the last of 1 + retries. @default 0
   */
  attemptsMade?: number;
  /**
   * Calls the activity's function for each attempt, for instance inside the
   * attempt's trace context (src/workflows/tracing.ts). @default calls it
   */
  runWithin?: <T>(run: () => T) => T;
}

/**
 * Receives a call's history events. It may return a promise (a transport
 * that must know when the event is safe, e.g. the broker's); a rejection is
 * logged like a throw.
 */
export type ActivityReport = (event: HistoryEvent) => unknown;

/** The executor's time: tests pass a fake one. */
export interface ExecutorClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** What `createActivityExecutor` takes. */
export interface ExecutorOptions {
  /** The activities it runs, looked up by name and version. */
  activities: ActivityDefinition[];
  /** Calls run at once per task list: one number for all, or a number by task list (others get the default). @default 4 */
  concurrency?: number | Record<string, number>;
  /** Where it logs; each call gets a child with runId, callId and activity (and `ctx.log` adds attempt). */
  log: Logger;
  /** Timers and now(). @default Date.now and the global timers (so vi.useFakeTimers works) */
  clock?: ExecutorClock;
  /** The wait before the retry that follows attempt n is min(retryDelayMs × 2^(n−1), retryMaxDelayMs). @default 1000 */
  retryDelayMs?: number;
  /** @default 60_000 */
  retryMaxDelayMs?: number;
}

/** One task list's load. */
export interface TaskListStats {
  /** Calls waiting for a slot. */
  queued: number;
  /** Attempts running in a slot. */
  running: number;
  /** Calls waiting for a retry's delay, or for their `delay` before the first attempt. */
  retrying: number;
  /** Functions whose attempt timed out or was cancelled and that have not settled yet; they hold no slot. */
  abandoned: number;
}
