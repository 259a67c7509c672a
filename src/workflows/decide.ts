/**
 * The decider: replays a workflow's body over its history and says what to
 * do next. Pure: no I/O, no clock. Every call the body makes whose input
 * holds no unfinished or failed placeholder, and that the history does not
 * have yet, is scheduled in the same decision.
 */
import type { ErrorInfo } from '../kernel/errors.js';
import { NondeterminismError, TaskError, WorkflowError, WorkflowRestart, WorkflowSuspend, isWorkflowSignal } from './errors.js';
import {
  jsonEqual,
  readHistory,
  toJson,
  type CallRecord,
  type HistoryEvent,
  type JsonValue,
  type ResolvedActivityOptions,
  type RunHistory,
  type ScheduledCall,
  type ScheduledChild,
  type WorkflowRef,
} from './history.js';
import { parallelReduce } from './parallel-reduce.js';
import { DEFAULT_LIMITS, checkSize, type DecideLimits } from './limits.js';
import { ChildWorkflowError, checkWorkflowRef, compileChildOptions } from './child-workflow.js';
import {
  Placeholder,
  callOf,
  compileOptions,
  copyJson,
  finishOrder,
  first,
  isAsyncFunction,
  wait,
  type ActivityDefinition,
  type ActivityOptionLayer,
  type ActivityOptions,
  type ActivityProxy,
  type CallHandle,
  type ChildWorkflowOptions,
  type WorkflowContext,
  type WorkflowDefinition,
} from './workflow-api.js';

export type { ScheduledCall, ScheduledChild };

/**
 * A child run's failure always reaches its placeholder, as an activity's with
 * `errorHandling` on: `result()` throws the ChildWorkflowError, and a failure
 * no code read fails the parent when its body returns.
 */
const CHILD_ERROR_HANDLING = true;

/** Retries of a timed-out attempt when no layer says otherwise (Flowy's `retry=3`). */
export const DEFAULT_RETRY = 3;

/** How a run ends. */
export type WorkflowOutcome =
  { kind: 'completed'; result: JsonValue } | { kind: 'failed'; error: ErrorInfo } | { kind: 'restarted'; input: JsonValue };

/**
 * What to do next: schedule these calls (append an `activity.scheduled`
 * for each before deciding again), or end the run with `outcome` (then
 * `schedule` is empty). A run completes only once every call it made has
 * finished; a run that fails or restarts abandons the calls still running.
 */
export interface Decision {
  schedule: ScheduledCall[];
  /** Child runs to start (`child.started` for each, with a new run id), when there are any. */
  children?: ScheduledChild[];
  outcome?: WorkflowOutcome;
}

/**
 * Replays `workflow` over `history` (one run, from `workflow.started`).
 * The body's return value completes the run (placeholders in it are waited
 * for; undefined becomes null) once every call the body made has finished,
 * as Flowy's; an error it does not handle fails it with `{ code, message }`
 * (ERR_TASK for a failed activity). A failed call fails the run at once
 * unless its `errorHandling` is on; with it on, a failure no code read
 * (result(), wait(), isFailed(), or an input of another call) fails the run
 * when the body returns. `wf.restart(input)` restarts the run. Code
 * that no longer matches its history fails it with ERR_NONDETERMINISTIC.
 * `limits` (default Flowy's): at most `rateLimit` new calls are scheduled
 * (a definition's `rateLimit` wins), and an input or result over its size
 * fails the run with ERR_WORKFLOW_SIZE naming `runId`.
 * A history that already ends gives its end again. Throws only for a
 * history it cannot read (WorkflowError) or a bad `workflow` (WorkflowError too).
 * @example
 * const decision = decide(VideoWorkflow, [{ type: 'workflow.started', at: Date.now(), input: { videoId: 'v1', source: 's3://in/v1.mov' } }]);
 * decision.schedule.map((call) => call.callId) // ['Transcoding#1', 'ThumbnailGenerator#1']
 */
export function decide(workflow: WorkflowDefinition, history: readonly HistoryEvent[], limits: Partial<DecideLimits> = {}): Decision {
  if (workflow?.kind !== 'workflow')
    throw new WorkflowError(`decide() needs a workflow from defineWorkflow(); found ${describe(workflow)}`);
  const run = readHistory(history);
  if (run.end?.type === 'workflow.completed') return { schedule: [], outcome: { kind: 'completed', result: run.end.result } };
  if (run.end?.type === 'workflow.failed') return { schedule: [], outcome: { kind: 'failed', error: run.end.error } };
  if (run.end?.type === 'workflow.restarted') return { schedule: [], outcome: { kind: 'restarted', input: run.end.input } };
  return new Replay(workflow, run, { ...DEFAULT_LIMITS, ...limits }).decide();
}

