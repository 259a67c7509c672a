import { assign, sendParent, setup, stopChild, type AnyActorRef } from 'xstate';
import {
  slotFailed,
  slotFinished,
  slotRetired,
  type EventAssigned,
  type Job,
  type SlotAbort,
  type WorkerDone,
  type WorkerFailed,
  type WorkerStop,
} from './events.js';
import { notProvided } from './not-provided.js';

export interface SlotInput {
  slotId: string;
  /** The supervisor, for reporters that batch (the default reports with sendParent). */
  supervisor?: AnyActorRef;
}

export interface SlotContext extends SlotInput {
  /** The current (or, once idle, the last) job; read it only in `busy` or `abandoned`. */
  job: Job | undefined;
  /** Increases with every job, so a late result of an abandoned run is recognised. */
  run: number;
}

/** xstate's report that a child (a worker that is a machine) failed; its run reports the failure itself. */
type ChildFailed = { type: `xstate.error.actor.${string}`; error: unknown };

export type SlotEvent = EventAssigned | SlotAbort | WorkerDone | WorkerFailed | WorkerStop | ChildFailed;

/** What the runtime's `startWorker` / `abortWorker` actions receive. */
export interface SlotActionArgs {
  context: SlotContext;
  self: { send(event: WorkerDone | WorkerFailed): void };
}

/**
 * A worker slot runs one event at a time. Its `startWorker` action (given
 * by the runtime) starts the worker and sends `worker.done` or
 * `worker.failed` back to the slot, tagged with the run number.
 *
 * The supervisor keeps the execution deadlines (one timer for the oldest
 * run, not one per event) and sends `slot.abort` past the execution timeout
 * or at the end of the shutdown timeout: the run's AbortSignal fires and
 * the slot waits in `abandoned` for the promise to settle (it may never),
 * then retires. The supervisor has already put a fresh slot in its place.
 */
export const workerSlotMachine = setup({
  types: {} as { context: SlotContext; events: SlotEvent; input: SlotInput },
  actions: {
    startWorker: notProvided('startWorker') as (args: SlotActionArgs) => void,
    abortWorker: notProvided('abortWorker') as (args: SlotActionArgs) => void,
    assignJob: assign(({ context, event }) => ({ job: (event as EventAssigned).job, run: context.run + 1 })),
    // The runtime may provide reporters that batch the reports of one tick (see actors/workers/slot.ts).
    reportFinished: sendParent(({ context, event }) => slotFinished(context.slotId, context.job!.seq, (event as WorkerDone).output)),
    reportFailed: sendParent(({ context, event }) => slotFailed(context.slotId, context.job!.seq, (event as WorkerFailed).error)),
    reportRetired: sendParent(({ context }) => slotRetired(context.slotId)),
  },
  guards: {
    isCurrentRun: ({ context, event }) => (event as WorkerDone | WorkerFailed).run === context.run,
  },
}).createMachine({
  id: 'worker-slot',
  context: ({ input }) => ({ ...input, job: undefined, run: 0 }),
  on: {
    // A worker that is a machine runs as this slot's child, and its run reports its error as worker.failed.
    // Handled here, so that xstate does not take the child's error for the slot's own.
    'xstate.error.actor.*': {},
  },
  initial: 'idle',
  states: {
    idle: {
      description: 'Waiting for the supervisor to assign an event.',
      on: {
        'event.assigned': { target: 'busy', actions: 'assignJob' },
        // The run finished just as its deadline passed: nothing left to abort.
        'slot.abort': { target: 'retired' },
      },
    },
    busy: {
      description: 'Running the worker on one event, with an AbortSignal.',
      entry: 'startWorker',
      on: {
        'worker.done': { guard: 'isCurrentRun', target: 'idle', actions: 'reportFinished' },
        'worker.failed': { guard: 'isCurrentRun', target: 'idle', actions: 'reportFailed' },
        'slot.abort': { target: 'abandoned' },
      },
    },
    abandoned: {
      description: 'The run was aborted (execution timeout or shutdown); waiting for its promise to settle, which it may never do.',
      entry: 'abortWorker',
      on: {
        'worker.done': { guard: 'isCurrentRun', target: 'retired' },
        'worker.failed': { guard: 'isCurrentRun', target: 'retired' },
        // A worker that is a machine runs as this slot's child: only its parent may stop it.
        'worker.stop': { actions: stopChild(({ event }) => (event as WorkerStop).ref) },
      },
    },
    retired: {
      description: 'The abandoned run settled; a replacement slot already took this one\'s place.',
      type: 'final',
      entry: 'reportRetired',
    },
  },
});
