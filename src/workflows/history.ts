/**
 * A workflow run's history: the events a run actor appends (JSON, each with
 * `at`, ms since the epoch), and how `decide` reads them. One history holds
 * one run, from `workflow.started` to a `workflow.completed`, `.failed` or
 * `.restarted` (a restart begins a new history with `workflow.started`).
 */
import type { ErrorInfo } from '../kernel/errors.js';
import { WorkflowError } from './errors.js';
import { describeFault, walkJson, type JsonFault } from '../../actors/stores/json-value.js';

/** What a history holds: values JSON can carry and give back as themselves. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Which limit an activity attempt overran. */
export type TimeoutKind = 'heartbeat' | 'scheduleToStart' | 'startToClose' | 'scheduleToClose';

/** An activity as the history names it. */
export interface ActivityRef {
  name: string;
  version: string | number;
}

/** An activity call's options after layering, durations in ms; a limit left out means none. */
export interface ResolvedActivityOptions {
  /** Longest time between heartbeats of a running attempt. */
  heartbeat?: number;
  /** Longest time from scheduled to started. */
  scheduleToStart?: number;
  /** Longest time one attempt may run. */
  startToClose?: number;
  /** Longest time from scheduled to finished, over all attempts. */
  scheduleToClose?: number;
  /** Retries after the first attempt (of an attempt that timed out; of one that failed too with `retryErrors`). */
  retries: number;
  /** The wait before each retry, when the workflow gave them (`retry: ['1s', '5s']`); else the executor's backoff. */
  retryDelays?: number[];
  /** Whether an attempt whose function threw is retried too. Absent: no. */
  retryErrors?: boolean;
  /** A wait before the first attempt; scheduleToStart and scheduleToClose count from its end. */
  delay?: number;
}

/** A call `decide` asks to schedule; `activity.scheduled` records it. */
export interface ScheduledCall {
  /** `<activity name>#<n>`: the n-th call of that activity in the body's call order. */
  callId: string;
  activity: ActivityRef;
  taskList: string;
  /** Serialised with the activity's `serialize.input`, placeholders replaced by their values. */
  input: JsonValue;
  options: ResolvedActivityOptions;
}

/** A run began (or began again after a restart) with `input`. */
export interface WorkflowStarted {
  type: 'workflow.started';
  at: number;
  input: JsonValue;
}
/** A call was handed to its task list. */
export interface ActivityScheduled extends ScheduledCall {
  type: 'activity.scheduled';
  at: number;
}
/** An attempt began (`attempt` 1 for the first). */
export interface ActivityStarted {
  type: 'activity.started';
  at: number;
  callId: string;
  attempt: number;
}
/** A running attempt reported liveness. */
export interface ActivityHeartbeat {
  type: 'activity.heartbeat';
  at: number;
  callId: string;
  details?: JsonValue;
}
/** The call finished with `result` (serialised with the activity's `serialize.result`). */
export interface ActivityCompleted {
  type: 'activity.completed';
  at: number;
  callId: string;
  result: JsonValue;
}
/** An attempt failed; `final` when no retry follows, which fails the call's placeholder. */
export interface ActivityFailed {
  type: 'activity.failed';
  at: number;
  callId: string;
  attempt: number;
  error: ErrorInfo;
  final: boolean;
}
/** An attempt overran a limit; `final` when no retry follows, which fails the call's placeholder. */
export interface ActivityTimedOut {
  type: 'activity.timedOut';
  at: number;
  callId: string;
  attempt: number;
  kind: TimeoutKind;
  final: boolean;
}
/** The body returned `result`. */
export interface WorkflowCompleted {
  type: 'workflow.completed';
  at: number;
  result: JsonValue;
}
/** The body threw, or its code no longer matches its history. */
export interface WorkflowFailed {
  type: 'workflow.failed';
  at: number;
  error: ErrorInfo;
}
/** The body called `wf.restart(input)`: this run ends, a new one begins with `input`. */
export interface WorkflowRestarted {
  type: 'workflow.restarted';
  at: number;
  input: JsonValue;
}

