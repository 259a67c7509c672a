/**
 * The decider's side of the broker's task lists: an ActivityExecutor whose
 * submit() publishes the task to its task list's queue, and the consumer
 * of the reports queue that hands each event to its run's report function.
 * The consumer has a connection of its own: closing it is the one way to
 * hand every report not yet acknowledged back to the queue at once
 * (RabbitMQ keeps a cancelled subscription's messages until its connection
 * closes, and refuses an ACK or NACK for them).
 */
import type { Logger } from 'pino';
import { FlowdError } from '../kernel/errors.js';
import type { BrokerConnection, Delivery } from '../../actors/workflow-broker/broker-connection.js';
import {
  callKey,
  checkTaskList,
  isFinalEvent,
  readReport,
  type CallEvent,
  type CompiledBrokerOptions,
  type ReportMessage,
  type TaskMessage,
} from './broker-options.js';
import { formatDuration } from '../kernel/duration.js';
import { WorkflowError } from './errors.js';
import { backoff, callDeadline, systemClock, timerAt } from './executor-support.js';
import type { ActivityReport, ActivityTask, ExecutorClock, TaskListStats } from './executor.js';
import type { ActivityTimedOut, ScheduledCall } from './history.js';

/** Reports the decider holds unacknowledged at most (the subscription's prefetch). */
export const REPORTS_PREFETCH = 64;

/**
 * How long past a limit the decider waits for a worker's own report before
 * it ends a call itself: the worker keeps the exact limit, the decider is
 * the backstop for a task no worker took. A limit shorter than this waits
 * its own length.
 */
export const BACKSTOP_GRACE_MS = 1_000;

/** Marks a timeout the decider published itself, with its kind. */
const BACKSTOP_HEADER = 'x-flowd-backstop';

interface OpenCall {
  runId: string;
  callId: string;
  taskList: string;
  /** As the workers' reports tell it: waiting in the queue, running an attempt, or waiting for a retry. */
  state: 'queued' | 'running' | 'retrying';
  /** Attempts made before this task, then the highest attempt a worker reported. */
  attempts: number;
  /** The decider published a timeout for it; the call ends when that report comes back. */
  backstopped: boolean;
  /** Cancel the backstop timers. */
  stopTimers: Array<() => void>;
}

/** See BrokerTaskLists.executor and .decide() for the rules it keeps. */
export class BrokerDecider {
  readonly #options: CompiledBrokerOptions;
  /** Where tasks are published (shared with the worker's side). */
  readonly #connection: BrokerConnection;
  readonly #openReports: () => BrokerConnection;
  readonly #log: Logger;
  readonly #runs = new Map<string, ActivityReport>();
  /** Submitted and not finally reported, by callKey(). */
  readonly #calls = new Map<string, OpenCall>();
  readonly #taskLists = new Set<string>();
  /** Report functions that have not settled: their ACKs are still to send. */
  readonly #handling = new Set<Promise<void>>();
  /** The reports' connection while deciding. */
  #reports: BrokerConnection | undefined;
  #deciding: Promise<void> | undefined;
  #closed = false;
  /** Task lists already warned about a call no worker started; cleared when one of their calls starts. */
  readonly #unserved = new Set<string>();

  constructor(options: CompiledBrokerOptions, connection: BrokerConnection, openReports: () => BrokerConnection) {
    this.#options = options;
    this.#connection = connection;
    this.#openReports = openReports;
    this.#log = options.log;
  }

