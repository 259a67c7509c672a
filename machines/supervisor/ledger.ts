import type { Delivery, SlotFailed, SlotFinished } from '../events.js';
import { orderingKey } from '../path.js';
import { DEADLINE } from './effects.js';
import { expiredError, fullError, shutdownError } from './errors.js';
import { admittedJob, startedJob } from './job-record.js';
import type { Clock, Ledger, LedgerStep } from './ledger-state.js';
import { completeRun, failRun, vacateSlot } from './outcomes.js';
import { Step } from './step.js';
import type { JobRecord } from './types.js';

/**
 * The supervisor's routing ledger: plain functions from a ledger and a fact
 * to the next ledger and the effects to perform (see effects.ts). Timeouts,
 * cancellation and slots: runs.ts; outages: outage-steps.ts; revocation and
 * shutdown: stopping.ts.
 */

/**
 * Deliveries arrive: each is queued, or settled at once (unreadable, queue
 * full, stopping); then idle slots take what can start.
 */
export function admit(ledger: Ledger, deliveries: readonly Delivery[], clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  const { settings } = next;
  const queued: JobRecord[] = [];
  for (const delivery of deliveries) {
    step.count('received');
    const job = admittedJob(next.nextSeq++, orderingKey(delivery.payload, settings.orderBy), step.now, delivery);
    if (next.emits['event.received']) {
      const { id, meta, payload } = delivery;
      step.emit({ type: 'event.received', id, seq: job.seq, meta, payload, at: job.enqueuedAt, settles: delivery.origin !== undefined });
    }
    if (next.stopReason !== undefined) {
      step.count('returned');
      step.settle(job, 'returned', { error: shutdownError() });
    } else if (delivery.error) {
      step.count('failed');
      step.count('deadLettered');
      step.settle(job, 'failed', { error: delivery.error });
    } else if (next.queue.size + queued.length >= settings.queueSize) {
      step.count('rejected');
      step.settle(job, 'rejected', { error: fullError(settings.queueSize) });
    } else {
      queued.push(job);
      step.noteQueued(job, next.queue.size + queued.length);
    }
  }
  // Into the queue at once: one copy of its newest chunk for the batch.
  next.queue = next.queue.pushAll(queued);
  dispatch(step);
  step.signalCrossings();
  return step.done();
}

/**
 * Slots report their runs: each completed, or failed (retried, held for an
 * outage, or failed for good); then the freed slots take new work, once for
 * the batch, after the outcomes are sent.
 */
export function finish(ledger: Ledger, reports: ReadonlyArray<SlotFinished | SlotFailed>, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  for (const report of reports) {
    const job = vacateSlot(step, report.slotId);
    if (!job) continue;
    if (report.type === 'slot.failed') failRun(step, job, report.error);
    else completeRun(step, job, report.result);
  }
  dispatch(step);
  step.signalCrossings();
  step.raiseIfDrained();
  return step.done();
}

/** The expiry timer fired: events past the queue timeout expire, oldest first, and the timer watches the next oldest. */
export function expire(ledger: Ledger, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  const { queueTimeoutMs } = next.settings;
  const cutoff = step.now - queueTimeoutMs;
  const { queue, removed } = next.queue.removeWhere((job) => job.enqueuedAt <= cutoff);
  next.queue = queue;
  const error = expiredError(queueTimeoutMs);
  for (const job of removed) {
    step.count('expired');
    step.settle(job, 'expired', { error });
  }
  step.signalCrossings();
  step.rearmExpiry();
  step.raiseIfDrained();
  return step.done();
}

/** An event's retry is due: it goes back in the queue, ahead of what arrived after it, as its next attempt. */
export function retry(ledger: Ledger, seq: number, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  const waiting = next.retrying.get(seq);
  if (!waiting) return step.done();
  next.retrying = next.retrying.delete(seq);
  const job: JobRecord = { ...waiting, attempt: waiting.attempt + 1, enqueuedAt: step.now };
  next.queue = next.queue.requeue(job);
  step.noteQueued(job);
  dispatch(step);
  step.signalCrossings();
  return step.done();
}

/**
 * Starts waiting events on idle slots, in order, each after the outcomes
 * decided so far are sent. While the app's dependency is down only the
 * probe starts. Arms the execution deadline when it is not.
 */
export function dispatch(step: Step): void {
  const { next, now } = step;
  const { queueTimeoutMs } = next.settings;
  while (next.idle.length > 0 && (next.outage === undefined || next.outage.probeDue)) {
    const waiting = next.queue.next();
    if (!waiting) break;
    next.queue = next.queue.withoutNext();
    // The expiry timer can lose the race to a stalled event loop: never start an event past its queue timeout.
    if (now - waiting.enqueuedAt >= queueTimeoutMs) {
      step.count('expired');
      step.settle(waiting, 'expired', { error: expiredError(queueTimeoutMs) });
      next.queue = next.queue.release(waiting.key);
      continue;
    }
    const probe = next.outage !== undefined;
    if (next.outage) next.outage = { ...next.outage, probeDue: false };
    const slotId = step.idle().pop()!;
    const job = startedJob(waiting, { slotId, now, probe });
    step.slots().put(slotId, job);
    next.running++;
    step.count('started');
    if (next.emits['event.started'])
      step.emit({ type: 'event.started', id: job.delivery.id, seq: job.seq, slotId, attempt: job.attempt, at: now });
    step.afterSettlements({ type: 'assign', slotId, job });
  }
  if (!next.deadlineArmed) armDeadline(step);
}

/**
 * Arms the one execution-deadline timer for the oldest running job, if any.
 * It is armed only when it is not, so a finished job leaves it to fire
 * early and re-arm: one timer a timeout period, not one per event.
 */
export function armDeadline(step: Step): void {
  const { next } = step;
  let oldest: number | undefined;
  for (const job of next.slots.values()) {
    const startedAt = job?.startedAt;
    if (startedAt !== undefined && (oldest === undefined || startedAt < oldest)) oldest = startedAt;
  }
  next.deadlineArmed = oldest !== undefined;
  if (oldest === undefined) return;
  const delayMs = Math.max(0, oldest + next.settings.executionTimeoutMs - step.now);
  step.effects.push({ type: 'arm', id: DEADLINE, delayMs, event: { type: 'execution.deadlineDue' } });
}
