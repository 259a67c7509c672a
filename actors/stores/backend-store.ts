import { createActor, fromCallback, fromPromise, waitFor, type ActorRefFrom } from 'xstate';
import { compileMachine, type CompiledMachine } from '../../machines/compile.js';
import { storeAvailable, storeMachine, storeUnavailable } from '../../machines/store.js';
import { ConflictError, FencedError, FlowdError, StoreError } from '../../src/kernel/errors.js';
import { untilAborted } from '../../src/kernel/ping.js';
import { retryOnConflict } from '../../src/kernel/retry-on-conflict.js';
import type { StoreBackend } from './backend.js';
import { toJsonText } from './json-value.js';
import { KeyedQueue } from './keyed-queue.js';
import { recordLogs } from './record-logs.js';
import type { AppendOptions, DeleteOptions, LoggingStore, PutOptions, StoreLogs, UpdateOptions, Versioned } from './store-api.js';

/** The store actor: `storeMachine` with a backend plugged in. */
export type StoreActor = ActorRefFrom<typeof storeMachine>;

/** The store machine wired to `backend`: open, close, and the backend's connection status as events; compiled (machines/compile.ts). */
export function createStoreLogic(backend: StoreBackend): CompiledMachine<typeof storeMachine> {
  const machine = storeMachine.provide({
    actors: {
      openBackend: fromPromise(() => backend.open()),
      closeBackend: fromPromise(() => backend.close()),
      watchBackend: fromCallback(({ sendBack }) =>
        backend.onStatus?.((status) => sendBack(status.available ? storeAvailable() : storeUnavailable(status.error))),
      ),
    },
  });
  return compileMachine(machine);
}

/** Starts a store actor for `backend`. */
export function createStoreActor(backend: StoreBackend): StoreActor {
  return createActor(createStoreLogic(backend)).start();
}

/** Options of BackendStore. */
export interface BackendStoreOptions {
  /** The namespace (the app name), for messages. */
  namespace: string;
  /**
   * Base of update()'s jittered backoff between conflicting attempts, in ms
   * (retryOnConflict's `backoffMs`). @default 5
   */
  updateBackoffMs?: number;
  /** Cap of that backoff, in ms. @default 250 */
  updateMaxBackoffMs?: number;
}

/**
 * The Store workers use, over one backend and its actor. Operations look at
 * the actor's state (wait while `opening`, ERR_STORE_UNAVAILABLE at once
 * while `failed`, ERR_STORE_CLOSED once closing) and then call the backend
 * directly, not through the actor's mailbox. `update()` calls for one key
 * queue up within this process, so local writers never conflict with each
 * other; across processes they retry on conflict with a jittered backoff.
 */
