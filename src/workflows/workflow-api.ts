/**
 * Workflows of activities, as the seed's Flowy: a workflow body is plain
 * sequential code; calling an activity returns a placeholder at once, and
 * `placeholder.result()` is the only point where the body waits. Calls whose
 * inputs hold no unfinished placeholder run in parallel on their own.
 */
import type { Logger } from 'pino';
import { parseDuration } from '../kernel/duration.js';
import { WorkflowError, type TaskError } from './errors.js';
import { copyJsonValue } from '../../actors/stores/json-value.js';
import { toJson, type JsonValue, type ResolvedActivityOptions } from './history.js';

/** A duration: text such as `'30s'`, `'5m'`, `'250ms'` (text without a unit is seconds, as in INI files), or a number of milliseconds. */
export type Duration = string | number;

/**
 * An activity call's options. Three layers, each overriding the one before:
 * the activity's definition, the proxy (`wf.activity(def, options)`), and
 * `wf.options(options, fn)` around calls (the innermost scope wins).
 */
export interface ActivityOptions {
  /** Where the call is queued. @default the workflow's task list, else `'default'` */
  taskList?: string;
  /** Longest time between two `ctx.heartbeat()` of a running attempt. @default no limit */
  heartbeat?: Duration;
  /** Longest time from scheduled to started. @default no limit */
  scheduleToStart?: Duration;
  /** Longest time one attempt may run. @default no limit */
  startToClose?: Duration;
  /** Longest time from scheduled to finished, over all attempts. @default no limit */
  scheduleToClose?: Duration;
  /**
   * Retries of an attempt that timed out (any of the four limits), as
   * Flowy's `retry`: a count, or a list of the waits before each retry
   * (Flowy 0.4's tuple: `['10s', '1m']` is two retries). An attempt that
   * throws is retried only with `retryErrors`. @default 3
   */
  retry?: number | Duration[];
  /** Also retry an attempt whose function threw (flowd's addition; off so that a non-idempotent activity never runs twice by default). @default false */
  retryErrors?: boolean;
  /** A wait before the first attempt (Flowy's `delay`): scheduleToStart and scheduleToClose count from its end. @default none */
  delay?: Duration;
  /**
   * Flowy's `error_handling`. Off: a failure of the call, read or not, fails
   * the run at once with the call's error. On: `result()` (and `wait()`)
   * throw its TaskError for the body to catch, and a failure no code read
   * fails the run when the body returns. @default false
   */
  errorHandling?: boolean;
  /** @deprecated flowd's earlier name: `retries: n` is `retry: n` with `retryErrors: true` (it retried failures and time-outs alike). */
  retries?: number;
}

/** One layer of options, checked, durations in ms. */
export type ActivityOptionLayer = Partial<ResolvedActivityOptions> & { taskList?: string; errorHandling?: boolean };

/** What an activity's function is given besides its input (the executor provides it). */
export interface ActivityContext {
  /** Reports liveness (and progress in `details`); a missed heartbeat is a time-out. */
  heartbeat(details?: JsonValue): void;
  /** Aborts on a time-out and on shutdown: stop and clean up. */
  signal: AbortSignal;
  /** 1 for the first try. */
  attempt: number;
  log: Logger;
}

/** How an activity's input and result become JSON for the history. */
export interface ActivitySerialize<I, O> {
  input(value: I): JsonValue;
  result(value: O): JsonValue;
}

/** How an activity's input and result come back from the history's JSON. */
export interface ActivityDeserialize<I, O> {
  input(data: JsonValue): I;
  result(data: JsonValue): O;
}

/** What `defineActivity` takes: a name and version, the first layer of options, and optional (de)serialisers. */
export interface ActivityConfig<I, O> extends ActivityOptions {
  name: string;
  version: string | number;
  /** Overrides of the JSON default (which refuses what JSON cannot hold with a WorkflowError naming the activity). */
  serialize?: Partial<ActivitySerialize<I, O>>;
  /** Overrides of the JSON default (a copy of the history's value). */
  deserialize?: Partial<ActivityDeserialize<I, O>>;
}

/** An activity, as `defineActivity` returns it. */
export interface ActivityDefinition<I = any, O = any> {
  readonly kind: 'activity';
  readonly name: string;
  readonly version: string | number;
  /** The definition's layer of options. */
  readonly options: ActivityOptionLayer;
  readonly run: (input: I, ctx: ActivityContext) => Promise<O>;
  readonly serialize: ActivitySerialize<I, O>;
  readonly deserialize: ActivityDeserialize<I, O>;
}

