/**
 * The activity executor: runs the activity calls that decide() scheduled,
 * in this process, and reports each attempt as history events. The limits
 * are Amazon SWF's, which Flowy used; retries are the executor's own.
 */
import type { ErrorInfo } from '../../machines/events.js';
import { FlowdError } from '../kernel/errors.js';
import type { Logger } from 'pino';
import { ActivityCall, type CallHost, type CallSpec, type Lane } from './activity-call.js';
import { WorkflowError } from './errors.js';
import {
  ActivityAbortError,
  activityKey,
  compileExecutorOptions,
  timerAt,
  unknownActivityMessage,
  type CompiledExecutorOptions,
} from './executor-support.js';
import type { ScheduledCall } from './history.js';

export { ActivityAbortError, type ActivityAbortCode } from './executor-support.js';

export type { ActivityTask, ActivityReport, ExecutorClock, ExecutorOptions, TaskListStats } from './executor-types.js';
import type { ActivityReport, ActivityTask, ExecutorClock, ExecutorOptions, TaskListStats } from './executor-types.js';

/** What `createActivityExecutor` returns. */
export interface ActivityExecutor {
  /**
   * Queues the call on its task list; `report` receives its events, in
   * order, never inside submit(), ending with exactly one final event
   * (unless the run is cancelled or the executor closed first). Throws a
   * WorkflowError (ERR_WORKFLOW) for a malformed task and for a
   * call of a run submitted again before it finished, and a FlowdError
   * (ERR_SHUTDOWN) once close() was called.
   */
  submit(task: ActivityTask, report: ActivityReport): void;
  /** Aborts a run's calls (its workflow ended): running ones get their signal aborted, queued ones are dropped; no more reports for them. */
  cancel(runId: string): void;
  /** What is queued and running, per task list (for the inspector). */
  stats(): Record<string, TaskListStats>;
  /** Aborts everything running (signal reason ERR_SHUTDOWN), drops the queue, resolves when every function has settled or `graceMs` passed. @default graceMs 30_000 */
  close(graceMs?: number): Promise<void>;
}

/**
 * Creates an executor that runs activity calls here, at most `concurrency`
 * at once per task list, first come first served. `report` gets
 * `activity.started` for each attempt, `activity.heartbeat`, and the
 * attempt's end: `activity.completed` (final), or `activity.failed` /
 * `activity.timedOut` with `final` false when a retry follows, true when
 * none does. Limits (Amazon SWF's; a limit left out means none):
 * - `scheduleToStart`: from `scheduledAt` (after the call's `delay`, when
 *   it has one; or from the retry's re-queue; for a resumed call,
 *   `attemptsMade` > 0, from its submission) to the attempt starting. The
 *   attempt counts as made.
 * - `startToClose`: one attempt's running time.
 * - `heartbeat`: the longest time without `ctx.heartbeat()` while running,
 *   the first interval from the start. Every heartbeat resets the timer,
 *   but heartbeats are reported at most once a second (HEARTBEAT_REPORT_MS),
 *   whatever their details: one within a second of the attempt's last
 *   reported heartbeat is held, replaced by any later one, and reported
 *   when that second is up (unless the attempt ended first).
 * - `scheduleToClose`: from the attempt's queueing, as scheduleToStart, to its end
 *   (each retry is scheduled anew, as in SWF).
 * An attempt that overruns a limit has its `ctx.signal` aborted (an
 * ActivityAbortError, ERR_ACTIVITY_TIMEOUT) and its slot freed at once; its
 * function is `abandoned` until it settles, and what it returns is ignored.
 * A timed-out attempt (any limit) is retried while attempts (1 + retries)
 * remain, after the call's `retryDelays[n − 1]` or else min(retryDelayMs ×
 * 2^(n−1), retryMaxDelayMs); an attempt that threw is retried so only with
 * the call's `retryErrors`, and never for an error with `retryable ===
 * false` or code ERR_CONFIG; an input that cannot be deserialised or a
 * result that is not JSON fail at once. A call of an
 * activity not given (by name and version) fails at once, ERR_WORKFLOW.
 * A resumed call (`attemptsMade` > 0) starts at attempt attemptsMade + 1 and
 * always gets that attempt, even past 1 + retries: the attempt a restart
 * cut off runs again (activities are at least once); it is then the last.
 * `attempt` in an
 * event is the attempt it is about; one that never started (a time-out
 * while queued) is the one that would have. Errors are `{ code, message }`.
 * A report that throws is logged and does not stop the executor. Cancel and
 * close report nothing more for their calls: a restarted daemon resumes them.
 * @example
 * const executor = createActivityExecutor({ activities: [Transcoding], log, concurrency: { transcoding_list: 2 } });
 * for (const call of decision.schedule) executor.submit({ runId, call, scheduledAt: Date.now() }, (event) => history.append(event));
 */
