import type * as IoredisModule from 'ioredis';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { lazy } from '../../src/kernel/lazy.js';
import type { Clock } from './keep-renewed.js';
import type { AcquireInput, AcquireOutput } from '../../machines/lock.js';
import { LockError } from '../../src/kernel/errors.js';
import { untilAborted } from '../../src/kernel/ping.js';
import { KeyedLocks, type KeyedLocksOptions } from './keyed-locks.js';
import type { LockDriver } from './lock-driver.js';
import { displayUrl } from '../display-url.js';

// ioredis loads when a Redis backend is opened, not with flowd.
const ioredis = lazy<typeof IoredisModule>('ioredis');

/** Options for locks shared through Redis. */
export interface RedisLocksOptions {
  /** `redis://[:password@]host:port[/db]` (or `rediss://`). The password never appears in a message. */
  url: string;
  /** Usually the app name: locks of different namespaces never meet. */
  namespace: string;
  /** Put before the namespace: keys are `<prefix><namespace>:...`. @default 'flowd:lock:' */
  prefix?: string;
  /** The lease of a lock taken without `lease`, in ms. */
  leaseMs: number;
  /** Drives lease timers and auto-renewal. @default the global timers */
  clock?: Clock;
  /** How long a call waits for Redis to (re)connect before failing with ERR_LOCK_UNAVAILABLE. @default 1000 */
  connectTimeoutMs?: number;
  /** How long one Redis command may take before failing with ERR_LOCK_UNAVAILABLE. @default 2000 */
  commandTimeoutMs?: number;
  /**
   * The longest wait between tries for a lock another process holds, for when
   * the release message is missed or the holder's lease lapsed (which
   * publishes nothing). @default min(lease / 10, 250ms)
   */
  pollMs?: number;
  /** xstate's `inspect` observer for the lock actors. @default none */
  inspect?: KeyedLocksOptions['inspect'];
}

// Taking the lock and its fence in one script: a lock is never held without a fence.
// A counter missing or behind ARGV[3] (the wall clock, ms x 1000) is raised to it first.
const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  if current < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], ARGV[3]) end
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}`;
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`;

interface Scripts {
  flowdLockAcquire(lockKey: string, fenceKey: string, token: string, leaseMs: number, fenceBase: string): Promise<[number, number]>;
  flowdLockRenew(lockKey: string, token: string, leaseMs: number): Promise<number>;
  flowdLockRelease(lockKey: string, token: string, channel: string, key: string): Promise<number>;
}

/**
 * Locks in Redis, shared by every daemon of the app.
 *
 * - Taking a lock: `SET <prefix><ns>:k:<key> <random token> NX PX <lease>`
 *   and, in the same script, `INCR <prefix><ns>:fence` for its fence (one
 *   counter per namespace: fences grow across keys, which is all a store
 *   needs, and no per-key counter is left behind). A counter that is
 *   missing or behind the wall clock (ms x 1000, as the local backend
 *   starts) or this process's last fence is first raised to it, so fences
 *   keep growing across a switch from `local` and a Redis that lost the
 *   counter, as long as the clock moves forward.
 * - Renewing and releasing: scripts that act only while the value is still
 *   our token. Releasing publishes the key on `<prefix><ns>:released`.
 * - Waiting for another process: woken by that message, and in any case
 *   trying again every `pollMs`, by default `min(lease / 10, 250ms)` (or
 *   sooner, when the holder's lease ends sooner), since a lease that lapses
 *   publishes nothing.
 * - Order: FIFO among this process's waiters (only the first one contends
 *   in Redis); across processes it is whoever tries first after a release,
 *   not FIFO.
 * - This process counts a lease from the moment it sent the command, less
 *   1% + 2ms for clock drift, so it always gives a lock up before Redis does.
 * - Redis down: every call fails with LockError ERR_LOCK_UNAVAILABLE within
 *   `connectTimeoutMs` / `commandTimeoutMs` (commands are never queued).
 */
export class RedisLockDriver implements LockDriver {
  readonly name = 'redis';
  private readonly redis: Redis;
  private subscriber: Redis | undefined;
  private readonly base: string;
  private readonly channel: string;
  private readonly safeUrl: string;
  private readonly password: string;
  private readonly wakers = new Map<string, Set<() => void>>();
  private readonly inflight = new Set<Promise<void>>();
  private lastError: Error | undefined;
  /** The highest fence this driver handed out: the counter is never let fall below it. */
  private lastFence = 0;
  private closed = false;

