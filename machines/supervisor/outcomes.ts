import { backoffDelay } from '../backoff.js';
import type { ErrorInfo } from '../events.js';
import { isDependencyDown, runFailed, runSucceeded } from '../outage.js';
import { retryTimer } from './effects.js';
import { reportedJob } from './job-record.js';
import type { Step } from './step.js';
import type { JobRecord } from './types.js';

/**
 * A run reported back: its slot is idle again. Returns the job as it stands
 * now (no slot, how long it ran), or undefined when the slot ran nothing
 * (a report of a run already abandoned).
 */
export function vacateSlot(step: Step, slotId: string): JobRecord | undefined {
  const job = step.next.slots.get(slotId);
  if (!job) return undefined;
  step.slots().put(slotId, undefined);
  step.idle().push(slotId);
  step.next.running--;
  return reportedJob(job, step.now);
}

/** A run finished: the event completed (and, if it probed an outage, the outage is over); its key is free. */
export function completeRun(step: Step, job: JobRecord, result: unknown): void {
  if (job.probe) {
    job = { ...job, probe: false };
    step.outage(runSucceeded(step.next.outage, true, step.now));
  }
  if (step.next.vouched.length > 0) step.next.vouched = [];
  step.count('completed');
  step.settle(job, 'completed', { result });
  step.next.queue = step.next.queue.release(job.key);
}

/**
 * A run failed: retry with backoff while attempts remain, else fail for good
 * (dead letter). A run that failed because the store or locks are down is
 * not the event's fault: the event is held (its attempt not counted) until
 * a probe finds the dependency back; on shutdown it goes back to its source,
 * never to the dead letters. Starts nothing: the caller dispatches once.
 */
export function failRun(step: Step, failed: JobRecord, error: ErrorInfo): void {
  const wasProbe = failed.probe === true;
  let job: JobRecord = { ...failed, lastError: error, probe: false };
  const { next } = step;
  if (next.stopReason === undefined) {
    step.outage(runFailed(next.outage, error, wasProbe, step.now, step.random, next.vouched));
    if (!isDependencyDown(error)) next.vouched = [];
    if (isDependencyDown(error) && !job.revoked) {
      job = { ...job, enqueuedAt: step.now };
      next.queue = next.queue.requeue(job);
      step.noteQueued(job);
      return;
    }
  }
  if (job.revoked) {
    step.count('returned');
    step.settle(job, 'returned', { error: job.revoked });
  } else if (job.attempt <= next.settings.retries && next.stopReason === undefined && !job.cancelled) {
    const delayMs = backoffDelay(next.settings.backoff, job.attempt, step.random);
    next.retrying = next.retrying.set(job.seq, job);
    step.count('retried');
    step.emit({ type: 'event.retrying', id: job.delivery.id, seq: job.seq, attempt: job.attempt, delayMs, error });
    step.effects.push({ type: 'arm', id: retryTimer(job.seq), delayMs, event: { type: 'retry.due', seq: job.seq } });
    return;
  } else if (next.stopReason === undefined && !isDependencyDown(error)) {
    step.count('failed');
    step.count('deadLettered');
    step.settle(job, 'failed', { error });
  } else {
    // A store or lock that is down is not the event's fault: it goes back to its source unacknowledged, never to the dead letters.
    step.count('returned');
    step.settle(job, 'returned', { error });
  }
  next.queue = next.queue.release(job.key);
}

/** An event waiting for its retry goes back to its source instead (its key stays with the caller). */
export function giveBackRetry(step: Step, job: JobRecord, error: ErrorInfo): void {
  step.effects.push({ type: 'cancel', id: retryTimer(job.seq) });
  step.count('returned');
  step.settle(job, 'returned', { error });
}
