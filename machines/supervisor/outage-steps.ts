import { pingAnswered, pingFailed, probeDue, type PingResult } from '../outage.js';
import { PING } from './effects.js';
import { dispatch } from './ledger.js';
import type { Clock, Ledger, LedgerStep } from './ledger-state.js';
import { Step } from './step.js';

/** The ledger during an outage of the app's store or locks (decided by machines/outage.ts). */

/** The probe timer fired: the outage is pinged, or the next held event runs as the probe. */
export function probe(ledger: Ledger, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  step.outage(probeDue(step.next.outage, step.next.queue.size > 0));
  dispatch(step);
  step.signalCrossings();
  return step.done();
}

/**
 * The ping answered (`up`, or `unsupported` when the dependency cannot be
 * pinged) or failed (`answer` undefined): the held events run again, or the
 * next ping is scheduled. Ignored once stopping.
 */
export function takePing(ledger: Ledger, answer: PingResult | undefined, clock: Clock): LedgerStep {
  const step = new Step(ledger, clock);
  const { next } = step;
  step.effects.push({ type: 'stopChild', id: PING });
  if (next.stopReason !== undefined) return step.done();
  if (answer === 'up' && next.outage?.pinging) next.vouched = [...next.outage.dependencies];
  step.outage(
    answer === undefined ? pingFailed(next.outage, step.random) : pingAnswered(next.outage, answer, step.now, next.queue.size > 0),
  );
  // Back: the held events run as usual (or, with no ping, the first of them as the probe).
  dispatch(step);
  step.signalCrossings();
  step.raiseIfDrained();
  return step.done();
}