  constructor(private readonly options: Omit<RedisLocksOptions, 'leaseMs' | 'clock'>) {
    this.safeUrl = displayUrl(options.url);
    this.password = URL.canParse(options.url) ? decodeURIComponent(new URL(options.url).password) : '';
    this.base = `${options.prefix ?? 'flowd:lock:'}${encodeURIComponent(options.namespace)}:`;
    this.channel = `${this.base}released`;
    this.redis = new (ioredis().Redis)(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.connectTimeoutMs ?? 1000,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      // Capped at 500ms, so the locks are back within half a second of Redis, and jittered, so daemons do not return in lockstep.
      retryStrategy: (times) => Math.min(500, 100 * times) * (0.5 + Math.random() / 2),
    });
    this.redis.on('error', (error: Error) => (this.lastError = error));
    this.redis.defineCommand('flowdLockAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    this.redis.defineCommand('flowdLockRenew', { numberOfKeys: 1, lua: RENEW });
    this.redis.defineCommand('flowdLockRelease', { numberOfKeys: 1, lua: RELEASE });
  }

  private get scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  private lockKey(key: string): string {
    return `${this.base}k:${key}`;
  }

  acquire(request: AcquireInput, signal: AbortSignal): Promise<AcquireOutput> {
    // Tracked, so that close() lets an abandoned attempt give back a lock it took before the connection goes.
    const attempt = this.take(request, signal);
    const settled = attempt.then(
      () => {},
      () => {},
    );
    this.inflight.add(settled);
    void settled.finally(() => this.inflight.delete(settled));
    return attempt;
  }

  private async take({ key, leaseMs }: AcquireInput, signal: AbortSignal): Promise<AcquireOutput> {
    const token = randomUUID();
    const pollMs = this.options.pollMs ?? Math.max(1, Math.min(Math.floor(leaseMs / 10), 250));
    this.listen();
    for (;;) {
      signal.throwIfAborted();
      await this.ready(key, signal);
      // Armed before trying, so a release between our try and our wait still wakes us.
      const waker = this.arm(key);
      const sentAt = performance.now();
      let taken: boolean;
      let value: number;
      try {
        const fenceBase = String(Math.max(Date.now() * 1000, this.lastFence));
        [taken, value] = await this.scripts
          .flowdLockAcquire(this.lockKey(key), `${this.base}fence`, token, leaseMs, fenceBase)
          .then(([ok, n]) => [ok === 1, n] as const);
      } catch (error) {
        waker.disarm();
        throw this.unavailable(key, error);
      }
      if (taken) {
        waker.disarm();
        this.lastFence = Math.max(this.lastFence, value);
        if (signal.aborted) {
          // Taken just as the wait ended: give it straight back.
          await this.release(key, token).catch(() => {});
          throw signal.reason;
        }
        return { fence: value, token, leaseMs: this.leftOf(leaseMs, sentAt) };
      }
      // value is the holder's PTTL: no point waiting past it.
      await waker.wait(value > 0 ? Math.min(pollMs, value + 1) : pollMs, signal);
    }
  }

  async renew(key: string, token: string, leaseMs: number): Promise<number | false> {
    await this.ready(key);
    const sentAt = performance.now();
    try {
      const renewed = await this.scripts.flowdLockRenew(this.lockKey(key), token, leaseMs);
      return renewed === 1 ? this.leftOf(leaseMs, sentAt) : false;
    } catch (error) {
      throw this.unavailable(key, error);
    }
  }

  async release(key: string, token: string): Promise<void> {
    await this.ready(key);
    try {
      await this.scripts.flowdLockRelease(this.lockKey(key), token, this.channel, key);
    } catch (error) {
      throw this.unavailable(key, error);
    }
  }

