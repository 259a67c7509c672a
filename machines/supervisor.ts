import { enqueueActions, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';
import {
  eventAssigned,
  eventSettled,
  eventsSettled,
  slotAbort,
  sourcePause,
  sourceResume,
  sourceStop,
  type EventReceived,
  type EventsReceived,
  type Job,
  type SlotFailed,
  type SlotFinished,
  type SlotsReported,
} from './events.js';
import { notProvidedError, promiseNotProvided } from './not-provided.js';
import type { PingInput, PingResult } from './outage.js';
import { sourceMachine } from './source.js';
import { PING, type Effect } from './supervisor/effects.js';
import type { SupervisorEvent } from './supervisor/inbox.js';
import { admit, expire, finish, retry } from './supervisor/ledger.js';
import { emptyLedger, isSettled, type Clock, type Ledger, type LedgerStep } from './supervisor/ledger-state.js';
import type { SupervisorEmitted } from './supervisor/notifications.js';
import { probe, takePing } from './supervisor/outage-steps.js';
import { cancelRun, openSlots, retireSlot, timeOutRuns } from './supervisor/runs.js';
import { abortInFlight, closeSource, endSource, observeLifecycle, recordStop, returnWaiting, revoke } from './supervisor/stopping.js';
import type { SupervisorInput } from './supervisor/types.js';
import { workerSlotMachine } from './worker-slot.js';

export type { SupervisorEvent } from './supervisor/inbox.js';
export type { Ledger } from './supervisor/ledger-state.js';
export { LIFECYCLE_TYPES, type SettleHow, type SupervisorEmitted, type SupervisorLifecycle } from './supervisor/notifications.js';
export {
  zeroCounters,
  type JobRecord,
  type SupervisorCounters,
  type SupervisorInput,
  type SupervisorSettings,
} from './supervisor/types.js';

/**
 * The supervisor's context: its input, and its routing ledger (see
 * machines/supervisor/ledger-state.ts: the queue, slots, counters, ...).
 * Each transition replaces the ledger with the one its ledger function
 * returned; none is ever changed in place, so a snapshot stays as it was taken.
 */
export interface SupervisorContext extends SupervisorInput {
  readonly ledger: Ledger;
}

/** The part of xstate's action enqueuer the supervisor uses. */
interface Enqueue {
  assign(assignment: () => { ledger: Ledger }): void;
  sendTo(to: AnyActorRef | string, event: { type: string }): void;
  emit(event: SupervisorEmitted): void;
  raise(event: SupervisorEvent, options?: { delay: number; id: string }): void;
  cancel(id: string): void;
  spawnChild(src: 'workerSlot' | 'source' | 'pingDependency', options: { id: string; input: unknown }): void;
  stopChild(id: string): void;
}

interface ActionArgs {
  context: SupervisorContext;
  event: SupervisorEvent;
  enqueue: Enqueue;
  self: AnyActorRef;
}

/** Performs a ledger step's effects, in order. */
function perform(enqueue: Enqueue, self: AnyActorRef, effects: readonly Effect[]): void {
  for (const effect of effects) {
    switch (effect.type) {
      case 'assign':
        // The record itself is the job: slots read it and never change it.
        enqueue.sendTo(effect.slotId, eventAssigned(effect.job as Job));
        break;
      case 'abort':
        enqueue.sendTo(effect.slotId, slotAbort(effect.reason));
        break;
      case 'settle': {
        const { origin, settlements } = effect;
        if (origin.getSnapshot().status !== 'active') break;
        enqueue.sendTo(origin, settlements.length === 1 ? eventSettled(settlements[0]!) : eventsSettled(settlements));
        break;
      }
      case 'emit':
        enqueue.emit(effect.event);
        break;
      case 'raise':
        enqueue.raise(effect.event);
        break;
      case 'arm':
        enqueue.raise(effect.event, { delay: effect.delayMs, id: effect.id });
        break;
      case 'cancel':
        enqueue.cancel(effect.id);
        break;
      case 'spawnSlot':
        enqueue.spawnChild('workerSlot', { id: effect.slotId, input: { slotId: effect.slotId, supervisor: self } });
        break;
      case 'spawnPing':
        enqueue.spawnChild('pingDependency', { id: PING, input: effect.input });
        break;
      case 'stopChild':
        enqueue.stopChild(effect.id);
        break;
      case 'tellSource':
        enqueue.sendTo('source', effect.event);
        break;
    }
  }
}

/**
 * An action that asks the ledger what a fact means (`decide`), takes the
 * ledger it returns as the context, and performs its effects.
 */
const step = (decide: (ledger: Ledger, event: SupervisorEvent, clock: Clock) => LedgerStep): never =>
  enqueueActions(({ context, event, enqueue, self }: ActionArgs) => {
    const { ledger, effects } = decide(context.ledger, event, { now: context.now(), random: context.random });
    // The ledger is one field of the context: xstate copies the context's few fields, not the ledger's.
    enqueue.assign(() => ({ ledger }));
    perform(enqueue, self, effects);
  }) as never;

/** An action that only talks to the source (no ledger change). */
const tell = (fn: (args: ActionArgs) => void): never => enqueueActions((args: ActionArgs) => fn(args)) as never;

/** How `flowing` and `throttled` both leave for `stopping`: asked to, the source failed, or its input ended and all is done. */
const toStopping = {
  'source.failed': { target: 'stopping', actions: 'recordStopReason' },
  'runtime.stop': { target: 'stopping', actions: 'recordStopReason' },
  'work.drained': { target: 'stopping', actions: 'recordStopReason' },
} as const;

/**
 * Routes events from the source to idle worker slots: a bounded queue with
 * per-key order, backpressure by watermarks, queue and execution timeouts,
 * retries with backoff, and one outcome for every event. A thin machine:
 * it names the supervisor's states, and each fact it hears is decided by the
 * routing ledger (machines/supervisor/), whose effects its actions perform.
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
    spawnSlots: step((ledger, _event, clock) => openSlots(ledger, clock)),
    spawnSource: tell(({ context, enqueue, self }) => {
      // A fast source hands over batches small enough that a pause still lands before the queue is full.
      const { queueSize, highWatermark } = context.settings;
      const batchSize = Math.max(1, Math.min(64, queueSize - highWatermark));
      const reconnect = context.reconnect
        ? { reconnectDelayMs: context.reconnect.delayMs, reconnectMaxDelayMs: context.reconnect.maxDelayMs }
        : {};
      enqueue.spawnChild('source', { id: 'source', input: { sink: self, batchSize, random: context.random, ...reconnect } });
    }),
    admitEvents: step((ledger, event, clock) =>
      admit(ledger, event.type === 'events.received' ? (event as EventsReceived).deliveries : [(event as EventReceived).delivery], clock),
    ),
    takeReports: step((ledger, event, clock) =>
      finish(ledger, event.type === 'slots.reported' ? (event as SlotsReported).reports : [event as SlotFinished | SlotFailed], clock),
    ),
    timeOutJobs: step((ledger, _event, clock) => timeOutRuns(ledger, clock)),
    forgetSlot: step((ledger, event, clock) => retireSlot(ledger, (event as { slotId: string }).slotId, clock)),
    requeueJob: step((ledger, event, clock) => retry(ledger, (event as { seq: number }).seq, clock)),
    probeDependency: step((ledger, _event, clock) => probe(ledger, clock)),
    takePing: step((ledger, event, clock) =>
      takePing(ledger, event.type === 'xstate.done.actor.dependency-ping' ? event.output : undefined, clock),
    ),
    expireJobs: step((ledger, _event, clock) => expire(ledger, clock)),
    revokeEvents: step((ledger, event, clock) => {
      const { ids, error } = event as Extract<SupervisorEvent, { type: 'events.revoked' }>;
      return revoke(ledger, ids, error, clock);
    }),
    markSourceEnded: step((ledger, _event, clock) => endSource(ledger, clock)),
    markSourceStopped: step((ledger, _event, clock) => closeSource(ledger, clock)),
    recordStopReason: step((ledger, event, clock) => recordStop(ledger, event as Parameters<typeof recordStop>[1], clock)),
    returnWaiting: step((ledger, _event, clock) => returnWaiting(ledger, clock)),
    abortInFlight: step((ledger, _event, clock) => abortInFlight(ledger, clock)),
    cancelJob: step((ledger, event, clock) => {
      const { seq, reason } = event as Extract<SupervisorEvent, { type: 'event.cancel' }>;
      return cancelRun(ledger, seq, reason, clock);
    }),
    observeLifecycle: step((ledger, event, clock) =>
      observeLifecycle(ledger, (event as Extract<SupervisorEvent, { type: 'lifecycle.observe' }>).types, clock),
    ),
    announceReconnecting: tell(({ event, enqueue }) => {
      const { attempt, delayMs, error } = event as Extract<SupervisorEvent, { type: 'source.reconnecting' }>;
      enqueue.emit({ type: 'source.reconnecting', attempt, delayMs, error });
    }),
    stopSource: tell(({ context, enqueue }) => {
      if (!context.ledger.sourceStopped) enqueue.sendTo('source', sourceStop());
    }),
    pauseSource: tell(({ enqueue }) => enqueue.sendTo('source', sourcePause())),
    pauseSourceForShutdown: tell(({ enqueue }) => enqueue.sendTo('source', sourcePause('shutdown'))),
    resumeSource: tell(({ enqueue }) => enqueue.sendTo('source', sourceResume())),
  },
  guards: {
    isSourceStopped: ({ context }) => context.ledger.sourceStopped,
    isSettled: ({ context }) => isSettled(context.ledger),
  },
  delays: {
    shutdownTimeout: ({ context }) => context.settings.shutdownTimeoutMs,
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ ...input, ledger: emptyLedger(input.settings, input.lifecycle) }),
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
    reason: context.ledger.stopReason ?? 'requested',
    counters: { ...context.ledger.counters },
    sourceError: context.ledger.sourceError,
  }),
});

/** A running supervisor. */
export type SupervisorActorRef = ActorRefFrom<typeof supervisorMachine>;