export class BackendStore implements LoggingStore {
  private readonly updates = new KeyedQueue();
  private readonly namespace: string;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly backend: StoreBackend,
    private readonly actor: StoreActor,
    options: BackendStoreOptions,
  ) {
    this.namespace = options.namespace;
    this.backoffMs = options.updateBackoffMs ?? 5;
    this.maxBackoffMs = options.updateMaxBackoffMs ?? 250;
    this.logs =
      backend.append && backend.readLog
        ? this.nativeLogs(backend.append.bind(backend), backend.readLog.bind(backend))
        : recordLogs(this, this.namespace);
  }

  /** Append-only logs beside the records: the backend's own, or emulated by a record each (`recordLogs`). */
  readonly logs: StoreLogs;

  private nativeLogs(append: NonNullable<StoreBackend['append']>, readLog: NonNullable<StoreBackend['readLog']>): StoreLogs {
    return {
      append: async (key: string, values: readonly unknown[], options: AppendOptions = {}) => {
        this.checkKey(key);
        const { ifLength, fence } = options;
        this.checkNumber(key, 'ifLength', ifLength);
        this.checkNumber(key, 'fence', fence);
        const jsons = values.map((value) => toJsonText(key, value));
        await this.whenReady();
        const outcome = await append(key, jsons, { ifLength, fence });
        if (outcome.kind === 'conflict')
          throw new ConflictError(
            ifLength === undefined
              ? `Store "${this.namespace}": log ${JSON.stringify(key)} kept meeting other appends`
              : `Store "${this.namespace}": expected log ${JSON.stringify(key)} to hold ${ifLength} entries, but it holds ${outcome.length}; another writer came first`,
          );
        if (outcome.kind === 'fenced') throw this.fenced(key, 'append', outcome.fence, fence!);
        return outcome.length;
      },
      read: async <T>(key: string, from = 0): Promise<T[]> => {
        this.checkKey(key);
        this.checkNumber(key, 'from', from);
        await this.whenReady();
        return (await readLog(key, from)) as T[];
      },
    };
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    return (await this.getVersioned<T>(key)).value;
  }

  async getVersioned<T = unknown>(key: string): Promise<Versioned<T>> {
    this.checkKey(key);
    await this.whenReady();
    const record = await this.backend.read(key);
    return record ? { value: record.value as T, version: record.version } : { value: undefined, version: 0 };
  }

  async put<T = unknown>(key: string, value: T, options: PutOptions = {}): Promise<Versioned<T>> {
    this.checkKey(key);
    const json = toJsonText(key, value);
    const { ifVersion, fence } = options;
    this.checkNumber(key, 'ifVersion', ifVersion);
    this.checkNumber(key, 'fence', fence);
    await this.whenReady();
    const outcome = await this.backend.write(key, json, { ifVersion, fence });
    if (outcome.kind === 'conflict') throw this.conflict(key, ifVersion!, outcome.version);
    if (outcome.kind === 'fenced') throw this.fenced(key, 'write', outcome.fence, fence!);
    return { value, version: outcome.version };
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    this.checkKey(key);
    const { ifVersion, fence } = options;
    this.checkNumber(key, 'ifVersion', ifVersion);
    this.checkNumber(key, 'fence', fence);
    await this.whenReady();
    const outcome = await this.backend.remove(key, { ifVersion, fence });
    if (outcome.kind === 'conflict') throw this.conflict(key, ifVersion!, outcome.version);
    if (outcome.kind === 'fenced') throw this.fenced(key, 'delete', outcome.fence, fence!);
    return outcome.kind === 'removed';
  }

  update<T = unknown>(key: string, fn: (current: T | undefined) => T | Promise<T>, options: UpdateOptions = {}): Promise<Versioned<T>> {
    this.checkKey(key);
    const { maxRetries = 10, signal } = options;
    return this.updates.run(key, () =>
      retryOnConflict(
        async () => {
          const current = await this.getVersioned<T>(key);
          return this.put(key, await fn(current.value), { ifVersion: current.version });
        },
        { maxRetries, signal, backoffMs: this.backoffMs, maxBackoffMs: this.maxBackoffMs },
      ),
    );
  }

  /**
   * Whether the store can serve, as a worker would find it: ERR_STORE_UNAVAILABLE
   * while its actor is `failed` (ERR_STORE_CLOSED once closing), then the
   * backend's own ping when it has one. Waits while the store opens, no
   * longer than `signal` allows.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    await untilAborted(
      Promise.resolve().then(() => this.whenReady()),
      signal,
    );
    await this.backend.ping?.(signal);
  }

  /** Resolves when the store can serve; throws when it cannot. Synchronous when ready, so nothing slips between the check and the call. */
  private whenReady(): Promise<void> | void {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.value === 'ready') return;
    if (snapshot.value === 'opening' && snapshot.status === 'active') {
      return waitFor(this.actor, (s) => s.value !== 'opening').then(() => this.whenReady());
    }
    if (snapshot.value === 'failed' && snapshot.status === 'active') {
      throw new StoreError(
        'ERR_STORE_UNAVAILABLE',
        snapshot.context.error?.message ?? `Store "${this.namespace}" is unavailable (${this.backend.kind} at ${this.backend.where})`,
      );
    }
    throw new StoreError(
      'ERR_STORE_CLOSED',
      `Store "${this.namespace}" is closed (${this.backend.kind} at ${this.backend.where}); the app is shutting down`,
    );
  }

  private conflict(key: string, expected: number, found: number): ConflictError {
    const wanted = expected === 0 ? 'to have no value' : `at version ${expected}`;
    const now = found === 0 ? 'it has no value' : `it is at version ${found}`;
    return new ConflictError(
      `Store "${this.namespace}": expected key ${JSON.stringify(key)} ${wanted}, but ${now}; another writer came first`,
    );
  }

  private fenced(key: string, operation: string, accepted: number, offered: number): FencedError {
    return new FencedError(
      `Store "${this.namespace}": ${operation === 'append' ? 'log' : 'key'} ${JSON.stringify(key)} has accepted fencing token ${accepted}; this ${operation} carries ${offered}, so its lock was lost to a later holder`,
    );
  }

  private checkKey(key: string): void {
    if (typeof key !== 'string' || key.length === 0) {
      throw new FlowdError(
        'ERR_INVALID_ARGUMENT',
        `Store "${this.namespace}": a key must be a non-empty string; found ${typeof key === 'string' ? 'an empty string' : typeof key}`,
      );
    }
  }

  private checkNumber(key: string, name: string, value: number | undefined): void {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new FlowdError(
        'ERR_INVALID_ARGUMENT',
        `Store "${this.namespace}": ${name} for key ${JSON.stringify(key)} must be a whole number of at least 0; found ${String(value)}`,
      );
    }
  }
}
