import { createActor, type AnyActorLogic } from 'xstate';
import { compileMachine } from '../machines/compile.js';
import { eventAssigned, workerDone, type Job } from '../machines/events.js';
import { workerSlotMachine } from '../machines/worker-slot.js';

/** The worker-slot machine with no-op actions: what xstate (or the compiled table) alone costs. */
const quietSlot = workerSlotMachine.provide({
  actions: { startWorker: () => {}, abortWorker: () => {}, reportFinished: () => {}, reportFailed: () => {} },
});

/** The two ways to run the slot: xstate's interpreter, and compiled (machines/compile.ts). */
export const slotLogics: Array<[string, AnyActorLogic]> = [
  ['interpreted (xstate)', quietSlot],
  ['compiled', compileMachine(quietSlot)],
];

/** µs per idle -> busy -> idle cycle (`event.assigned`, `worker.done`) of one slot running `logic`, over `cycles` cycles. */
export function slotCycleUs(logic: AnyActorLogic, cycles = 200_000): number {
  const slot = createActor(logic, { input: { slotId: 'bench' } }).start();
  const job: Job = { seq: 0, attempt: 1, startedAt: 0, delivery: { id: 'x', payload: null } };
  const started = performance.now();
  for (let run = 1; run <= cycles; run++) {
    slot.send(eventAssigned(job));
    slot.send(workerDone(run, undefined));
  }
  const us = ((performance.now() - started) * 1000) / cycles;
  if ((slot.getSnapshot() as { value: unknown }).value !== 'idle') throw new Error('the slot did not end its cycles idle');
  slot.stop();
  return us;
}