/** The first signal raised decides, whatever the body did with it after (a body that catches one runs on in vain). */
type Signal = { kind: 'suspend' } | { kind: 'restart'; input: JsonValue } | { kind: 'fail'; error: TaskError };

/** A call the replay made: its handle, and whether its failure is the body's to handle and was read. */
interface MadeCall {
  handle: CallHandle;
  errorHandling: boolean;
  read: boolean;
}

/** One replay of the body: its call counters, option scopes and what it decided. */
class Replay {
  readonly #workflow: WorkflowDefinition;
  readonly #run: RunHistory;
  readonly #name: string;
  #open = true;
  #signal: Signal | undefined;
  #nondeterminism: NondeterminismError | undefined;
  /** An input or result over its size limit: the run fails, whatever the body does with the error. */
  #tooLarge: Error | undefined;
  readonly #limits: DecideLimits;
  readonly #schedule: ScheduledCall[] = [];
  readonly #children: ScheduledChild[] = [];
  readonly #counters = new Map<string, number>();
  readonly #called = new Set<string>();
  readonly #scopes: ActivityOptionLayer[] = [];
  readonly #made: MadeCall[] = [];
  #seq = 0;

  constructor(workflow: WorkflowDefinition, run: RunHistory, limits: DecideLimits) {
    this.#workflow = workflow;
    this.#run = run;
    this.#name = `Workflow "${workflow.name}"`;
    this.#limits = { ...limits, rateLimit: workflow.rateLimit ?? limits.rateLimit };
  }

