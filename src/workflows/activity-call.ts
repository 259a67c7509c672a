/**
 * One activity call in the executor, from queued to its final event: its
 * attempts, their limits (SWF's scheduleToStart, startToClose, heartbeat,
 * scheduleToClose), heartbeats and retries. The executor (createActivityExecutor)
 * owns the task lists' queues and slots and starts the call when one is free.
 */
import type { Logger } from 'pino';
import { toErrorInfo, type ErrorInfo } from '../../machines/events.js';
import { ActivityAbortError, callDeadline, isFinalError, timerAt, type CompiledExecutorOptions } from './executor-support.js';
import { toJson, type HistoryEvent, type JsonValue, type ScheduledCall, type TimeoutKind } from './history.js';
import type { ActivityContext, ActivityDefinition } from './workflow-api.js';
import type { ActivityReport } from './executor-types.js';

/** Heartbeats are reported at most this often (each one still resets the heartbeat limit). */
export const HEARTBEAT_REPORT_MS = 1000;

/** One task list: its queue and how many attempts run in it. */
export interface Lane {
  readonly limit: number;
  readonly queue: ActivityCall[];
  /** Attempts holding a slot. */
  running: number;
  retrying: number;
  /** Functions whose attempt ended before they settled; they hold no slot. */
  abandoned: number;
  woken: boolean;
}

/** What a call needs from the executor. */
export interface CallHost {
  readonly options: CompiledExecutorOptions;
  /** The lane has a new call queued or a free slot: start what fits (later, never inside the caller). */
  wake(lane: Lane): void;
  /** A function settled: close() may be waiting for the last one. */
  settled(): void;
  /** The call reached its end (or was dropped): forget it. */
  finished(call: ActivityCall): void;
}

/** What a call is given to run. */
export interface CallSpec {
  runId: string;
  call: ScheduledCall;
  definition: ActivityDefinition;
  report: ActivityReport;
  lane: Lane;
  log: Logger;
  scheduledAt: number;
  attemptsMade: number;
  /** Calls the function (the task's `runWithin`). */
  runWithin: (<T>(run: () => T) => T) | undefined;
}

type Kind = 'scheduleToClose' | 'startToClose' | 'heartbeat';

interface Attempt {
  readonly n: number;
  /** Made when the function first asks for `ctx.signal` (most never do). */
  controller: AbortController | undefined;
  /** Why its signal is aborted, once it is: a signal asked for later comes aborted. */
  aborted: { reason: ActivityAbortError | undefined } | undefined;
  /** Its outcome still counts. */
  live: boolean;
  /** Its function has settled (or never ran). */
  settled: boolean;
  /** It ended before its function settled. */
  abandoned: boolean;
  endBy: number | undefined;
  beatBy: number | undefined;
  stopEnd: (() => void) | undefined;
  stopBeat: (() => void) | undefined;
  lastBeat: number | undefined;
  /** A heartbeat within a second of the last one reported: reported when that second is up, unless a later one replaces it. */
  pendingBeat: { details: JsonValue | undefined } | undefined;
  stopFlush: (() => void) | undefined;
}

/** One call's life; see createActivityExecutor for the rules it keeps. */
export class ActivityCall {
  readonly runId: string;
  readonly call: ScheduledCall;
  readonly lane: Lane;
  readonly #host: CallHost;
  readonly #spec: CallSpec;
  /** When the current attempt's scheduleToClose passes: it counts from each queueing (a retry is scheduled anew, as in SWF). */
  #closeAt: number | undefined;
  #attempts: number;
  #state: 'queued' | 'retrying' | 'running' | 'done' = 'queued';
  #startBy: number | undefined;
  #attempt: Attempt | undefined;
  /** Cancels the timer of the wait in progress: scheduleToStart while queued, the delay (`delay`, or a retry's) while retrying. */
  #stopWait: (() => void) | undefined;
  #stopClose: (() => void) | undefined;