  /** PING on the locks' connection: fails at once while Redis is known to be down, within the timeouts when it hangs. */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.ready(undefined, signal);
    try {
      await untilAborted(this.redis.ping(), signal);
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      throw this.unavailable(undefined, error);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.inflight);
    this.closed = true;
    this.subscriber?.disconnect();
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => {});
    this.redis.disconnect();
  }

  /** The lease this process may count on: Redis's, less the round trip and a drift margin. */
  private leftOf(leaseMs: number, sentAt: number): number {
    const drift = Math.floor(leaseMs / 100) + 2;
    return Math.max(1, Math.floor(leaseMs - (performance.now() - sentAt) - drift));
  }

  /** Subscribes (once) to the release channel; a subscriber that is down only costs latency. */
  private listen(): void {
    if (this.subscriber || this.closed) return;
    const subscriber = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, key: string) => {
      for (const wake of this.wakers.get(key) ?? []) wake();
    });
    subscriber.subscribe(this.channel).catch(() => {});
    this.subscriber = subscriber;
  }

  private arm(key: string): { wait(ms: number, signal: AbortSignal): Promise<void>; disarm(): void } {
    let woken = false;
    let resolveWait: (() => void) | undefined;
    const wake = () => {
      woken = true;
      resolveWait?.();
    };
    const set = this.wakers.get(key) ?? new Set();
    set.add(wake);
    this.wakers.set(key, set);
    const disarm = () => {
      set.delete(wake);
      if (set.size === 0 && this.wakers.get(key) === set) this.wakers.delete(key);
    };
    const wait = (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        const finish = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          disarm();
        };
        const onAbort = () => {
          finish();
          reject(signal.reason as Error);
        };
        const timer = setTimeout(() => resolveWait!(), ms);
        resolveWait = () => {
          finish();
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        if (woken || signal.aborted) (signal.aborted ? onAbort : resolveWait)();
      });
    return { wait, disarm };
  }

  /** Resolves once the connection is ready; fails fast while Redis is known to be down. */
  private async ready(key: string | undefined, signal?: AbortSignal): Promise<void> {
    if (this.closed)
      throw new LockError(
        'ERR_LOCK_UNAVAILABLE',
        `cannot use ${key === undefined ? 'the locks' : `lock "${key}"`}: the Redis locks at ${this.safeUrl} were closed`,
      );
    const { status } = this.redis;
    if (status === 'ready') return;
    if (status === 'reconnecting' || status === 'close' || status === 'end')
      throw this.unavailable(key, this.lastError ?? new Error(`the connection is ${status}`));
    await new Promise<void>((resolve, reject) => {
      const finish = (error?: unknown) => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        this.redis.off('close', onClose);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error as Error);
      };
      const onReady = () => finish();
      // A refused connection closes at once: no need to sit out the timeout.
      const onClose = () => finish(this.unavailable(key, this.lastError ?? new Error('the connection closed')));
      const onAbort = () => finish(signal!.reason);
      const limit = this.options.connectTimeoutMs ?? 1000;
      const timer = setTimeout(() => finish(this.unavailable(key, this.lastError ?? new Error(`no connection within ${limit}ms`))), limit);
      this.redis.once('ready', onReady);
      this.redis.once('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** ERR_LOCK_UNAVAILABLE for `key` (or for the locks as a whole: a ping), its reason without the password. */
  private unavailable(key: string | undefined, error: unknown): LockError {
    let reason = error instanceof Error ? error.message : String(error);
    if (this.password) reason = reason.split(this.password).join('***');
    // No `cause`: ioredis errors may carry the command's arguments, and AUTH's argument is the password.
    return new LockError(
      'ERR_LOCK_UNAVAILABLE',
      `cannot reach Redis at ${this.safeUrl} for ${key === undefined ? 'the locks' : `lock "${key}"`}: ${reason}`,
    );
  }
}

/**
 * Locks shared through Redis by several daemons: FIFO among this process's
 * waiters, a lease kept in step with Redis's PX, fences from Redis.
 * @example
 * const locks = createRedisLocks({ url: 'redis://127.0.0.1:6379', namespace: 'thumbnails', leaseMs: 60_000 });
 * await locks.withLock('asset-1', async (lock) => { ... });
 * await locks.close();
 */
export function createRedisLocks(options: RedisLocksOptions): KeyedLocks {
  const { leaseMs, clock, inspect, ...connection } = options;
  return new KeyedLocks(new RedisLockDriver(connection), { leaseMs, ...(clock ? { clock } : {}), ...(inspect ? { inspect } : {}) });
}