/** A workflow as the history names it. */
export interface WorkflowRef {
  name: string;
  version: string | number;
}

/** A child run `decide` asks to start (`wf.workflow(def)(input)`); `child.started` records it with its run id. */
export interface ScheduledChild {
  /** `<workflow name>#<n>`, counted with the calls of activities of that name. */
  callId: string;
  workflow: WorkflowRef;
  /** Serialised as JSON, placeholders replaced by their values. */
  input: JsonValue;
  /** The child's workflow duration, when the proxy gives one (else its definition's, else `[Workflow] workflow duration`). */
  durationMs?: number;
}

/** A child run was recorded as `runId`, to start (before it is, if the daemon stops between: the decider starts it when it takes the parent up). */
export interface ChildStarted extends ScheduledChild {
  type: 'child.started';
  at: number;
  runId: string;
}
/** The child run (or the run that continued it as new) completed with `result`. */
export interface ChildCompleted {
  type: 'child.completed';
  at: number;
  callId: string;
  runId: string;
  result: JsonValue;
}
/** The child run failed (timed out, or could not start); its error fails the call's placeholder. */
export interface ChildFailed {
  type: 'child.failed';
  at: number;
  callId: string;
  runId: string;
  error: ErrorInfo;
}

/** One entry of a run's history. */
export type HistoryEvent =
  | WorkflowStarted
  | ActivityScheduled
  | ActivityStarted
  | ActivityHeartbeat
  | ActivityCompleted
  | ActivityFailed
  | ActivityTimedOut
  | WorkflowCompleted
  | WorkflowFailed
  | WorkflowRestarted
  | ChildStarted
  | ChildCompleted
  | ChildFailed;

/** The `activity.scheduled` event that records a scheduled call. */
export function scheduledEvent(call: ScheduledCall, at: number): ActivityScheduled {
  return { type: 'activity.scheduled', at, ...call };
}

/** One call as the history has it. */
export interface CallRecord {
  scheduled: ActivityScheduled;
  /** Index of the event that settled the call (completed, or failed/timed out for good); undefined while it runs. */
  settledAt?: number;
  outcome?: { ok: true; result: JsonValue } | { ok: false; error: ErrorInfo };
}

/** One child run as the history has it. */
export interface ChildRecord {
  started: ChildStarted;
  /** Index of the event that settled it; undefined while it runs. */
  settledAt?: number;
  outcome?: { ok: true; result: JsonValue } | { ok: false; error: ErrorInfo };
}

/** A history, read. */
export interface RunHistory {
  input: JsonValue;
  /** By call id. */
  calls: Map<string, CallRecord>;
  /** Child runs, by call id. */
  children: Map<string, ChildRecord>;
  /** The run's end, when it has one. */
  end?: WorkflowCompleted | WorkflowFailed | WorkflowRestarted;
}

/**
 * Reads a run's history: the input, each call with its outcome and where
 * it settled, and the end. Only a final failure or time-out settles a call;
 * the first settling event counts (a duplicate is ignored). Throws a
 * WorkflowError for a history that does not begin with `workflow.started`,
 * schedules a call id twice or reports on a call never scheduled.
 */
