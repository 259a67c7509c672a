import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, fromPromise, type Actor, type InspectionEvent } from 'xstate';
import type { Store } from '../../actors/stores/store-api.js';
import { workflowRunMachine, type DecideOutput, type RunOutcome } from '../../machines/workflow-run.js';
import { FlowdError } from '../errors.js';
import { decide } from './decide.js';
import { createActivityExecutor, type ActivityExecutor, type ExecutorOptions } from './executor.js';
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
  /** Runs the calls instead of an executor made here (the broker's task lists); the caller closes it. */
  runner?: ActivityExecutor;
  /** Run actors report to this observer (the inspector's). */
  inspect?: (event: InspectionEvent) => void;
}

/** The store key of a run's record. */
export const runKey = (runId: string) => `workflow/run/${runId}`;
/** The store key of the ids of the runs that have not ended. */
export const OPEN_RUNS = 'workflow/open';
const OPEN = OPEN_RUNS;

/** The workflow named `name` that new runs get: its last definition here. Throws ERR_WORKFLOW naming the known ones. */
export function latestWorkflow(workflows: readonly WorkflowDefinition[], name: string): WorkflowDefinition {
  const candidates = workflows.filter((w) => w.name === name);
  if (candidates.length === 0) throw new FlowdError('ERR_WORKFLOW', `no workflow named "${name}"; known: ${[...new Set(workflows.map((w) => w.name))].join(', ') || '(none)'}`);
  return candidates.at(-1)!;
}

/**
 * Writes a new run's record and adds it to the open runs, without running
 * it: the engine that decides for the store takes it up (its resume()).
 * This is how a run starts from another process (`flowd workflow start`)
 * or a daemon that is not the decider.
 */
export async function recordRun(store: Store, run: { runId: string; workflow: RunRecord['workflow']; input: JsonValue; at: number; previous?: string | undefined }): Promise<void> {
  const record: RunRecord = { runId: run.runId, workflow: run.workflow, state: 'running', history: [{ type: 'workflow.started', at: run.at, input: run.input }], ...(run.previous ? { previous: run.previous } : {}) };
  await store.put(runKey(run.runId), record, { ifVersion: 0 });
  await store.update<string[]>(OPEN, (open = []) => (open.includes(run.runId) ? open : [...open, run.runId]));
}

/**
 * The history with `event` at its end. A heartbeat replaces the call's
 * previous event when that was a heartbeat too: the history keeps each
 * attempt's latest sign of life and progress, not every beat of a long one.
 */
function appendEvent(history: readonly HistoryEvent[], event: HistoryEvent, callId: string): HistoryEvent[] {
  if (event.type === 'activity.heartbeat') {
    const index = history.findLastIndex((earlier) => 'callId' in earlier && earlier.callId === callId);
    if (index > 0 && history[index]!.type === 'activity.heartbeat') return [...history.slice(0, index), ...history.slice(index + 1), event];
  }
  return [...history, event];
}

/** The call's final event is in the history already (a report repeated by an activity that ran twice). */
const isSettled = (history: readonly HistoryEvent[], callId: string) => readHistory(history).calls.get(callId)?.settledAt !== undefined;

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
  const executor = options.runner ?? createActivityExecutor({ ...options.executor, activities: options.activities, log });
  const actors = new Map<string, Actor<typeof workflowRunMachine>>();
  /** Each run's writes, one after the other. */
  const writes = new Map<string, Promise<unknown>>();
  const finished = new Map<string, Array<(record: RunRecord) => void>>();
  let closed = false;
  /** Open runs of a workflow (name and version) not defined here. */
  const unknown = new Set<string>();

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

  /** Records an activity event; one of a call that has settled already, or of a run that ended, is dropped. Resolves once it is in the store. */
  const report = (runId: string) => (event: HistoryEvent): Promise<void> => {
    if (closed) return Promise.resolve();
    const callId = (event as { callId?: string }).callId ?? '';
    let appended = false;
    return write(runId, (record) => {
      appended = record.state === 'running' && !isSettled(record.history, callId);
      return appended ? { ...record, history: appendEvent(record.history, event, callId) } : record;
    }).then(
      () => {
        if (appended && isFinal(event)) actors.get(runId)?.send({ type: 'activity.finished', callId });
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
      const name = `workflow ${record.workflow.name} run ${runId}`;
      if (outcome.kind === 'completed') log.info({ runId, workflow: record.workflow.name }, `${name} completed`);
      else if (outcome.kind === 'failed') log.warn({ runId, workflow: record.workflow.name, error: outcome.error }, `${name} failed: ${outcome.error.message}`);
      else log.info({ runId, workflow: record.workflow.name, next }, `${name} continues as new in run ${next}`);
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
    await recordRun(store, { runId, workflow, input, at: now(), previous });
    log.info({ runId, workflow: workflow.name }, `workflow ${workflow.name} run ${runId} started`);
    spawn(runId, workflow);
  };

  return {
    /**
     * Starts a run of the workflow named `name` (its latest version here) with `input`; resolves with its id.
     * @example const runId = await engine.start('UploadWorkflow', { videoId: 'v1' });
     */
    async start(name: string, input: unknown, start: { runId?: string } = {}): Promise<string> {
      const workflow = latestWorkflow(options.workflows, name);
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
    /**
     * Takes up every run the store says is open and no actor here runs
     * (after a restart, or started by another process): starts its
     * unfinished activities again and decides. Resolves with how many it took up.
     */
    async resume(): Promise<number> {
      if (closed) return 0;
      const open = (await store.get<string[]>(OPEN)) ?? [];
      let taken = 0;
      for (const runId of open) {
        if (actors.has(runId) || closed) continue;
        const record = await store.get<RunRecord>(runKey(runId));
        if (!record || record.state !== 'running' || actors.has(runId)) continue;
        try {
          workflowOf(record.workflow);
        } catch (error) {
          // Left open: a later deploy may define it again. Said once per run.
          if (!unknown.has(runId)) log.error({ runId, workflow: record.workflow }, `workflow run ${runId} stays open and waits: ${(error as Error).message}`);
          unknown.add(runId);
          continue;
        }
        for (const { call, attempts } of inFlight(record.history)) executor.submit({ runId, call, scheduledAt: call.at, attemptsMade: attempts }, report(runId));
        spawn(runId, record.workflow);
        taken++;
      }
      if (taken > 0) log.info({ runs: taken }, `workflows: took up ${taken} open run(s)`);
      return taken;
    },
    /** The executor's queues, per task list. */
    stats: () => executor.stats(),
    /** How many runs this engine decides now. */
    runs: () => actors.size,
    /** Stops every run actor and the executor; open runs stay open in the store, for resume(). */
    async close(graceMs?: number): Promise<void> {
      closed = true;
      for (const actor of actors.values()) actor.stop();
      actors.clear();
      if (options.runner) for (const runId of [...writes.keys()]) executor.cancel(runId);
      else await executor.close(graceMs);
      await Promise.allSettled([...writes.values()]);
    },
  };
}

/** A workflow engine (createWorkflowEngine). */
export type WorkflowEngine = ReturnType<typeof createWorkflowEngine>;
