/**
 * The workflow broker's options, checked and defaulted (the
 * compileExecutorOptions pattern), and the small rules both of its sides
 * share: queue names, the final events, the shape of a task message.
 */
import type { Logger } from 'pino';
import { RECONNECT_MAX_DELAY_MS } from '../../machines/backoff.js';
import { parseStompUrl, type StompEndpoint } from '../../actors/sources/stomp-url.js';
import { ConfigError } from '../kernel/errors.js';
import { compileExecutorOptions } from './executor-support.js';
import type { ActivityTask, ExecutorOptions } from './executor.js';
import type { HistoryEvent, ScheduledCall } from './history.js';
import type { ActivityDefinition } from './workflow-api.js';
import { WorkflowError } from './errors.js';

/** What `createBrokerTaskLists` takes. */
export interface BrokerTaskListOptions {
  /**
   * `stomp://[user:pass@]host[:port]/queue/<base>` (or `ws://host:15674/ws/queue/<base>`):
   * task list T is the queue `/queue/<base>.<T>`, reports go to `/queue/<base>.reports`.
   * Any other destination is a ConfigError naming the URL without its password.
   */
  url: string;
  /** The STOMP `host` header: RabbitMQ's virtual host. @default the broker's default */
  virtualHost?: string;
  /** The activities this process runs when it serves (the worker side); the decider side needs none. @default [] */
  activities?: ActivityDefinition[];
  /**
   * The task lists serve() consumes. @default the task lists of `activities`
   * (each one's `taskList` option, else `'default'`); name more when
   * workflows or proxies put these activities on other lists.
   */
  taskLists?: string[];
  /** Calls at once per task list on the worker side, which is also the subscription's prefetch: one number, or one by task list. @default 4 */
  concurrency?: number | Record<string, number>;
  log: Logger;
  /** Passed to the worker side's local createActivityExecutor. */
  executor?: Omit<ExecutorOptions, 'activities' | 'log' | 'concurrency'>;
  /** STOMP heart-beat, both ways; 0 turns it off. @default 10_000 */
  heartbeatMs?: number;
  /** The wait before the first attempt to connect again; it doubles with every failed attempt. @default 1000 */
  reconnectDelayMs?: number;
  /** The longest wait between attempts (each drawn with jitter up to it): short, so a daemon is back within 2s of the broker. @default 1500 */
  reconnectMaxDelayMs?: number;
}

/** `BrokerTaskListOptions`, checked, every default filled in. */
export interface CompiledBrokerOptions {
  endpoint: StompEndpoint;
  virtualHost: string | undefined;
  /** The URL as logs show it (no password). */
  url: string;
  /** `/queue/<base>.reports`. */
  reports: string;
  /** `/queue/<base>.<taskList>`. */
  queueOf(taskList: string): string;
  activities: ActivityDefinition[];
  /** By activityKey(). */
  registry: ReadonlyMap<string, ActivityDefinition>;
  taskLists: string[];
  concurrency(taskList: string): number;
  /** As given, for the local executor. */
  concurrencyOption: number | Record<string, number> | undefined;
  log: Logger;
  executor: Omit<ExecutorOptions, 'activities' | 'log' | 'concurrency'>;
  heartbeatMs: number;
  reconnectDelayMs: number;
  reconnectMaxDelayMs: number;
}

/** The one task list name the reports queue takes. */
const RESERVED_TASK_LIST = 'reports';

/**
 * Checks and defaults the options. Throws a ConfigError (ERR_CONFIG) for a
 * URL that is not a queue base, naming the URL without its password, and a
 * TypeError naming the option for anything else.
 */