/**
 * Defines an activity: a unit of work a workflow calls through a proxy.
 * Throws a WorkflowError (ERR_WORKFLOW) naming the activity for a bad name or option.
 * @example
 * export const Transcoding = defineActivity(
 *   { name: 'Transcoding', version: 1, taskList: 'transcoding_list', heartbeat: '30s', startToClose: '30m', scheduleToStart: '3m' },
 *   async (input: { source: string }, ctx) => { ctx.heartbeat(); return { url: await transcode(input.source) }; },
 * );
 */
export function defineActivity<I, O>(
  config: ActivityConfig<I, O>,
  run: (input: I, ctx: ActivityContext) => Promise<O> | O,
): ActivityDefinition<I, O> {
  const { name, version, serialize, deserialize, ...options } = config;
  checkIdentity('defineActivity', name, version);
  if (typeof run !== 'function')
    throw new WorkflowError(`Activity "${name}": defineActivity() needs a function (input, ctx) => output; found ${typeof run}`);
  const what = (part: string) => `Activity "${name}" ${part}`;
  const customInput = serialize?.input;
  const customResult = serialize?.result;
  return {
    kind: 'activity',
    name,
    version,
    options: compileOptions(options, `Activity "${name}"`),
    run: async (input, ctx) => run(input, ctx),
    serialize: {
      // The history must hold JSON, whoever serialised it.
      input: (value) => toJson(customInput ? customInput(value) : (value ?? null), what('input')),
      result: (value) => toJson(customResult ? customResult(value) : (value ?? null), what('result')),
    },
    deserialize: {
      input: deserialize?.input ?? ((data) => copyJson(data) as I),
      result: deserialize?.result ?? ((data) => copyJson(data) as O),
    },
  };
}

/** A copy of a JSON value that its reader may change without changing the history's: a string, number, boolean or null is its own copy. */
export function copyJson<T extends JsonValue>(value: T): T {
  return copyJsonValue(value);
}

/** An input in which any value may be given as a placeholder of it, at any depth. */
export type Deferred<T> = unknown extends T ? unknown : Placeholder<T> | { [K in keyof T]: Deferred<T[K]> };

/** Calls an activity: returns its placeholder at once. */
export type ActivityProxy<I, O> = undefined extends I ? (input?: Deferred<I>) => Placeholder<O> : (input: Deferred<I>) => Placeholder<O>;

/** A child workflow proxy's options (Flowy's workflow proxy had them too). */
export interface ChildWorkflowOptions {
  /** The child run's workflow duration. @default the child's definition's `duration`, else `[Workflow] workflow duration` */
  duration?: Duration;
}

/** Starts a child run: returns its placeholder at once. */
export type WorkflowProxy<I, O> = undefined extends I ? (input?: Deferred<I>) => Placeholder<O> : (input: Deferred<I>) => Placeholder<O>;

/** What a workflow's factory is given: `wf`, bound to one decision. */
export interface WorkflowContext {
  /** A proxy for `definition`, with this proxy's layer of options. */
  activity<AI, AO>(definition: ActivityDefinition<AI, AO>, options?: ActivityOptions): ActivityProxy<AI, AO>;
  /**
   * A proxy that starts a child run of `workflow` (a definition, or `{ name, version }` of one defined in this app):
   * its placeholder gets the child's result, or throws its ChildWorkflowError (a TaskError). See child-workflow.ts.
   */
  workflow<CI, CO>(
    workflow: WorkflowDefinition<CI, CO> | { name: string; version: string | number },
    options?: ChildWorkflowOptions,
  ): WorkflowProxy<CI, CO>;
  /** As above, by name and version (Flowy's `workflow_proxy(name, version, ...)`). */
  workflow<CI = unknown, CO = unknown>(name: string, version: string | number, options?: ChildWorkflowOptions): WorkflowProxy<CI, CO>;
  /** Runs `fn` with `options` over every call made inside it (scopes nest; the innermost wins) and returns what it returns. */
  options<R>(options: ActivityOptions, fn: () => R): R;
  /** Ends this run and continues as new with `input` (its placeholders are waited for first). Never returns. */
  restart(input: unknown): never;
  /** As the free function `first`. */
  first: typeof first;
  /** As the free function `wait`. */
  wait: typeof wait;
  /** As the free function `finishOrder`. */
  finishOrder: typeof finishOrder;
  /** As the free function `parallelReduce` (Flowy's `parallel_reduce`; parallel-reduce.ts). */
  parallelReduce<T>(
    fn: (a: Placeholder<T> | T, b: Placeholder<T> | T) => Placeholder<T> | T,
    items: Iterable<Placeholder<T> | T>,
    ...initial: [] | [T | Placeholder<T>]
  ): Placeholder<T>;
}