  /**
   * Queues the first attempt, after the call's `delay` from `scheduledAt`
   * (scheduleToStart and scheduleToClose count from then); a resumed call
   * (attemptsMade > 0) is queued now.
   */
  constructor(host: CallHost, spec: CallSpec) {
    this.#host = host;
    this.#spec = spec;
    this.runId = spec.runId;
    this.call = spec.call;
    this.lane = spec.lane;
    this.#attempts = spec.attemptsMade;
    const { delay } = spec.call.options;
    const deadline = callDeadline(spec.call.options, spec.scheduledAt, host.options.retryDelay);
    // Past the latest end of its attempts (a worker that comes late): it times out without running, after submit() returns.
    if (spec.attemptsMade === 0 && deadline !== undefined && deadline <= this.#clock.now())
      this.#stopClose = timerAt(this.#clock, deadline, () => this.#expired());
    else if (spec.attemptsMade > 0) this.#enqueue(this.#clock.now());
    else if (delay === undefined) this.#enqueue(spec.scheduledAt);
    else this.#waitThenEnqueue(spec.scheduledAt + delay);
  }

  get #clock() {
    return this.#host.options.clock;
  }

  /** Starts the next attempt in a slot of its lane (the host took it off the queue); a limit already passed times it out instead. */
  start(): void {
    const now = this.#clock.now();
    // Time-outs due while the event loop was busy win over a start.
    if (this.#closeAt !== undefined && now >= this.#closeAt) return this.#closeTimedOut();
    if (this.#startBy !== undefined && now >= this.#startBy) return this.#startTimedOut();
    this.#leaveWait();
    const { definition } = this.#spec;
    const { startToClose, heartbeat } = this.call.options;
    const attempt: Attempt = {
      n: ++this.#attempts,
      controller: undefined,
      aborted: undefined,
      live: true,
      settled: false,
      abandoned: false,
      endBy: startToClose === undefined ? undefined : now + startToClose,
      beatBy: heartbeat === undefined ? undefined : now + heartbeat,
      stopEnd: undefined,
      stopBeat: undefined,
      lastBeat: undefined,
      pendingBeat: undefined,
      stopFlush: undefined,
    };
    this.#state = 'running';
    this.#attempt = attempt;
    this.lane.running++;
    this.#debug(attempt, 'activity attempt started');
    this.#emit({ type: 'activity.started', at: now, callId: this.call.callId, attempt: attempt.n });
    if (!attempt.live) return this.#settled(attempt); // the report cancelled the run
    if (attempt.endBy !== undefined)
      attempt.stopEnd = timerAt(this.#clock, attempt.endBy, () => this.#attemptTimedOut(attempt, 'startToClose'));
    if (attempt.beatBy !== undefined) this.#armHeartbeat(attempt);
    let input: unknown;
    try {
      input = definition.deserialize.input(this.call.input);
    } catch (error) {
      this.#settled(attempt);
      return this.#attemptFailed(
        attempt,
        {
          code: 'ERR_WORKFLOW',
          message: `Activity "${definition.name}" (call ${this.call.callId}) could not deserialise its input: ${toErrorInfo(error).message}`,
        },
        false,
      );
    }
    // The signal and the logger are made when the function first asks for them.
    let log: Logger | undefined;
    const spec = this.#spec;
    const ctx: ActivityContext = {
      heartbeat: (details) => this.#heartbeat(attempt, details),
      get signal() {
        return signalOf(attempt);
      },
      attempt: attempt.n,
      get log() {
        return (log ??= spec.log.child({ attempt: attempt.n }));
      },
    };
    let running: Promise<unknown>;
    try {
      const { runWithin } = this.#spec;
      running = Promise.resolve(runWithin ? runWithin(() => definition.run(input, ctx)) : definition.run(input, ctx));
    } catch (error) {
      running = Promise.reject(error as Error);
    }
    void running.then(
      (value) => this.#onSettled(attempt, { ok: true, value }),
      (error: unknown) => this.#onSettled(attempt, { ok: false, error }),
    );
  }

  /** Cancel and close: ends the call without another report; a running function gets its signal aborted with `reason`. */
  drop(reason: ActivityAbortError): void {
    if (this.#state === 'done') return;
    this.#leaveWait();
    if (this.#attempt !== undefined) this.#endAttempt(this.#attempt, reason);
    this.#finish();
  }

  /** Queues an attempt as scheduled at `at`: its scheduleToStart and scheduleToClose count from then. */
  #enqueue(at: number): void {
    const { scheduleToStart, scheduleToClose } = this.call.options;
    this.#state = 'queued';
    this.#startBy = scheduleToStart === undefined ? undefined : at + scheduleToStart;
    if (this.#startBy !== undefined) this.#stopWait = timerAt(this.#clock, this.#startBy, () => this.#startTimedOut());
    this.#stopClose?.();
    this.#closeAt = scheduleToClose === undefined ? undefined : at + scheduleToClose;
    this.#stopClose = this.#closeAt === undefined ? undefined : timerAt(this.#clock, this.#closeAt, () => this.#closeTimedOut());
    this.lane.queue.push(this);
    this.#host.wake(this.lane);
  }

  /** Waits (a `delay`, or a retry's) until `at`, then queues the attempt as scheduled then; at once for a time past. */
  #waitThenEnqueue(at: number): void {
    this.#stopClose?.();
    this.#stopClose = undefined;
    this.#closeAt = undefined;
    if (at <= this.#clock.now()) return this.#enqueue(at);
    this.#state = 'retrying';
    this.lane.retrying++;
    this.#stopWait = timerAt(this.#clock, at, () => {
      this.#stopWait = undefined;
      this.lane.retrying--;
      this.#enqueue(at);
    });
  }

  #onSettled(attempt: Attempt, outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void {
    this.#settled(attempt);
    if (!attempt.live) return this.#debug(attempt, 'activity function settled after its attempt ended; its outcome is ignored');
    const now = this.#clock.now();
    const overdue = this.#overdue(attempt, now);
    if (overdue === 'scheduleToClose') return this.#closeTimedOut();
    if (overdue !== undefined) return this.#attemptTimedOut(attempt, overdue);
    if (!outcome.ok)
      return this.#attemptFailed(
        attempt,
        toErrorInfo(outcome.error),
        this.call.options.retryErrors === true && !isFinalError(outcome.error),
      );
    const { definition } = this.#spec;
    let result: JsonValue;
    try {
      result = definition.serialize.result(outcome.value);
    } catch (error) {
      const { message } = toErrorInfo(error);
      const named = message.includes(`Activity "${definition.name}"`)
        ? message
        : `Activity "${definition.name}" result could not be serialised: ${message}`;
      return this.#attemptFailed(attempt, { code: 'ERR_WORKFLOW', message: named }, false);
    }
    this.#endAttempt(attempt, undefined);
    this.#debug(attempt, 'activity completed');
    this.#final({ type: 'activity.completed', at: now, callId: this.call.callId, result });
  }