  submit(task: ActivityTask, report: ActivityReport): void {
    if (this.#closed)
      throw new FlowdError(
        'ERR_SHUTDOWN',
        `the workflow broker task lists at ${this.#options.url} are closed; call ${String(task?.call?.callId)} of run ${String(task?.runId)} was not accepted`,
      );
    checkTask(task, report);
    const { runId, call, scheduledAt, attemptsMade = 0 } = task;
    const key = callKey(runId, call.callId);
    if (this.#calls.has(key))
      throw new WorkflowError(
        `call ${call.callId} of run ${runId} was already submitted to the workflow broker and has not finished; submit a call once`,
      );
    this.#runs.set(runId, report);
    const open: OpenCall = {
      runId,
      callId: call.callId,
      taskList: call.taskList,
      state: 'queued',
      attempts: attemptsMade,
      backstopped: false,
      stopTimers: [],
    };
    this.#calls.set(key, open);
    this.#watch(key, open, task);
    this.#taskLists.add(call.taskList);
    const queue = this.#options.queueOf(call.taskList);
    const body: TaskMessage = { runId, call, scheduledAt, attemptsMade };
    const headers = {
      'reply-to': this.#options.reports,
      'x-flowd-run-id': runId,
      'x-flowd-call-id': call.callId,
      'x-flowd-activity': call.activity.name,
    };
    this.#connection.publish(queue, body, headers).then(
      () => this.#log.debug({ runId, callId: call.callId, queue }, `call ${call.callId} of run ${runId} is queued on ${queue}`),
      (error: FlowdError) => {
        this.#forget(key);
        const level = error.code === 'ERR_SHUTDOWN' ? 'warn' : 'error';
        this.#log[level](
          { runId, callId: call.callId, queue, err: { code: error.code, message: error.message } },
          `call ${call.callId} of run ${runId} was not published to ${queue}: ${error.message}; the run resumes it when flowd starts again`,
        );
      },
    );
  }

