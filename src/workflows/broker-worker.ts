/**
 * The worker's side of the broker's task lists: consumes the task lists'
 * queues, runs each task in a local activity executor, and publishes its
 * events to the task's reply-to; a task is ACKed only once the broker has
 * receipted its final event.
 */
import type { Logger } from 'pino';
import { FlowdError } from '../kernel/errors.js';
import type { BrokerConnection, Delivery } from '../../actors/workflow-broker/broker-connection.js';
import {
  SEND_DESTINATION,
  callKey,
  isFinalEvent,
  readTask,
  type CallEvent,
  type CompiledBrokerOptions,
  type ReportMessage,
  type TaskMessage,
} from './broker-options.js';
import { activityKey, refOf } from './executor-support.js';
import { createActivityExecutor, type ActivityExecutor } from './executor.js';
import type { HistoryEvent } from './history.js';

/** How long a task of an activity this worker does not run is held before it is NACKed, so that a task no worker runs does not spin between broker and worker. */
export const DECLINE_DELAY_MS = 250;

/** Calls whose final event the broker receipted, remembered so that a redelivery of their task is dropped rather than run again. */
const REMEMBERED_FINISHED = 10_000;

interface Running {
  /** The delivery whose ACK waits for the final event; a redelivery takes the place of one whose connection was lost. */
  delivery: Delivery;
}

/** See BrokerTaskLists.serve() for the rules it keeps. */
export class BrokerWorker {
  readonly #options: CompiledBrokerOptions;
  readonly #connection: BrokerConnection;
  readonly #log: Logger;
  readonly #executor: ActivityExecutor;
  /** By callKey(). */
  readonly #running = new Map<string, Running>();
  /** callKey()s, oldest first. */
  readonly #finished = new Set<string>();
  readonly #warned = new Set<string>();
  readonly #declined = new Map<NodeJS.Timeout, Delivery>();
  #serving: Promise<void> | undefined;
  #closed = false;