  decide(): Decision {
    let outcome: WorkflowOutcome | undefined;
    try {
      const body: unknown = this.#workflow.factory(this.#context());
      if (typeof body !== 'function')
        throw new WorkflowError(`${this.#name}: its factory must return the body, a function (input) => result; found ${describe(body)}`);
      if (isAsyncFunction(body)) throw new WorkflowError(this.#asyncRefused('the body is an async function'));
      // A copy: the body may change its input, the history must not change.
      const returned: unknown = body(copyJson(this.#run.input));
      if (isThenable(returned)) {
        returned.then(undefined, () => undefined);
        throw new WorkflowError(this.#asyncRefused('the body returned a promise'));
      }
      outcome = { kind: 'completed', result: toJson(resolvePlaceholders(returned) ?? null, `${this.#name} result`) };
    } catch (error) {
      if (!isWorkflowSignal(error)) outcome = { kind: 'failed', error: errorInfo(error) };
    } finally {
      this.#open = false;
    }
    // A failure that fails the run cuts the body short, before calls it made in earlier decisions.
    const diverged = this.#nondeterminism ?? (this.#signal?.kind === 'fail' ? undefined : this.#missingCall());
    if (diverged !== undefined) return { schedule: [], outcome: { kind: 'failed', error: errorInfo(diverged) } };
    if (outcome?.kind === 'completed' && this.#tooLarge === undefined && this.#signal === undefined) {
      try {
        this.#checkSize(outcome.result, 'the result', 'result');
      } catch {
        // Recorded in #tooLarge.
      }
    }
    if (this.#tooLarge !== undefined) return { schedule: [], outcome: { kind: 'failed', error: errorInfo(this.#tooLarge) } };
    if (this.#signal?.kind === 'restart') return { schedule: [], outcome: { kind: 'restarted', input: this.#signal.input } };
    if (this.#signal?.kind === 'fail') return { schedule: [], outcome: { kind: 'failed', error: errorInfo(this.#signal.error) } };
    if (this.#signal !== undefined || outcome === undefined) return this.#pending();
    if (outcome.kind === 'completed') return this.#returned(outcome);
    return { schedule: [], outcome };
  }

  /**
   * The body returned: a failure no code read fails the run (the earliest
   * in the history's order); else the run waits until every call it made
   * has finished (as Flowy's), then completes with what the body returned.
   */
  #returned(outcome: WorkflowOutcome): Decision {
    const unread = this.#made.filter((made) => made.handle.failure !== undefined && !made.read).map((made) => made.handle);
    if (unread.length > 0) {
      const earliest = unread.reduce((a, b) => pickEarlier(a, b));
      return { schedule: [], outcome: { kind: 'failed', error: errorInfo(earliest.failure) } };
    }
    if (this.#made.some((made) => !made.handle.finished)) return this.#pending();
    return { schedule: [], outcome };
  }

  /** The run goes on: the calls and child runs to start now. */
  #pending(): Decision {
    return this.#children.length === 0 ? { schedule: this.#schedule } : { schedule: this.#schedule, children: this.#children };
  }

  /** A failed call whose errorHandling is off: the run fails at once with its error (the body is unwound). */
  #failRun(failure: TaskError, callId: string): never {
    this.#signal ??= { kind: 'fail', error: failure };
    throw new WorkflowSuspend(`call ${callId} failed and its errorHandling is off, so the run fails`);
  }

  #context(): WorkflowContext {
    return {
      activity: <I, O>(definition: ActivityDefinition<I, O>, options?: ActivityOptions) => {
        if (definition?.kind !== 'activity')
          throw new WorkflowError(`${this.#name}: wf.activity() needs an activity from defineActivity(); found ${describe(definition)}`);
        const layer =
          options === undefined ? NO_OPTIONS : compileOptions(options, `${this.#name}: wf.activity(${definition.name}) options`);
        return ((input?: unknown) => this.#call(definition, layer, input)) as ActivityProxy<I, O>;
      },
      workflow: (ref: unknown, ...rest: unknown[]) => {
        const byName = typeof ref === 'string';
        const target = checkWorkflowRef(byName ? { name: ref, version: rest[0] } : ref, this.#name);
        const options = (byName ? rest[1] : rest[0]) as ChildWorkflowOptions | undefined;
        const durationMs = compileChildOptions(options, `${this.#name}: wf.workflow(${target.name}) options`).durationMs;
        return ((input?: unknown) => this.#child(target, durationMs, input)) as never;
      },
      options: (options, fn) => {
        const layer = compileOptions(options, `${this.#name}: wf.options()`);
        if (typeof fn !== 'function')
          throw new WorkflowError(`${this.#name}: wf.options(options, fn) needs a function; found ${describe(fn)}`);
        this.#scopes.push(layer);
        try {
          return fn();
        } finally {
          this.#scopes.pop();
        }
      },
      restart: (input) => {
        this.#checkOpen('wf.restart()');
        const json = toJson(resolvePlaceholders(input) ?? null, `${this.#name} restart input`);
        this.#checkSize(json, 'the input of wf.restart()', 'input');
        this.#signal ??= { kind: 'restart', input: json };
        throw new WorkflowRestart(json);
      },
      first,
      wait,
      finishOrder,
      parallelReduce,
    };
  }

  #call(definition: ActivityDefinition, proxyLayer: ActivityOptionLayer, input: unknown): Placeholder<unknown> {
    this.#checkOpen(`Activity "${definition.name}"`);
    // Counted per activity: a change to calls of other activities leaves these ids alone.
    const n = (this.#counters.get(definition.name) ?? 0) + 1;
    this.#counters.set(definition.name, n);
    const callId = `${definition.name}#${n}`;
    this.#called.add(callId);
    if (this.#run.children.has(callId))
      this.#diverge(callId, `the history has a child run of workflow "${definition.name}" there, the code now calls ${refOf(definition)}`);
    const inputs = scanPlaceholders(input);
    const { errorHandling, taskList, options } = this.#resolve(definition.options, proxyLayer);
    const record = this.#run.calls.get(callId);
    let placeholder: Placeholder<unknown>;
    if (record !== undefined) {
      placeholder = this.#replayed(definition, callId, record, input, inputs, errorHandling);
    } else if (inputs.failed !== undefined) {
      // The input's failure moves to this call: it is this call's to be read now.
      this.#markRead(inputs.failed);
      placeholder = this.#placeholder(callId, { failure: inputs.failed.failure, order: inputs.failed.order }, errorHandling);
    } else {
      if (inputs.pending === undefined) {
        const serialised = definition.serialize.input(resolvePlaceholders(input));
        this.#checkSize(serialised, 'the input of call ' + callId, 'input');
        // After a signal the body runs on only because it caught it; what it calls then waits for a later decision.
        // Past the rate limit, a call waits for a later decision too (Flowy's rate_limit).
        if (this.#signal === undefined && this.#schedule.length + this.#children.length < this.#limits.rateLimit) {
          this.#schedule.push({
            callId,
            activity: { name: definition.name, version: definition.version },
            taskList,
            options,
            input: serialised,
          });
        }
      }
      placeholder = this.#placeholder(callId, {}, errorHandling);
    }
    const failure = callOf(placeholder).failure;
    if (failure !== undefined && !errorHandling) this.#failRun(failure, callId);
    return placeholder;
  }

  #markRead(handle: CallHandle): void {
    const made = this.#made.find((m) => m.handle === handle);
    if (made !== undefined) made.read = true;
  }

  /** A child run (`wf.workflow(ref)(input)`): counted, replayed and rate-limited as an activity call is. */
  #child(ref: WorkflowRef, durationMs: number | undefined, input: unknown): Placeholder<unknown> {
    this.#checkOpen(`Workflow "${ref.name}"`);
    const n = (this.#counters.get(ref.name) ?? 0) + 1;
    this.#counters.set(ref.name, n);
    const callId = `${ref.name}#${n}`;
    this.#called.add(callId);
    const had = this.#run.calls.get(callId);
    if (had !== undefined)
      this.#diverge(
        callId,
        `the history has ${refOf(had.scheduled.activity)} there, the code now starts a child run of workflow "${ref.name}"`,
      );
    const inputs = scanPlaceholders(input);
    const record = this.#run.children.get(callId);
    if (record !== undefined) {
      const started = record.started;
      if (started.workflow.name !== ref.name || String(started.workflow.version) !== String(ref.version))
        this.#diverge(callId, `the history has a child run of ${refOf(started.workflow)} there, the code now starts ${refOf(ref)}`);
      const unfinished = inputs.failed ?? inputs.pending;
      if (unfinished !== undefined)
        this.#diverge(
          callId,
          `the history has it started with input ${show(started.input)}, the code now passes the unfinished or failed call ${unfinished.callId}`,
        );
      const json = toJson(resolvePlaceholders(input) ?? null, `${this.#name}: the input of child ${callId}`);
      if (!jsonEqual(json, started.input))
        this.#diverge(callId, `the history has input ${show(started.input)}, the code now passes ${show(json)}`);
      const outcome = record.outcome;
      if (outcome === undefined) return this.#placeholder(callId, {}, CHILD_ERROR_HANDLING);
      if (!outcome.ok)
        return this.#placeholder(
          callId,
          { failure: new ChildWorkflowError(ref.name, callId, started.runId, outcome.error), order: record.settledAt },
          CHILD_ERROR_HANDLING,
        );
      return this.#placeholder(callId, { order: record.settledAt, read: () => copyJson(outcome.result) }, CHILD_ERROR_HANDLING);
    }
    if (inputs.failed !== undefined) {
      this.#markRead(inputs.failed);
      return this.#placeholder(callId, { failure: inputs.failed.failure, order: inputs.failed.order }, CHILD_ERROR_HANDLING);
    }
    if (inputs.pending === undefined) {
      const json = toJson(resolvePlaceholders(input) ?? null, `${this.#name}: the input of child ${callId}`);
      this.#checkSize(json, `the input of child ${callId}`, 'input');
      if (this.#signal === undefined && this.#schedule.length + this.#children.length < this.#limits.rateLimit)
        this.#children.push({
          callId,
          workflow: { name: ref.name, version: ref.version },
          input: json,
          ...(durationMs === undefined ? {} : { durationMs }),
        });
    }
    return this.#placeholder(callId, {}, CHILD_ERROR_HANDLING);
  }

  /** A call the history has: it must be the same activity, version and input; its placeholder has the history's outcome. */
  #replayed(
    definition: ActivityDefinition,
    callId: string,
    record: CallRecord,
    input: unknown,
    inputs: InputScan,
    errorHandling: boolean,
  ): Placeholder<unknown> {
    const had = record.scheduled;
    if (had.activity.name !== definition.name || String(had.activity.version) !== String(definition.version)) {
      this.#diverge(callId, `the history has ${refOf(had.activity)} there, the code now calls ${refOf(definition)}`);
    }
    const unfinished = inputs.failed ?? inputs.pending;
    if (unfinished !== undefined) {
      this.#diverge(
        callId,
        `the history has it scheduled with input ${show(had.input)}, the code now passes the ${unfinished.failure ? 'failed' : 'unfinished'} call ${unfinished.callId} in its input`,
      );
    }
    const serialised = definition.serialize.input(resolvePlaceholders(input));
    if (!jsonEqual(serialised, had.input))
      this.#diverge(callId, `the history has input ${show(had.input)}, the code now passes ${show(serialised)}`);
    const outcome = record.outcome;
    if (outcome === undefined) return this.#placeholder(callId, {}, errorHandling);
    if (!outcome.ok)
      return this.#placeholder(
        callId,
        { failure: new TaskError(definition.name, callId, outcome.error), order: record.settledAt },
        errorHandling,
      );
    return this.#placeholder(callId, { order: record.settledAt, read: () => definition.deserialize.result(outcome.result) }, errorHandling);
  }

  #placeholder(
    callId: string,
    settled: { failure?: TaskError | undefined; order?: number | undefined; read?: () => unknown },
    errorHandling: boolean,
  ): Placeholder<unknown> {
    let memo: { value: unknown } | undefined;
    const made: MadeCall = { handle: undefined as unknown as CallHandle, errorHandling, read: false };
    const handle: CallHandle = {
      callId,
      finished: settled.failure !== undefined || settled.read !== undefined,
      failure: settled.failure,
      order: settled.order ?? Infinity,
      seq: this.#seq++,
      value: () => (memo ??= { value: settled.read!() }).value,
      noteRead: () => {
        made.read = true;
      },
      suspend: (reason) => {
        this.#checkOpen(`${reason}:`);
        this.#signal ??= { kind: 'suspend' };
        throw new WorkflowSuspend(reason);
      },
    };
    made.handle = handle;
    this.#made.push(made);
    return new Placeholder(handle);
  }

  /** Options layered: the activity's definition < the proxy's < wf.options scopes, outermost to innermost. */
  #resolve(definitionLayer: ActivityOptionLayer, proxyLayer: ActivityOptionLayer): ResolvedLayers {
    // A call with only its definition's options (the usual one) resolves them once per workflow task list.
    if (proxyLayer !== NO_OPTIONS || this.#scopes.length > 0) return this.#merge(definitionLayer, proxyLayer);
    const taskList = this.#workflow.taskList ?? 'default';
    let byTaskList = RESOLVED.get(definitionLayer);
    if (byTaskList === undefined) RESOLVED.set(definitionLayer, (byTaskList = new Map()));
    let resolved = byTaskList.get(taskList);
    if (resolved === undefined) {
      const merged = this.#merge(definitionLayer, proxyLayer);
      // Shared by the calls that have these options: frozen, so that no reader can change another call's.
      resolved = Object.freeze({ ...merged, options: Object.freeze(merged.options) });
      byTaskList.set(taskList, resolved);
    }
    return resolved;
  }

  #merge(definitionLayer: ActivityOptionLayer, proxyLayer: ActivityOptionLayer): ResolvedLayers {
    const merged: ActivityOptionLayer = {};
    for (const layer of [definitionLayer, proxyLayer, ...this.#scopes]) Object.assign(merged, layer);
    const { taskList = this.#workflow.taskList ?? 'default', errorHandling = false, retries = DEFAULT_RETRY, ...rest } = merged;
    // Left out when absent or off, so a call's options hold only what it was given.
    const limits = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined && value !== false));
    return { taskList, options: { ...limits, retries }, errorHandling };
  }

  /** Throws (and keeps, so a body that catches it still fails) a WorkflowSizeError for a value over its limit. */
  #checkSize(value: JsonValue, what: string, kind: 'input' | 'result'): void {
    try {
      const run = this.#limits.runId === undefined ? '' : ` run ${this.#limits.runId}`;
      checkSize(value, () => `${this.#name}${run}: ${what}`, this.#limits, kind);
    } catch (error) {
      this.#tooLarge ??= error as Error;
      throw error;
    }
  }

  #diverge(callId: string, detail: string): never {
    const error = this.#nondeterministic(callId, detail);
    this.#nondeterminism ??= error;
    throw error;
  }

  #nondeterministic(callId: string, detail: string): NondeterminismError {
    return new NondeterminismError(
      callId,
      `${this.#name} (version ${this.#workflow.version}) is not deterministic at call ${callId}: ${detail}. ` +
        'Replaying the code over its history must make the same calls with the same inputs; start changed code as a new workflow version.',
    );
  }

  /**
   * A call the history has that this replay did not make. Replayed with at
   * least the results it had before, deterministic code gets at least as far
   * (result(), first, wait and finishOrder only ever see more finish), so it
   * makes every call it made before; branching on isFinished() may not.
   */
  #missingCall(): NondeterminismError | undefined {
    for (const [callId, child] of this.#run.children) {
      if (this.#called.has(callId)) continue;
      return this.#nondeterministic(
        callId,
        `the history has a child run of ${refOf(child.started.workflow)} there (input ${show(child.started.input)}), the code now does not start it`,
      );
    }
    for (const [callId, record] of this.#run.calls) {
      if (this.#called.has(callId)) continue;
      const { name } = record.scheduled.activity;
      const made = this.#counters.get(name) ?? 0;
      return this.#nondeterministic(
        callId,
        `the history has it (${refOf(record.scheduled.activity)}, input ${show(record.scheduled.input)}), ` +
          `the code now made ${made === 0 ? 'no call' : `only ${made} call${made === 1 ? '' : 's'}`} of "${name}"`,
      );
    }
    return undefined;
  }

  #checkOpen(what: string): void {
    if (!this.#open)
      throw new WorkflowError(
        `${what} used after its decision of ${this.#name} ended; keep activity proxies and placeholders inside the workflow's factory and body`,
      );
  }

  #asyncRefused(found: string): string {
    return `${this.#name}: ${found}; a workflow body must be synchronous, because every decision re-runs it over the history and an await would let it run on after the decision. Wait for results with placeholder.result() instead of await`;
  }
}

