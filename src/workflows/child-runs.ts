/**
 * The engine's side of child workflows: starting the child run its
 * parent's history records (`child.started`, with the run id chosen once),
 * and reporting the child's end back into the parent's history
 * (`child.completed`, `child.failed`) so the parent decides again. Each
 * step is safe to repeat, so a daemon that stops between any two goes on
 * with the same child when it takes the runs up again.
 */
import type { Logger } from 'pino';
import type { Store } from '../../actors/stores/store-api.js';
import { readHistory, type ChildStarted, type HistoryEvent, type JsonValue } from './history.js';
import { runKey, type RunRecord } from './run-record.js';
import { readRun } from './run-store.js';

/** What the child runs need from the engine. */
export interface ChildRunsHost {
  store: Store;
  log: Logger;
  now(): number;
  /** Applies `change` to a run's record, after the run's earlier writes. */
  write(runId: string, change: (record: RunRecord) => RunRecord): Promise<RunRecord>;
  /** Throws when no workflow of that name and version is defined here. */
  workflowOf(ref: RunRecord['workflow']): unknown;
  /** Records and starts a run; one that exists already is left as it is. */
  begin(
    runId: string,
    workflow: RunRecord['workflow'],
    input: JsonValue,
    from: { parent: NonNullable<RunRecord['parent']>; durationMs?: number | undefined },
  ): Promise<void>;
  /** The run (the parent) has news: it decides again. */
  wake(runId: string, callId: string): void;
}

/** A run's end, as the parent's history takes it. */
type RunEnd = { state: RunRecord['state']; result?: JsonValue; error?: { code: string; message: string } };

/** The child runs of one engine (see the module's doc). */
export function createChildRuns(host: ChildRunsHost) {
  const { store, log } = host;

  /**
   * A child's end goes into its parent's history as `child.completed` or
   * `child.failed` (once), and the parent decides. A parent that ended or
   * is gone takes nothing (the child ran on, abandoned).
   */
  const toParent = async (parent: NonNullable<RunRecord['parent']>, childRunId: string, end: RunEnd): Promise<void> => {
    if ((await store.get<unknown>(runKey(parent.runId))) === undefined) {
      log.warn(
        { runId: childRunId, parent },
        `workflow run ${childRunId}: its parent run ${parent.runId} is gone; its end is not reported`,
      );
      return;
    }
    const base = { at: host.now(), callId: parent.callId, runId: childRunId };
    const event: HistoryEvent =
      end.state === 'completed'
        ? { type: 'child.completed', ...base, result: end.result ?? null }
        : { type: 'child.failed', ...base, error: end.error ?? { code: 'ERR_WORKFLOW', message: 'failed' } };
    let appended = false;
    await host.write(parent.runId, (record) => {
      const child = record.state === 'running' ? readHistory(record.history).children.get(parent.callId) : undefined;
      appended = child !== undefined && child.settledAt === undefined;
      return appended ? { ...record, history: [...record.history, event] } : record;
    });
    if (appended) host.wake(parent.runId, parent.callId);
  };

  /** Starts a child run its parent's history records (an existing one is left as it is); a workflow not defined here fails the child's call. */
  const start = async (parentRunId: string, child: ChildStarted): Promise<void> => {
    const parent = { runId: parentRunId, callId: child.callId };
    try {
      host.workflowOf(child.workflow);
    } catch (error) {
      await toParent(parent, child.runId, { state: 'failed', error: { code: 'ERR_WORKFLOW', message: (error as Error).message } });
      return;
    }
    await host.begin(child.runId, child.workflow, child.input, { parent, durationMs: child.durationMs });
  };

  /** The children a run's history started and that have not ended there: each exists, or is started; one that ended reports to it. */
  const check = async (record: RunRecord): Promise<void> => {
    for (const child of readHistory(record.history).children.values()) {
      if (child.settledAt !== undefined) continue;
      const found = await readRun(store, child.started.runId);
      if (found === undefined) await start(record.runId, child.started);
      else if (found.state === 'completed' || found.state === 'failed')
        await toParent({ runId: record.runId, callId: child.started.callId }, found.runId, found);
    }
  };

  /** A run that ended: a child that completed or failed reports to its parent (before it leaves the open runs, so a stop here repeats it). */
  const ended = async (record: RunRecord): Promise<void> => {
    if (record.parent && (record.state === 'completed' || record.state === 'failed')) await toParent(record.parent, record.runId, record);
  };

  return { start, check, ended };
}
