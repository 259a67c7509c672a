import { randomUUID } from 'node:crypto';
import type { Clock } from './keep-renewed.js';
import { KeyedLocks, type KeyedLocksOptions } from './keyed-locks.js';
import type { LockDriver } from './lock-driver.js';

/**
 * The in-process driver: the lock machine already keeps one holder per key,
 * so taking the lock is only handing out the next fence.
 */
export const localLockDriver: LockDriver = {
  name: 'local',
  acquire: ({ fence, leaseMs }) => Promise.resolve({ fence: fence + 1, token: randomUUID(), leaseMs }),
  renew: (_key, _token, leaseMs) => Promise.resolve(leaseMs),
  release: () => Promise.resolve(),
  ping: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** Options for the in-process locks. */
export interface LocalLocksOptions {
  /** The lease of a lock taken without `lease`, in ms. */
  leaseMs: number;
  /** Drives lease timers and auto-renewal. @default the global timers */
  clock?: Clock;
  /**
   * The fence below the first one handed out. The default starts from the
   * wall clock (ms x 1000), so fences keep growing across a restart of the
   * daemon (a file store remembers the highest fence it accepted per key)
   * as long as it took fewer than a thousand locks a millisecond.
   * @default Date.now() * 1000
   */
  fenceBase?: number;
  /** xstate's `inspect` observer for the lock actors. @default none */
  inspect?: KeyedLocksOptions['inspect'];
}

/**
 * Locks for one process: one lock actor per key, created on demand and
 * stopped once free with nobody waiting, so memory does not grow with the
 * number of keys ever locked.
 * @example
 * const locks = createLocalLocks({ leaseMs: 60_000 });
 * await locks.withLock('asset-1', async (lock) => store.put('asset-1', value, { fence: lock.fence }));
 */
export function createLocalLocks(options: LocalLocksOptions): KeyedLocks {
  return new KeyedLocks(localLockDriver, { ...options, fenceBase: options.fenceBase ?? Date.now() * 1000 });
}
