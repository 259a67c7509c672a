import { LockError } from '../../src/kernel/errors.js';
import type { LockHandle } from './lock-api.js';

/** What a held lock asks of the locks that granted it. */
export interface LockOwner {
  renew(lock: HeldLock): Promise<void>;
  release(lock: HeldLock): Promise<void>;
}

/** `held` until released or lost; never back. */
export type HeldLockState = 'held' | 'released' | 'lost';

/** A LockHandle as the backends hand it out. */
export class HeldLock implements LockHandle {
  private readonly controller = new AbortController();
  private current: HeldLockState = 'held';

  constructor(
    private readonly owner: LockOwner,
    readonly key: string,
    readonly fence: number,
    /** The request the lock machine knows this holder by. */
    readonly requestId: string,
    /** The driver's proof of ownership. */
    readonly token: string,
    /** The lease asked for, which each renewal extends to. */
    readonly leaseMs: number,
  ) {}

  /** Aborts with LockError ERR_LOCK_LOST when the lease lapsed. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get state(): HeldLockState {
    return this.current;
  }

  renew(): Promise<void> {
    if (this.current !== 'held') return Promise.reject(this.lostError());
    return this.owner.renew(this);
  }

  release(): Promise<void> {
    if (this.current !== 'held') return Promise.resolve();
    this.current = 'released';
    return this.owner.release(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** The lease lapsed (or the backend says the lock is gone): aborts the signal. */
  markLost(error: LockError): void {
    if (this.current !== 'held') return;
    this.current = 'lost';
    this.controller.abort(error);
  }

  /** Why renew() fails once the lock is no longer held. */
  lostError(): LockError {
    if (this.controller.signal.aborted) return this.controller.signal.reason as LockError;
    return new LockError('ERR_LOCK_LOST', `lock "${this.key}" (fence ${this.fence}) is no longer held: it was released`);
  }
}
