import { createActor, fromPromise, type ActorRefFrom, type InspectionEvent } from 'xstate';
import {
  lockCancelled,
  lockMachine,
  lockReleased,
  lockRenewed,
  lockRequested,
  lockRevoked,
  type AcquireInput,
  type AcquireOutput,
  type LockFailed,
  type LockGranted,
  type LockLost,
} from '../../machines/lock.js';
import { compileMachine, type CompiledMachine } from '../../machines/compile.js';
import { FlowdError, LockError } from '../../src/kernel/errors.js';
import { MAX_TIMER_DELAY } from '../../src/kernel/timers.js';
import { HeldLock, type LockOwner } from './held-lock.js';
import { keepRenewed, systemClock, type Clock } from './keep-renewed.js';
import type { LockHandle, LockOptions, Locks, WithLockOptions } from './lock-api.js';
import type { LockDriver } from './lock-driver.js';

/** Options for KeyedLocks. */
export interface KeyedLocksOptions {
  /** The lease of a lock taken without `lease`, in ms. */
  leaseMs: number;
  /** Drives the lease timers and auto-renewal (a SimulatedClock in tests). @default the global timers */
  clock?: Clock;
  /**
   * The fence below the first one handed out. Fences only need to grow for
   * one backend, but a store remembers them across restarts, so the local
   * backend starts from the wall clock.
   * @default 0
   */
  fenceBase?: number;
  /** xstate's `inspect` observer for every lock actor (the inspector's). @default none */
  inspect?: ((event: InspectionEvent) => void) | undefined;
}

type LockActor = ActorRefFrom<typeof lockMachine>;

interface Waiting {
  key: string;
  leaseMs: number;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  resolve(lock: LockHandle): void;
  reject(error: unknown): void;
}

/**
 * Locks over a LockDriver: one lock actor per key (created on demand and
 * stopped once free with nobody waiting), FIFO waiters, lease timers,
 * renewal and release. Fences keep growing across the re-creation of a
 * key's actor: the highest fence of a stopped actor seeds the next one.
 */
export class KeyedLocks implements Locks {
  private readonly actors = new Map<string, LockActor>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly held = new Map<string, HeldLock>();
  private readonly owner: LockOwner;
  private readonly clock: Clock;
  private readonly logic: CompiledMachine<typeof lockMachine>;
  private highestFence: number;
  private lastRequest = 0;
  private closed = false;

  constructor(
    private readonly driver: LockDriver,
    private readonly options: KeyedLocksOptions,
  ) {
    const badLease = leaseProblem(options.leaseMs, "the locks' default leaseMs");
    if (badLease) throw badLease;
    this.clock = options.clock ?? systemClock;
    this.highestFence = options.fenceBase ?? 0;
    this.owner = { renew: (lock) => this.renew(lock), release: (lock) => this.release(lock) };
    // Compiled (machines/compile.ts): each lock event is a table look-up, with the same snapshots and emitted events.
    this.logic = compileMachine(
      lockMachine.provide({
        actors: { acquire: fromPromise<AcquireOutput, AcquireInput>(({ input, signal }) => driver.acquire(input, signal)) },
      }),
    );
  }

  /** How many keys have a live lock actor (held, or with waiters). */
  get liveKeys(): number {
    return this.actors.size;
  }

  /**
   * Waits for the lock (FIFO among this process's waiters) and returns it
   * held. Rejects with the signal's reason when `signal` aborts first,
   * leaving the queue; a FlowdError ERR_INVALID_ARGUMENT for an empty key or a lease
   * that is not a whole number of ms; ERR_LOCK_UNAVAILABLE when the backend
   * is down or the locks were closed.
   */
  lock(key: string, options: LockOptions = {}): Promise<LockHandle> {
    if (typeof key !== 'string' || key === '')
      return Promise.reject(new FlowdError('ERR_INVALID_ARGUMENT', `a lock key must be a non-empty string; found ${JSON.stringify(key)}`));
    const leaseMs = options.lease ?? this.options.leaseMs;
    const badLease = leaseProblem(leaseMs, `the lease of lock "${key}"`);
    if (badLease) return Promise.reject(badLease);
    const { signal } = options;
    if (this.closed)
      return Promise.reject(new LockError('ERR_LOCK_UNAVAILABLE', `cannot lock "${key}": the ${this.driver.name} locks were closed`));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const requestId = String(++this.lastRequest);
    const actor = this.actorFor(key);
    return new Promise<LockHandle>((resolve, reject) => {
      const onAbort = () => {
        this.waiting.delete(requestId);
        actor.send(lockCancelled(requestId));
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(requestId, { key, leaseMs, signal, onAbort, resolve, reject });
      actor.send(lockRequested(requestId, leaseMs));
    });
  }

  /**
   * Runs `fn` holding the lock, renewing it every third of its lease unless
   * `autoRenew` is false, and releases it after, whatever happens. A release
   * that cannot reach the backend does not fail the call: the lease frees
   * the lock.
   */
  async withLock<T>(key: string, fn: (lock: LockHandle) => T | Promise<T>, options: WithLockOptions = {}): Promise<T> {
    const lock = await this.lock(key, options);
    const stopRenewing = options.autoRenew === false ? () => {} : keepRenewed(lock, options.lease ?? this.options.leaseMs, this.clock);
    try {
      return await fn(lock);
    } finally {
      stopRenewing();
      // A release that cannot reach the backend is not fn's failure: the lease frees the lock.
      await lock.release().catch(() => {});
    }
  }

  /**
   * The backend's health check (`LockDriver.ping`): resolves when it can
   * take locks; ERR_LOCK_UNAVAILABLE when it is down or the locks were closed.
   */
  ping(signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new LockError('ERR_LOCK_UNAVAILABLE', `the ${this.driver.name} locks were closed`));
    return this.driver.ping(signal);
  }

