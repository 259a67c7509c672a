/**
 * How a run is kept in the app's store, so that recording an event costs
 * the same however long the run's history is:
 *
 * - its header, `workflow/run/<id>` (the workflow, its state, result or
 *   error, its links and deadline), written by compare-and-set when the
 *   run starts and when it ends;
 * - its history, an append-only log, `workflow/history/<id>` (the store's
 *   logs: a Redis list, a PostgreSQL row per event, a JSON-lines file), each
 *   append checked against the length the writer last saw;
 * - its running calls' latest heartbeats, one record, `workflow/heartbeats/<id>`
 *   (call id → its last beat), written by the decider and removed when the
 *   run ends: a long activity's beats never grow the history.
 *
 * The log is written before the header, so a writer stopped between the
 * two leaves a run whose log has ended and whose header says running: it is
 * read as ended (`stale`), and the next write brings the header up to date.
 * A header that still holds its history (written before flowd kept logs)
 * is read as it is and moved to a log at its next write.
 */
import { randomUUID } from 'node:crypto';
import type { LoggingStore, Store, StoreLogs } from '../../actors/stores/store-api.js';
import { recordLogs } from '../../actors/stores/record-logs.js';
import { ConflictError, FlowdError } from '../kernel/errors.js';
import { jsonEqual, type ActivityHeartbeat, type HistoryEvent, type JsonValue } from './history.js';
import { addOpen, checkRunRecord, inFlight, isFinal, runKey, type RunRecord } from './run-record.js';

/** The key of a run's history log. */
export const historyKey = (runId: string) => `workflow/history/${runId}`;
/** The key of a run's running calls' latest heartbeats (one record: call id → its last heartbeat). */
export const heartbeatsKey = (runId: string) => `workflow/heartbeats/${runId}`;

/** A run as a writer last read or wrote it. */
export interface StoredRun {
  /** The run with its history (no heartbeats). */
  record: RunRecord;
  /** The header's version, for the next compare-and-set. */
  version: number;
  /** The header still holds the history (written before flowd kept logs): the next write moves it to a log. */
  inline: boolean;
  /** How many of the history's events are in the log (fewer than all only while a history is being moved from its header). */
  logged: number;
  /** The log has ended and the header does not say so yet (a writer stopped between the two). */
  stale: boolean;
  /** Calls (and children) the history settled, by id. */
  settled: Set<string>;
}

/** The store's logs: its own, or emulated by a record each for a store without them (a wrapper a test made, say). */
export function logsOf(store: Store): StoreLogs {
  return (store as Partial<LoggingStore>).logs ?? recordLogs(store, 'workflows');
}

const settles = (event: HistoryEvent) => isFinal(event) || event.type === 'child.completed' || event.type === 'child.failed';

function settledOf(history: readonly HistoryEvent[], into = new Set<string>()): Set<string> {
  for (const event of history) if (settles(event)) into.add((event as { callId: string }).callId);
  return into;
}

/** The run as its log says when the header lags it: the end the log recorded. */
function withEndOfLog(record: RunRecord): { record: RunRecord; stale: boolean } {
  const last = record.history.at(-1);
  if (record.state !== 'running' || !last) return { record, stale: false };
  if (last.type === 'workflow.completed') return { record: { ...record, state: 'completed', result: last.result }, stale: true };
  if (last.type === 'workflow.failed') return { record: { ...record, state: 'failed', error: last.error }, stale: true };
  if (last.type === 'workflow.restarted') return { record: { ...record, state: 'restarted' }, stale: true };
  return { record, stale: false };
}

const corrupt = (runId: string, problem: string) =>
  new FlowdError(
    'ERR_WORKFLOW_STATE',
    `the history log "${historyKey(runId)}" of run ${runId} in the store is corrupt: ${problem}; repair or delete the run (flowd writes it; see docs/workflows.md)`,
  );

/**
 * Reads a run's header and whole history, checked (ERR_WORKFLOW_STATE names
 * the key); undefined when it has no header. A header that still holds its
 * history is read with its log: a move that stopped halfway left the log
 * holding that history and perhaps more, and the log is the run's history
 * then; a log that does not begin with the header's history is corrupt.
 */
export async function loadRun(store: Store, runId: string): Promise<StoredRun | undefined> {
  const key = runKey(runId);
  const { value, version } = await store.getVersioned<unknown>(key);
  if (value === undefined) return undefined;
  // Anything but a header without its history is checked as it is (a string, a record from before logs).
  const inline = !value || typeof value !== 'object' || Array.isArray(value) || 'history' in value;
  const log = await logsOf(store).read<HistoryEvent>(historyKey(runId));
  if (!inline && log.length === 0) throw corrupt(runId, 'it is empty or missing, and the run has a header');
  let checked = checkRunRecord(inline ? value : { ...(value as object), history: log }, key);
  if (inline && log.length > 0) {
    const moved = checked.history;
    if (log.length < moved.length || !moved.every((event, i) => jsonEqual(event as never, log[i] as never)))
      throw corrupt(runId, `it does not begin with the ${moved.length} events its header holds (a move from the header went wrong)`);
    checked = checkRunRecord({ ...checked, history: log }, key);
  }
  const { record, stale } = withEndOfLog(checked);
  return { record, version, inline, logged: log.length, stale, settled: settledOf(record.history) };
}

