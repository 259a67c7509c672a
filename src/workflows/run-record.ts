/**
 * A workflow run as the store keeps it, and the pure helpers that read and
 * change one: where it lives, how a new one is recorded, how an activity
 * event goes into its history, and which of its calls are still in flight.
 */
import type { Store } from '../../actors/stores/store-api.js';
import { FlowdError } from '../kernel/errors.js';
import { readHistory, type ActivityScheduled, type HistoryEvent, type JsonValue } from './history.js';
import type { WorkflowDefinition } from './workflow-api.js';

/** A run as flowd reads it: its header (`workflow/run/<id>`) with its history (see run-store.ts). */
export interface RunRecord {
  runId: string;
  workflow: { name: string; version: string | number };
  state: 'running' | 'completed' | 'failed' | 'restarted';
  history: HistoryEvent[];
  result?: JsonValue;
  error?: { code: string; message: string };
  /** The run that continued this one as new (`wf.restart(input)`). */
  next?: string;
  /** The run this one continues. */
  previous?: string;
  /** The run that started this one as a child (`wf.workflow(def)`), and its call there; its outcome goes back to that call. */
  parent?: { runId: string; callId: string };
  /** When its workflow duration ends (ms since the epoch): a run still running then fails with ERR_WORKFLOW_TIMEOUT. None in records written before flowd had the limit. */
  deadline?: number;
}

/** The store key of a run's record. */
export const runKey = (runId: string) => `workflow/run/${runId}`;
/**
 * The runs that have not ended are listed in 16 store keys
 * (`workflow/open/0` to `workflow/open/f`), each run in the one its id
 * hashes to: every start and end rewrites one short list, not one list of
 * every open run, and starts from many processes seldom meet on one key.
 */
export const OPEN_BUCKETS = 16;

/** The key of the list that holds `runId` while it is open. */
export function openKey(runId: string): string {
  // FNV-1a: cheap, and spreads ids (UUIDs or the caller's own) evenly.
  let hash = 0x811c9dc5;
  for (let i = 0; i < runId.length; i++) hash = Math.imul(hash ^ runId.charCodeAt(i), 0x01000193);
  return `workflow/open/${((hash >>> 0) % OPEN_BUCKETS).toString(16)}`;
}

const found = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return `${Array.isArray(value) ? 'a list' : value === null ? 'null' : typeof value === 'object' ? 'an object' : `a ${typeof value}`} ${text.length > 80 ? `${text.slice(0, 77)}...` : text}`;
};

const corrupt = (key: string, what: string, problem: string) =>
  new FlowdError(
    'ERR_WORKFLOW_STATE',
    `the ${what} "${key}" in the store is corrupt: ${problem}; repair or delete the record (flowd writes it; see docs/workflows.md)`,
  );

/** A stored open-runs list as it must be: a list of run ids (none when absent); ERR_WORKFLOW_STATE names the key, what it found and what it expected. */
export function checkOpenList(value: unknown, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw corrupt(key, 'open-runs list', `expected a list of run ids, found ${found(value)}`);
  const bad = value.find((id) => typeof id !== 'string' || id === '');
  if (bad !== undefined) throw corrupt(key, 'open-runs list', `expected a list of run ids, found ${found(bad)} among them`);
  return value as string[];
}

const isErrorInfo = (value: unknown) =>
  !!value &&
  typeof value === 'object' &&
  typeof (value as { code?: unknown }).code === 'string' &&
  typeof (value as { message?: unknown }).message === 'string';

/**
 * What is wrong with one history event, as "to have ..." (undefined when
 * nothing is): the fields its type needs, and a call id that was scheduled
 * before it. `scheduled` collects the call ids as the history is read.
 */
