import { assign, fromPromise, sendParent, setup } from 'xstate';
import { slotFailed, slotFinished, toErrorInfo, type EventAssigned, type Job, type SlotAbort } from '../machines/events.js';

/**
 * The naive slot design, kept only as the benchmark's baseline: each event
 * invokes a fromPromise child actor in the slot (an actor created and torn
 * down per event), with the execution timeout as a per-slot `after` timer.
 * It speaks the same events as workerSlotMachine, so the same supervisor
 * drives it.
 */
export function naiveSlotLogic(run: (payload: unknown) => Promise<unknown>, executionTimeoutMs = 60_000) {
  return setup({
    types: {} as { context: { slotId: string; job: Job | undefined }; events: EventAssigned | SlotAbort; input: { slotId: string } },
    actors: { runWorker: fromPromise<unknown, Job>(({ input }) => run(input.delivery.payload)) },
    delays: { executionTimeout: executionTimeoutMs },
  }).createMachine({
    id: 'naive-slot',
    context: ({ input }) => ({ slotId: input.slotId, job: undefined }),
    initial: 'idle',
    states: {
      idle: { on: { 'event.assigned': { target: 'busy', actions: assign(({ event }) => ({ job: event.job })) } } },
      busy: {
        invoke: {
          src: 'runWorker',
          input: ({ context }) => context.job!,
          onDone: {
            target: 'idle',
            actions: sendParent(({ context, event }) => slotFinished(context.slotId, context.job!.seq, event.output)),
          },
          onError: {
            target: 'idle',
            actions: sendParent(({ context, event }) => slotFailed(context.slotId, context.job!.seq, toErrorInfo(event.error))),
          },
        },
        after: { executionTimeout: 'idle' },
      },
    },
  });
}
