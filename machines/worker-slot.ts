import { assign, sendParent, setup, type AnyActorRef } from 'xstate';
import {
  slotFailed,
  slotFinished,
  slotRetired,
  type EventAssigned,
  type Job,
  type SlotAbort,
  type WorkerDone,
  type WorkerFailed,
} from './events.js';
import { actionNotProvided } from './not-provided.js';

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
  /** When the current (or last) run started: the job's own time moves on with a retry, an abandoned run's stays here. */
  startedAt?: number | undefined;
}

export type SlotEvent = EventAssigned | SlotAbort | WorkerDone | WorkerFailed;

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
 * A worker in a thread (`isolation = thread`) goes to `terminating`
 * instead: its thread is terminated, the run settles once it is gone, and
 * the slot retires.
 */
export const workerSlotMachine = setup({
  types: {} as { context: SlotContext; events: SlotEvent; input: SlotInput },
  actions: {
    startWorker: actionNotProvided<SlotActionArgs>('worker-slot', 'startWorker'),
    abortWorker: actionNotProvided<SlotActionArgs>('worker-slot', 'abortWorker'),
    assignJob: assign(({ context, event }) => {
      const { job } = event as EventAssigned;
      return { job, run: context.run + 1, startedAt: job.startedAt };
    }),
    // The runtime may provide reporters that batch the reports of one tick (see actors/workers/slot.ts).
    reportFinished: sendParent(({ context, event }) => slotFinished(context.slotId, context.job!.seq, (event as WorkerDone).output)),
    reportFailed: sendParent(({ context, event }) => slotFailed(context.slotId, context.job!.seq, (event as WorkerFailed).error)),
    reportRetired: sendParent(({ context }) => slotRetired(context.slotId)),
  },
  guards: {
    // The runtime provides it: true when the worker runs in a thread it can terminate (`isolation = thread`).
    isTerminable: () => false,
    isCurrentRun: ({ context, event }) => (event as WorkerDone | WorkerFailed).run === context.run,
  },
}).createMachine({
  id: 'worker-slot',
  context: ({ input }) => ({ ...input, job: undefined, run: 0 }),
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
        'slot.abort': [{ guard: 'isTerminable', target: 'terminating' }, { target: 'abandoned' }],
      },
    },
    terminating: {
      description:
        'The run was aborted (execution timeout or shutdown) and its thread is being terminated (`isolation = thread`); the run fails once the thread is gone, and only then is its key released.',
      entry: 'abortWorker',
      on: {
        'worker.done': { guard: 'isCurrentRun', target: 'retired' },
        'worker.failed': { guard: 'isCurrentRun', target: 'retired' },
      },
    },
    abandoned: {
      description: 'The run was aborted (execution timeout or shutdown); waiting for its promise to settle, which it may never do.',
      entry: 'abortWorker',
      on: {
        'worker.done': { guard: 'isCurrentRun', target: 'retired' },
        'worker.failed': { guard: 'isCurrentRun', target: 'retired' },
      },
    },
    retired: {
      description: "The abandoned run settled; a replacement slot already took this one's place.",
      type: 'final',
      entry: 'reportRetired',
    },
  },
});