/**
 * Writes `after`, the run `before` changed (its history only grown): the
 * events not yet in the log onto it at the length `before` saw there, then
 * the header when the run's state changed (or lagged its log, or still held
 * its history). A run that continues as new gets its next run's id here.
 * ERR_CONFLICT when another writer came first (read the run again and redo
 * the change), ERR_FENCED for an older token.
 */
export async function saveRun(store: Store, before: StoredRun, after: RunRecord, fence: number | undefined): Promise<StoredRun> {
  const { runId } = after;
  const { history } = after;
  const fenced = fence === undefined ? {} : { fence };
  if (history.length > before.logged)
    await logsOf(store).append(historyKey(runId), history.slice(before.logged), { ifLength: before.logged, ...fenced });
  let record = after;
  let version = before.version;
  if (before.inline || before.stale || before.record.state !== after.state || before.record.next !== after.next) {
    if (record.state === 'restarted' && !record.next) record = { ...record, next: randomUUID() };
    const { history: _history, ...header } = record;
    ({ version } = await store.put(runKey(runId), header, { ifVersion: before.version, ...fenced }));
  }
  // The index of settled calls grows with the events added (the Set is the run's, carried from write to write).
  const { settled } = before;
  for (let i = before.record.history.length; i < history.length; i++) {
    const event = history[i]!;
    if (settles(event)) settled.add((event as { callId: string }).callId);
  }
  return { record, version, inline: false, logged: history.length, stale: false, settled };
}

/**
 * Writes a new run, without running it: the engine that decides for the
 * store takes it up (its resume()). Listed as open first, then its log,
 * then its header: a writer stopped between leaves an id the decider skips
 * (no header yet), never a header nobody takes up; a run id given again
 * after such a stop finds its one-event log and writes the header.
 * Resolves with the run as written (undefined when its start was there
 * already), so its writer need not read it back.
 */
export async function recordRun(
  store: Store,
  run: {
    runId: string;
    workflow: RunRecord['workflow'];
    input: JsonValue;
    at: number;
    previous?: string | undefined;
    /** When its workflow duration ends. */
    deadline?: number | undefined;
    /** The run that started it as a child, and its call there. */
    parent?: { runId: string; callId: string } | undefined;
  },
  /** `idIsNew`: the run id was just made (a random UUID): no run can have it, so the store is not asked whether one does. */
  how: { idIsNew: boolean } = { idIsNew: false },
): Promise<StoredRun | undefined> {
  const header: Omit<RunRecord, 'history'> = {
    runId: run.runId,
    workflow: run.workflow,
    state: 'running',
    ...(run.previous ? { previous: run.previous } : {}),
    ...(run.deadline !== undefined ? { deadline: run.deadline } : {}),
    ...(run.parent ? { parent: run.parent } : {}),
  };
  if (!how.idIsNew && (await store.get(runKey(run.runId))) !== undefined)
    throw new ConflictError(`workflow run ${run.runId} exists already (its header "${runKey(run.runId)}" is in the store)`);
  await addOpen(store, run.runId);
  const logs = logsOf(store);
  const started: HistoryEvent = { type: 'workflow.started', at: run.at, input: run.input };
  let ours = true;
  try {
    await logs.append(historyKey(run.runId), [started], { ifLength: 0 });
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_CONFLICT') throw error;
    // A log of only its start: a start that stopped halfway (its header follows now) or a run that exists (its header refuses below).
    if ((await logs.read(historyKey(run.runId))).length !== 1) throw error;
    ours = false;
  }
  const { version } = await store.put(runKey(run.runId), header, { ifVersion: 0 });
  return ours
    ? { record: { ...header, history: [started] }, version, inline: false, logged: 1, stale: false, settled: new Set() }
    : undefined;
}

/**
 * A run's record for readers (`flowd workflow status`, `engine.status`):
 * header and history, and after them each running call's latest heartbeat.
 * Undefined when there is none; ERR_WORKFLOW_STATE for a corrupt one.
 */
export async function readRun(store: Store, runId: string): Promise<RunRecord | undefined> {
  const stored = await loadRun(store, runId);
  if (!stored) return undefined;
  if (stored.stale) {
    // Its end is in the log and not yet in its header (the decider is writing it, or takes it up again): running until then.
    const { result: _result, error: _error, ...running } = stored.record;
    return { ...running, state: 'running' };
  }
  const { record } = stored;
  if (record.state !== 'running') return record;
  const beats = await store.get<unknown>(heartbeatsKey(runId)).catch(() => undefined);
  if (!beats || typeof beats !== 'object' || Array.isArray(beats)) return record;
  // A beat counts for the attempt running now: one from before the call's latest start is an earlier attempt's (or daemon's).
  const startedAt = new Map<string, number>();
  for (const event of record.history) if (event.type === 'activity.started') startedAt.set(event.callId, event.at);
  const shown = inFlight(record.history)
    .map(({ call }) => (beats as Record<string, unknown>)[call.callId])
    .filter(
      (beat): beat is ActivityHeartbeat =>
        !!beat &&
        typeof beat === 'object' &&
        (beat as { type?: unknown }).type === 'activity.heartbeat' &&
        typeof (beat as { at?: unknown }).at === 'number' &&
        typeof (beat as { callId?: unknown }).callId === 'string' &&
        (beat as ActivityHeartbeat).at >= (startedAt.get((beat as ActivityHeartbeat).callId) ?? Infinity),
    );
  return shown.length === 0 ? record : { ...record, history: [...record.history, ...shown.sort((a, b) => a.at - b.at)] };
}
