/**
 * A workflow run as the store keeps it, and the pure helpers that read and
 * change one: where it lives, how a new one is recorded, how an activity
 * event goes into its history, and which of its calls are still in flight.
 */
import type { Store } from '../../actors/stores/store-api.js';
import { FlowdError } from '../kernel/errors.js';
import { readHistory, type ActivityScheduled, type HistoryEvent, type JsonValue } from './history.js';
import type { WorkflowDefinition } from './workflow-api.js';

/** A run as the store keeps it (`workflow/run/<id>`). */
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

/** Every open run's id, from all the lists. */
export async function listOpen(store: Store): Promise<string[]> {
  const lists = await Promise.all(
    Array.from({ length: OPEN_BUCKETS }, (_, bucket) => store.get<string[]>(`workflow/open/${bucket.toString(16)}`)),
  );
  return lists.flatMap((list) => list ?? []);
}

/** Lists a run as open (once). */
export const addOpen = (store: Store, runId: string) =>
  store.update<string[]>(openKey(runId), (open = []) => (open.includes(runId) ? open : [...open, runId]));

/** Takes a run off the open list. */
export const removeOpen = (store: Store, runId: string) =>
  store.update<string[]>(openKey(runId), (open = []) => open.filter((id) => id !== runId));

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

/**
 * Writes a new run's record and adds it to the open runs, without running
 * it: the engine that decides for the store takes it up (its resume()).
 * This is how a run starts from another process (`flowd workflow start`)
 * or a daemon that is not the decider.
 */
export async function recordRun(
  store: Store,
  run: { runId: string; workflow: RunRecord['workflow']; input: JsonValue; at: number; previous?: string | undefined },
): Promise<void> {
  const record: RunRecord = {
    runId: run.runId,
    workflow: run.workflow,
    state: 'running',
    history: [{ type: 'workflow.started', at: run.at, input: run.input }],
    ...(run.previous ? { previous: run.previous } : {}),
  };
  // Listed first: a daemon killed between the two leaves an id the decider skips, never a record nobody takes up.
  await addOpen(store, run.runId);
  await store.put(runKey(run.runId), record, { ifVersion: 0 });
}

/**
 * The history with `event` at its end. A heartbeat replaces the call's
 * previous event when that was a heartbeat too: the history keeps each
 * attempt's latest sign of life and progress, not every beat of a long one.
 */
export function appendEvent(history: readonly HistoryEvent[], event: HistoryEvent, callId: string): HistoryEvent[] {
  if (event.type === 'activity.heartbeat') {
    const index = history.findLastIndex((earlier) => 'callId' in earlier && earlier.callId === callId);
    if (index > 0 && history[index]!.type === 'activity.heartbeat') return [...history.slice(0, index), ...history.slice(index + 1), event];
  }
  return [...history, event];
}

/** The call's final event is in the history already (a report repeated by an activity that ran twice). */
export const isSettled = (history: readonly HistoryEvent[], callId: string) =>
  readHistory(history).calls.get(callId)?.settledAt !== undefined;

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