/** Runs once per decision with `wf` and returns the body: plain synchronous code from input to result. */
export type WorkflowFactory<I, R> = (wf: WorkflowContext) => (input: I) => R;

/** What a body's return value `R` completes the workflow with: placeholders in it replaced by their values. */
export type Resolved<R> =
  R extends Placeholder<infer T>
    ? T
    : R extends (...args: never[]) => unknown
      ? R
      : R extends object
        ? { [K in keyof R]: Resolved<R[K]> }
        : R;

/** What `defineWorkflow` takes. */
export interface WorkflowConfig {
  name: string;
  version: string | number;
  /** The default task list of the workflow's decisions and of activities that name none. @default 'default' */
  taskList?: string;
  /** How long a run may last (Flowy's `workflow_duration`); past it the run fails with ERR_WORKFLOW_TIMEOUT. @default `[Workflow] workflow duration` (1h) */
  duration?: Duration;
  /** New calls one decision may schedule (Flowy's `rate_limit`); the rest wait for a later decision. @default `[Workflow] rate limit` (64) */
  rateLimit?: number;
}

/** A workflow, as `defineWorkflow` returns it; `O` is the type of its result, for callers. */
export interface WorkflowDefinition<I = any, O = any> {
  readonly kind: 'workflow';
  readonly name: string;
  readonly version: string | number;
  readonly taskList: string | undefined;
  /** `duration` in ms, when the definition gives one. */
  readonly durationMs?: number | undefined;
  /** `rateLimit`, when the definition gives one. */
  readonly rateLimit?: number | undefined;
  readonly factory: WorkflowFactory<I, unknown>;
}

/**
 * Defines a workflow. The factory runs at every decision (the body is
 * replayed over the history), so it and the body must be deterministic and
 * synchronous: an async function is refused.
 * @example
 * export const VideoWorkflow = defineWorkflow({ name: 'UploadWorkflow', version: 3, taskList: 'upload_list' }, (wf) => {
 *   const transcode = wf.activity(Transcoding);
 *   const thumbnails = wf.activity(ThumbnailGenerator);
 *   const metadata = wf.activity(MetadataProcessing);
 *   return (input: { videoId: string; source: string }) => {
 *     const t = transcode(input.source);
 *     const th = thumbnails(input.source);
 *     return metadata({ videoId: input.videoId, transcoded: t.result(), thumbnails: th.result() });
 *   };
 * });
 */
export function defineWorkflow<I, R>(config: WorkflowConfig, factory: WorkflowFactory<I, R>): WorkflowDefinition<I, Resolved<R>> {
  checkIdentity('defineWorkflow', config?.name, config?.version);
  const where = `Workflow "${config.name}"`;
  if (config.taskList !== undefined && (typeof config.taskList !== 'string' || config.taskList === '')) {
    throw new WorkflowError(`${where}: taskList must be a non-empty string; found ${JSON.stringify(config.taskList)}`);
  }
  if (typeof factory !== 'function')
    throw new WorkflowError(`${where}: defineWorkflow() needs a factory (wf) => (input) => result; found ${typeof factory}`);
  if (isAsyncFunction(factory))
    throw new WorkflowError(
      `${where}: the factory is an async function; it must return the body synchronously, as each decision replays it`,
    );
  const limits = compileWorkflowLimits(config, where);
  return { kind: 'workflow', name: config.name, version: config.version, taskList: config.taskList, ...limits, factory };
}

/** A definition's `duration` and `rateLimit`, checked; ERR_WORKFLOW names the workflow, the option and what was found. */
function compileWorkflowLimits(config: WorkflowConfig, where: string): { durationMs?: number; rateLimit?: number } {
  const limits: { durationMs?: number; rateLimit?: number } = {};
  const { duration, rateLimit } = config;
  if (duration !== undefined) {
    const ms = typeof duration === 'number' ? duration : typeof duration === 'string' ? parseDuration(duration) : undefined;
    if (ms === undefined || !Number.isFinite(ms) || ms <= 0)
      throw new WorkflowError(
        `${where}: duration must be a duration such as '2h' or '30m', or a positive number of milliseconds; found ${JSON.stringify(duration) ?? String(duration)}`,
      );
    limits.durationMs = Math.round(ms);
  }
  if (rateLimit !== undefined) {
    if (!Number.isInteger(rateLimit) || rateLimit < 1)
      throw new WorkflowError(
        `${where}: rateLimit must be a whole number of at least 1; found ${JSON.stringify(rateLimit) ?? String(rateLimit)}`,
      );
    limits.rateLimit = rateLimit;
  }
  return limits;
}

