import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../machines/backoff.js';

describe('backoffDelay', () => {
  const policy = { kind: 'exponential' as const, delayMs: 100, maxDelayMs: 1000 };
  it('grows exponentially between the delay and the cap, spread by jitter from the first retry on', () => {
    expect(backoffDelay(policy, 1, () => 0)).toBe(100);
    expect(backoffDelay(policy, 1, () => 0.5)).toBe(150);
    expect(backoffDelay(policy, 3, () => 0)).toBe(100);
    expect(backoffDelay(policy, 3, () => 1)).toBe(800);
    expect(backoffDelay(policy, 10, () => 1)).toBe(1000);
  });
  it('waits the same delay every time when fixed', () => {
    expect(backoffDelay({ ...policy, kind: 'fixed' }, 7, () => 0.3)).toBe(100);
  });
});