/** The placeholders in an input: the one that failed first, and any unfinished one. */
interface InputScan {
  failed?: CallHandle;
  pending?: CallHandle;
}

/** A call's options, its layers merged: where it is queued, its limits, and whether its failure is the body's to handle. */
interface ResolvedLayers {
  taskList: string;
  options: ResolvedActivityOptions;
  errorHandling: boolean;
}

/** The proxy layer of `wf.activity(definition)` without options. */
const NO_OPTIONS: ActivityOptionLayer = Object.freeze({});

/** The options of calls with only their definition's layer, by that layer and the workflow's task list. */
const RESOLVED = new WeakMap<ActivityOptionLayer, Map<string, ResolvedLayers>>();

/** What an input with no placeholder in it scans to (shared: nothing writes to it). */
const NO_PLACEHOLDERS: InputScan = Object.freeze({});

function scanPlaceholders(value: unknown): InputScan {
  // The usual input, a string or a number, allocates nothing.
  if (!(value instanceof Placeholder) && !isContainer(value)) return NO_PLACEHOLDERS;
  return scanInto(value, {}, new Set<object>());
}

function scanInto(value: unknown, scan: InputScan, seen: Set<object>): InputScan {
  if (value instanceof Placeholder) {
    const call = callOf(value);
    if (call.failure !== undefined) scan.failed = pickEarlier(scan.failed, call);
    else if (!call.finished) scan.pending ??= call;
  } else if (isContainer(value) && !seen.has(value)) {
    seen.add(value);
    for (const item of Object.values(value)) scanInto(item, scan, seen);
  }
  return scan;
}

