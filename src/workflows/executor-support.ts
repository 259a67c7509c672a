/**
 * The activity executor's stateless parts: its options checked and
 * defaulted, the registry of activities, timers that can wait past
 * setTimeout's limit of 24.8 days, and why an attempt's signal is aborted.
 */
import type { Logger } from 'pino';
import type { ExecutorClock, ExecutorOptions } from './executor-types.js';
import type { ActivityRef, ResolvedActivityOptions } from './history.js';
import type { ActivityDefinition } from './workflow-api.js';
import { brandError, FlowdError } from '../kernel/errors.js';
import { MAX_TIMER_DELAY } from '../kernel/timers.js';
import { WorkflowError } from './errors.js';

/** Calls run at once per task list when `concurrency` names no other number. */
export const DEFAULT_CONCURRENCY = 4;

/** `ExecutorOptions`, checked, with every default filled in. */
export interface CompiledExecutorOptions {
  /** By `activityKey()`. */
  activities: ReadonlyMap<string, ActivityDefinition>;
  concurrency(taskList: string): number;
  log: Logger;
  clock: ExecutorClock;
  /** The wait before the retry that follows attempt `n`. */
  retryDelay(n: number): number;
}

/** Date.now and the global timers, looked up at each call so that fake timers installed later are used. */
export const systemClock: ExecutorClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Checks and defaults the executor's options. Throws a WorkflowError naming the
 * option and the value found, or two activities with the same name and version.
 */
export function compileExecutorOptions(options: ExecutorOptions): CompiledExecutorOptions {
  const where = 'createActivityExecutor()';
  if (options === null || typeof options !== 'object')
    throw new WorkflowError(`${where} needs an options object; found ${String(options)}`);
  const {
    activities,
    concurrency = DEFAULT_CONCURRENCY,
    log,
    clock = systemClock,
    retryDelayMs = 1000,
    retryMaxDelayMs = 60_000,
  } = options;
  if (!Array.isArray(activities))
    throw new WorkflowError(`${where}: option activities must be an array of defineActivity() definitions; found ${show(activities)}`);
  const registry = new Map<string, ActivityDefinition>();
  activities.forEach((definition, index) => {
    if (definition?.kind !== 'activity')
      throw new WorkflowError(`${where}: activities[${index}] must come from defineActivity(); found ${show(definition)}`);
    const key = activityKey(definition);
    if (registry.has(key))
      throw new WorkflowError(`${where}: activities holds ${refOf(definition)} twice; give each name and version one definition`);
    registry.set(key, definition);
  });
  const limits: Record<string, number> = typeof concurrency === 'number' ? {} : concurrency;
  const fallback = typeof concurrency === 'number' ? concurrency : DEFAULT_CONCURRENCY;
  if (limits === null || typeof limits !== 'object')
    throw new WorkflowError(
      `${where}: option concurrency must be a number or an object of numbers by task list; found ${show(concurrency)}`,
    );
  checkCount(fallback, `${where}: option concurrency`);
  for (const [taskList, limit] of Object.entries(limits)) checkCount(limit, `${where}: option concurrency["${taskList}"]`);
  if (typeof log?.child !== 'function') throw new WorkflowError(`${where}: option log must be a pino Logger; found ${show(log)}`);
  for (const fn of ['now', 'setTimeout', 'clearTimeout'] as const) {
    if (typeof clock?.[fn] !== 'function')
      throw new WorkflowError(`${where}: option clock must have now(), setTimeout() and clearTimeout(); found no ${fn}()`);
  }
  checkMs(retryDelayMs, `${where}: option retryDelayMs`);
  checkMs(retryMaxDelayMs, `${where}: option retryMaxDelayMs`);
  return {
    activities: registry,
    concurrency: (taskList) => (Object.hasOwn(limits, taskList) ? limits[taskList]! : fallback),
    log,
    clock,
    retryDelay: backoff(retryDelayMs, retryMaxDelayMs),
  };
}

/** The registry's key of an activity: its name and version (a version is compared as text, as decide() does). */
export function activityKey(activity: ActivityRef): string {
  return `${activity.name}\u0000${String(activity.version)}`;
}