export function compileBrokerOptions(options: BrokerTaskListOptions): CompiledBrokerOptions {
  const where = 'createBrokerTaskLists()';
  if (options === null || typeof options !== 'object')
    throw new WorkflowError(`${where} needs an options object; found ${String(options)}`);
  const { endpoint, base } = parseBrokerUrl(options.url);
  const { virtualHost } = options;
  if (virtualHost !== undefined && (typeof virtualHost !== 'string' || virtualHost === '')) {
    throw new WorkflowError(
      `${where}: option virtualHost must be a non-empty string (RabbitMQ's vhost); found ${typeof virtualHost === 'string' ? '""' : String(virtualHost)}`,
    );
  }
  const activities = options.activities ?? [];
  const { activities: registry, concurrency } = compileExecutorOptions({ activities, log: options.log, concurrency: options.concurrency });
  const taskLists = options.taskLists ?? [...new Set(activities.map((activity) => activity.options.taskList ?? 'default'))];
  if (!Array.isArray(taskLists))
    throw new WorkflowError(`${where}: option taskLists must be an array of task list names; found ${typeof taskLists}`);
  for (const taskList of taskLists) checkTaskList(taskList, `${where}: option taskLists`);
  const heartbeatMs = checkMs(options.heartbeatMs ?? 10_000, `${where}: option heartbeatMs`, 0);
  const reconnectDelayMs = checkMs(options.reconnectDelayMs ?? 1000, `${where}: option reconnectDelayMs`, 1);
  const reconnectMaxDelayMs = checkMs(
    options.reconnectMaxDelayMs ?? Math.max(RECONNECT_MAX_DELAY_MS, reconnectDelayMs),
    `${where}: option reconnectMaxDelayMs`,
    reconnectDelayMs,
  );
  return {
    endpoint,
    virtualHost,
    url: endpoint.displayUrl,
    reports: `/queue/${base}.${RESERVED_TASK_LIST}`,
    queueOf: (taskList) => `/queue/${base}.${taskList}`,
    activities,
    registry,
    taskLists: [...new Set(taskLists)],
    concurrency,
    concurrencyOption: options.concurrency,
    log: options.log,
    executor: options.executor ?? {},
    heartbeatMs,
    reconnectDelayMs,
    reconnectMaxDelayMs,
  };
}

/** The endpoint and queue base of a broker URL, or a ConfigError without the password. */
function parseBrokerUrl(url: unknown): { endpoint: StompEndpoint; base: string } {
  const expected =
    'expected stomp://[user:pass@]host[:port]/queue/<base>, e.g. stomp://localhost:61613/queue/flowd.workflows (task list T is the queue <base>.T)';
  if (typeof url !== 'string' || url.trim() === '')
    throw new ConfigError(
      {},
      `the workflow broker URL must be a non-empty string; found ${typeof url === 'string' ? '""' : typeof url}; ${expected}`,
    );
  let endpoint: StompEndpoint;
  try {
    endpoint = parseStompUrl(url);
  } catch (error) {
    // parseStompUrl's messages never carry the password.
    throw new ConfigError({}, `the workflow broker URL ${(error as Error).message}`, { cause: error });
  }
  const match = /^\/queue\/([^/]+)$/.exec(endpoint.destination);
  if (!match)
    throw new ConfigError({}, `the workflow broker URL ${endpoint.displayUrl} names the destination ${endpoint.destination}; ${expected}`);
  return { endpoint, base: match[1]! };
}

/**
 * Throws a TypeError for a task list that cannot be a queue name: empty,
 * with `/` or control characters, or `reports` (the reports queue).
 */
export function checkTaskList(taskList: unknown, what: string): asserts taskList is string {
  const found = typeof taskList === 'string' ? JSON.stringify(taskList) : String(taskList);
  if (typeof taskList !== 'string' || taskList === '' || /[/\u0000-\u001f\u007f]/.test(taskList)) {
    throw new WorkflowError(
      `${what}: a task list name becomes part of a queue name, so it must be a non-empty string without "/" or control characters; found ${found}`,
    );
  }
  if (taskList === RESERVED_TASK_LIST)
    throw new WorkflowError(
      `${what}: the task list name "${RESERVED_TASK_LIST}" is taken by the queue of reports (<base>.${RESERVED_TASK_LIST}); choose another`,
    );
}