/** Whether `fn` is an `async function` (or async generator), which a replayed workflow cannot be. */
export function isAsyncFunction(fn: unknown): boolean {
  const tag = (fn as { [Symbol.toStringTag]?: unknown } | null | undefined)?.[Symbol.toStringTag];
  return tag === 'AsyncFunction' || tag === 'AsyncGeneratorFunction';
}

function checkIdentity(fn: string, name: unknown, version: unknown): void {
  if (typeof name !== 'string' || name.trim() === '')
    throw new WorkflowError(`${fn}() needs a name (a non-empty string); found ${JSON.stringify(name) ?? String(name)}`);
  if (!(typeof version === 'string' && version !== '') && !(typeof version === 'number' && Number.isFinite(version))) {
    throw new WorkflowError(
      `${fn}() of "${name}" needs a version (a non-empty string or a number); found ${JSON.stringify(version) ?? String(version)}`,
    );
  }
}

const DURATIONS = ['heartbeat', 'scheduleToStart', 'startToClose', 'scheduleToClose', 'delay'] as const;
const OPTION_KEYS = new Set<string>(['taskList', 'retry', 'retryErrors', 'errorHandling', 'retries', ...DURATIONS]);

/**
 * Checks one layer of options and turns durations into ms. Throws a
 * WorkflowError (ERR_WORKFLOW) naming `where`, the option and the value found.
 * @example compileOptions({ startToClose: '30m', retry: ['1s', '5s'] }, 'Activity "Transcoding"') // { startToClose: 1800000, retries: 2, retryDelays: [1000, 5000] }
 */
export function compileOptions(options: ActivityOptions, where: string): ActivityOptionLayer {
  if (options === null || typeof options !== 'object')
    throw new WorkflowError(`${where}: options must be an object; found ${String(options)}`);
  if (options.retry !== undefined && options.retries !== undefined)
    throw new WorkflowError(`${where}: options retry and retries (its earlier name) are both given; keep retry`);
  const layer: ActivityOptionLayer = {};
  for (const [key, value] of Object.entries(options)) {
    if (!OPTION_KEYS.has(key)) throw new WorkflowError(`${where}: unknown option "${key}"; expected one of ${[...OPTION_KEYS].join(', ')}`);
    if (value === undefined) continue;
    const found = show(value);
    if (key === 'taskList') {
      if (typeof value !== 'string' || value === '')
        throw new WorkflowError(`${where}: option taskList must be a non-empty string; found ${found}`);
      layer.taskList = value;
    } else if (key === 'retry' || key === 'retries') {
      Object.assign(layer, compileRetry(key, value, where));
    } else if (key === 'retryErrors' || key === 'errorHandling') {
      if (typeof value !== 'boolean') throw new WorkflowError(`${where}: option ${key} must be true or false; found ${found}`);
      layer[key] = value;
    } else {
      layer[key as (typeof DURATIONS)[number]] = compileDuration(key, value, where);
    }
  }
  return layer;
}

/** `retry`: a count, or the list of waits before each retry; `retries` (the earlier name): a count that retries failures too. */
function compileRetry(key: string, value: unknown, where: string): ActivityOptionLayer {
  if (Number.isInteger(value) && (value as number) >= 0) {
    // A later layer's count drops an earlier layer's list of waits.
    const layer: ActivityOptionLayer = { retries: value as number, retryDelays: undefined };
    return key === 'retries' ? { ...layer, retryErrors: true } : layer;
  }
  if (key === 'retry' && Array.isArray(value)) {
    const retryDelays = value.map((item, i) => compileDuration(`retry[${i}]`, item, where, true));
    return { retries: retryDelays.length, retryDelays };
  }
  const expected =
    key === 'retry' ? 'a whole number of at least 0, or a list of durations (the wait before each retry)' : 'a whole number of at least 0';
  throw new WorkflowError(`${where}: option ${key} must be ${expected}; found ${show(value)}`);
}

function compileDuration(key: string, value: unknown, where: string, zero = false): number {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || (ms === 0 && !zero)) {
    throw new WorkflowError(
      `${where}: option ${key} must be a duration such as '30s', '5m' or '250ms', or a ${zero ? '' : 'positive '}number of milliseconds; found ${show(value)}`,
    );
  }
  return Math.round(ms);
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? JSON.stringify(value) : String(value);
}

/**
 * Internal: the decision's record of one call, behind its placeholder
 * (decide.ts makes them). Finished means completed or failed.
 */
