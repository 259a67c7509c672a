/**
 * What workers see as `ctx.lock(key)` / `ctx.withLock(key, fn)`: keyed
 * locks with FIFO waiters, a lease and a fencing token.
 */

/** Options for taking a lock. */
export interface LockOptions {
  /** How long the lock is held without a renewal. @default the `[Lock] lease` (60s) */
  lease?: number;
  /** Stops waiting (defaults to the event's `ctx.signal` inside a worker). */
  signal?: AbortSignal;
}

/** A held lock. `await using lock = await ctx.lock('asset-1')` releases it at the end of the block. */
export interface LockHandle extends AsyncDisposable {
  readonly key: string;
  /**
   * The fencing token: strictly greater than that of every earlier
   * acquisition of this key. Pass it to `store.put(key, value, { fence })`.
   */
  readonly fence: number;
  /** Aborts when the lease lapsed and the lock was lost. */
  readonly signal: AbortSignal;
  /** Extends the lease by its full length from now; throws LockError ERR_LOCK_LOST when it was already lost. */
  renew(): Promise<void>;
  /** Releases the lock (a no-op when it was lost or already released). */
  release(): Promise<void>;
}

/** Options for withLock. */
export interface WithLockOptions extends LockOptions {
  /** Renews the lease every third of its length while `fn` runs. @default true */
  autoRenew?: boolean;
}

/** The app's locks. */
export interface Locks {
  /** Waits for the lock (FIFO among this process's waiters) and returns it held. */
  lock(key: string, options?: LockOptions): Promise<LockHandle>;
  /** Runs `fn` holding the lock and releases it after, whatever happens. */
  withLock<T>(key: string, fn: (lock: LockHandle) => T | Promise<T>, options?: WithLockOptions): Promise<T>;
}