function checkMs(value: unknown, what: string, least: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < least)
    throw new WorkflowError(`${what} must be a number of milliseconds of at least ${least}; found ${String(value)}`);
  return value;
}

/** Whether an event ends its call: completed, or failed / timed out with no retry to follow. */
export function isFinalEvent(event: HistoryEvent): boolean {
  return event.type === 'activity.completed' || ((event.type === 'activity.failed' || event.type === 'activity.timedOut') && event.final);
}

/** A call's key among the runs: run id and call id. */
export const callKey = (runId: string, callId: string): string => `${runId}\u0000${callId}`;

/** The destination forms RabbitMQ takes for SEND (what a task's reply-to may name). */
export const SEND_DESTINATION = /^\/(?:queue|topic|exchange|amq\/queue|temp-queue|reply-queue)\/./;

/** A task message's body: the task as the decider submitted it. */
export type TaskMessage = Required<Omit<ActivityTask, 'runWithin'>>;

/** An event about one call (what workers report). */
export type CallEvent = Extract<HistoryEvent, { callId: string }>;

/** A report message's body. */
export interface ReportMessage {
  runId: string;
  event: CallEvent;
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const isCount = (value: unknown) => Number.isInteger(value) && (value as number) >= 0;

/** A message body as JSON, or what is wrong with it. */
function parseBody(body: string): { data: unknown } | { problem: string } {
  try {
    return { data: JSON.parse(body) as unknown };
  } catch (error) {
    return { problem: `the body is not JSON (${(error as Error).message})` };
  }
}

/** A task message read from its body, or what is wrong with it. */
export function readTask(body: string): { task: TaskMessage } | { problem: string } {
  const parsed = parseBody(body);
  if ('problem' in parsed) return parsed;
  const { data } = parsed;
  if (!isObject(data)) return { problem: 'the body is not a JSON object { runId, call, scheduledAt, attemptsMade }' };
  const { runId, call, scheduledAt, attemptsMade = 0 } = data;
  if (typeof runId !== 'string' || runId === '') return { problem: 'runId is not a non-empty string' };
  if (
    !isObject(call) ||
    typeof call.callId !== 'string' ||
    typeof call.taskList !== 'string' ||
    !isObject(call.activity) ||
    !('input' in call)
  ) {
    return { problem: `call (of run ${runId}) is not a call { callId, activity, taskList, input, options }` };
  }
  const { activity, options } = call;
  if (typeof activity.name !== 'string' || (typeof activity.version !== 'string' && typeof activity.version !== 'number'))
    return { problem: `call ${call.callId} of run ${runId} names no activity { name, version }` };
  if (!isObject(options) || !isCount(options.retries))
    return { problem: `call ${call.callId} of run ${runId} has no options { retries, ... }` };
  if (typeof scheduledAt !== 'number' || !Number.isFinite(scheduledAt))
    return { problem: `call ${call.callId} of run ${runId} has no scheduledAt (ms since the epoch)` };
  if (!isCount(attemptsMade))
    return { problem: `call ${call.callId} of run ${runId} has an attemptsMade that is not a whole number of at least 0` };
  return { task: { runId, call: call as unknown as ScheduledCall, scheduledAt, attemptsMade: attemptsMade as number } };
}

/** A report message read from its body, or what is wrong with it. */
export function readReport(body: string): { report: ReportMessage } | { problem: string } {
  const parsed = parseBody(body);
  if ('problem' in parsed) return parsed;
  const { data } = parsed;
  if (!isObject(data) || typeof data.runId !== 'string' || !isObject(data.event))
    return { problem: 'the body is not a JSON object { runId, event }' };
  const { event } = data;
  if (typeof event.type !== 'string' || !event.type.startsWith('activity.') || typeof event.callId !== 'string') {
    return { problem: `the event of run ${data.runId} is not an activity event { type, callId, ... }` };
  }
  return { report: { runId: data.runId, event: event as unknown as CallEvent } };
}
