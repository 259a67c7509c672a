import type { AcquireInput, AcquireOutput } from '../../machines/lock.js';
import type { Pingable } from '../../src/kernel/ping.js';

/**
 * The part of a lock backend that touches the world: where the lock lives.
 * The lock machine (machines/lock.ts) keeps this process's waiters in FIFO
 * order and the lease timer; a driver takes, renews and gives back the lock
 * for one request at a time. `local` keeps it in memory, `redis` in Redis.
 */
export interface LockDriver extends Pingable {
  /** `local` or `redis`, for messages. */
  readonly name: string;
  /**
   * Takes the lock for one request and resolves with its fence, a token
   * that proves ownership, and the lease left by the time it was taken.
   * May wait for another process to let go. Honours `signal`: when it
   * aborts after the lock was taken, the driver gives the lock back before
   * rejecting, so a lock taken just as the wait ended never leaks.
   * Rejects with LockError ERR_LOCK_UNAVAILABLE when the backend is down.
   */
  acquire(request: AcquireInput, signal: AbortSignal): Promise<AcquireOutput>;
  /**
   * Extends the lease to `leaseMs` from now, only if `token` still holds
   * the lock. Resolves with the lease left as this process should count it
   * (no later than the backend's own expiry), or `false` when the lock is
   * no longer ours.
   */
  renew(key: string, token: string, leaseMs: number): Promise<number | false>;
  /** Gives the lock back, only if `token` still holds it. */
  release(key: string, token: string): Promise<void>;
  /**
   * A cheap health check: resolves when the backend can take locks (local:
   * always; redis: PING on its connection), rejects with LockError
   * ERR_LOCK_UNAVAILABLE when it cannot, or with the signal's reason once
   * `signal` aborts. The runtime pings it while the app's locks are down.
   */
  ping(signal?: AbortSignal): Promise<void>;
  /** Closes connections. */
  close(): Promise<void>;
}