  constructor(options: CompiledBrokerOptions, connection: BrokerConnection) {
    this.#options = options;
    this.#connection = connection;
    this.#log = options.log;
    this.#executor = createActivityExecutor({
      ...options.executor,
      activities: options.activities,
      concurrency: options.concurrencyOption,
      log: options.log,
    });
  }

  serve(): Promise<void> {
    if (this.#closed)
      return Promise.reject(
        new FlowdError('ERR_SHUTDOWN', `the workflow broker task lists at ${this.#options.url} are closed; serve() was not started`),
      );
    this.#serving ??= this.#subscribe();
    return this.#serving;
  }

  async #subscribe(): Promise<void> {
    const { taskLists, queueOf, concurrency, url } = this.#options;
    if (taskLists.length === 0)
      return void this.#log.info({ url }, `serving no task lists on ${url}: this process was given no activities`);
    await Promise.all(
      taskLists.map((taskList) =>
        this.#connection.subscribe(queueOf(taskList), concurrency(taskList), (delivery) => this.#onTask(queueOf(taskList), delivery)),
      ),
    );
    this.#log.info({ url, taskLists }, `serving task lists ${taskLists.join(', ')} on ${url}`);
  }

  /** Stops taking tasks and closes the local executor (running activities are aborted); unfinished tasks stay unacknowledged, so the broker redelivers them. */
  async close(graceMs: number): Promise<void> {
    this.#closed = true;
    for (const [timer, delivery] of this.#declined) {
      clearTimeout(timer);
      delivery.nack();
    }
    this.#declined.clear();
    await this.#executor.close(graceMs);
  }

  #onTask(queue: string, delivery: Delivery): void {
    // Left unacknowledged: closing the connection returns it to the queue.
    if (this.#closed) return;
    const read = readTask(delivery.body);
    if ('problem' in read) {
      this.#log.error(
        { queue, messageId: delivery.headers['message-id'] },
        `a malformed task on ${queue}: ${read.problem}; acknowledged and dropped (it would come back for ever)`,
      );
      delivery.ack();
      return;
    }
    const { task } = read;
    const { runId, call } = task;
    if (!this.#options.registry.has(activityKey(call.activity))) return this.#decline(queue, delivery, task);
    const key = callKey(runId, call.callId);
    if (this.#finished.has(key)) {
      this.#log.debug(
        { queue, runId, callId: call.callId },
        `call ${call.callId} of run ${runId} came again after its final report was published; acknowledged and dropped`,
      );
      delivery.ack();
      return;
    }
    const running = this.#running.get(key);
    if (running !== undefined) {
      if (running.delivery.live) delivery.ack();
      else running.delivery = delivery;
      this.#log.debug(
        { queue, runId, callId: call.callId },
        `call ${call.callId} of run ${runId} came again while it runs here; the running one reports`,
      );
      return;
    }
    const replyTo = delivery.headers['reply-to'];
    const reportTo = replyTo !== undefined && SEND_DESTINATION.test(replyTo) ? replyTo : this.#options.reports;
    const entry: Running = { delivery };
    this.#running.set(key, entry);
    try {
      this.#executor.submit(task, (event) => this.#report(key, entry, reportTo, task, event));
    } catch (error) {
      this.#running.delete(key);
      // Closing: the task stays unacknowledged and is redelivered.
      if ((error as FlowdError).code === 'ERR_SHUTDOWN') return;
      this.#log.error(
        { queue, runId, callId: call.callId, err: error },
        `call ${call.callId} of run ${runId} on ${queue} cannot run: ${(error as Error).message}; acknowledged and dropped`,
      );
      delivery.ack();
    }
  }

  /** Publishes an event of a task; after the final one's RECEIPT, ACKs the task. Never rejects: a failed publish leaves the task to be redelivered. */
  #report(key: string, entry: Running, reportTo: string, task: TaskMessage, event: HistoryEvent): Promise<void> {
    const { runId, call } = task;
    // The executor reports only events of its call.
    const message: ReportMessage = { runId, event: event as CallEvent };
    return this.#connection.publish(reportTo, message, { 'x-flowd-run-id': runId, 'x-flowd-call-id': call.callId }).then(
      () => {
        if (!isFinalEvent(event)) return;
        this.#running.delete(key);
        this.#remember(key);
        if (!entry.delivery.ack())
          this.#log.debug(
            { runId, callId: call.callId },
            `call ${call.callId} of run ${runId} finished after the connection it came on was lost; the broker redelivers its task, which is then dropped here`,
          );
      },
      (error: Error) => {
        this.#log.warn(
          { runId, callId: call.callId, event: event.type, err: { code: (error as FlowdError).code, message: error.message } },
          `${event.type} of call ${call.callId} (run ${runId}) was not published to ${reportTo}: ${error.message}; its task stays unacknowledged and the broker redelivers it`,
        );
      },
    );
  }

  /** A task of an activity this worker does not have: NACKed (after a short hold), so a worker that has it takes it. */
  #decline(queue: string, delivery: Delivery, task: TaskMessage): void {
    const activity = refOf(task.call.activity);
    if (!this.#warned.has(activity)) {
      this.#warned.add(activity);
      this.#log.warn(
        { queue, activity: task.call.activity.name, version: task.call.activity.version, runId: task.runId, callId: task.call.callId },
        `${queue} holds a call of activity ${activity} (call ${task.call.callId} of run ${task.runId}), which this worker does not run (it runs ${[...this.#options.registry.values()].map(refOf).join(', ') || 'none'}); returned to the queue for a worker that does (warned once per activity)`,
      );
    }
    const timer = setTimeout(() => {
      this.#declined.delete(timer);
      delivery.nack();
    }, DECLINE_DELAY_MS);
    this.#declined.set(timer, delivery);
  }

  #remember(key: string): void {
    this.#finished.add(key);
    if (this.#finished.size > REMEMBERED_FINISHED) this.#finished.delete(this.#finished.values().next().value!);
  }
}