export interface CallHandle<T = unknown> {
  readonly callId: string;
  readonly finished: boolean;
  /** Set when the call failed (or an input of it did): what `result()` throws. */
  readonly failure: TaskError | undefined;
  /** Where the call finished in the history, for the finish order; Infinity while it has not. */
  readonly order: number;
  /** Creation order within the decision, which breaks ties of `order`. */
  readonly seq: number;
  /** The deserialised result of a completed call. */
  value(): T;
  /** Code saw the call's failure (result() or wait() threw it, isFailed() said so): it is handled. */
  noteRead(): void;
  /** Unwinds the body because `reason` waits for an unfinished call. */
  suspend(reason: string): never;
}

let handleOf: <T>(placeholder: Placeholder<T>) => CallHandle<T>;

/**
 * The future result of an activity call. `result()` is the only sync point:
 * it returns the value of a completed call, throws the TaskError of a failed
 * one (a call whose `errorHandling` is off fails the run before the body
 * can read it), and otherwise unwinds the body until a later decision, when the
 * result is known. A placeholder may be passed, at any depth, in another
 * call's input: that call waits for it (or fails with it).
 */
export class Placeholder<T> {
  readonly #call: CallHandle<T>;
  static {
    handleOf = (placeholder) => placeholder.#call;
  }
  /** Placeholders come from activity proxies; this is not for user code. */
  constructor(call: CallHandle<T>) {
    this.#call = call;
  }
  /** The call's id, e.g. `Transcoding#1`. */
  get callId(): string {
    return this.#call.callId;
  }
  /** The value; throws TaskError when the call failed; waits (unwinds the body) when it has not finished. */
  result(): T {
    const call = this.#call;
    throwFailure(call);
    if (!call.finished) call.suspend(`the result of call ${call.callId} is not known yet`);
    return call.value();
  }
  /** Whether the call has finished, completed or failed. Never waits; branching on it makes the body depend on timing. */
  isFinished(): boolean {
    return this.#call.finished;
  }
  /** Whether the call failed (or an input placeholder of it did). Never waits; a failure seen here counts as handled. */
  isFailed(): boolean {
    if (this.#call.failure === undefined) return false;
    this.#call.noteRead();
    return true;
  }
}

function throwFailure(call: CallHandle): void {
  if (call.failure === undefined) return;
  call.noteRead();
  throw call.failure;
}

/** Internal: the record behind a placeholder. */
export function callOf<T>(placeholder: Placeholder<T>): CallHandle<T> {
  return handleOf(placeholder);
}

const byFinish = (a: CallHandle, b: CallHandle) => a.order - b.order || a.seq - b.seq;

/**
 * The placeholder that finished first (completed or failed, by the
 * history's order); waits until one has. Does not throw for a failed one:
 * its `result()` does.
 * @example const fastest = wf.first(fromCache, fromOrigin).result();
 */
export function first<P extends Placeholder<unknown>>(...placeholders: P[]): P {
  if (placeholders.length === 0) throw new WorkflowError('first() needs at least one placeholder');
  const done = placeholders.filter((p) => callOf(p).finished);
  if (done.length === 0) callOf(placeholders[0]!).suspend(`first() of ${ids(placeholders)} waits for one to finish`);
  return done.reduce((best, p) => (byFinish(callOf(p), callOf(best)) < 0 ? p : best));
}

/**
 * Waits for each placeholder in turn, as Flowy's `wait`: throws the
 * TaskError of the first (in argument order) that failed, waits while one
 * has not finished, and returns once all completed.
 * @example try { wf.wait(a, b, c); } catch (error) { if (error instanceof TaskError) ... }
 */
export function wait(...placeholders: Placeholder<unknown>[]): void {
  for (const [i, p] of placeholders.entries()) {
    const call = callOf(p);
    throwFailure(call);
    if (!call.finished) call.suspend(`wait() for ${ids(placeholders.slice(i))}`);
  }
}

/**
 * The placeholders in the order they finished (completed or failed), each
 * as soon as it has: iterating past the finished ones waits for the next.
 * @example for (const done of wf.finishOrder(parts)) total += done.result();
 */
export function* finishOrder<P extends Placeholder<unknown>>(placeholders: Iterable<P>): Generator<P, void, undefined> {
  const all = [...placeholders];
  const done = all.filter((p) => callOf(p).finished).sort((a, b) => byFinish(callOf(a), callOf(b)));
  yield* done;
  const pending = all.filter((p) => !callOf(p).finished);
  if (pending.length > 0) callOf(pending[0]!).suspend(`finishOrder() waits for ${ids(pending)}`);
}

function ids(placeholders: readonly Placeholder<unknown>[]): string {
  return placeholders.map((p) => p.callId).join(', ');
}