  /**
   * Rejects every waiting request with ERR_LOCK_UNAVAILABLE, marks every
   * held lock lost (their signals abort), gives them back to the backend
   * as far as it answers, and closes the driver.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [requestId, waiting] of [...this.waiting]) {
      this.settle(requestId, waiting)?.reject(
        new LockError('ERR_LOCK_UNAVAILABLE', `cannot lock "${waiting.key}": the ${this.driver.name} locks were closed while it waited`),
      );
    }
    const releases = [...this.held.values()].map((lock) => {
      lock.markLost(
        new LockError('ERR_LOCK_LOST', `lock "${lock.key}" (fence ${lock.fence}) was lost: the ${this.driver.name} locks were closed`),
      );
      return this.driver.release(lock.key, lock.token).catch(() => {});
    });
    this.held.clear();
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
    await Promise.all(releases);
    await this.driver.close();
  }

  private actorFor(key: string): LockActor {
    const existing = this.actors.get(key);
    if (existing) return existing;
    const { inspect } = this.options;
    const actor = createActor(this.logic, { input: { key, fence: this.highestFence }, clock: this.clock, ...(inspect ? { inspect } : {}) });
    actor.on('lock.granted', (event) => this.granted(actor, event));
    actor.on('lock.lost', (event) => this.lost(event));
    actor.on('lock.failed', (event) => this.failed(event));
    // Stopped a tick later, so a request made in the same turn keeps it.
    actor.on('lock.freed', () => queueMicrotask(() => this.reclaim(key, actor)));
    this.actors.set(key, actor);
    actor.start();
    return actor;
  }

  private reclaim(key: string, actor: LockActor): void {
    if (this.actors.get(key) !== actor || !actor.getSnapshot().matches('free')) return;
    this.highestFence = Math.max(this.highestFence, actor.getSnapshot().context.fence);
    actor.stop();
    this.actors.delete(key);
  }

  private settle(requestId: string, waiting: Waiting | undefined = this.waiting.get(requestId)): Waiting | undefined {
    if (!waiting) return undefined;
    this.waiting.delete(requestId);
    waiting.signal?.removeEventListener('abort', waiting.onAbort);
    return waiting;
  }

  private granted(actor: LockActor, { key, requestId, fence, token }: LockGranted): void {
    const waiting = this.settle(requestId);
    if (!waiting) {
      // Nobody waits for it any more (cannot happen while cancelling is synchronous; never leak it).
      void this.driver
        .release(key, token)
        .catch(() => {})
        .finally(() => actor.send(lockReleased(requestId)));
      return;
    }
    // The lease left at the grant may be shorter than the one asked for (a remote round trip); renewals extend to the latter.
    const lock = new HeldLock(this.owner, key, fence, requestId, token, waiting.leaseMs);
    this.held.set(requestId, lock);
    waiting.resolve(lock);
  }

  private lost({ key, requestId, fence }: LockLost): void {
    const lock = this.held.get(requestId);
    if (!lock) return;
    this.held.delete(requestId);
    lock.markLost(
      new LockError(
        'ERR_LOCK_LOST',
        `lock "${key}" (fence ${fence}) was lost: its lease of ${lock.leaseMs}ms lapsed before it was renewed`,
      ),
    );
  }

  private failed({ key, requestId, error }: LockFailed): void {
    const failure =
      error instanceof LockError
        ? error
        : new LockError('ERR_LOCK_UNAVAILABLE', `cannot lock "${key}": ${(error as Error)?.message ?? String(error)}`, { cause: error });
    this.settle(requestId)?.reject(failure);
  }

  private async renew(lock: HeldLock): Promise<void> {
    const leftMs = await this.driver.renew(lock.key, lock.token, lock.leaseMs);
    if (leftMs === false) {
      this.held.delete(lock.requestId);
      const error = new LockError(
        'ERR_LOCK_LOST',
        `lock "${lock.key}" (fence ${lock.fence}) was lost: the ${this.driver.name} backend no longer holds it for this holder (its lease lapsed)`,
      );
      lock.markLost(error);
      this.actors.get(lock.key)?.send(lockRevoked(lock.requestId));
      throw error;
    }
    if (lock.state !== 'held') {
      // The lease lapsed here while the renewal was on its way: the backend extended a lock we no longer count as ours.
      if (lock.state === 'lost') await this.driver.release(lock.key, lock.token).catch(() => {});
      throw lock.lostError();
    }
    this.actors.get(lock.key)?.send(lockRenewed(lock.requestId, leftMs));
  }

  private async release(lock: HeldLock): Promise<void> {
    this.held.delete(lock.requestId);
    try {
      // Given back first, so the next waiter here does not find our own lock in its way.
      await this.driver.release(lock.key, lock.token);
    } finally {
      this.actors.get(lock.key)?.send(lockReleased(lock.requestId));
    }
  }
}

function leaseProblem(leaseMs: number, what: string): FlowdError | undefined {
  if (Number.isInteger(leaseMs) && leaseMs >= 1 && leaseMs <= MAX_TIMER_DELAY) return undefined;
  return new FlowdError(
    'ERR_INVALID_ARGUMENT',
    `${what} must be a whole number of milliseconds from 1 to 2^31-1; found ${String(leaseMs)}`,
  );
}