function pickEarlier(a: CallHandle | undefined, b: CallHandle): CallHandle {
  return a === undefined || b.order - a.order < 0 || (b.order === a.order && b.seq < a.seq) ? b : a;
}

/** A copy of arrays and plain objects with every placeholder replaced by its result (which may throw or suspend). */
function resolvePlaceholders(value: unknown, ancestors?: Set<object>): unknown {
  if (value instanceof Placeholder) return value.result();
  if (!isContainer(value)) return value;
  ancestors ??= new Set<object>();
  if (ancestors.has(value)) return value;
  ancestors.add(value);
  const copy = Array.isArray(value)
    ? value.map((item) => resolvePlaceholders(item, ancestors))
    : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolvePlaceholders(item, ancestors)]));
  ancestors.delete(value);
  return copy;
}

function isContainer(value: unknown): value is object {
  if (Array.isArray(value)) return true;
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === Object.prototype || proto === null;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

/** `{ code, message }` of what the body threw: its own code when it has one, else ERR_WORKFLOW. */
function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return { code, message: error.message };
    return { code: 'ERR_WORKFLOW', message: error.name === 'Error' ? error.message : `${error.name}: ${error.message}` };
  }
  return { code: 'ERR_WORKFLOW', message: `the body threw ${describe(error)}` };
}

function refOf(activity: { name: string; version: string | number }): string {
  return `"${activity.name}" version ${activity.version}`;
}

function show(value: JsonValue): string {
  const text = JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return typeof value === 'string' ? JSON.stringify(value) : String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
