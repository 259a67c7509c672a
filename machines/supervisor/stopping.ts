import type { ErrorInfo, RuntimeStop, SourceFailed } from '../events.js';
import { EXPIRY, PING, PROBE } from './effects.js';
import { shutdownError } from './errors.js';
import type { QueueSignal } from './inbox.js';
import { dispatch } from './ledger.js';
import { emitsOf, isSettled, type Clock, type Ledger, type LedgerStep } from './ledger-state.js';
import type { SupervisorLifecycle } from './notifications.js';
import { giveBackRetry } from './outcomes.js';
import { Step } from './step.js';
import { KeyMap } from './key-map.js';
import { WaitQueue } from './wait-queue.js';

/** The ledger's source and shutdown: events revoked, the source's end, a stop, and what is returned then. */

/**
 * The source can no longer acknowledge these events (its connection died):
 * waiting and retrying ones go back to it (the broker redelivers them);
 * running ones finish, are not retried, and their outcome is void at the source.
 */
export function revoke(ledger: Ledger, ids: readonly string[], error: ErrorInfo, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  const revoked = new Set(ids);
  const { queue, removed } = next.queue.removeWhere((job) => revoked.has(job.delivery.id));
  next.queue = queue;
  for (const job of removed) {
    step.count('returned');
    step.settle(job, 'returned', { error });
  }
  for (const [seq, job] of [...next.retrying.entries()]) {
    if (!revoked.has(job.delivery.id)) continue;
    next.retrying = next.retrying.delete(seq);
    next.queue = next.queue.release(job.key);
    giveBackRetry(step, job, error);
  }
  for (const [slotId, job] of next.slots) if (job && revoked.has(job.delivery.id)) step.slots().put(slotId, { ...job, revoked: error });
  dispatch(step);
  step.signalCrossings();
  step.raiseIfDrained();
  return step.done();
}

/** The source's input ended: once all is done, the supervisor stops. */
export function endSource(ledger: Ledger, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  step.next.sourceEnded = true;
  if (isSettled(step.next)) step.raise({ type: 'work.drained' });
  return step.done();
}

/** The source reached its final state. */
export function closeSource(ledger: Ledger, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  step.next.sourceStopped = true;
  return step.done();
}

/** Why the supervisor stops (the first reason wins): asked to, its source failed (it is final then), or all was done. */
export function recordStop(ledger: Ledger, event: RuntimeStop | SourceFailed | QueueSignal, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  if (event.type === 'source.failed') {
    next.sourceError = event.error;
    next.sourceStopped = true;
  }
  next.stopReason ??= event.type === 'source.failed' ? 'source failed' : event.type === 'work.drained' ? 'ended' : 'requested';
  return step.done();
}

/** Stopping: waiting and retrying events go back to their source, not lost; the timers and the ping stop. */
export function returnWaiting(ledger: Ledger, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  const waiting = next.queue.toArray();
  next.queue = WaitQueue.empty();
  for (const job of waiting) {
    step.count('returned');
    step.settle(job, 'returned', { error: shutdownError() });
  }
  for (const job of next.retrying.values()) giveBackRetry(step, job, job.lastError ?? shutdownError());
  next.retrying = KeyMap.empty();
  step.signalCrossings();
  step.effects.push({ type: 'cancel', id: EXPIRY }, { type: 'cancel', id: PROBE });
  if (next.outage?.pinging) step.effects.push({ type: 'stopChild', id: PING });
  if (isSettled(next)) step.raise({ type: 'work.drained' });
  return step.done();
}

/** The shutdown timeout passed: runs still going are aborted and their events returned; their slots are set aside. */
export function abortInFlight(ledger: Ledger, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  for (const [slotId, job] of next.slots) {
    if (!job) continue;
    step.effects.push({ type: 'abort', slotId, reason: shutdownError() });
    if (next.emits['event.abandoned']) step.emit({ type: 'event.abandoned', id: job.delivery.id, seq: job.seq, slotId, at: step.now });
    step.count('returned');
    step.settle(job, 'returned', { error: shutdownError() });
    step.slots().remove(slotId);
    next.running--;
    next.abandoned++;
  }
  return step.done();
}

/** Something started listening to lifecycle notifications: those `types` (or all) are emitted from now on. */
export function observeLifecycle(ledger: Ledger, types: readonly SupervisorLifecycle['type'][] | undefined, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  step.next.emits = emitsOf(types ?? true, step.next.emits);
  return step.done();
}
