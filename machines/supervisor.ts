import { enqueueActions, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { DispatchQueue, type QueueEntry } from './dispatch-queue.js';
import {
  eventAssigned,
  eventSettled,
  eventsSettled,
  slotAbort,
  sourcePause,
  sourceResume,
  sourceStop,
  type Delivery,
  type ErrorInfo,
  type EventCancel,
  type EventReceived,
  type EventsReceived,
  type EventsRevoked,
  type Outcome,
  type RuntimeStop,
  type Settlement,
  type SlotFailed,
  type SlotFinished,
  type SlotRetired,
  type SlotsReported,
  type SourceEnded,
  type SourceFailed,
  type SourceReconnecting,
  type SourceStarted,
  type SourceStopped,
} from './events.js';
import { notProvidedError, promiseNotProvided } from './not-provided.js';
import {
  isDependencyDown,
  PING_TIMEOUT_MS,
  pingAnswered,
  pingFailed,
  probeDue,
  runFailed,
  runSucceeded,
  type Dependency,
  type Outage,
  type OutageStep,
  type PingInput,
  type PingResult,
} from './outage.js';
import { orderingKey } from './path.js';
import { sourceMachine } from './source.js';
import { workerSlotMachine } from './worker-slot.js';

/** The supervisor's compiled settings (see `[Flow]` in docs/configuration.md). */
export interface SupervisorSettings {
  workers: number;
  queueSize: number;
  highWatermark: number;
  lowWatermark: number;
  queueTimeoutMs: number;
  executionTimeoutMs: number;
  shutdownTimeoutMs: number;
  retries: number;
  backoff: BackoffPolicy;
  /** `[Flow] order by`, split on dots. */
  orderBy: readonly string[] | undefined;
  /**
   * `[Flow] isolation`: with `thread`, a timed-out run's thread is
   * terminated, and its event's outcome (and its key) wait for the slot to
   * retire, so a same-key event never overlaps it. Default `process`.
   */
  isolation?: 'process' | 'thread' | undefined;
}

export interface SupervisorInput {
  settings: SupervisorSettings;
  /** The clock's current time in ms (injected so tests use simulated time). */
  now: () => number;
  /** [0, 1), for retry jitter. */
  random: () => number;
  /** How the source retries a lost connection (for sources that have one). */
  reconnect?: { delayMs: number; maxDelayMs: number } | undefined;
  /**
   * Emit the lifecycle notifications (`SupervisorLifecycle`: `event.received`,
   * `event.queued`, `event.started`, `event.timedOut`, `event.abandoned`,
   * `event.settled`) beside the outcome ones: `true` all of them, a list
   * only those types. Off by default: each costs an emit per event even
   * with no listener, so the runtime turns on only the types something
   * listens to (the inspector's journal, a tracer: a `runtime.on()` of one
   * of these types). `lifecycle.observe` turns them on later. @default false
   */
  lifecycle?: boolean | readonly SupervisorLifecycle['type'][] | undefined;
}

/** An event the supervisor holds, from arrival to outcome. */
export interface JobRecord extends QueueEntry {
  delivery: Delivery;
  attempt: number;
  slotId: string | undefined;
  /** When the current attempt started; undefined while not running. */
  startedAt: number | undefined;
  lastError: ErrorInfo | undefined;
  /** How long its last attempt waited in the queue, and ran (for the inspector's histograms). */
  waitMs?: number;
  runMs?: number;
  /** Set while it runs when its source revoked it: it is not retried, and its outcome is void at the source. */
  revoked?: ErrorInfo;
  /** Set while it runs as the probe of a dependency outage that cannot be pinged. */
  probe?: boolean;
  /** Set when an operator cancelled its run (`event.cancel`): it fails without a retry. */
  cancelled?: boolean;
}

/** Counters of outcomes and states; part of `runtime.snapshot()`. */
export interface SupervisorCounters {
  received: number;
  started: number;
  completed: number;
  failed: number;
  expired: number;
  rejected: number;
  returned: number;
  retried: number;
  deadLettered: number;
  timedOut: number;
}

/**
 * The supervisor's working set. The queue, slot table and counters are
 * mutable structures owned by this machine and changed only by its own
 * actions: copying them on every transition would cost more than the
 * dispatch itself at tens of thousands of events a second.
 */
export interface SupervisorContext extends SupervisorInput {
  queue: DispatchQueue<JobRecord>;
  /** Usable slots by child id, and the job each runs. */
  slots: Map<string, { job: JobRecord | undefined }>;
  idle: string[];
  running: number;
  /** Whether the execution-deadline timer is armed (it is whenever a job runs). */
  deadlineArmed: boolean;
  retrying: Map<number, JobRecord>;
  /** Slots whose run timed out or was abandoned and has not settled yet. */
  abandoned: number;
  /** Under `isolation = thread`: timed-out runs whose thread is being terminated, by slot; their outcome waits for `slot.retired`. */
  terminating: Map<string, { job: JobRecord; error: ErrorInfo }>;
  nextSeq: number;
  nextSlot: number;
  counters: SupervisorCounters;
  sourceEnded: boolean;
  /** The source reached its final state (stopped or failed). */
  sourceStopped: boolean;
  stopReason: 'requested' | 'ended' | 'source failed' | undefined;
  sourceError: ErrorInfo | undefined;
  /** The app's store or locks are down (see machines/outage.ts): events are held while the runtime pings them. */
  outage: Outage | undefined;
  /** What the last ping found up, until a run ends without a dependency error (see `runFailed`). */
  vouched: Dependency[];
  /** The lifecycle notifications emitted, by type (from `lifecycle`). */
  emits: Record<SupervisorLifecycle['type'], boolean>;
}

/** Counters before the first event. */
export const zeroCounters = (): SupervisorCounters => ({
  received: 0,
  started: 0,
  completed: 0,
  failed: 0,
  expired: 0,
  rejected: 0,
  returned: 0,
  retried: 0,
  deadLettered: 0,
  timedOut: 0,
});

/**
 * How the supervisor told the event's source it ended (what the source's
 * `settle()` is asked to do): `ack` (completed), `nack` (any other outcome:
 * not acknowledged, so a broker redelivers it), `dead-letter` (failed for
 * good: the source dead-letters it, a STOMP source by publishing a copy to
 * its dead-letter queue and then acknowledging it).
 */
export type SettleHow = 'ack' | 'nack' | 'dead-letter';

/**
 * Lifecycle notifications: each step of an event on its way to an outcome,
 * emitted only with `SupervisorInput.lifecycle` (the runtime sets it when
 * something listens to them). `at` is the supervisor's clock (`now()`);
 * `seq` is unique per event within a run (`id` is the source's id, which a
 * redelivery may repeat).
 * - `event.received`: the supervisor admitted it (before it is queued, or settled at once).
 *   `payload` is the object the worker receives (not a copy).
 * - `event.queued`: it entered the queue, first or again for a retry; `position` is the number
 *   of events waiting, this one included.
 * - `event.started`: attempt `attempt` started on slot `slotId`.
 * - `event.timedOut`: attempt `attempt` on `slotId` passed the execution timeout (its run is aborted).
 * - `event.abandoned`: its run on `slotId` was aborted and the slot set aside until the run settles
 *   (after a timeout, or at the end of the shutdown timeout).
 * - `event.settled`: its outcome was handed to its source (sent at the end of the step), as `how`;
 *   only for sources that take outcomes (a broker, an event log), never for interval or stdin.
 */
export type SupervisorLifecycle =
  | {
      type: 'event.received';
      id: string;
      seq: number;
      meta: Delivery['meta'];
      payload: unknown;
      at: number;
      /** Whether its source is told how it ended (`event.settled` follows its outcome): false for one offered again by the inspector. */
      settles: boolean;
    }
  | { type: 'event.queued'; id: string; seq: number; position: number; at: number }
  | { type: 'event.started'; id: string; seq: number; slotId: string; attempt: number; at: number }
  | { type: 'event.timedOut'; id: string; seq: number; slotId: string; attempt: number; at: number }
  | { type: 'event.abandoned'; id: string; seq: number; slotId: string; at: number }
  | { type: 'event.settled'; id: string; seq: number; how: SettleHow; at: number };

const LIFECYCLE_LIST: readonly SupervisorLifecycle['type'][] = [
  'event.received',
  'event.queued',
  'event.started',
  'event.timedOut',
  'event.abandoned',
  'event.settled',
];

/** The lifecycle notifications' types (see `SupervisorLifecycle`). */
export const LIFECYCLE_TYPES: ReadonlySet<string> = new Set(LIFECYCLE_LIST);

/** Which lifecycle types `lifecycle` turns on, besides those on in `current`. */
function emitsOf(
  lifecycle: SupervisorInput['lifecycle'],
  current?: Record<SupervisorLifecycle['type'], boolean>,
): Record<SupervisorLifecycle['type'], boolean> {
  const on = new Set(lifecycle === true ? LIFECYCLE_LIST : Array.isArray(lifecycle) ? lifecycle : []);
  return Object.fromEntries(LIFECYCLE_LIST.map((type) => [type, on.has(type) || current?.[type] === true])) as Record<
    SupervisorLifecycle['type'],
    boolean
  >;
}

/** Outcome notifications the supervisor emits (`actor.on(type, fn)`), and with `lifecycle` the `SupervisorLifecycle` ones. */
export type SupervisorEmitted =
  | SupervisorLifecycle
  | {
      type: 'event.completed';
      id: string;
      seq: number;
      attempts: number;
      result: unknown;
      meta: Delivery['meta'];
      waitMs?: number | undefined;
      runMs?: number | undefined;
    }
  | {
      [O in Exclude<Outcome, 'completed'>]: {
        type: `event.${O}`;
        id: string;
        seq: number;
        attempts: number;
        error: ErrorInfo;
        deadLetter: boolean;
        meta: Delivery['meta'];
        payload: unknown;
        waitMs?: number | undefined;
        runMs?: number | undefined;
      };
    }[Exclude<Outcome, 'completed'>]
  | { type: 'event.retrying'; id: string; seq: number; attempt: number; delayMs: number; error: ErrorInfo }
  | {
      type: 'slot.replaced';
      slotId: string;
      replacement: string;
      /** Why its run was aborted: ERR_WORKER_TIMEOUT, or ERR_CANCELLED (an operator, through the inspector). */
      reason?: ErrorInfo['code'];
    }
  | { type: 'source.reconnecting'; attempt: number; delayMs: number; error: ErrorInfo }
  | { type: 'dependency.down'; error: ErrorInfo }
  | { type: 'dependency.up'; downForMs: number; probes: number };

type RetryDue = { type: 'retry.due'; seq: number };
type ExpiryDue = { type: 'queue.expiryDue' };
type DeadlineDue = { type: 'execution.deadlineDue' };
type ProbeDue = { type: 'dependency.probeDue' };
/** The ping of an outage answered (the `pingDependency` child, spawned as `dependency-ping`, is done). */
type PingDone = { type: 'xstate.done.actor.dependency-ping'; output: PingResult };
/** The ping found the store or locks still down. */
type PingError = { type: 'xstate.error.actor.dependency-ping'; error: unknown };
type QueueSignal = { type: 'queue.filled' } | { type: 'queue.drained' } | { type: 'work.drained' };
/** Turns lifecycle notifications on (something started listening to them after start): those `types`, or all. */
type LifecycleObserve = { type: 'lifecycle.observe'; types?: readonly SupervisorLifecycle['type'][] };

export type SupervisorEvent =
  | EventReceived
  | EventsReceived
  | EventsRevoked
  | ExpiryDue
  | DeadlineDue
  | SlotFinished
  | SlotFailed
  | SlotRetired
  | SlotsReported
  | SourceStarted
  | SourceEnded
  | SourceFailed
  | SourceReconnecting
  | SourceStopped
  | RuntimeStop
  | RetryDue
  | ProbeDue
  | PingDone
  | PingError
  | QueueSignal
  | LifecycleObserve
  | EventCancel;

const timeoutError = (ms: number): ErrorInfo => ({
  code: 'ERR_WORKER_TIMEOUT',
  message: `the worker did not finish within the execution timeout of ${ms}ms`,
});
const expiredError = (ms: number): ErrorInfo => ({
  code: 'ERR_QUEUE_TIMEOUT',
  message: `the event waited longer than the queue timeout of ${ms}ms and was not started`,
});
const fullError = (size: number): ErrorInfo => ({
  code: 'ERR_QUEUE_FULL',
  message: `the queue is full (${size} events); the event was not accepted`,
});
const shutdownError = (): ErrorInfo => ({
  code: 'ERR_SHUTDOWN',
  message: 'the runtime stopped before the event finished; it was returned to its source',
});

/** The part of xstate's action enqueuer the supervisor uses. */
interface Enqueue {
  sendTo(to: AnyActorRef | string, event: { type: string }): void;
  emit(event: SupervisorEmitted): void;
  raise(event: SupervisorEvent, options?: { delay: number; id: string }): void;
  cancel(id: string): void;
  spawnChild(src: 'workerSlot' | 'source' | 'pingDependency', options: { id: string; input: unknown }): void;
  stopChild(id: string): void;
}

type Work = (args: { context: SupervisorContext; event: SupervisorEvent; enqueue: Enqueue; self: AnyActorRef }) => void;

/**
 * Settlements made while one action runs, by source: sent as one message
 * per source when the action ends, so a batch of reports costs the source
 * one transition, not one per event. Set only during a synchronous action.
 */
let outbox: Map<AnyActorRef, Settlement[]> | undefined;

/** Sends the settlements collected so far. Called before any new work is assigned, so an ACK never trails the next run's frames. */
function flushSettlements(enqueue: Enqueue): void {
  const settled = outbox;
  if (!settled) return;
  outbox = undefined;
  for (const [origin, settlements] of settled) {
    if (origin.getSnapshot().status !== 'active') continue;
    enqueue.sendTo(origin, settlements.length === 1 ? eventSettled(settlements[0]!) : eventsSettled(settlements));
  }
}

/** An enqueueActions whose enqueuer is typed as `Enqueue` (xstate's own type does not survive extraction). */
const work = (fn: Work): never =>
  enqueueActions((args: Parameters<Work>[0]) => {
    fn(args);
    flushSettlements(args.enqueue);
  }) as never;

/** Tells the event's source how it ended (when the action ends), and emits the outcome. */
function settle(
  context: SupervisorContext,
  enqueue: Enqueue,
  job: JobRecord,
  outcome: Outcome,
  detail: { result?: unknown; error?: ErrorInfo; deadLetter?: boolean },
): void {
  const { delivery } = job;
  const deadLetter = detail.deadLetter ?? false;
  if (delivery.origin) {
    const settlement: Settlement = {
      id: delivery.id,
      outcome,
      ack: outcome === 'completed',
      attempts: job.attempt,
      deadLetter,
      ...(detail.result !== undefined ? { result: detail.result } : {}),
      ...(detail.error ? { error: detail.error } : {}),
      ...(delivery.meta ? { meta: delivery.meta } : {}),
    };
    const box = (outbox ??= new Map());
    const list = box.get(delivery.origin);
    if (list) list.push(settlement);
    else box.set(delivery.origin, [settlement]);
  }
  if (outcome === 'completed') {
    enqueue.emit({
      type: 'event.completed',
      id: delivery.id,
      seq: job.seq,
      attempts: job.attempt,
      result: detail.result,
      meta: delivery.meta,
      waitMs: job.waitMs,
      runMs: job.runMs,
    });
  } else {
    enqueue.emit({
      type: `event.${outcome}`,
      id: delivery.id,
      seq: job.seq,
      attempts: job.attempt,
      error: detail.error!,
      deadLetter,
      meta: delivery.meta,
      payload: delivery.payload,
      waitMs: job.waitMs,
      runMs: job.runMs,
    });
  }
  if (context.emits['event.settled'] && delivery.origin) {
    const how: SettleHow = outcome === 'completed' ? 'ack' : deadLetter ? 'dead-letter' : 'nack';
    enqueue.emit({ type: 'event.settled', id: delivery.id, seq: job.seq, how, at: context.now() });
  }
}

/** Takes one delivery in: queued, or settled at once (unreadable, queue full, stopping). */
function admit(context: SupervisorContext, enqueue: Enqueue, delivery: Delivery): void {
  context.counters.received++;
  const job: JobRecord = {
    seq: context.nextSeq++,
    key: orderingKey(delivery.payload, context.settings.orderBy),
    enqueuedAt: context.now(),
    state: 'ready',
    delivery,
    attempt: 1,
    slotId: undefined,
    startedAt: undefined,
    lastError: undefined,
  };
  if (context.emits['event.received'])
    enqueue.emit({
      type: 'event.received',
      id: delivery.id,
      seq: job.seq,
      meta: delivery.meta,
      payload: delivery.payload,
      at: job.enqueuedAt,
      settles: delivery.origin !== undefined,
    });
  if (context.stopReason !== undefined) {
    context.counters.returned++;
    settle(context, enqueue, job, 'returned', { error: shutdownError() });
  } else if (delivery.error) {
    context.counters.failed++;
    context.counters.deadLettered++;
    settle(context, enqueue, job, 'failed', { error: delivery.error, deadLetter: true });
  } else if (context.queue.size >= context.settings.queueSize) {
    context.counters.rejected++;
    settle(context, enqueue, job, 'rejected', { error: fullError(context.settings.queueSize) });
  } else {
    context.queue.push(job);
    if (context.emits['event.queued']) emitQueued(context, enqueue, job);
  }
}

function emitQueued(context: SupervisorContext, enqueue: Enqueue, job: JobRecord): void {
  enqueue.emit({ type: 'event.queued', id: job.delivery.id, seq: job.seq, position: context.queue.size, at: job.enqueuedAt });
}

/** Starts queued events on idle slots, in order; raises queue signals on crossings. */
function dispatch(context: SupervisorContext, enqueue: Enqueue, sizeBefore: number): void {
  const { queue, idle, slots } = context;
  const now = context.now();
  // While the app's dependency is down, only the probe starts.
  const gate = context.outage;
  while (idle.length > 0 && (gate === undefined || gate.probeDue)) {
    const job = queue.take();
    if (!job) break;
    // The expiry timer can lose the race to a stalled event loop: never start an event past its queue timeout.
    if (now - job.enqueuedAt >= context.settings.queueTimeoutMs) {
      context.counters.expired++;
      settle(context, enqueue, job, 'expired', { error: expiredError(context.settings.queueTimeoutMs) });
      queue.release(job.key);
      continue;
    }
    if (gate) {
      gate.probeDue = false;
      job.probe = true;
    }
    flushSettlements(enqueue);
    const slotId = idle.pop()!;
    const slot = slots.get(slotId)!;
    const startedAt = now;
    slot.job = job;
    job.slotId = slotId;
    job.startedAt = startedAt;
    job.waitMs = now - job.enqueuedAt;
    context.running++;
    context.counters.started++;
    if (context.emits['event.started'])
      enqueue.emit({ type: 'event.started', id: job.delivery.id, seq: job.seq, slotId, attempt: job.attempt, at: now });
    // The record itself is the job: slots read it and never change it.
    enqueue.sendTo(slotId, eventAssigned(job as JobRecord & { startedAt: number }));
  }
  if (!context.deadlineArmed) scheduleDeadline(context, enqueue);
  signalCrossings(context, enqueue, sizeBefore);
}

const DEADLINE = 'execution-deadline';

/**
 * Arms the one execution-deadline timer for the oldest running job, if any.
 * It is armed only when it is not, so a finished job leaves it to fire
 * early and re-arm: one timer a timeout period, not one per event.
 */
function scheduleDeadline(context: SupervisorContext, enqueue: Enqueue): void {
  let oldest: number | undefined;
  for (const slot of context.slots.values()) {
    const startedAt = slot.job?.startedAt;
    if (startedAt !== undefined && (oldest === undefined || startedAt < oldest)) oldest = startedAt;
  }
  context.deadlineArmed = oldest !== undefined;
  if (oldest === undefined) return;
  const delay = Math.max(0, oldest + context.settings.executionTimeoutMs - context.now());
  enqueue.raise({ type: 'execution.deadlineDue' }, { delay, id: DEADLINE });
}

/**
 * A run past the execution timeout: its slot is told to abort and is set
 * aside, a fresh slot takes its place (so N slots stay usable), and the
 * event fails with ERR_WORKER_TIMEOUT (then retries or dead-letters).
 */
function timeOut(context: SupervisorContext, enqueue: Enqueue, self: AnyActorRef, job: JobRecord): void {
  context.counters.timedOut++;
  if (context.emits['event.timedOut'])
    enqueue.emit({
      type: 'event.timedOut',
      id: job.delivery.id,
      seq: job.seq,
      slotId: job.slotId!,
      attempt: job.attempt,
      at: context.now(),
    });
  abandonRun(context, enqueue, self, job, timeoutError(context.settings.executionTimeoutMs));
}

/**
 * Aborts a running job's run with `error` (its signal fires) and sets its
 * slot aside for a fresh one, then fails the event (retried unless it was
 * cancelled). Under `isolation = thread` the outcome waits for the thread to go.
 */
function abandonRun(context: SupervisorContext, enqueue: Enqueue, self: AnyActorRef, job: JobRecord, error: ErrorInfo): void {
  const slotId = job.slotId!;
  enqueue.sendTo(slotId, slotAbort(error));
  if (context.emits['event.abandoned'])
    enqueue.emit({ type: 'event.abandoned', id: job.delivery.id, seq: job.seq, slotId, at: context.now() });
  context.slots.delete(slotId);
  const at = context.idle.indexOf(slotId);
  if (at >= 0) context.idle.splice(at, 1);
  job.startedAt = undefined;
  job.slotId = undefined;
  context.running--;
  context.abandoned++;
  const replacement = spawnSlot(context, enqueue, self);
  enqueue.emit({ type: 'slot.replaced', slotId, replacement, reason: error.code });
  // A thread is terminated for sure: the event fails, and its key is free, once it is gone (see forgetSlot).
  if (context.settings.isolation === 'thread') context.terminating.set(slotId, { job, error });
  else failOrRetry(context, enqueue, job, error);
}

function signalCrossings(context: SupervisorContext, enqueue: Enqueue, before: number): void {
  const after = context.queue.size;
  const { highWatermark, lowWatermark } = context.settings;
  if (before < highWatermark && after >= highWatermark) enqueue.raise({ type: 'queue.filled' });
  if (before > lowWatermark && after <= lowWatermark) enqueue.raise({ type: 'queue.drained' });
  if (before === 0 && after > 0) scheduleExpiry(context, enqueue);
  if (before > 0 && after === 0) enqueue.cancel(EXPIRY);
}

const EXPIRY = 'queue-expiry';

/** One timer watches the oldest waiting event: it fires when that one passes the queue timeout. */
function scheduleExpiry(context: SupervisorContext, enqueue: Enqueue): void {
  const oldest = context.queue.oldest();
  if (oldest === undefined) return;
  const delay = Math.max(0, oldest + context.settings.queueTimeoutMs - context.now());
  enqueue.raise({ type: 'queue.expiryDue' }, { delay, id: EXPIRY });
}

function isSettled(context: SupervisorContext): boolean {
  return context.running === 0 && context.queue.size === 0 && context.retrying.size === 0 && context.terminating.size === 0;
}

/** After a final outcome: free the slot, free the key, start what can start. */
function finishJob(context: SupervisorContext, enqueue: Enqueue, slotId: string): JobRecord | undefined {
  const slot = context.slots.get(slotId);
  const job = slot?.job;
  if (!slot || !job) return undefined;
  slot.job = undefined;
  if (job.startedAt !== undefined) job.runMs = context.now() - job.startedAt;
  job.startedAt = undefined;
  context.running--;
  context.idle.push(slotId);
  return job;
}

/** Once the source has ended or a stop was asked for, the last outcome moves the supervisor on. */
function raiseIfDrained(context: SupervisorContext, enqueue: Enqueue): void {
  if (isSettled(context) && (context.sourceEnded || context.stopReason !== undefined)) enqueue.raise({ type: 'work.drained' });
}

/**
 * After a final outcome: free the key and, unless the caller refills the
 * slots itself once for a whole batch (`refill: false`), start what can start.
 */
function endJob(context: SupervisorContext, enqueue: Enqueue, job: JobRecord, refill = true): void {
  context.queue.release(job.key);
  if (!refill) return;
  dispatch(context, enqueue, context.queue.size);
  raiseIfDrained(context, enqueue);
}

/** A job waiting for its retry goes back to its source instead. */
function giveBackRetry(context: SupervisorContext, enqueue: Enqueue, job: JobRecord, error: ErrorInfo): void {
  enqueue.cancel(`retry-${job.seq}`);
  context.counters.returned++;
  settle(context, enqueue, job, 'returned', { error });
}

const PROBE = 'dependency-probe';
const PING = 'dependency-ping';

/** Performs an outage decision: pause or resume the source for `dependency`, say it is down or back, schedule the probe, ping. */
function applyOutage(context: SupervisorContext, enqueue: Enqueue, step: OutageStep): void {
  context.outage = step.outage;
  for (const effect of step.effects) {
    if (effect.type === 'pause') enqueue.sendTo('source', sourcePause('dependency'));
    else if (effect.type === 'resume') enqueue.sendTo('source', sourceResume('dependency'));
    else if (effect.type === 'down') enqueue.emit({ type: 'dependency.down', error: effect.error });
    else if (effect.type === 'up') enqueue.emit({ type: 'dependency.up', downForMs: effect.downForMs, probes: effect.probes });
    else if (effect.type === 'ping') {
      const input: PingInput = { dependencies: effect.dependencies, timeoutMs: PING_TIMEOUT_MS };
      enqueue.spawnChild('pingDependency', { id: PING, input });
    } else enqueue.raise({ type: 'dependency.probeDue' }, { delay: effect.delayMs, id: PROBE });
  }
}

/**
 * A failed run: retry with backoff while attempts remain, else fail for good
 * (dead letter). A run that failed because the store or locks are down is
 * not the event's fault: the event is held (its attempt not counted) until
 * a probe finds the dependency back; on shutdown it goes back to its source,
 * never to the dead letters.
 */
function failOrRetry(context: SupervisorContext, enqueue: Enqueue, job: JobRecord, error: ErrorInfo, refill = true): void {
  job.lastError = error;
  const wasProbe = job.probe === true;
  job.probe = false;
  if (context.stopReason === undefined) {
    applyOutage(context, enqueue, runFailed(context.outage, error, wasProbe, context.now(), context.random, context.vouched));
    if (!isDependencyDown(error)) context.vouched = [];
    if (isDependencyDown(error) && !job.revoked) {
      const before = context.queue.size;
      context.queue.requeue(job, context.now());
      if (context.emits['event.queued']) emitQueued(context, enqueue, job);
      // Without refill the caller dispatches once for the batch, and signals the queue's crossings then.
      if (refill) dispatch(context, enqueue, before);
      return;
    }
  }
  if (job.revoked) {
    context.counters.returned++;
    settle(context, enqueue, job, 'returned', { error: job.revoked });
    endJob(context, enqueue, job, refill);
    return;
  }
  if (job.attempt <= context.settings.retries && context.stopReason === undefined && !job.cancelled) {
    const delayMs = backoffDelay(context.settings.backoff, job.attempt, context.random);
    context.retrying.set(job.seq, job);
    context.counters.retried++;
    enqueue.emit({ type: 'event.retrying', id: job.delivery.id, seq: job.seq, attempt: job.attempt, delayMs, error });
    enqueue.raise({ type: 'retry.due', seq: job.seq }, { delay: delayMs, id: `retry-${job.seq}` });
    if (refill) dispatch(context, enqueue, context.queue.size);
    return;
  }
  // A store or lock that is down is not the event's fault: it goes back to its source unacknowledged, never to the dead letters.
  const deadLetter = context.stopReason === undefined && !isDependencyDown(error);
  if (deadLetter) {
    context.counters.failed++;
    context.counters.deadLettered++;
    settle(context, enqueue, job, 'failed', { error, deadLetter: true });
  } else {
    context.counters.returned++;
    settle(context, enqueue, job, 'returned', { error });
  }
  endJob(context, enqueue, job, refill);
}

/** How `flowing` and `throttled` both leave for `stopping`: asked to, the source failed, or its input ended and all is done. */
const toStopping = {
  'source.failed': { target: 'stopping', actions: 'recordStopReason' },
  'runtime.stop': { target: 'stopping', actions: 'recordStopReason' },
  'work.drained': { target: 'stopping', actions: 'recordStopReason' },
} as const;

/**
 * Routes events from the source to idle worker slots: a bounded queue with
 * per-key order, backpressure by watermarks, queue and execution timeouts,
 * retries with backoff, and one outcome for every event.
 */
export const supervisorMachine = setup({
  types: {} as { context: SupervisorContext; events: SupervisorEvent; input: SupervisorInput; emitted: SupervisorEmitted },
  actors: {
    // Stand-ins of the real machines' types that fail naming what the runtime did not provide:
    // a slot at its first event, the source as it connects.
    workerSlot: workerSlotMachine.provide({
      actions: {
        startWorker: () => {
          throw notProvidedError('supervisor', 'actor', 'workerSlot');
        },
      },
    }),
    source: sourceMachine.provide({ actors: { connect: promiseNotProvided<void, undefined>('supervisor', 'source') } }),
    // Pings the app's store or locks while they are down: resolves `up` when they answer, `unsupported` when they have no ping.
    pingDependency: promiseNotProvided<PingResult, PingInput>('supervisor', 'pingDependency'),
  },
  actions: {
    spawnSlots: work(({ context, enqueue, self }) => {
      for (let i = 0; i < context.settings.workers; i++) spawnSlot(context, enqueue, self);
    }),
    spawnSource: work(({ context, enqueue, self }) => {
      // A fast source hands over batches small enough that a pause still lands before the queue is full.
      const { queueSize, highWatermark } = context.settings;
      const batchSize = Math.max(1, Math.min(64, queueSize - highWatermark));
      const reconnect = context.reconnect
        ? { reconnectDelayMs: context.reconnect.delayMs, reconnectMaxDelayMs: context.reconnect.maxDelayMs }
        : {};
      enqueue.spawnChild('source', { id: 'source', input: { sink: self, batchSize, random: context.random, ...reconnect } });
    }),
    admitEvents: work(({ context, event, enqueue }) => {
      const deliveries = event.type === 'events.received' ? event.deliveries : [(event as EventReceived).delivery];
      const before = context.queue.size;
      for (const delivery of deliveries) admit(context, enqueue, delivery);
      dispatch(context, enqueue, before);
    }),
    takeReports: work(({ context, event, enqueue }) => {
      const reports = event.type === 'slots.reported' ? event.reports : [event as SlotFinished | SlotFailed];
      const before = context.queue.size;
      for (const report of reports) {
        const job = finishJob(context, enqueue, report.slotId);
        if (!job) continue;
        if (report.type === 'slot.failed') {
          failOrRetry(context, enqueue, job, report.error, false);
          continue;
        }
        if (job.probe) {
          job.probe = false;
          applyOutage(context, enqueue, runSucceeded(context.outage, true, context.now()));
        }
        if (context.vouched.length > 0) context.vouched = [];
        context.counters.completed++;
        settle(context, enqueue, job, 'completed', { result: report.result });
        endJob(context, enqueue, job, false);
      }
      // Outcomes first (flushed before the first assignment), then the freed slots take new work, once for the batch.
      dispatch(context, enqueue, before);
      raiseIfDrained(context, enqueue);
    }),
    timeOutJobs: work(({ context, enqueue, self }) => {
      const cutoff = context.now() - context.settings.executionTimeoutMs;
      const late = [...context.slots.values()].filter((slot) => slot.job?.startedAt !== undefined && slot.job.startedAt <= cutoff);
      for (const slot of late) timeOut(context, enqueue, self, slot.job!);
      scheduleDeadline(context, enqueue);
    }),
    forgetSlot: work(({ context, event, enqueue }) => {
      const { slotId } = event as SlotRetired;
      context.abandoned--;
      enqueue.stopChild(slotId);
      const terminated = context.terminating.get(slotId);
      if (terminated) {
        context.terminating.delete(slotId);
        failOrRetry(context, enqueue, terminated.job, terminated.error);
      }
    }),
    requeueJob: work(({ context, event, enqueue }) => {
      const job = context.retrying.get((event as RetryDue).seq);
      if (!job) return;
      context.retrying.delete(job.seq);
      job.attempt++;
      const before = context.queue.size;
      context.queue.requeue(job, context.now());
      if (context.emits['event.queued']) emitQueued(context, enqueue, job);
      dispatch(context, enqueue, before);
    }),
    probeDependency: work(({ context, enqueue }) => {
      applyOutage(context, enqueue, probeDue(context.outage, context.queue.size > 0));
      dispatch(context, enqueue, context.queue.size);
    }),
    takePing: work(({ context, event, enqueue }) => {
      enqueue.stopChild(PING);
      if (context.stopReason !== undefined) return;
      const now = context.now();
      if (event.type === 'xstate.done.actor.dependency-ping' && event.output === 'up' && context.outage?.pinging)
        context.vouched = [...context.outage.dependencies];
      const step =
        event.type === 'xstate.done.actor.dependency-ping'
          ? pingAnswered(context.outage, event.output, now, context.queue.size > 0)
          : pingFailed(context.outage, context.random);
      applyOutage(context, enqueue, step);
      // Back: the held events run as usual (or, with no ping, the first of them as the probe).
      dispatch(context, enqueue, context.queue.size);
      raiseIfDrained(context, enqueue);
    }),
    expireJobs: work(({ context, enqueue }) => {
      const before = context.queue.size;
      const error = expiredError(context.settings.queueTimeoutMs);
      for (const job of context.queue.expire(context.now() - context.settings.queueTimeoutMs)) {
        context.counters.expired++;
        settle(context, enqueue, job, 'expired', { error });
      }
      signalCrossings(context, enqueue, before);
      scheduleExpiry(context, enqueue);
      raiseIfDrained(context, enqueue);
    }),
    revokeEvents: work(({ context, event, enqueue }) => {
      // Waiting and retrying events whose source can no longer acknowledge them go back to it
      // (the broker redelivers them); running ones finish, and their outcome is void at the source.
      const { ids, error } = event as EventsRevoked;
      const revoked = new Set(ids);
      const before = context.queue.size;
      for (const job of context.queue.remove((entry) => revoked.has(entry.delivery.id))) {
        context.counters.returned++;
        settle(context, enqueue, job, 'returned', { error });
      }
      for (const job of [...context.retrying.values()]) {
        if (!revoked.has(job.delivery.id)) continue;
        context.retrying.delete(job.seq);
        context.queue.release(job.key);
        giveBackRetry(context, enqueue, job, error);
      }
      // A running one is not retried if it fails: the broker has already redelivered it.
      for (const slot of context.slots.values()) if (slot.job && revoked.has(slot.job.delivery.id)) slot.job.revoked = error;
      dispatch(context, enqueue, before);
      raiseIfDrained(context, enqueue);
    }),
    announceReconnecting: work(({ event, enqueue }) => {
      const { attempt, delayMs, error } = event as SourceReconnecting;
      enqueue.emit({ type: 'source.reconnecting', attempt, delayMs, error });
    }),
    markSourceEnded: work(({ context, enqueue }) => {
      context.sourceEnded = true;
      if (isSettled(context)) enqueue.raise({ type: 'work.drained' });
    }),
    recordStopReason: work(({ context, event }) => {
      if (event.type === 'source.failed') {
        context.sourceError = event.error;
        context.sourceStopped = true; // a failed source is already final
      }
      context.stopReason ??= event.type === 'source.failed' ? 'source failed' : event.type === 'work.drained' ? 'ended' : 'requested';
    }),
    returnWaiting: work(({ context, enqueue }) => {
      // Queued and retrying events go back to their source, not lost.
      const before = context.queue.size;
      for (const job of context.queue.drain()) {
        context.counters.returned++;
        settle(context, enqueue, job, 'returned', { error: shutdownError() });
      }
      for (const job of context.retrying.values()) giveBackRetry(context, enqueue, job, job.lastError ?? shutdownError());
      context.retrying.clear();
      signalCrossings(context, enqueue, before);
      enqueue.cancel(EXPIRY);
      enqueue.cancel(PROBE);
      if (context.outage?.pinging) enqueue.stopChild(PING);
      if (isSettled(context)) enqueue.raise({ type: 'work.drained' });
    }),
    stopSource: work(({ context, enqueue }) => {
      if (!context.sourceStopped) enqueue.sendTo('source', sourceStop());
    }),
    markSourceStopped: work(({ context }) => {
      context.sourceStopped = true;
    }),
    abortInFlight: work(({ context, enqueue }) => {
      for (const [slotId, slot] of context.slots) {
        if (!slot.job) continue;
        enqueue.sendTo(slotId, slotAbort(shutdownError()));
        if (context.emits['event.abandoned'])
          enqueue.emit({ type: 'event.abandoned', id: slot.job.delivery.id, seq: slot.job.seq, slotId, at: context.now() });
        context.counters.returned++;
        settle(context, enqueue, slot.job, 'returned', { error: shutdownError() });
        slot.job.startedAt = undefined;
        slot.job = undefined;
        context.running--;
        context.abandoned++;
        context.slots.delete(slotId);
      }
    }),
    cancelJob: work(({ context, event, enqueue, self }) => {
      const { seq, reason } = event as EventCancel;
      const job = [...context.slots.values()].find((slot) => slot.job?.seq === seq)?.job;
      if (!job) return;
      job.cancelled = true;
      abandonRun(context, enqueue, self, job, reason);
      scheduleDeadline(context, enqueue);
    }),
    observeLifecycle: work(({ context, event }) => {
      context.emits = emitsOf((event as LifecycleObserve).types ?? true, context.emits);
    }),
    pauseSource: work(({ enqueue }) => enqueue.sendTo('source', sourcePause())),
    pauseSourceForShutdown: work(({ enqueue }) => enqueue.sendTo('source', sourcePause('shutdown'))),
    resumeSource: work(({ enqueue }) => enqueue.sendTo('source', sourceResume())),
  },
  guards: {
    isSourceStopped: ({ context }) => context.sourceStopped,
    isSettled: ({ context }) => isSettled(context),
  },
  delays: {
    shutdownTimeout: ({ context }) => context.settings.shutdownTimeoutMs,
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    ...input,
    queue: new DispatchQueue<JobRecord>(),
    slots: new Map(),
    idle: [],
    running: 0,
    deadlineArmed: false,
    retrying: new Map(),
    abandoned: 0,
    terminating: new Map(),
    nextSeq: 0,
    nextSlot: 0,
    counters: zeroCounters(),
    sourceEnded: false,
    sourceStopped: false,
    stopReason: undefined,
    sourceError: undefined,
    outage: undefined,
    vouched: [],
    emits: emitsOf(input.lifecycle),
  }),
  // Events handled the same way while running and while stopping live on the
  // root, so a hot transition touches as few state nodes as possible.
  on: {
    'event.received': { actions: 'admitEvents' },
    'events.received': { actions: 'admitEvents' },
    'slot.finished': { actions: 'takeReports' },
    'slot.failed': { actions: 'takeReports' },
    'slots.reported': { actions: 'takeReports' },
    'slot.retired': { actions: 'forgetSlot' },
    'execution.deadlineDue': { actions: 'timeOutJobs' },
    'retry.due': { actions: 'requeueJob' },
    'dependency.probeDue': { actions: 'probeDependency' },
    'xstate.done.actor.dependency-ping': { actions: 'takePing' },
    'xstate.error.actor.dependency-ping': { actions: 'takePing' },
    'queue.expiryDue': { actions: 'expireJobs' },
    'source.ended': { actions: 'markSourceEnded' },
    'source.stopped': { actions: 'markSourceStopped' },
    'source.reconnecting': { actions: 'announceReconnecting' },
    'events.revoked': { actions: 'revokeEvents' },
    'lifecycle.observe': { actions: 'observeLifecycle' },
    'event.cancel': { actions: 'cancelJob' },
  },
  entry: ['spawnSlots', 'spawnSource'],
  initial: 'flowing',
  states: {
    flowing: {
      description: 'Taking events from the source and routing them to idle slots; the queue is below its high watermark.',
      on: {
        'queue.filled': 'throttled',
        ...toStopping,
      },
    },
    throttled: {
      description: 'The queue passed its high watermark: the source is paused until the queue drains to the low one.',
      entry: 'pauseSource',
      on: {
        'queue.drained': { target: 'flowing', actions: 'resumeSource' },
        ...toStopping,
      },
    },
    stopping: {
      on: { 'source.failed': { actions: 'recordStopReason' } },
      initial: 'draining',
      states: {
        draining: {
          description:
            'The source is paused and waiting events were returned; in-flight work has the shutdown timeout to finish, and its outcomes still reach the source.',
          entry: ['pauseSourceForShutdown', 'returnWaiting'],
          on: { 'work.drained': 'closing' },
          after: { shutdownTimeout: { target: 'closing', actions: 'abortInFlight' } },
        },
        closing: {
          description: 'Every event has its outcome: the source is told to stop and close its connection.',
          entry: 'stopSource',
          always: { guard: 'isSourceStopped', target: '#supervisor.stopped' },
          on: { 'source.stopped': { target: '#supervisor.stopped', actions: 'markSourceStopped' } },
          after: { shutdownTimeout: '#supervisor.stopped' },
        },
      },
    },
    stopped: {
      description: 'Every event has its outcome.',
      type: 'final',
    },
  },
  output: ({ context }) => ({
    reason: context.stopReason ?? 'requested',
    counters: { ...context.counters },
    sourceError: context.sourceError,
  }),
});

function spawnSlot(context: SupervisorContext, enqueue: Enqueue, self: AnyActorRef): string {
  const slotId = `slot-${context.nextSlot++}`;
  enqueue.spawnChild('workerSlot', { id: slotId, input: { slotId, supervisor: self } });
  context.slots.set(slotId, { job: undefined });
  context.idle.unshift(slotId);
  return slotId;
}

export type SupervisorActorRef = ActorRefFrom<typeof supervisorMachine>;
