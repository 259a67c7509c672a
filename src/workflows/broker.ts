/**
 * Task lists over STOMP queues (`[Workflow] broker = stomp://...`), so that
 * activity workers on several machines share a task list: the decider
 * publishes each call to its task list's queue, any worker that serves the
 * list runs it, and the call's events come back on the reports queue.
 * Delivery is at least once throughout: a task whose worker dies is run
 * again by another, and a report may arrive twice.
 */
import { BrokerConnection } from '../../actors/workflow-broker/broker-connection.js';
import { BrokerDecider } from './broker-decider.js';
import { compileBrokerOptions, type BrokerTaskListOptions } from './broker-options.js';
import { BrokerWorker } from './broker-worker.js';
import type { ActivityExecutor } from './executor.js';

export type { BrokerTaskListOptions } from './broker-options.js';
export { DECLINE_DELAY_MS } from './broker-worker.js';
export { REPORTS_PREFETCH } from './broker-decider.js';

/** How long close() waits, at most, for publishes still waiting for their RECEIPT and for report functions still running. */
const CLOSE_DRAIN_MS = 5000;

/** What `createBrokerTaskLists` returns: the decider's side (`executor`, `decide`, `stopDeciding`) and the worker's (`serve`). */
export interface BrokerTaskLists {
  /**
   * The decider's side, an ActivityExecutor. submit() publishes the task
   * (JSON `{ runId, call, scheduledAt, attemptsMade }`, persistent, reply-to
   * the reports queue) to `<base>.<call.taskList>` and remembers `report`
   * for the run (the latest submit's wins); it throws as the local
   * executor's does (ERR_WORKFLOW for a malformed task or a call still open,
   * ERR_SHUTDOWN after close()). A submit while disconnected is kept and
   * published once connected again: never lost, and perhaps published twice
   * (a RECEIPT lost with its connection). cancel(runId) forgets the run:
   * its reports are then ACKed and dropped, but its tasks cannot be recalled
   * from the broker (published or still waiting to be): a worker still runs
   * them. stats(), per task list, as the workers' reports tell it:
   * `queued` (submitted, not started), `running` (started, not finally
   * reported), `retrying` (a worker reported a failure and a retry
   * follows); `abandoned` is the workers' business and always 0 here.
   * close() closes the whole object.
   */
  readonly executor: ActivityExecutor;
  /**
   * Starts taking reports from `<base>.reports` (ack client-individual, on
   * a connection of its own): each `{ runId, event }` goes to its run's
   * report function, in the order they arrive, and is ACKed once what that
   * function returned (a promise, perhaps) has settled. Reports of runs it
   * does not know are ACKed and dropped (a debug line): so one decider per
   * queue base at a time (see stopDeciding()). Call it after the engine
   * has submitted its open runs' calls again. Resolves when the
   * broker has confirmed the subscription (while the broker is down it
   * keeps trying); rejects with ERR_STOMP_REFUSED when the broker refuses
   * the login, naming the URL without its password.
   */
  decide(): Promise<void>;
  /**
   * Stops taking reports, for a daemon that is no longer the decider (it
   * lost the decider lock): waits up to `graceMs` for the report functions
   * in progress and ACKs their reports, then closes the reports' connection
   * so that every other report goes back to the queue for the next
   * decider. Without it, this daemon would go on taking (and dropping) the
   * new decider's reports. decide() may be called again later.
   * @default graceMs 5000
   */
  stopDeciding(graceMs?: number): Promise<void>;
  /**
   * The worker's side: consumes `<base>.<T>` for each task list T it serves
   * (ack client-individual, prefetch = T's concurrency), runs each task in
   * a local activity executor and publishes each of its events as
   * `{ runId, event }` to the task's reply-to (persistent, with a RECEIPT).
   * The task is ACKed only after the RECEIPT of its final event, so a
   * worker that dies leaves it to another (it runs again from attempt
   * `attemptsMade + 1`). A task of an activity this worker does not have is
   * NACKed (requeued, after DECLINE_DELAY_MS) for a worker that has it, with
   * one warning per activity. A task whose call already runs here, or
   * whose final event was already published from here, is ACKed and
   * dropped. A malformed task is ACKed and logged as an error naming the
   * queue (it would loop otherwise). A call waiting for a retry keeps its
   * task, and so its place in the prefetch.
   *
   * Time limits run on this machine's clock: `scheduleToStart` and
   * `scheduleToClose` count from the decider's `scheduledAt`, so a clock
   * skew between the two machines shortens or lengthens them by as much;
   * keep clocks in sync (NTP) or leave those limits well above the skew.
   * The decider's side backs them up for tasks no worker takes: past the
   * latest end of all the call's attempts (callDeadline: its delay, each
   * attempt's scheduleToClose and the retry waits), or past scheduleToStart with nothing started and no
   * retries left (plus a grace of BACKSTOP_GRACE_MS), it publishes the final
   * `activity.timedOut` to the reports queue itself, behind any report
   * already there; with retries left it warns once per task list.
   *
   * Resolves when the broker has confirmed every subscription (at once,
   * when this process runs no activities); rejects as decide() does.
   */
  serve(): Promise<void>;
  /**
   * Stops taking tasks and reports, closes the local executor (running
   * activities are aborted, their functions get up to `graceMs` to settle),
   * waits a little for publishes without their RECEIPT yet, and disconnects.
   * Tasks not finished stay unacknowledged, so the broker redelivers them.
   * Idempotent. @default graceMs 30_000
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Creates task lists over a STOMP broker (RabbitMQ): one connection for
 * tasks (and the worker's reports), and one for taking reports while
 * deciding; each is made on first use and made again with backoff (one
 * warning per attempt) when lost; after a reconnect every subscription is
 * made again, and messages of the lost connection are left to the broker
 * to redeliver.
 * @example
 * // the decider's process: lists.executor is the ActivityExecutor its runs submit their calls to
 * const lists = createBrokerTaskLists({ url: 'stomp://flowd:secret@mq:61613/queue/flowd.wf', log });
 * lists.executor.submit({ runId, call, scheduledAt: Date.now() }, (event) => history.append(event));
 * await lists.decide();
 * // each worker's process
 * const lists = createBrokerTaskLists({ url: 'stomp://flowd:secret@mq:61613/queue/flowd.wf', activities: [Transcoding], concurrency: 2, log });
 * await lists.serve();
 */
export function createBrokerTaskLists(options: BrokerTaskListOptions): BrokerTaskLists {
  const compiled = compileBrokerOptions(options);
  const { endpoint, virtualHost, heartbeatMs, reconnectDelayMs, reconnectMaxDelayMs, log } = compiled;
  const open = (purpose: string) =>
    new BrokerConnection({ endpoint, virtualHost, heartbeatMs, reconnectDelayMs, reconnectMaxDelayMs, log, purpose });
  const connection = open('workflow task lists');
  const decider = new BrokerDecider(compiled, connection, () => open('workflow reports'));
  const worker = new BrokerWorker(compiled, connection);
  let closing: Promise<void> | undefined;
  const close = (graceMs = 30_000): Promise<void> => {
    closing ??= (async () => {
      decider.stop();
      await worker.close(graceMs);
      const drainMs = Math.min(graceMs, CLOSE_DRAIN_MS);
      await Promise.all([connection.drain(drainMs), decider.stopDeciding(drainMs)]);
      await connection.close();
    })();
    return closing;
  };
  return {
    executor: {
      submit: (task, report) => decider.submit(task, report),
      cancel: (runId) => decider.cancel(runId),
      stats: () => decider.stats(),
      close,
    },
    decide: () => decider.decide(),
    stopDeciding: (graceMs = CLOSE_DRAIN_MS) => decider.stopDeciding(graceMs),
    serve: () => worker.serve(),
    close,
  };
}
