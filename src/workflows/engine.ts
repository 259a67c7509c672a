import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, fromPromise, type Actor, type InspectionEvent } from 'xstate';
import type { Store } from '../../actors/stores/store-api.js';
import { workflowRunMachine, type DecideOutput, type RunOutcome } from '../../machines/workflow-run.js';
import { FlowdError } from '../errors.js';
import { decide } from './decide.js';
import { createActivityExecutor, type ExecutorOptions } from './executor.js';
import { readHistory, scheduledEvent, toJson, type ActivityScheduled, type HistoryEvent, type JsonValue } from './history.js';
import type { ActivityDefinition, WorkflowDefinition } from './workflow-api.js';

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

/** Options of createWorkflowEngine. */
export interface WorkflowEngineOptions {
  workflows: WorkflowDefinition[];
  activities: ActivityDefinition[];
  /** Where histories live: the app's store. */
  store: Store;
  log: Logger;
  /** The activity executor's concurrency, clock and retry delays. */
  executor?: Omit<ExecutorOptions, 'activities' | 'log'>;
  /** Run actors report to this observer (the inspector's). */
  inspect?: (event: InspectionEvent) => void;
}

const runKey = (runId: string) => `workflow/run/${runId}`;
const OPEN = 'workflow/open';

const isFinal = (event: HistoryEvent) =>
  event.type === 'activity.completed' || ((event.type === 'activity.failed' || event.type === 'activity.timedOut') && event.final);

/** Calls scheduled and not yet settled (as readHistory reads them), with the highest attempt number each has used (a time-out while queued uses one too). */
function inFlight(history: readonly HistoryEvent[]): Array<{ call: ActivityScheduled; attempts: number }> {
  const attempts = new Map<string, number>();
  for (const event of history) if ('attempt' in event) attempts.set(event.callId, Math.max(attempts.get(event.callId) ?? 0, event.attempt));
  return [...readHistory(history).calls.values()]
    .filter((record) => record.settledAt === undefined)
    .map((record) => ({ call: record.scheduled, attempts: attempts.get(record.scheduled.callId) ?? 0 }));
}

/**
 * Runs workflows in this process: each run is a `workflow-run` actor whose
 * history (scheduled, started, completed, failed, timed out, heartbeats)
 * is kept in the store, so a daemon that is killed resumes every open run
 * where it was (`resume()`): its running activities are started again
 * (activities are at-least-once) and its code is replayed over the history.
 */
