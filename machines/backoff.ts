/**
 * The default longest wait between attempts to reconnect to a broker or a
 * database: after an outage of any length, a source reconnects within about
 * 1.5s of the service being back. Each attempt is one TCP connect, cheap
 * for the service even from many daemons, and the jitter of
 * {@link backoffDelay} (a draw between the first delay and this cap) keeps
 * daemons that lost it together from returning in lockstep.
 */
export const RECONNECT_MAX_DELAY_MS = 1500;

/** How retries wait: exponential with full jitter, or a fixed delay. */
export interface BackoffPolicy {
  kind: 'exponential' | 'fixed';
  /** The first retry's base delay (ms). */
  delayMs: number;
  /** The cap (ms). */
  maxDelayMs: number;
}

/**
 * The delay before retry number `retry` (1 for the first retry).
 * Exponential: a random point between `delayMs` and min(max, delay * 2^retry),
 * so retries of many events spread out instead of arriving together, from
 * the first retry on. `random` returns [0, 1); it is injected so tests are
 * repeatable.
 */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: () => number): number {
  if (policy.kind === 'fixed') return policy.delayMs;
  const ceiling = Math.min(policy.maxDelayMs, policy.delayMs * 2 ** Math.max(1, retry));
  return Math.round(policy.delayMs + (ceiling - policy.delayMs) * random());
}