function historyEventProblem(event: Record<string, unknown>, scheduled: Set<string>): string | undefined {
  const { type, callId } = event;
  const call = (): string | undefined => {
    if (typeof callId !== 'string') return 'to have a "callId" string';
    return scheduled.has(callId) ? undefined : `to name a call scheduled before it (no activity.scheduled for "${callId}")`;
  };
  switch (type) {
    case 'workflow.started':
    case 'workflow.completed':
    case 'workflow.restarted':
      return undefined;
    case 'workflow.failed':
      return isErrorInfo(event.error) ? undefined : 'to have an "error" { code, message }';
    case 'activity.scheduled': {
      const activity = event.activity as { name?: unknown; version?: unknown } | null;
      if (typeof callId !== 'string') return 'to have a "callId" string';
      if (!activity || typeof activity !== 'object' || typeof activity.name !== 'string') return 'to have an "activity" { name, version }';
      if (typeof event.taskList !== 'string') return 'to have a "taskList" string';
      const options = event.options as { retries?: unknown } | null;
      if (!options || typeof options !== 'object' || typeof options.retries !== 'number') return 'to have "options" with "retries"';
      scheduled.add(callId);
      return undefined;
    }
    case 'activity.heartbeat':
    case 'activity.completed':
      return call();
    case 'child.started': {
      const workflow = event.workflow as { name?: unknown } | null;
      if (typeof callId !== 'string') return 'to have a "callId" string';
      if (!workflow || typeof workflow !== 'object' || typeof workflow.name !== 'string') return 'to have a "workflow" { name, version }';
      if (typeof event.runId !== 'string') return 'to have a "runId" string';
      scheduled.add(callId);
      return undefined;
    }
    case 'child.completed':
      return call();
    case 'child.failed':
      return call() ?? (isErrorInfo(event.error) ? undefined : 'to have an "error" { code, message }');
    case 'activity.started':
      return call() ?? (typeof event.attempt === 'number' ? undefined : 'to have an "attempt" number');
    case 'activity.failed':
      return (
        call() ??
        (typeof event.attempt !== 'number' ? 'to have an "attempt" number' : undefined) ??
        (isErrorInfo(event.error) ? undefined : 'to have an "error" { code, message }') ??
        (typeof event.final === 'boolean' ? undefined : 'to have a "final" true or false')
      );
    case 'activity.timedOut':
      return (
        call() ??
        (typeof event.attempt !== 'number' ? 'to have an "attempt" number' : undefined) ??
        (typeof event.kind === 'string' ? undefined : 'to have a "kind"') ??
        (typeof event.final === 'boolean' ? undefined : 'to have a "final" true or false')
      );
    default:
      return 'to be an event flowd writes (workflow.started, activity.scheduled, ...)';
  }
}

/** A stored run record as it must be; ERR_WORKFLOW_STATE names the key, what it found and what it expected. */
export function checkRunRecord(value: unknown, key: string): RunRecord {
  const fail = (problem: string): never => {
    throw corrupt(key, 'run record', problem);
  };
  if (!value || typeof value !== 'object' || Array.isArray(value))
    fail(`expected an object { runId, workflow, state, history }, found ${found(value)}`);
  const record = value as Record<string, unknown>;
  if (typeof record.runId !== 'string') fail(`expected "runId" to be a string, found ${found(record.runId)}`);
  const workflow = record.workflow as { name?: unknown; version?: unknown } | null;
  if (
    !workflow ||
    typeof workflow !== 'object' ||
    typeof workflow.name !== 'string' ||
    (typeof workflow.version !== 'string' && typeof workflow.version !== 'number')
  )
    fail(`expected "workflow" to be { name, version }, found ${found(record.workflow)}`);
  if (!['running', 'completed', 'failed', 'restarted'].includes(record.state as string))
    fail(`expected "state" to be running, completed, failed or restarted, found ${found(record.state)}`);
  const history = record.history;
  const scheduled = new Set<string>();
  if (!Array.isArray(history) || history.length === 0)
    fail(`expected "history" to be a list of events starting with workflow.started, found ${found(history)}`);
  (history as unknown[]).forEach((event, index) => {
    const entry = event as { type?: unknown; at?: unknown } | null;
    if (!entry || typeof entry !== 'object' || typeof entry.type !== 'string' || typeof entry.at !== 'number')
      fail(`expected history[${index}] to be an event { type, at, ... }, found ${found(event)}`);
    if (index === 0 && entry!.type !== 'workflow.started')
      fail(`expected history[0] to be the workflow.started event, found ${found(event)}`);
    const problem = historyEventProblem(entry as Record<string, unknown>, scheduled);
    if (problem !== undefined) fail(`expected history[${index}] (${String(entry!.type)}) ${problem}, found ${found(event)}`);
  });
  const error = record.error as { code?: unknown; message?: unknown } | undefined | null;
  if (error !== undefined && (!error || typeof error.code !== 'string' || typeof error.message !== 'string'))
    fail(`expected "error" to be { code, message }, found ${found(error)}`);
  if (record.deadline !== undefined && (typeof record.deadline !== 'number' || !Number.isFinite(record.deadline)))
    fail(`expected "deadline" to be ms since the epoch, found ${found(record.deadline)}`);
  const parent = record.parent as { runId?: unknown; callId?: unknown } | undefined | null;
  if (parent !== undefined && (!parent || typeof parent.runId !== 'string' || typeof parent.callId !== 'string'))
    fail(`expected "parent" to be { runId, callId }, found ${found(parent)}`);
  for (const link of ['next', 'previous'] as const)
    if (record[link] !== undefined && typeof record[link] !== 'string')
      fail(`expected "${link}" to be a run id, found ${found(record[link])}`);
  return value as RunRecord;
}

