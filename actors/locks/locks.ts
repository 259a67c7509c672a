import type { Pingable } from '../../src/kernel/ping.js';
import { keepRenewed, type Clock } from './keep-renewed.js';
import type { KeyedLocks, KeyedLocksOptions } from './keyed-locks.js';
import type { LockHandle, LockOptions, Locks } from './lock-api.js';
import { createLocalLocks } from './local.js';
import { createRedisLocks } from './redis.js';

/** Which backend holds the locks. */
export type LockBackendOptions =
  | { backend: 'local' }
  | {
      backend: 'redis';
      /** `redis://[:password@]host:port[/db]`. */
      url: string;
      /** Usually the app name. */
      namespace: string;
      /** @default 'flowd:lock:' */
      prefix?: string;
    };

/** Locks that can be closed (by the runtime, at shutdown) and pinged (their driver's health check; ERR_LOCK_UNAVAILABLE once closed). */
export type ClosableLocks = Locks &
  Pingable & {
    /** Rejects waiting requests, marks held locks lost, gives them back and closes connections. */
    close(): Promise<void>;
  };

/**
 * The app's locks, on the backend `[Lock]` names.
 * @example
 * const locks = createLocks({ backend: 'redis', url: 'redis://127.0.0.1:6379', namespace: 'thumbnails' }, { leaseMs: 60_000 });
 * await locks.withLock(`asset-${id}`, async (lock) => ctx.store.put(`asset-${id}`, value, { fence: lock.fence }));
 */
export function createLocks(
  options: LockBackendOptions,
  defaults: { leaseMs: number; inspect?: KeyedLocksOptions['inspect'] },
  clock?: Clock,
): ClosableLocks {
  const timing = { leaseMs: defaults.leaseMs, ...(clock ? { clock } : {}), ...(defaults.inspect ? { inspect: defaults.inspect } : {}) };
  if (options.backend === 'local') return createLocalLocks(timing);
  const { url, namespace, prefix } = options;
  return createRedisLocks({ url, namespace, ...(prefix === undefined ? {} : { prefix }), ...timing });
}

/** The lease of a `Locked` lock, which renews itself while held. */
const LOCKED_LEASE_MS = 60_000;
let shared: KeyedLocks | undefined;

/**
 * Flow's `with Locked('mystring'):`: waits for the process-wide lock of
 * that key and returns it held; it renews itself until released, like the
 * seed's plain lock. In process only: use `ctx.lock` to exclude other daemons.
 * @example
 * await using lock = await Locked('mystring');
 */
export async function Locked(key: string, options: LockOptions = {}): Promise<LockHandle> {
  shared ??= createLocalLocks({ leaseMs: LOCKED_LEASE_MS });
  const leaseMs = options.lease ?? LOCKED_LEASE_MS;
  const lock = await shared.lock(key, { ...options, lease: leaseMs });
  const stop = keepRenewed(lock, leaseMs);
  const release = async () => {
    stop();
    await lock.release();
  };
  lock.signal.addEventListener('abort', stop, { once: true });
  return {
    key: lock.key,
    fence: lock.fence,
    signal: lock.signal,
    renew: () => lock.renew(),
    release,
    [Symbol.asyncDispose]: release,
  };
}
