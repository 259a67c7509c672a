import type { ErrorInfo } from '../events.js';
import { timeoutError } from './errors.js';
import { dispatch } from './ledger.js';
import type { Clock, Ledger, LedgerStep } from './ledger-state.js';
import { failRun } from './outcomes.js';
import { Step } from './step.js';
import type { JobRecord } from './types.js';

/** The ledger's slots: opened at start, and a run that will not stop aborted and its slot replaced. */

/** The supervisor starts: `settings.workers` slots are spawned, all idle. */
export function openSlots(ledger: Ledger, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  for (let i = 0; i < step.next.settings.workers; i++) openSlot(step);
  return step.done();
}

/** The execution-deadline timer fired: every run past the execution timeout is aborted and fails with ERR_WORKER_TIMEOUT. */
export function timeOutRuns(ledger: Ledger, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  const cutoff = step.now - next.settings.executionTimeoutMs;
  const late = [...next.slots.values()].filter((job): job is JobRecord => job?.startedAt !== undefined && job.startedAt <= cutoff);
  const error = timeoutError(next.settings.executionTimeoutMs);
  for (const job of late) {
    step.count('timedOut');
    if (next.emits['event.timedOut'])
      step.emit({ type: 'event.timedOut', id: job.delivery.id, seq: job.seq, slotId: job.slotId!, attempt: job.attempt, at: step.now });
    abandonRun(step, job, error);
  }
  // The timer fired: it is armed again for the oldest run left.
  next.deadlineArmed = false;
  return refill(step);
}

/** An operator cancelled the running event `seq`: its run is aborted with `reason`, and it fails without a retry. */
export function cancelRun(ledger: Ledger, seq: number, reason: ErrorInfo, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const job = [...step.next.slots.values()].find((running) => running?.seq === seq);
  if (!job) return step.done();
  abandonRun(step, { ...job, cancelled: true }, reason);
  // Armed again for the oldest run left.
  step.next.deadlineArmed = false;
  return refill(step);
}

/** A slot set aside has retired (its run settled at last): it is stopped, and a run it was terminating fails now. */
export function retireSlot(ledger: Ledger, slotId: string, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  step.next.abandoned--;
  step.effects.push({ type: 'stopChild', id: slotId });
  const terminated = step.next.terminating.get(slotId);
  if (terminated) {
    step.terminating().delete(slotId);
    failRun(step, terminated.job, terminated.error);
  }
  return refill(step);
}

/** Idle slots take what can start; the queue's crossings and a drained supervisor are signalled. */
function refill(step: Step): LedgerStep {
  dispatch(step);
  step.signalCrossings();
  step.raiseIfDrained();
  return step.done();
}

/** Adds an idle slot (spawned by the machine); returns its id. */
function openSlot(step: Step): string {
  const slotId = `slot-${step.next.nextSlot++}`;
  step.effects.push({ type: 'spawnSlot', slotId });
  step.slots().put(slotId, undefined);
  step.idle().unshift(slotId);
  return slotId;
}

/**
 * Aborts a running job's run with `error` (its signal fires) and sets its
 * slot aside for a fresh one, so N slots stay usable; then fails the event
 * (retried unless it was cancelled). Under `isolation = thread` the outcome
 * (and the key) wait for the thread to go (see `retireSlot`).
 */
function abandonRun(step: Step, running: JobRecord, error: ErrorInfo): void {
  const { next } = step;
  const slotId = running.slotId!;
  step.effects.push({ type: 'abort', slotId, reason: error });
  if (next.emits['event.abandoned'])
    step.emit({ type: 'event.abandoned', id: running.delivery.id, seq: running.seq, slotId, at: step.now });
  step.slots().remove(slotId);
  const at = next.idle.indexOf(slotId);
  if (at >= 0) step.idle().splice(at, 1);
  const job: JobRecord = { ...running, startedAt: undefined, slotId: undefined };
  next.running--;
  next.abandoned++;
  const replacement = openSlot(step);
  step.emit({ type: 'slot.replaced', slotId, replacement, reason: error.code });
  if (next.settings.isolation === 'thread') step.terminating().set(slotId, { job, error });
  else failRun(step, job, error);
}