  cancel(runId: string): void {
    this.#runs.delete(runId);
    for (const [key, call] of this.#calls) if (call.runId === runId) this.#forget(key);
  }

  stats(): Record<string, TaskListStats> {
    const stats: Record<string, TaskListStats> = {};
    for (const taskList of this.#taskLists) stats[taskList] = { queued: 0, running: 0, retrying: 0, abandoned: 0 };
    for (const call of this.#calls.values()) stats[call.taskList]![call.state]++;
    return stats;
  }

  decide(): Promise<void> {
    if (this.#closed)
      return Promise.reject(
        new FlowdError('ERR_SHUTDOWN', `the workflow broker task lists at ${this.#options.url} are closed; decide() was not started`),
      );
    if (this.#deciding) return this.#deciding;
    const reports = this.#openReports();
    this.#reports = reports;
    this.#deciding = reports
      .subscribe(this.#options.reports, REPORTS_PREFETCH, (delivery) => this.#onReport(reports, delivery))
      .then(() => {
        this.#log.info(
          { url: this.#options.url, queue: this.#options.reports },
          `deciding: taking reports from ${this.#options.reports} on ${this.#options.url}`,
        );
      });
    return this.#deciding;
  }

  /** Stops taking reports: waits up to `timeoutMs` for the report functions in progress (their reports are ACKed), then closes the reports' connection, which returns the rest to the queue. */
  async stopDeciding(timeoutMs: number): Promise<void> {
    const reports = this.#reports;
    this.#reports = undefined;
    this.#deciding = undefined;
    if (!reports) return;
    await this.#settle(timeoutMs);
    await reports.close();
    this.#log.info(
      { url: this.#options.url, queue: this.#options.reports },
      `stopped deciding: no longer taking reports from ${this.#options.reports}`,
    );
  }

  /** Refuses submits and decide() from now on (close()). */
  stop(): void {
    this.#closed = true;
    for (const call of this.#calls.values()) for (const stop of call.stopTimers) stop();
  }

  /**
   * The backstop for calls no worker takes: a worker keeps every limit
   * itself, but a task list nobody serves would leave its calls waiting for
   * ever. Past the latest end its attempts could have (the call's `delay`,
   * then each attempt's scheduleToClose and the wait before each retry,
   * counted at the longest; plus a grace), a call not finished times out.
   * Past scheduleToStart (after the `delay`) with no attempt ever started, a call with no
   * retries left times out, as the worker that takes it would decide; one
   * with retries left is waited for (a worker retries it), with one warning
   * per task list.
   *
   * The timeout goes to the reports queue like a worker's report, not
   * straight to the run: it then comes after any report already queued (a
   * completion a worker sent before the limit, which a new decider has not
   * read yet), and the run drops whichever of the two comes second.
   */
  #watch(key: string, open: OpenCall, task: ActivityTask): void {
    const clock = this.#clock;
    const { scheduleToStart, scheduleToClose, retries, delay = 0 } = task.call.options;
    const grace = (limit: number) => Math.min(BACKSTOP_GRACE_MS, limit);
    const start = task.scheduledAt + delay;
    const { retryDelayMs = 1000, retryMaxDelayMs = Math.max(60_000, retryDelayMs) } = this.#options.executor;
    // The workers' backoff is this app's [Workflow] retry delay and retry max delay, as the decider's.
    const deadline = callDeadline(task.call.options, task.scheduledAt, backoff(retryDelayMs, retryMaxDelayMs));
    if (deadline !== undefined && scheduleToClose !== undefined) {
      open.stopTimers.push(timerAt(clock, deadline + grace(scheduleToClose), () => this.#timeOut(key, open, 'scheduleToClose')));
    }
    // A resumed task (attemptsMade > 0) counts scheduleToStart from when a worker queues it again, which the decider cannot see.
    if (scheduleToStart !== undefined && open.attempts === 0) {
      open.stopTimers.push(
        timerAt(clock, start + scheduleToStart + grace(scheduleToStart), () => {
          if (this.#calls.get(key) !== open || open.attempts > 0) return;
          if (retries === 0) return this.#timeOut(key, open, 'scheduleToStart');
          if (this.#unserved.has(open.taskList)) return;
          this.#unserved.add(open.taskList);
          const queue = this.#options.queueOf(open.taskList);
          this.#log.warn(
            { runId: open.runId, callId: open.callId, taskList: open.taskList, queue },
            `call ${open.callId} of run ${open.runId} has waited ${formatDuration(scheduleToStart)} (its scheduleToStart) on ${queue} and no worker has started it; is a worker serving task list "${open.taskList}"? ` +
              `The worker that takes it retries it${scheduleToClose === undefined ? '' : `; each attempt times out ${formatDuration(scheduleToClose)} after it is queued (scheduleToClose)`}`,
          );
        }),
      );
    }
  }

  /** Reports a final timeout of an open call through the reports queue, as a worker would. */
  #timeOut(key: string, open: OpenCall, kind: 'scheduleToStart' | 'scheduleToClose'): void {
    if (this.#calls.get(key) !== open || open.backstopped || this.#closed) return;
    open.backstopped = true;
    // The attempt a worker would name: the running one, else the next.
    const event: ActivityTimedOut = {
      type: 'activity.timedOut',
      at: this.#clock.now(),
      callId: open.callId,
      attempt: open.state === 'running' ? open.attempts : open.attempts + 1,
      kind,
      final: true,
    };
    const reports = this.#options.reports;
    const message: ReportMessage = { runId: open.runId, event };
    this.#log.warn(
      { runId: open.runId, callId: open.callId, taskList: open.taskList, kind },
      `call ${open.callId} of run ${open.runId} passed its ${kind} with no final report from a worker; the decider reports it timed out (through ${reports}, after any report already there)`,
    );
    this.#connection
      .publish(reports, message, { 'x-flowd-run-id': open.runId, 'x-flowd-call-id': open.callId, [BACKSTOP_HEADER]: kind })
      .catch((error: FlowdError) => {
        // Only a refused login or close() rejects a publish: the call stays open until a decider resumes it.
        this.#log.warn(
          { runId: open.runId, callId: open.callId, err: { code: error.code, message: error.message } },
          `the timeout of call ${open.callId} of run ${open.runId} was not published to ${reports}: ${error.message}; the run resumes the call when flowd starts again`,
        );
      });
  }

  #forget(key: string): void {
    const open = this.#calls.get(key);
    if (!open) return;
    this.#calls.delete(key);
    for (const stop of open.stopTimers) stop();
  }

  get #clock(): ExecutorClock {
    return this.#options.executor.clock ?? systemClock;
  }

  /** Resolves once the report functions in progress have settled, or after `timeoutMs`. */
  async #settle(timeoutMs: number): Promise<void> {
    if (this.#handling.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#handling]), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  #onReport(from: BrokerConnection, delivery: Delivery): void {
    // Not deciding any more: left unacknowledged, closing the connection returns it to the queue.
    if (this.#closed || from !== this.#reports) return;
    const queue = this.#options.reports;
    const read = readReport(delivery.body);
    if ('problem' in read) {
      this.#log.error(
        { queue, messageId: delivery.headers['message-id'] },
        `a malformed report on ${queue}: ${read.problem}; acknowledged and dropped`,
      );
      delivery.ack();
      return;
    }
    const { runId, event } = read.report;
    const report = this.#runs.get(runId);
    if (report === undefined) {
      this.#log.debug(
        { queue, runId, callId: event.callId, event: event.type },
        `a report (${event.type}, call ${event.callId}) for run ${runId}, which this decider does not know (ended, cancelled, or never submitted here); acknowledged and dropped`,
      );
      delivery.ack();
      return;
    }
    // A scheduleToStart timeout is judged again when it comes back: a start it was published before
    // reading (a new decider resuming, a backlog of reports) came ahead of it in the queue, and now counts.
    if (delivery.headers[BACKSTOP_HEADER] === 'scheduleToStart' && (this.#calls.get(callKey(runId, event.callId))?.attempts ?? 0) > 0) {
      this.#log.info(
        { queue, runId, callId: event.callId },
        `call ${event.callId} of run ${runId} started after all; the decider's scheduleToStart timeout is dropped`,
      );
      delivery.ack();
      return;
    }
    // Reports of a call that already ended (a duplicate, or the second of a worker's and the backstop's) go on too: the run drops them.
    this.#track(runId, event);
    let returned: unknown;
    try {
      returned = report(event);
    } catch (error) {
      this.#log.error(
        { runId, callId: event.callId, err: error },
        `the report function of run ${runId} threw on ${event.type}; the report is acknowledged`,
      );
    }
    const handled = Promise.resolve(returned).then(
      () => void delivery.ack(),
      (error: unknown) => {
        this.#log.error(
          { runId, callId: event.callId, err: error },
          `the report function of run ${runId} failed on ${event.type}; the report is acknowledged`,
        );
        delivery.ack();
      },
    );
    this.#handling.add(handled);
    void handled.finally(() => this.#handling.delete(handled));
  }

  /** Notes a report's effect on its open call. */
  #track(runId: string, event: CallEvent): void {
    const key = callKey(runId, event.callId);
    const call = this.#calls.get(key);
    if (call === undefined) return;
    if (isFinalEvent(event)) return this.#forget(key);
    if ('attempt' in event) call.attempts = Math.max(call.attempts, event.attempt);
    if (event.type === 'activity.started') {
      call.state = 'running';
      this.#unserved.delete(call.taskList);
    } else if (event.type === 'activity.failed' || event.type === 'activity.timedOut') call.state = 'retrying';
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
    typeof call.activity?.name !== 'string' ||
    typeof call.options !== 'object' ||
    call.options === null
  ) {
    throw problem(`task.call, a call from decide() with callId, activity, taskList, input and options (run ${task.runId})`, call);
  }
  checkTaskList(call.taskList, `submit() of call ${call.callId} (run ${task.runId})`);
  if (!Number.isInteger(call.options.retries) || call.options.retries! < 0)
    throw problem(`task.call.options.retries, a whole number of at least 0 (call ${call.callId})`, call.options.retries);
  if (typeof task.scheduledAt !== 'number' || !Number.isFinite(task.scheduledAt))
    throw problem(`task.scheduledAt, ms since the epoch (call ${call.callId})`, task.scheduledAt);
  if (task.attemptsMade !== undefined && (!Number.isInteger(task.attemptsMade) || task.attemptsMade < 0))
    throw problem(`task.attemptsMade, a whole number of at least 0 (call ${call.callId})`, task.attemptsMade);
  if (typeof report !== 'function') throw problem(`a report function (call ${call.callId})`, report);
}
