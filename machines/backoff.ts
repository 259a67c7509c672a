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