export function createWorkflowEngine(options: WorkflowEngineOptions) {
  const { store, log } = options;
  const now = options.executor?.clock?.now ?? Date.now;
  const executor = createActivityExecutor({ ...options.executor, activities: options.activities, log });
  const actors = new Map<string, Actor<typeof workflowRunMachine>>();
  /** Each run's writes, one after the other. */
  const writes = new Map<string, Promise<unknown>>();
  const finished = new Map<string, Array<(record: RunRecord) => void>>();
  let closed = false;

  const workflowOf = (ref: RunRecord['workflow']): WorkflowDefinition => {
    const found = options.workflows.find((w) => w.name === ref.name && String(w.version) === String(ref.version));
    if (!found) throw new FlowdError('ERR_WORKFLOW', `no workflow ${ref.name} version ${ref.version} is defined here; known: ${options.workflows.map((w) => `${w.name} ${w.version}`).join(', ') || '(none)'}`);
    return found;
  };

  /** Applies `change` to the run's record, after the run's earlier writes. */
  const write = (runId: string, change: (record: RunRecord) => RunRecord): Promise<RunRecord> => {
    const previous = writes.get(runId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(async () => {
      const { value } = await store.update<RunRecord>(runKey(runId), (record) => {
        if (!record) throw new FlowdError('ERR_WORKFLOW', `workflow run ${runId} has no record in the store`);
        return change(record);
      });
      return value!;
    });
    writes.set(runId, next);
    return next;
  };

  const report = (runId: string) => (event: HistoryEvent) => {
    if (closed) return;
    write(runId, (record) => ({ ...record, history: [...record.history, event] })).then(
      () => {
        if (isFinal(event)) actors.get(runId)?.send({ type: 'activity.finished', callId: (event as { callId: string }).callId });
      },
      (error: unknown) => log.error({ runId, err: error }, `workflow run ${runId}: could not record ${event.type}: ${(error as Error).message}`),
    );
  };

  const decideRun = async (runId: string): Promise<DecideOutput> => {
    await writes.get(runId)?.catch(() => undefined);
    const record = await store.get<RunRecord>(runKey(runId));
    if (!record) throw new FlowdError('ERR_WORKFLOW', `workflow run ${runId} has no record in the store`);
    const decision = decide(workflowOf(record.workflow), record.history);
    const at = now();
    const scheduled = decision.schedule.map((call) => scheduledEvent(call, at));
    const outcome = decision.outcome;
    let ending: Partial<RunRecord> = {};
    const ended: HistoryEvent[] = [];
    let next: string | undefined;
    if (outcome?.kind === 'completed') {
      ending = { state: 'completed', result: outcome.result };
      ended.push({ type: 'workflow.completed', at, result: outcome.result });
    } else if (outcome?.kind === 'failed') {
      ending = { state: 'failed', error: outcome.error };
      ended.push({ type: 'workflow.failed', at, error: outcome.error });
    } else if (outcome?.kind === 'restarted') {
      next = randomUUID();
      ending = { state: 'restarted', next };
      ended.push({ type: 'workflow.restarted', at, input: outcome.input });
    }
    const record2 = await write(runId, (current) => ({ ...current, ...ending, history: [...current.history, ...scheduled, ...ended] }));
    for (const call of scheduled) executor.submit({ runId, call, scheduledAt: at }, report(runId));
    let runOutcome: RunOutcome | undefined;
    if (outcome) {
      executor.cancel(runId);
      if (outcome.kind === 'restarted') {
        await begin(next!, record.workflow, outcome.input, runId);
        runOutcome = { kind: 'restarted', input: outcome.input, next: next! };
      } else {
        runOutcome = outcome.kind === 'completed' ? { kind: 'completed', result: outcome.result } : { kind: 'failed', error: outcome.error };
      }
      await store.update<string[]>(OPEN, (open = []) => open.filter((id) => id !== runId));
      for (const resolve of finished.get(runId)?.splice(0) ?? []) resolve(record2);
    }
    return { scheduled: scheduled.length, pending: inFlight(record2.history).length, ...(runOutcome ? { outcome: runOutcome } : {}) };
  };

  const logic = workflowRunMachine.provide({ actors: { decide: fromPromise(({ input }) => decideRun(input.runId)) } });

  const spawn = (runId: string, workflow: RunRecord['workflow']) => {
    const actor = createActor(logic, { input: { runId, workflow }, id: `workflow-run:${runId}`, ...(options.inspect ? { inspect: options.inspect } : {}) });
    actors.set(runId, actor);
    actor.subscribe({ complete: () => actors.delete(runId), error: (error) => log.error({ runId, err: error }, `workflow run ${runId} stopped: ${(error as Error).message}`) });
    actor.start();
  };

  /** Writes a new run's record and starts its actor. */
  const begin = async (runId: string, workflow: RunRecord['workflow'], input: JsonValue, previous?: string) => {
    const record: RunRecord = { runId, workflow, state: 'running', history: [{ type: 'workflow.started', at: now(), input }], ...(previous ? { previous } : {}) };
    await store.put(runKey(runId), record, { ifVersion: 0 });
    await store.update<string[]>(OPEN, (open = []) => [...open, runId]);
    log.info({ runId, workflow: workflow.name }, `workflow ${workflow.name} run ${runId} started`);
    spawn(runId, workflow);
  };

  return {
    /**
     * Starts a run of the workflow named `name` (its latest version here) with `input`; resolves with its id.
     * @example const runId = await engine.start('UploadWorkflow', { videoId: 'v1' });
     */
    async start(name: string, input: unknown, start: { runId?: string } = {}): Promise<string> {
      const candidates = options.workflows.filter((w) => w.name === name);
      if (candidates.length === 0) throw new FlowdError('ERR_WORKFLOW', `no workflow named "${name}"; known: ${[...new Set(options.workflows.map((w) => w.name))].join(', ') || '(none)'}`);
      const workflow = candidates.at(-1)!;
      const runId = start.runId ?? randomUUID();
      await begin(runId, { name: workflow.name, version: workflow.version }, toJson(input, `the input of workflow ${name}`));
      return runId;
    },
    /** The run's record (state, history, result or error), or undefined. */
    status: (runId: string) => store.get<RunRecord>(runKey(runId)),
    /** Resolves with the run's record once it has ended (completed, failed or restarted). */
    async ended(runId: string): Promise<RunRecord> {
      const record = await store.get<RunRecord>(runKey(runId));
      if (record && record.state !== 'running') return record;
      return new Promise((resolve) => finished.set(runId, [...(finished.get(runId) ?? []), resolve]));
    },
    /** Takes up every run the store says is open (after a restart): starts its unfinished activities again and decides. */
    async resume(): Promise<number> {
      const open = (await store.get<string[]>(OPEN)) ?? [];
      for (const runId of open) {
        if (actors.has(runId)) continue;
        const record = await store.get<RunRecord>(runKey(runId));
        if (!record || record.state !== 'running') continue;
        for (const { call, attempts } of inFlight(record.history)) executor.submit({ runId, call, scheduledAt: call.at, attemptsMade: attempts }, report(runId));
        spawn(runId, record.workflow);
      }
      if (open.length > 0) log.info({ runs: open.length }, `workflows: resumed ${open.length} open run(s)`);
      return open.length;
    },
    /** The executor's queues, per task list. */
    stats: () => executor.stats(),
    /** Stops every run actor and the executor; open runs stay open in the store, for resume(). */
    async close(graceMs?: number): Promise<void> {
      closed = true;
      for (const actor of actors.values()) actor.stop();
      actors.clear();
      await executor.close(graceMs);
      await Promise.allSettled([...writes.values()]);
    },
  };
}

/** A workflow engine (createWorkflowEngine). */
export type WorkflowEngine = ReturnType<typeof createWorkflowEngine>;