export function createActivityExecutor(options: ExecutorOptions): ActivityExecutor {
  const executor = new Executor(compileExecutorOptions(options));
  return {
    submit: (task, report) => executor.submit(task, report),
    cancel: (runId) => executor.cancel(runId),
    stats: () => executor.stats(),
    close: (graceMs) => executor.close(graceMs),
  };
}

/** A call's handle in the executor: a running call, or one that fails at once. */
interface Entry {
  drop(reason: ActivityAbortError): void;
}

class Executor implements CallHost {
  readonly options: CompiledExecutorOptions;
  readonly #lanes = new Map<string, Lane>();
  readonly #runs = new Map<string, Map<string, Entry>>();
  #closed: Promise<void> | undefined;
  #whenIdle: (() => void) | undefined;

  constructor(options: CompiledExecutorOptions) {
    this.options = options;
  }

  submit(task: ActivityTask, report: ActivityReport): void {
    if (this.#closed !== undefined)
      throw new FlowdError(
        'ERR_SHUTDOWN',
        `the activity executor is closed; call ${String(task?.call?.callId)} of run ${String(task?.runId)} was not accepted`,
      );
    checkTask(task, report);
    const { runId, call, scheduledAt, attemptsMade = 0 } = task;
    const calls = this.#runs.get(runId) ?? new Map<string, Entry>();
    if (calls.has(call.callId))
      throw new WorkflowError(
        `call ${call.callId} of run ${runId} was already submitted to the activity executor and has not finished; submit a call once`,
      );
    this.#runs.set(runId, calls);
    const definition = this.options.activities.get(activityKey(call.activity));
    if (definition === undefined) {
      const message = unknownActivityMessage(call.activity, call.callId, runId, this.options.activities);
      return this.#failAtOnce(runId, call, report, attemptsMade + 1, { code: 'ERR_WORKFLOW', message });
    }
    // The call's logger is made when it first writes (most calls never do at the usual levels).
    const parent = this.options.log;
    let log: Logger | undefined;
    const spec: CallSpec = {
      runId,
      call,
      definition,
      report,
      lane: this.#lane(call.taskList),
      get log() {
        return (log ??= parent.child({ runId, callId: call.callId, activity: call.activity.name }));
      },
      scheduledAt,
      attemptsMade,
      runWithin: task.runWithin,
    };
    calls.set(call.callId, new ActivityCall(this, spec));
  }

  cancel(runId: string): void {
    const calls = this.#runs.get(runId);
    for (const [callId, entry] of [...(calls?.entries() ?? [])]) {
      entry.drop(new ActivityAbortError('ERR_ACTIVITY_CANCELLED', `the workflow run ${runId} ended: its call ${callId} was cancelled`));
    }
  }

  stats(): Record<string, TaskListStats> {
    const stats: Record<string, TaskListStats> = {};
    for (const [taskList, { queue, running, retrying, abandoned }] of this.#lanes)
      stats[taskList] = { queued: queue.length, running, retrying, abandoned };
    return stats;
  }

  close(graceMs = 30_000): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    let resolveClosed!: () => void;
    this.#closed = new Promise<void>((resolve) => (resolveClosed = resolve));
    const reason = new ActivityAbortError(
      'ERR_SHUTDOWN',
      'the activity executor is closing (flowd is shutting down); the call resumes when flowd starts again',
    );
    for (const calls of [...this.#runs.values()]) for (const entry of [...calls.values()]) entry.drop(reason);
    if (this.#unsettled() === 0) {
      resolveClosed();
    } else {
      const { clock, log } = this.options;
      const stop = timerAt(clock, clock.now() + graceMs, () => {
        this.#whenIdle = undefined;
        log.warn(
          { unsettled: this.#unsettled(), graceMs },
          'activity functions did not settle within the grace time of close(); leaving them behind',
        );
        resolveClosed();
      });
      this.#whenIdle = () => {
        stop();
        resolveClosed();
      };
    }
    return this.#closed;
  }

  wake(lane: Lane): void {
    if (lane.woken) return;
    lane.woken = true;
    queueMicrotask(() => {
      lane.woken = false;
      while (lane.running < lane.limit && lane.queue.length > 0) lane.queue.shift()!.start();
    });
  }

  settled(): void {
    const whenIdle = this.#whenIdle;
    if (whenIdle === undefined || this.#unsettled() > 0) return;
    this.#whenIdle = undefined;
    whenIdle();
  }

  finished(call: { runId: string; call: ScheduledCall }): void {
    const calls = this.#runs.get(call.runId);
    calls?.delete(call.call.callId);
    if (calls?.size === 0) this.#runs.delete(call.runId);
  }

  /** An unknown activity: one final activity.failed, after submit() returns as every event is. */
  #failAtOnce(runId: string, call: ScheduledCall, report: ActivityReport, attempt: number, error: ErrorInfo): void {
    let dropped = false;
    this.#runs.get(runId)!.set(call.callId, { drop: () => (dropped = true) });
    queueMicrotask(() => {
      if (dropped) return;
      this.finished({ runId, call });
      this.options.log.warn(
        { runId, callId: call.callId, activity: call.activity.name, error },
        'activity call failed before it could start',
      );
      try {
        const reported = report({
          type: 'activity.failed',
          at: this.options.clock.now(),
          callId: call.callId,
          attempt,
          error,
          final: true,
        });
        if (reported instanceof Promise)
          reported.catch((thrown: unknown) =>
            this.options.log.error({ err: thrown, callId: call.callId }, 'the report of an activity event failed; the executor carries on'),
          );
      } catch (thrown) {
        this.options.log.error({ err: thrown, callId: call.callId }, 'the report of an activity event threw; the executor carries on');
      }
    });
  }

  #lane(taskList: string): Lane {
    let lane = this.#lanes.get(taskList);
    if (lane === undefined) {
      lane = { limit: this.options.concurrency(taskList), queue: [], running: 0, retrying: 0, abandoned: 0, woken: false };
      this.#lanes.set(taskList, lane);
    }
    return lane;
  }

  #unsettled(): number {
    let count = 0;
    for (const lane of this.#lanes.values()) count += lane.running + lane.abandoned;
    return count;
  }
}

function checkTask(task: ActivityTask, report: unknown): void {
  const problem = (what: string, found: unknown) =>
    new WorkflowError(`submit() needs ${what}; found ${typeof found === 'string' ? JSON.stringify(found) : String(found)}`);
  if (task === null || typeof task !== 'object') throw problem('a task { runId, call, scheduledAt }', task);
  if (typeof task.runId !== 'string' || task.runId === '') throw problem('task.runId, a non-empty string', task.runId);
  const call = task.call as Partial<ScheduledCall> | undefined;
  if (
    typeof call?.callId !== 'string' ||
    typeof call.taskList !== 'string' ||
    typeof call.activity?.name !== 'string' ||
    typeof call.options !== 'object'
  ) {
    throw problem(`task.call, a call from decide() with callId, activity, taskList, input and options (run ${task.runId})`, call);
  }
  if (!Number.isInteger(call.options?.retries) || call.options!.retries < 0)
    throw problem(`task.call.options.retries, a whole number of at least 0 (call ${call.callId})`, call.options?.retries);
  const { retryDelays, delay, retryErrors } = call.options!;
  if (retryDelays !== undefined && (!Array.isArray(retryDelays) || !retryDelays.every(isMs)))
    throw problem(`task.call.options.retryDelays, a list of ms of at least 0 (call ${call.callId})`, retryDelays);
  if (delay !== undefined && !isMs(delay)) throw problem(`task.call.options.delay, ms of at least 0 (call ${call.callId})`, delay);
  if (retryErrors !== undefined && typeof retryErrors !== 'boolean')
    throw problem(`task.call.options.retryErrors, true or false (call ${call.callId})`, retryErrors);
  if (typeof task.scheduledAt !== 'number' || !Number.isFinite(task.scheduledAt))
    throw problem(`task.scheduledAt, ms of the executor's clock (call ${call.callId})`, task.scheduledAt);
  if (task.attemptsMade !== undefined && (!Number.isInteger(task.attemptsMade) || task.attemptsMade < 0))
    throw problem(`task.attemptsMade, a whole number of at least 0 (call ${call.callId})`, task.attemptsMade);
  if (typeof report !== 'function') throw problem(`a report function (call ${call.callId})`, report);
}

function isMs(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