/** `"Transcoding" version 1`, for messages. */
export function refOf(activity: ActivityRef): string {
  return `"${activity.name}" version ${activity.version}`;
}

/** The message of a call to an activity the executor was not given. */
export function unknownActivityMessage(
  activity: ActivityRef,
  callId: string,
  runId: string,
  known: ReadonlyMap<string, ActivityDefinition>,
): string {
  const names = [...known.values()].map(refOf);
  return (
    `Activity ${refOf(activity)} (call ${callId} of run ${runId}) is not known to this executor; ` +
    `expected one of ${names.length === 0 ? '(none: the executor was given no activities)' : names.join(', ')}. Pass its definition in the executor's activities`
  );
}

/** The code of an error that aborts an attempt's `ctx.signal`. */
export type ActivityAbortCode = 'ERR_ACTIVITY_TIMEOUT' | 'ERR_ACTIVITY_CANCELLED' | 'ERR_SHUTDOWN';

/**
 * The reason of an aborted `ctx.signal`: `ERR_ACTIVITY_TIMEOUT` (the
 * attempt passed a limit), `ERR_ACTIVITY_CANCELLED` (its workflow run
 * ended) or `ERR_SHUTDOWN` (the executor is closing).
 */
export class ActivityAbortError extends FlowdError {
  declare readonly code: ActivityAbortCode;
  constructor(code: ActivityAbortCode, message: string) {
    super(code, message);
  }
}
brandError(ActivityAbortError, 'ActivityAbortError');

/**
 * The latest a call can end when no attempt of it ever starts: its `delay`,
 * then each attempt's scheduleToClose and the wait before each retry (its
 * own list, else `retryDelay(n)`). Undefined without a scheduleToClose. A
 * worker given a call past it times it out without running it, and the
 * broker's decider times out a call no worker took by then.
 */
export function callDeadline(options: ResolvedActivityOptions, scheduledAt: number, retryDelay: (n: number) => number): number | undefined {
  const { scheduleToClose, retries, retryDelays, delay = 0 } = options;
  if (scheduleToClose === undefined) return undefined;
  let end = scheduledAt + delay + scheduleToClose;
  for (let n = 1; n <= retries; n++) end += (retryDelays?.[n - 1] ?? retryDelay(n)) + scheduleToClose;
  return end;
}

/** The executor's backoff: the wait before the retry that follows attempt `n`. */
export function backoff(retryDelayMs: number, retryMaxDelayMs: number): (n: number) => number {
  return (n) => Math.min(retryDelayMs * 2 ** (n - 1), retryMaxDelayMs);
}

/** Whether a thrown value asks not to be retried: `retryable === false`, or a configuration error (ERR_CONFIG). */
export function isFinalError(error: unknown): boolean {
  if (error === null || (typeof error !== 'object' && typeof error !== 'function')) return false;
  const { retryable, code } = error as { retryable?: unknown; code?: unknown };
  return retryable === false || code === 'ERR_CONFIG';
}

/**
 * Calls `fire` once `clock.now()` reaches `at` (at once for a time past),
 * even days or months ahead. Returns a function that cancels it.
 */
export function timerAt(clock: ExecutorClock, at: number, fire: () => void): () => void {
  let id: unknown;
  let pending = true;
  const arm = (): void => {
    const delay = at - clock.now();
    if (delay > MAX_TIMER_DELAY) {
      id = clock.setTimeout(arm, MAX_TIMER_DELAY);
      return;
    }
    id = clock.setTimeout(
      () => {
        pending = false;
        fire();
      },
      Math.max(0, delay),
    );
  };
  arm();
  return () => {
    if (!pending) return;
    pending = false;
    clock.clearTimeout(id);
  };
}

function checkCount(value: unknown, what: string): void {
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new WorkflowError(`${what} must be a whole number of at least 1; found ${show(value)}`);
}

function checkMs(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new WorkflowError(`${what} must be a number of milliseconds of at least 0; found ${show(value)}`);
}

function show(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