  #heartbeat(attempt: Attempt, details: JsonValue | undefined): void {
    if (!attempt.live) return;
    const json = details === undefined ? undefined : toJson(details, `Activity "${this.call.activity.name}" heartbeat details`);
    const now = this.#clock.now();
    const overdue = this.#overdue(attempt, now);
    if (overdue === 'scheduleToClose') return this.#closeTimedOut();
    if (overdue !== undefined) return this.#attemptTimedOut(attempt, overdue);
    if (this.call.options.heartbeat !== undefined) attempt.beatBy = now + this.call.options.heartbeat;
    if (attempt.lastBeat !== undefined && now - attempt.lastBeat < HEARTBEAT_REPORT_MS) {
      // The latest progress is not lost: it goes out when the second is up.
      attempt.pendingBeat = { details: json };
      attempt.stopFlush ??= timerAt(this.#clock, attempt.lastBeat + HEARTBEAT_REPORT_MS, () => {
        attempt.stopFlush = undefined;
        const pending = attempt.pendingBeat;
        if (attempt.live && pending) this.#reportBeat(attempt, this.#clock.now(), pending.details);
      });
      return;
    }
    this.#reportBeat(attempt, now, json);
  }

  #reportBeat(attempt: Attempt, at: number, details: JsonValue | undefined): void {
    attempt.lastBeat = at;
    attempt.pendingBeat = undefined;
    attempt.stopFlush?.();
    attempt.stopFlush = undefined;
    const event = { type: 'activity.heartbeat', at, callId: this.call.callId } as const;
    this.#emit(details === undefined ? event : { ...event, details });
  }

  /** One timer per interval: a heartbeat only moves `beatBy`, and the timer re-arms when it finds it moved. */
  #armHeartbeat(attempt: Attempt): void {
    attempt.stopBeat = timerAt(this.#clock, attempt.beatBy!, () => {
      if (!attempt.live) return;
      if (this.#clock.now() < attempt.beatBy!) this.#armHeartbeat(attempt);
      else this.#attemptTimedOut(attempt, 'heartbeat');
    });
  }

  /** The limit an outcome or heartbeat finds passed before its timer fired (a busy event loop), the earliest first. */
  #overdue(attempt: Attempt, now: number): Kind | undefined {
    // Called at every outcome and heartbeat: nothing allocated. On a tie the first in this order wins (as the stable sort did).
    let kind: Kind | undefined;
    let at = Infinity;
    const { endBy, beatBy } = attempt;
    if (this.#closeAt !== undefined && now >= this.#closeAt) {
      kind = 'scheduleToClose';
      at = this.#closeAt;
    }
    if (endBy !== undefined && now >= endBy && endBy < at) {
      kind = 'startToClose';
      at = endBy;
    }
    if (beatBy !== undefined && now >= beatBy && beatBy < at) kind = 'heartbeat';
    return kind;
  }

  #startTimedOut(): void {
    if (this.#state !== 'queued') return;
    this.#leaveWait();
    this.#retryOrFinish(++this.#attempts, { kind: 'scheduleToStart' }, true);
  }

  #attemptTimedOut(attempt: Attempt, kind: 'startToClose' | 'heartbeat'): void {
    if (!attempt.live) return;
    this.#endAttempt(attempt, this.#timeoutReason(attempt.n, kind));
    this.#retryOrFinish(attempt.n, { kind }, true);
  }

  #attemptFailed(attempt: Attempt, error: ErrorInfo, retryable: boolean): void {
    this.#endAttempt(attempt, undefined);
    this.#retryOrFinish(attempt.n, { error }, retryable);
  }

  /** Given past its deadline: final, as the attempt that would have come first. */
  #expired(): void {
    this.#final({
      type: 'activity.timedOut',
      at: this.#clock.now(),
      callId: this.call.callId,
      attempt: 1,
      kind: 'scheduleToClose',
      final: true,
    });
  }

  /** scheduleToClose passed, queued or running: the attempt times out, and is retried as the others are. */
  #closeTimedOut(): void {
    if (this.#state === 'done' || this.#state === 'retrying') return;
    const attempt = this.#attempt;
    this.#leaveWait();
    if (attempt !== undefined) this.#endAttempt(attempt, this.#timeoutReason(attempt.n, 'scheduleToClose'));
    this.#retryOrFinish(attempt?.n ?? ++this.#attempts, { kind: 'scheduleToClose' }, true);
  }

  #timeoutReason(n: number, kind: Kind): ActivityAbortError {
    return new ActivityAbortError(
      'ERR_ACTIVITY_TIMEOUT',
      `Activity "${this.call.activity.name}" (call ${this.call.callId}, attempt ${n}) passed its ${kind} limit of ${this.call.options[kind]}ms`,
    );
  }

  /** Reports attempt `n`'s end, then queues a retry after its delay (the call's own list, else the executor's backoff), or finishes the call. */
  #retryOrFinish(n: number, end: { kind: TimeoutKind } | { error: ErrorInfo }, retryable: boolean): void {
    const now = this.#clock.now();
    const delay = this.call.options.retryDelays?.[n - 1] ?? this.#host.options.retryDelay(n);
    const final = !retryable || this.#attempts >= 1 + this.call.options.retries;
    const base = { at: now, callId: this.call.callId, attempt: n, final };
    const event: HistoryEvent =
      'kind' in end ? { type: 'activity.timedOut', ...base, kind: end.kind } : { type: 'activity.failed', ...base, error: end.error };
    this.#spec.log.warn(
      { attempt: n, final, ...end, ...(final ? {} : { retryInMs: delay }) },
      final ? 'activity attempt failed; no retry' : 'activity attempt failed; retrying',
    );
    if (final) return this.#final(event);
    this.#emit(event);
    if (this.#isDone()) return; // the report cancelled the run
    this.#waitThenEnqueue(now + delay);
  }

  /** Ends an attempt: its timers stop, and a function still running is aborted with `reason` and abandoned (its slot is freed). */
  #endAttempt(attempt: Attempt, reason: ActivityAbortError | undefined): void {
    attempt.live = false;
    attempt.stopEnd?.();
    attempt.stopBeat?.();
    attempt.stopFlush?.();
    attempt.pendingBeat = undefined;
    if (this.#attempt === attempt) this.#attempt = undefined;
    if (attempt.settled) return;
    attempt.abandoned = true;
    this.lane.running--;
    this.lane.abandoned++;
    this.#host.wake(this.lane);
    attempt.aborted = { reason };
    attempt.controller?.abort(reason);
  }

  /** A function settled (or never ran): its slot, or its place among the abandoned, is freed. */
  #settled(attempt: Attempt): void {
    if (attempt.settled) return;
    attempt.settled = true;
    if (attempt.abandoned) {
      this.lane.abandoned--;
    } else {
      this.lane.running--;
      this.#host.wake(this.lane);
    }
    this.#host.settled();
  }

  /** Leaves the queue or the retry's delay. */
  #leaveWait(): void {
    this.#stopWait?.();
    this.#stopWait = undefined;
    if (this.#state === 'retrying') this.lane.retrying--;
    const index = this.#state === 'queued' ? this.lane.queue.indexOf(this) : -1;
    if (index >= 0) this.lane.queue.splice(index, 1);
  }

  /** Finishes the call, then reports its final event (a report that cancels the run finds it finished). */
  #final(event: HistoryEvent): void {
    if (this.#state === 'done') return;
    this.#finish();
    this.#emit(event);
  }

  #finish(): void {
    this.#state = 'done';
    this.#stopClose?.();
    this.#stopWait?.();
    this.#host.finished(this);
  }

  #isDone(): boolean {
    return this.#state === 'done';
  }

  /** A debug line of the attempt's (the call's logger is made only when it is written). */
  #debug(attempt: Attempt, message: string): void {
    if (this.#host.options.log.isLevelEnabled('debug')) this.#spec.log.debug({ attempt: attempt.n }, message);
  }

  #emit(event: HistoryEvent): void {
    try {
      const reported = this.#spec.report(event);
      if (reported instanceof Promise)
        reported.catch((error: unknown) =>
          this.#spec.log.error({ err: error, event: event.type }, 'the report of an activity event failed; the executor carries on'),
        );
    } catch (error) {
      this.#spec.log.error({ err: error, event: event.type }, 'the report of an activity event threw; the executor carries on');
    }
  }
}

/** The attempt's abort signal, made on first use: aborted already when the attempt ended before. */
function signalOf(attempt: Attempt): AbortSignal {
  if (attempt.controller === undefined) {
    attempt.controller = new AbortController();
    if (attempt.aborted !== undefined) attempt.controller.abort(attempt.aborted.reason);
  }
  return attempt.controller.signal;
}
