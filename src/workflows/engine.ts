import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import type { Store } from '../../actors/stores/store-api.js';
import { compileMachine, type CompiledMachine } from '../../machines/compile.js';
import { workflowRunMachine, type DecideArgs, type DecideOutput, type RunOutcome } from '../../machines/workflow-run.js';
import { FlowdError } from '../kernel/errors.js';
import { decide } from './decide.js';
import { createActivityExecutor, type ActivityExecutor, type ExecutorOptions } from './executor.js';
import { systemClock, timerAt } from './executor-support.js';
import { createChildRuns } from './child-runs.js';
import { createWorkflowTracing } from './tracing.js';
import { groupCommit } from './group-commit.js';
import { DEFAULT_LIMITS, WorkflowSizeError, checkSize, durationOf, workflowTimeout, type WorkflowLimits } from './limits.js';
import {
  readHistory,
  scheduledEvent,
  toJson,
  type ActivityScheduled,
  type ChildStarted,
  type HistoryEvent,
  type JsonValue,
} from './history.js';
import { inFlight, isFinal, latestWorkflow, listOpen, removeOpen, runKey, type RunRecord } from './run-record.js';
import { heartbeatsKey, loadRun, readRun, recordRun, saveRun, type StoredRun } from './run-store.js';

export { latestWorkflow, listOpen, openKey, runKey, type RunRecord } from './run-record.js';
export { readRun, recordRun } from './run-store.js';
import type { ActivityDefinition, WorkflowDefinition } from './workflow-api.js';

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
  /**
   * The decider lock's fencing token: every write of a run's record carries
   * it, so a decider whose lease lapsed cannot write over its successor's
   * (ERR_FENCED). @default unfenced
   */
  fence?: number;
  /** Run actors report to this observer (the inspector's). */
  inspect?: (event: InspectionEvent) => void;
  /** `[Workflow]` limits: workflow duration, rate limit, input and result sizes. @default DEFAULT_LIMITS (Flowy's 1 h and 64; 1,048,576 characters) */
  limits?: Partial<WorkflowLimits>;
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
  const clock = options.executor?.clock ?? systemClock;
  const now = () => clock.now();
  const limits: WorkflowLimits = { ...DEFAULT_LIMITS, ...options.limits };
  /** Runs whose new children may not all have started (a store that failed): the next decision checks them. */
  const childrenToCheck = new Set<string>();
  /** Each run's timer at its workflow duration's end. */
  const deadlines = new Map<string, () => void>();
  // With a tracer provider registered, runs and activity attempts are spans (tracing.ts); otherwise both are as given.
  const tracing = createWorkflowTracing();
  const executor = tracing.executor(options.runner ?? createActivityExecutor({ ...options.executor, activities: options.activities, log }));
  const inspect = tracing.observer(options.inspect);
  const actors = new Map<string, Actor<CompiledMachine<typeof workflowRunMachine>>>();
  /** Each run's writes, one after the other (the entry goes when its last write settles). */
  const writes = new Map<string, Promise<unknown>>();
  /** Each open run as this engine last wrote or read it. */
  const records = new Map<string, StoredRun>();
  /** Each run's heartbeat writes, one after the other (the entry goes when the run ends): the record is removed after the last. */
  const beats = new Map<string, { calls: Set<string>; last: Promise<unknown> }>();
  const waiters = new Map<string, Array<{ resolve(record: RunRecord): void; reject(error: Error): void }>>();
  /** Runs whose end this engine is finishing (finish() under way): ended() answers once that is done. */
  const finishing = new Map<string, Promise<void>>();
  /**
   * Runs this engine began (not taken up from the store): no other daemon can have written their heartbeats
   * record (one that took such a run up appended to its log with a higher fence first, and this engine's
   * writes of it fail from then on), so one that never beat here has none to delete at its end.
   */
  const begunHere = new Set<string>();
  /** Runs whose end this engine recorded: their actors' ends are expected. */
  const endedHere = new Set<string>();
  /** Open runs set aside until the daemon restarts, each said once: a workflow not defined here, or a decision that failed for good. */
  const setAside = new Set<string>();
  /** Open-runs lists found corrupt, each with what was said about it: said once, and again when it changes or is repaired. */
  const corruptLists = new Map<string, string>();
  let closed = false;
  const shutdown = (what: string) => new FlowdError('ERR_SHUTDOWN', `the workflow engine is closed (flowd is stopping): ${what}`);

  const workflowOf = (ref: RunRecord['workflow']): WorkflowDefinition => {
    const found = options.workflows.find((w) => w.name === ref.name && String(w.version) === String(ref.version));
    if (!found)
      throw new FlowdError(
        'ERR_WORKFLOW',
        `no workflow ${ref.name} version ${ref.version} is defined here; known: ${options.workflows.map((w) => `${w.name} ${w.version}`).join(', ') || '(none)'}`,
      );
    return found;
  };

  const settleWaiters = (runId: string, outcome: { record: RunRecord } | { error: Error }) => {
    const list = waiters.get(runId) ?? [];
    waiters.delete(runId);
    for (const waiter of list)
      if ('record' in outcome) waiter.resolve(outcome.record);
      else waiter.reject(outcome.error);
  };

  const settledPromise: Promise<unknown> = Promise.resolve();
  /** Resolves once the promise jobs queued now have run (process.nextTick runs after them, before any I/O or timer). */
  const afterJobs = () => new Promise<void>((resolve) => process.nextTick(resolve));

  /**
   * Applies `change` to the run's record, once `after` (given the run's earlier writes) says so: `afterEarlier`
   * for a write of its own, `afterEarlierAndJobs` for a batch of activity events.
   */
  const chainWrite = (
    runId: string,
    change: (record: RunRecord) => RunRecord,
    after: (previous: Promise<unknown>, run: () => Promise<RunRecord>) => Promise<RunRecord>,
  ): Promise<RunRecord> => {
    if (closed) return Promise.reject(shutdown(`run ${runId} was not written`));
    // After the run's earlier writes, whatever their outcome (and never inside this call: recordEvents' batch fills meanwhile).
    const run = async () => {
      if (closed) throw shutdown(`run ${runId} was not written`);
      // The run as this engine last wrote or read it: only the decider writes a run, so it is
      // read again only when a write finds another length or version there (ERR_CONFLICT).
      let known = records.get(runId);
      for (let attempt = 0; ; attempt++) {
        if (!known) {
          known = await loadRun(store, runId);
          if (!known) throw new FlowdError('ERR_WORKFLOW', `workflow run ${runId} has no record in the store`);
        }
        const changed = change(known.record);
        // Nothing to change (a report of a call that settled already): nothing to write, unless the header lags its log.
        if (changed === known.record && !known.stale) return changed;
        try {
          const saved = await saveRun(store, known, changed, options.fence);
          records.set(runId, saved);
          return saved.record;
        } catch (error) {
          records.delete(runId);
          known = undefined;
          if ((error as { code?: unknown }).code !== 'ERR_CONFLICT' || attempt >= 10) throw error;
        }
      }
    };
    const next = after(writes.get(runId) ?? settledPromise, run);
    writes.set(runId, next);
    const forget = () => {
      if (writes.get(runId) === next) writes.delete(runId);
    };
    void next.then(forget, forget);
    return next;
  };
  const afterEarlier = (previous: Promise<unknown>, run: () => Promise<RunRecord>) => previous.then(run, run);
  // A batch of activity events also waits until the promise jobs under way have run: an activity that
  // ends at once (in those jobs) has its end in the same append as its start, not in one of its own.
  const afterEarlierAndJobs = (previous: Promise<unknown>, run: () => Promise<RunRecord>) => previous.then(afterJobs, afterJobs).then(run);
  /** Applies `change` to the run's record, after the run's earlier writes. */
  const write = (runId: string, change: (record: RunRecord) => RunRecord) => chainWrite(runId, change, afterEarlier);

  /**
   * Activity events of a run reported while a write of it is under way (or
   * waits its turn) are written together, in one append: a run whose calls
   * start and end at once makes a write for them all, not one each. The
   * actor hears once a write that a call finished, and decides once for all.
   * An event of a call that settled already (here or earlier in the batch),
   * or of a run that ended, is dropped; each event's promise says whether it
   * was appended.
   */
  const recordEvents = groupCommit<HistoryEvent, boolean>((runId, take) => {
    let appended: boolean[] = [];
    let finished: string[] = [];
    return chainWrite(
      runId,
      (record) => {
        const events = take();
        finished = [];
        if (record.state !== 'running') {
          appended = events.map(() => false);
          return record;
        }
        appended = [];
        const settled = new Set<string>();
        const history = [...record.history];
        for (const event of events) {
          const callId = (event as { callId?: string }).callId ?? '';
          const fresh = !settled.has(callId) && !settledHere(runId, record, callId);
          appended.push(fresh);
          if (!fresh) continue;
          history.push(withinResultSize(runId, event, history));
          if (isFinal(event)) {
            settled.add(callId);
            finished.push(callId);
          }
        }
        return history.length === record.history.length ? record : { ...record, history };
      },
      afterEarlierAndJobs,
    ).then(() => {
      for (const callId of finished) forgetBeat(runId, callId);
      if (finished.length > 0) actors.get(runId)?.send({ type: 'activity.finished', callId: finished[0]! });
      return appended;
    });
  });

  /**
   * Records an activity event (with the others of its run reported
   * meanwhile: recordEvents). A store that is down is tried again
   * (1 s, doubling to 30 s) until it answers or the engine closes: an event
   * lost here would leave its run waiting for good. Resolves once it is in
   * the store; rejects when it cannot be (the run has no record, say).
   */
  const report =
    (runId: string) =>
    (event: HistoryEvent): Promise<void> => {
      if (event.type === 'activity.heartbeat') return heartbeat(runId, event);
      if (closed) return Promise.resolve();
      // The usual case, recorded at the first try, takes no more than its write; a failure is tried again below.
      return recordEvents(runId, event).then(
        () => undefined,
        (error: unknown) => recordAgain(runId, event, error),
      );
    };

  /** The rest of report(): `event` could not be recorded (`error`); tried again while the store is down. */
  const recordAgain = async (runId: string, event: HistoryEvent, error: unknown): Promise<void> => {
    const callId = (event as { callId?: string }).callId ?? '';
    for (let attempt = 0; !closed; attempt++) {
      const code = (error as { code?: unknown }).code;
      if (code !== 'ERR_STORE_UNAVAILABLE' && code !== 'ERR_CONFLICT' && code !== 'ERR_STORE') {
        log.error({ runId, err: error }, `workflow run ${runId}: could not record ${event.type} of ${callId}: ${(error as Error).message}`);
        throw error;
      }
      const delayMs = Math.min(1000 * 2 ** attempt, 30_000);
      log.warn(
        { runId, err: error, delayMs },
        `workflow run ${runId}: could not record ${event.type} of ${callId} (${(error as Error).message}); trying again in ${delayMs}ms`,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (closed) return;
      try {
        await recordEvents(runId, event);
        return;
      } catch (again) {
        error = again;
      }
    }
  };

  /** How many calls of `record` are scheduled and not settled: counted against the run's index of settled calls when `record` is the one this engine holds. */
  const pendingCalls = (runId: string, record: RunRecord): number => {
    const known = records.get(runId);
    if (known?.record !== record) return inFlight(record.history).length;
    let pending = 0;
    for (const event of record.history) if (event.type === 'activity.scheduled' && !known.settled.has(event.callId)) pending++;
    return pending;
  };

  /** Whether the call has settled in `record`: from the run's index when `record` is the one this engine holds, else read from its history. */
  const settledHere = (runId: string, record: RunRecord, callId: string): boolean => {
    const known = records.get(runId);
    if (known?.record === record) return known.settled.has(callId);
    return readHistory(record.history).calls.get(callId)?.settledAt !== undefined;
  };

  /** Runs `change` on the run's heartbeats record after its earlier heartbeat writes; a failure is logged (the next beat replaces it). */
  const changeBeats = (runId: string, change: (beats: Record<string, HistoryEvent>) => Record<string, HistoryEvent>) => {
    const entry = beats.get(runId) ?? { calls: new Set<string>(), last: Promise.resolve() };
    beats.set(runId, entry);
    entry.last = entry.last.then(() =>
      store
        .update<Record<string, HistoryEvent>>(heartbeatsKey(runId), (current) => change({ ...current }))
        .catch((error: unknown) => {
          log.debug({ runId, err: error }, `workflow run ${runId}: its heartbeats were not stored: ${(error as Error).message}`);
        }),
    );
    return entry;
  };

  /**
   * A heartbeat replaces the call's last one in the run's heartbeats record
   * (a sign of life and progress, for `flowd workflow status`): the history
   * is not written, so a long activity's beats cost the same each. Only for
   * a call still running in a run this engine decides.
   */
  const heartbeat = async (runId: string, event: HistoryEvent & { type: 'activity.heartbeat' }): Promise<void> => {
    const known = records.get(runId);
    if (closed || !known || known.record.state !== 'running' || known.settled.has(event.callId)) return;
    const entry = changeBeats(runId, (current) => ({ ...current, [event.callId]: event }));
    entry.calls.add(event.callId);
    await entry.last;
  };

  /** A call that settled leaves the heartbeats record (when it beat here). */
  const forgetBeat = (runId: string, callId: string) => {
    const entry = beats.get(runId);
    if (!entry?.calls.delete(callId)) return;
    changeBeats(runId, (current) => {
      delete current[callId];
      return current;
    });
  };

  /** An activity result over `max result size` fails its call for good (Flowy failed such an activity). */
  const withinResultSize = (runId: string, event: HistoryEvent, history: readonly HistoryEvent[]): HistoryEvent => {
    if (event.type !== 'activity.completed') return event;
    try {
      checkSize(event.result, () => `workflow run ${runId}: the result of call ${event.callId}`, limits, 'result');
      return event;
    } catch (error) {
      if (!(error instanceof WorkflowSizeError)) throw error;
      const attempts = history.map((earlier) => ('attempt' in earlier && earlier.callId === event.callId ? earlier.attempt : 0));
      const { callId, at } = event;
      return {
        type: 'activity.failed',
        at,
        callId,
        attempt: Math.max(1, ...attempts),
        error: { code: error.code, message: error.message },
        final: true,
      };
    }
  };

  /** After a run's end is in its record: its continuation exists, it leaves the open runs, and its waiters hear. Safe to repeat. */
  const finish = (record: RunRecord): Promise<void> => {
    const done = finishRun(record);
    finishing.set(record.runId, done);
    void done
      .catch(() => undefined)
      .then(() => {
        if (finishing.get(record.runId) === done) finishing.delete(record.runId);
      });
    return done;
  };

  const finishRun = async (record: RunRecord) => {
    const { runId } = record;
    if (record.state === 'restarted' && record.next) {
      const restarted = record.history.findLast((event) => event.type === 'workflow.restarted');
      const input = restarted?.type === 'workflow.restarted' ? restarted.input : null;
      // A child that continues as new is still its parent's child.
      await begin(record.next, record.workflow, input as JsonValue, { previous: runId, parent: record.parent });
    }
    // Before it leaves the open runs: a daemon that stops here finishes it again when it takes it up.
    await children.ended(record);
    await removeOpen(store, runId);
    records.delete(runId);
    // After its last heartbeat write; a run that beat under another daemon has its record removed too.
    const beaten = beats.get(runId);
    await beaten?.last;
    beats.delete(runId);
    // Forgotten whether or not it beat here (a `||` would skip the delete for a run that beat, and keep its id for good).
    const begun = begunHere.delete(runId);
    if (beaten !== undefined || !begun) await store.delete(heartbeatsKey(runId)).catch(() => undefined);
    settleWaiters(runId, { record });
  };

  const decideRun = async (runId: string): Promise<DecideOutput> => {
    await writes.get(runId)?.catch(() => undefined);
    // The run as this engine last wrote or read it, without reading its log again: nothing can be
    // there that this engine has not seen. Every event of an open run is written by its decider (the
    // workers' reports come to it; a child's end is written by its parent's engine) through write(),
    // and the decision waited for those above. A write that failed, even one that may have reached
    // the store (a lost connection), drops the run from `records`, so it is read whole below. Another
    // daemon writes the run only once this one's lock has lapsed (a higher fence): then a view of
    // ours may be stale, but it can never be written, since each append is checked against the
    // length we saw (ifLength) and our fence, and each header by version: the write fails
    // (ERR_CONFLICT, ERR_FENCED), the run is read whole again, and this engine is being stepped
    // down anyway (its successor takes the run up from the store). A record from before logs is
    // read whole too.
    const known = records.get(runId);
    const stored = known && !known.inline ? known : await loadRun(store, runId);
    if (!stored) throw new FlowdError('ERR_WORKFLOW', `workflow run ${runId} has no record in the store`);
    records.set(runId, stored);
    const record = stored.record;
    if (childrenToCheck.delete(runId)) {
      try {
        await children.check(record);
      } catch (error) {
        childrenToCheck.add(runId);
        throw error;
      }
    }
    const at = now();
    const head = record.history[0]!;
    const decision =
      record.deadline !== undefined && at >= record.deadline && record.state === 'running'
        ? {
            schedule: [],
            outcome: {
              kind: 'failed' as const,
              error: workflowTimeout(`workflow ${record.workflow.name} run ${runId}`, record.deadline - head.at, head.at),
            },
          }
        : decide(workflowOf(record.workflow), record.history, { ...limits, runId });
    const outcome = decision.outcome;
    let scheduled: ActivityScheduled[] = [];
    let started: ChildStarted[] = [];
    const record2 = await write(runId, (current) => {
      // A decision repeated after a failed write, or one that raced another: what is in the history stays as it is.
      if (current.state !== 'running') {
        scheduled = [];
        return current;
      }
      // The history decided on (decide() schedules only what it lacks), or one that grew since: what it has stays out.
      const read = current === record ? undefined : readHistory(current.history);
      const fresh = (call: { callId: string }) => !read || (!read.calls.has(call.callId) && !read.children.has(call.callId));
      scheduled = decision.schedule.filter(fresh).map((call) => scheduledEvent(call, at));
      // The child's run id is chosen here, once, and kept in the history: a replay starts the same run.
      started = (decision.children ?? []).filter(fresh).map((child) => ({ type: 'child.started', at, ...child, runId: randomUUID() }));
      const history = [...current.history, ...scheduled, ...started];
      if (outcome?.kind === 'completed')
        return {
          ...current,
          state: 'completed',
          result: outcome.result,
          history: [...history, { type: 'workflow.completed', at, result: outcome.result }],
        };
      if (outcome?.kind === 'failed')
        return {
          ...current,
          state: 'failed',
          error: outcome.error,
          history: [...history, { type: 'workflow.failed', at, error: outcome.error }],
        };
      if (outcome?.kind === 'restarted')
        return {
          ...current,
          state: 'restarted',
          next: current.next ?? randomUUID(),
          history: [...history, { type: 'workflow.restarted', at, input: outcome.input }],
        };
      return { ...current, history };
    });
    for (const call of scheduled) executor.submit({ runId, call, scheduledAt: at }, report(runId));
    try {
      for (const child of started) await children.start(runId, child);
    } catch (error) {
      // The history has them: the next decision (the run actor retries one the store failed) starts the rest.
      childrenToCheck.add(runId);
      throw error;
    }
    if (record2.state === 'running') return { scheduled: scheduled.length, pending: pendingCalls(runId, record2) };
    executor.cancel(runId);
    endedHere.add(runId);
    await finish(record2);
    const name = `workflow ${record2.workflow.name} run ${runId}`;
    let runOutcome: RunOutcome;
    if (record2.state === 'completed') {
      log.info({ runId, workflow: record2.workflow.name }, `${name} completed`);
      runOutcome = { kind: 'completed', result: record2.result };
    } else if (record2.state === 'failed') {
      log.warn({ runId, workflow: record2.workflow.name, error: record2.error }, `${name} failed: ${record2.error?.message}`);
      runOutcome = { kind: 'failed', error: record2.error ?? { code: 'ERR_WORKFLOW', message: 'failed' } };
    } else {
      log.info({ runId, workflow: record2.workflow.name, next: record2.next }, `${name} continues as new in run ${record2.next}`);
      const restarted = record2.history.findLast((event) => event.type === 'workflow.restarted');
      runOutcome = { kind: 'restarted', input: restarted?.type === 'workflow.restarted' ? restarted.input : null, next: record2.next! };
    }
    return { scheduled: scheduled.length, pending: 0, outcome: runOutcome };
  };

  const children = createChildRuns({
    store,
    log,
    now,
    write,
    workflowOf,
    begin: (runId, workflow, input, from) => begin(runId, workflow, input, from),
    wake: (runId, callId) => actors.get(runId)?.send({ type: 'activity.finished', callId }),
  });

  // Compiled (machines/compile.ts): the same snapshots and diagram, a table's cost a transition. A decision
  // answers its run unless the run was stopped meanwhile (the engine closed): then its outcome is dropped.
  const logic = compileMachine(
    workflowRunMachine.provide({
      actions: {
        decide: ({ context, self }: DecideArgs) => {
          decideRun(context.runId).then(
            (output) => {
              if (self.getSnapshot().status === 'active') self.send({ type: 'decision.made', output });
            },
            (error: unknown) => {
              if (self.getSnapshot().status === 'active') self.send({ type: 'decision.failed', error });
            },
          );
        },
      },
    }),
  );

  /** A run whose decision failed for good (a history this code cannot read, say): it stays open, set aside until the daemon restarts. */
  const giveUp = (runId: string, error: { code: string; message: string } | undefined) => {
    if (closed || endedHere.has(runId)) return;
    setAside.add(runId);
    records.delete(runId);
    begunHere.delete(runId);
    executor.cancel(runId);
    const message = `workflow run ${runId} cannot be decided: ${error?.message ?? 'unknown error'}; it stays open, set aside until flowd restarts`;
    log.error({ runId, error }, message);
    settleWaiters(runId, { error: new FlowdError('ERR_WORKFLOW', message) });
  };

  const spawn = (runId: string, workflow: RunRecord['workflow'], deadline: number | undefined) => {
    if (closed) return;
    const actor = createActor(logic, {
      input: { runId, workflow },
      id: `workflow-run:${runId}`,
      ...(inspect ? { inspect } : {}),
    });
    actors.set(runId, actor);
    const stopDeadline = () => {
      deadlines.get(runId)?.();
      deadlines.delete(runId);
    };
    // Past its duration, the run decides once more, and that decision fails it.
    if (deadline !== undefined)
      deadlines.set(
        runId,
        timerAt(clock, deadline, () => actors.get(runId)?.send({ type: 'run.deadline' })),
      );
    actor.subscribe({
      complete: () => {
        stopDeadline();
        actors.delete(runId);
        const output = actor.getSnapshot().output;
        if (output?.outcome?.kind === 'failed') giveUp(runId, output.outcome.error);
        endedHere.delete(runId);
      },
      error: (error) => {
        stopDeadline();
        actors.delete(runId);
        giveUp(runId, { code: 'ERR_WORKFLOW', message: (error as Error).message });
      },
    });
    actor.start();
  };

  /** Writes a new run's record and starts its actor; a continuation that exists already (a repeated finish) is left as it is. */
  const begin = async (
    runId: string,
    workflow: RunRecord['workflow'],
    input: JsonValue,
    from: { previous?: string | undefined; parent?: RunRecord['parent']; durationMs?: number | undefined; idIsNew?: boolean } = {},
  ) => {
    if (closed) throw shutdown(`run ${runId} was not started`);
    const { previous, parent } = from;
    // A continuation or a child is begun again after a stop: the one that exists is left as it is.
    const again = previous !== undefined || parent !== undefined;
    if (again && (await store.get<unknown>(runKey(runId))) !== undefined) return;
    const at = now();
    const deadline = at + (from.durationMs ?? durationOf(workflowOf(workflow), limits));
    try {
      const written = await recordRun(
        store,
        { runId, workflow, input, at, previous, deadline, parent },
        { idIsNew: from.idIsNew === true },
      );
      if (written) records.set(runId, written);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ERR_CONFLICT' && again) return;
      throw error;
    }
    log.info({ runId, workflow: workflow.name }, `workflow ${workflow.name} run ${runId} started`);
    begunHere.add(runId);
    spawn(runId, workflow, deadline);
  };

  /** Takes up one open run: its unfinished activities run again, and its actor decides. */
  const takeUp = async (runId: string): Promise<boolean> => {
    let stored: StoredRun | undefined;
    try {
      stored = await loadRun(store, runId);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ERR_WORKFLOW_STATE') throw error;
      // Corrupt: this run is set aside (said once), the others go on.
      setAside.add(runId);
      log.error(
        { runId, error: { code: 'ERR_WORKFLOW_STATE', message: (error as Error).message } },
        `workflow run ${runId} stays open and is set aside until flowd restarts: ${(error as Error).message}`,
      );
      return false;
    }
    // Listed before its record is written (flowd workflow start, another daemon): the record follows.
    if (!stored || actors.has(runId) || closed) return false;
    let record = stored.record;
    if (record.state !== 'running') {
      // Ended, but a daemon stopped before it was taken off the list (or before its continuation began, or its header was written).
      if (stored.stale) record = await write(runId, (current) => current);
      await finish(record);
      return false;
    }
    try {
      workflowOf(record.workflow);
    } catch (error) {
      // Left open: a later deploy may define it again.
      setAside.add(runId);
      log.error({ runId, workflow: record.workflow }, `workflow run ${runId} stays open and waits: ${(error as Error).message}`);
      return false;
    }
    records.set(runId, stored);
    await children.check(record);
    for (const { call, attempts } of inFlight(record.history))
      executor.submit({ runId, call, scheduledAt: call.at, attemptsMade: attempts }, report(runId));
    spawn(runId, record.workflow, record.deadline);
    return true;
  };

  return {
    /**
     * Starts a run of the workflow named `name` (its latest version here) with `input`; resolves with its id.
     * @example const runId = await engine.start('UploadWorkflow', { videoId: 'v1' });
     */
    async start(name: string, input: unknown, start: { runId?: string } = {}): Promise<string> {
      const workflow = latestWorkflow(options.workflows, name);
      const runId = start.runId ?? randomUUID();
      const json = toJson(input, `the input of workflow ${name}`);
      checkSize(json, `workflow ${name} run ${runId}: its input`, limits, 'input');
      // An id made here is new: recordRun need not look for a run that has it.
      await begin(runId, { name: workflow.name, version: workflow.version }, json, { idIsNew: start.runId === undefined });
      return runId;
    },
    /** The run's record (state, history, result or error), or undefined. */
    status: (runId: string) => readRun(store, runId),
    /**
     * Resolves with the run's record once it has ended (completed, failed
     * or restarted). Rejects for a run the store does not hold, for one set
     * aside, and with ERR_SHUTDOWN when the engine closes first.
     */
    async ended(runId: string): Promise<RunRecord> {
      if (closed) throw shutdown(`run ${runId} is not watched`);
      // Listening before reading: an end between the two is not missed.
      let entry!: { resolve(record: RunRecord): void; reject(error: Error): void };
      const waiting = new Promise<RunRecord>((resolve, reject) => (entry = { resolve, reject }));
      waiters.set(runId, [...(waiters.get(runId) ?? []), entry]);
      // Rejected by close() perhaps before it is returned to the caller: not an unhandled rejection meanwhile.
      waiting.catch(() => undefined);
      // A run this engine decides, its end not yet written: that end (or its giving up, or close()) answers, with no read.
      if (actors.has(runId) && !endedHere.has(runId)) return waiting;
      let record: RunRecord | undefined;
      try {
        record = await readRun(store, runId);
      } catch (error) {
        settleWaiters(runId, { error: error as Error });
        throw error;
      }
      if (!record || record.state !== 'running') {
        const rest = (waiters.get(runId) ?? []).filter((other) => other !== entry);
        if (rest.length > 0) waiters.set(runId, rest);
        else waiters.delete(runId);
        if (!record) throw new FlowdError('ERR_WORKFLOW', `no workflow run "${runId}" in the store`);
        // Ended, and this engine is still finishing it (off the open runs, its heartbeats' keys gone): once it has.
        await finishing.get(runId)?.catch(() => undefined);
        return record;
      }
      return waiting;
    },
    /**
     * Takes up every run the store says is open and no actor here runs
     * (after a restart, or started by another process): starts its
     * unfinished activities again and decides. A run that cannot be taken
     * up is logged and left for the next call, without stopping the others.
     * Resolves with how many it took up.
     */
    async resume(): Promise<number> {
      if (closed) return 0;
      const corrupt = new Map<string, string>();
      const open = await listOpen(store, (error, key) => corrupt.set(key, error.message));
      for (const [key, message] of corrupt)
        if (corruptLists.get(key) !== message)
          log.error(
            { key, error: { code: 'ERR_WORKFLOW_STATE', message } },
            `workflows: ${message}; the runs it lists are not taken up until it is`,
          );
      for (const key of corruptLists.keys())
        if (!corrupt.has(key)) log.info({ key }, `workflows: the open-runs list "${key}" can be read again`);
      corruptLists.clear();
      for (const [key, message] of corrupt) corruptLists.set(key, message);
      let taken = 0;
      for (const runId of open) {
        if (actors.has(runId) || setAside.has(runId) || closed) continue;
        try {
          if (await takeUp(runId)) taken++;
        } catch (error) {
          log.error({ runId, err: error }, `workflow run ${runId} could not be taken up: ${(error as Error).message}`);
        }
      }
      if (taken > 0) log.info({ runs: taken }, `workflows: took up ${taken} open run(s)`);
      return taken;
    },
    /** The executor's queues, per task list. */
    stats: () => executor.stats(),
    /** How many runs this engine decides now. */
    runs: () => actors.size,
    /** Stops every run actor and the executor (a given runner is only told to forget the runs); open runs stay open in the store, for resume(). */
    async close(graceMs?: number): Promise<void> {
      if (closed) return;
      closed = true;
      const runIds = [...actors.keys()];
      for (const stop of deadlines.values()) stop();
      deadlines.clear();
      for (const actor of actors.values()) actor.stop();
      actors.clear();
      records.clear();
      begunHere.clear();
      for (const runId of [...waiters.keys()]) settleWaiters(runId, { error: shutdown(`run ${runId} had not ended`) });
      if (options.runner) for (const runId of runIds) executor.cancel(runId);
      else await executor.close(graceMs);
      await Promise.allSettled([...writes.values()]);
    },
  };
}

/** A workflow engine (createWorkflowEngine). */
export type WorkflowEngine = ReturnType<typeof createWorkflowEngine>;