export function readHistory(history: readonly HistoryEvent[]): RunHistory {
  const head = history[0];
  if (head?.type !== 'workflow.started') {
    throw new WorkflowError(
      `a workflow history must begin with a workflow.started event; found ${head === undefined ? 'an empty history' : `"${String((head as { type?: unknown }).type)}"`}`,
    );
  }
  const run: RunHistory = { input: head.input, calls: new Map(), children: new Map() };
  for (let index = 1; index < history.length && run.end === undefined; index++) {
    const event = history[index]!;
    const where = `history event ${index} (${String(event.type)})`;
    if (event.type === 'workflow.completed' || event.type === 'workflow.failed' || event.type === 'workflow.restarted') {
      run.end = event;
      continue;
    }
    if (event.type === 'workflow.started') throw new WorkflowError(`${where}: a history holds one run; found a second workflow.started`);
    if (event.type === 'activity.scheduled') {
      if (run.calls.has(event.callId) || run.children.has(event.callId))
        throw new WorkflowError(`${where}: call ${event.callId} is scheduled a second time`);
      run.calls.set(event.callId, { scheduled: event });
      continue;
    }
    if (event.type === 'child.started' || event.type === 'child.completed' || event.type === 'child.failed') {
      readChildEvent(run, event, index, where);
      continue;
    }
    if (!ACTIVITY_EVENTS.has(event.type))
      throw new WorkflowError(
        `${where}: unknown event type; expected one of workflow.started, ${[...ACTIVITY_EVENTS].join(', ')}, workflow.completed, workflow.failed, workflow.restarted`,
      );
    const record = run.calls.get(event.callId);
    if (record === undefined) throw new WorkflowError(`${where}: call ${event.callId} was never scheduled`);
    if (record.settledAt !== undefined) continue;
    if (event.type === 'activity.completed') settle(record, index, { ok: true, result: event.result });
    else if (event.type === 'activity.failed' && event.final) settle(record, index, { ok: false, error: event.error });
    else if (event.type === 'activity.timedOut' && event.final)
      settle(record, index, { ok: false, error: timeoutError(record.scheduled, event) });
  }
  return run;
}

const ACTIVITY_EVENTS = new Set<string>([
  'activity.scheduled',
  'activity.started',
  'activity.heartbeat',
  'activity.completed',
  'activity.failed',
  'activity.timedOut',
]);

function readChildEvent(run: RunHistory, event: ChildStarted | ChildCompleted | ChildFailed, index: number, where: string): void {
  if (event.type === 'child.started') {
    if (run.children.has(event.callId) || run.calls.has(event.callId))
      throw new WorkflowError(`${where}: call ${event.callId} is scheduled a second time`);
    run.children.set(event.callId, { started: event });
    return;
  }
  const child = run.children.get(event.callId);
  if (child === undefined) throw new WorkflowError(`${where}: child ${event.callId} was never started`);
  if (child.settledAt !== undefined) return;
  child.settledAt = index;
  child.outcome = event.type === 'child.completed' ? { ok: true, result: event.result } : { ok: false, error: event.error };
}

function settle(record: CallRecord, index: number, outcome: NonNullable<CallRecord['outcome']>): void {
  record.settledAt = index;
  record.outcome = outcome;
}

/** The cause a time-out gives the call's TaskError: code ERR_ACTIVITY_TIMEOUT, the kind and limit in the message. */
function timeoutError(scheduled: ActivityScheduled, event: ActivityTimedOut): ErrorInfo {
  const limit = scheduled.options[event.kind];
  return {
    code: 'ERR_ACTIVITY_TIMEOUT',
    message: `timed out on attempt ${event.attempt}: ${event.kind}${limit === undefined ? '' : ` limit of ${limit}ms`} passed`,
  };
}

/**
 * A copy of `value` as JSON, or a WorkflowError naming `what` (`Activity
 * "Transcoding" input`) and the path of the first part JSON cannot hold:
 * undefined (but a property set to undefined is left out, as JSON.stringify
 * does), functions, symbols, BigInt, NaN, ±Infinity, cycles, array holes,
 * and instances of classes (Date, Map, ...).
 * @example toJson({ when: new Date() }, 'Activity "A" input') // WorkflowError: ... found an instance of Date at $.when ...
 */
export function toJson(value: unknown, what: string): JsonValue {
  return walkJson<JsonValue>(value, true, (fault, at) => {
    throw new WorkflowError(
      `${what} is not JSON: found ${describeFault(fault)} at ${at}; expected null, booleans, finite numbers, strings, arrays and plain objects${advice(fault)}`,
    );
  });
}

function advice(fault: JsonFault): string {
  if (fault.kind === 'bigint') return '; pass it as a string';
  if (fault.kind !== 'instance') return '';
  return fault.className === 'Date'
    ? '; pass date.toISOString(), or give the activity its own serialize and deserialize'
    : '; copy it into a plain object, or give the activity its own serialize and deserialize';
}

/** Whether two JSON values are equal, whatever the order of object keys (a store may reorder them). */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]!));
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key]!, b[key]!));
}
