import type { LockHandle } from './lock-api.js';

/** The timers lease timers and renewals run on: xstate's clock (a SimulatedClock in tests). */
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Global timers, looked up at each call so that fake timers installed later take effect (as xstate's own default clock does). */
export const systemClock: Clock = {
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Renews `lock` every third of its lease until the returned function is
 * called or the lock is lost. A renewal that fails because the backend is
 * unreachable is tried again at the next turn; if none gets through, the
 * lease lapses and the lock's signal aborts.
 */
export function keepRenewed(lock: LockHandle, leaseMs: number, clock: Clock = systemClock): () => void {
  const everyMs = Math.max(1, Math.floor(leaseMs / 3));
  let stopped = false;
  let timer: unknown;
  const schedule = () => {
    if (stopped || lock.signal.aborted) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      lock.renew().then(schedule, (error: unknown) => {
        if ((error as { code?: unknown }).code !== 'ERR_LOCK_LOST') schedule();
      });
    }, everyMs);
  };
  schedule();
  return () => {
    stopped = true;
    if (timer !== undefined) clock.clearTimeout(timer);
  };
}