/**
 * Every open run's id, from all the lists. A list that is corrupt is
 * passed to `onCorrupt` (as an ERR_WORKFLOW_STATE error naming its key) and
 * left out, so it does not hold up the runs of the others; without
 * `onCorrupt` the error is thrown.
 */
export async function listOpen(store: Store, onCorrupt?: (error: FlowdError, key: string) => void): Promise<string[]> {
  const keys = Array.from({ length: OPEN_BUCKETS }, (_, bucket) => `workflow/open/${bucket.toString(16)}`);
  const lists = await Promise.all(keys.map((key) => store.get<unknown>(key)));
  return lists.flatMap((list, index) => {
    try {
      return checkOpenList(list, keys[index]!);
    } catch (error) {
      if (!onCorrupt) throw error;
      onCorrupt(error as FlowdError, keys[index]!);
      return [];
    }
  });
}

/** Lists a run as open (once); ERR_WORKFLOW_STATE when its list is corrupt. */
export const addOpen = (store: Store, runId: string) => {
  const key = openKey(runId);
  return store.update<unknown>(key, (stored) => {
    const open = checkOpenList(stored, key);
    return open.includes(runId) ? open : [...open, runId];
  });
};

/** Takes a run off the open list; ERR_WORKFLOW_STATE when its list is corrupt. */
export const removeOpen = (store: Store, runId: string) => {
  const key = openKey(runId);
  return store.update<unknown>(key, (stored) => checkOpenList(stored, key).filter((id) => id !== runId));
};

/** The workflow named `name` that new runs get: its last definition here. Throws ERR_WORKFLOW naming the known ones. */
export function latestWorkflow(workflows: readonly WorkflowDefinition[], name: string): WorkflowDefinition {
  const candidates = workflows.filter((w) => w.name === name);
  if (candidates.length === 0)
    throw new FlowdError(
      'ERR_WORKFLOW',
      `no workflow named "${name}"; known: ${[...new Set(workflows.map((w) => w.name))].join(', ') || '(none)'}`,
    );
  return candidates.at(-1)!;
}

export const isFinal = (event: HistoryEvent) =>
  event.type === 'activity.completed' || ((event.type === 'activity.failed' || event.type === 'activity.timedOut') && event.final);

/** Calls scheduled and not yet settled (as readHistory reads them), with the highest attempt number each has used (a time-out while queued uses one too). */
export function inFlight(history: readonly HistoryEvent[]): Array<{ call: ActivityScheduled; attempts: number }> {
  const attempts = new Map<string, number>();
  for (const event of history) if ('attempt' in event) attempts.set(event.callId, Math.max(attempts.get(event.callId) ?? 0, event.attempt));
  return [...readHistory(history).calls.values()]
    .filter((record) => record.settledAt === undefined)
    .map((record) => ({ call: record.scheduled, attempts: attempts.get(record.scheduled.callId) ?? 0 }));
}
