import type { Logger } from 'pino';
import { createActor, waitFor, type InspectionEvent } from 'xstate';
import { StoreError } from '../../src/kernel/errors.js';
import type { StoreBackend } from './backend.js';
import { FileBackend, type FileBackendOptions } from './file-backend.js';
import { PostgresBackend, type PostgresBackendOptions } from './postgres-backend.js';
import { RedisBackend, type RedisBackendOptions } from './redis-backend.js';
import type { LoggingStore } from './store-api.js';
import { BackendStore, createStoreActor, createStoreLogic, type BackendStoreOptions, type StoreActor } from './backend-store.js';

/** Which backend a store uses, and where. */
export type StoreOptions =
  | ({ backend: 'file' } & FileBackendOptions & Omit<BackendStoreOptions, 'namespace'>)
  | ({ backend: 'redis' } & RedisBackendOptions & Omit<BackendStoreOptions, 'namespace'>)
  | ({ backend: 'postgres' } & PostgresBackendOptions & Omit<BackendStoreOptions, 'namespace'>);

/** An opened store: what workers use, its actor, and its lifecycle. */
export interface OpenedStore {
  /** `ctx.store`, with the store's logs. Usable at once: operations wait while the backend opens. */
  store: LoggingStore;
  /** The store actor (`storeMachine`): `opening`, `ready`, `failed`, `closing`, `closed`. */
  actor: StoreActor;
  /** The backend, for diagnostics (`kind`, `where`). */
  backend: StoreBackend;
  /**
   * The store's health check (see `BackendStore.ping`): resolves when it
   * can serve, rejects with ERR_STORE_UNAVAILABLE when it cannot. Undefined
   * when its backend has no `ping` (a custom one).
   */
  ping: ((signal?: AbortSignal) => Promise<void>) | undefined;
  /**
   * Resolves when the store is first ready; rejects with StoreError
   * ERR_STORE_UNAVAILABLE when it fails to open (a Redis or PostgreSQL
   * backend keeps reconnecting and becomes ready when its server is back) or ERR_STORE_CLOSED
   * when closed first. Ignoring it is safe (the rejection is handled).
   */
  ready: Promise<void>;
  /** Waits for writes in flight, closes the backend, and resolves when the actor is `closed`. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens an app's store: the backend, the store actor, and the Store over
 * them. The actor's state changes are logged on `log` (a loss as a warning).
 * @example
 * const { store, ready, close } = openStore({ backend: 'file', folder: join(stateDir, 'store'), namespace: 'thumbnails' }, log);
 * await ready;
 * await store.update('count', (n = 0) => n + 1);
 * await close();
 */
export function openStore(options: StoreOptions, log?: Logger, extra: StoreActorOptions = {}): OpenedStore {
  const backend: StoreBackend =
    options.backend === 'file'
      ? new FileBackend(options)
      : options.backend === 'redis'
        ? new RedisBackend(options)
        : new PostgresBackend(options);
  return openStoreOn(backend, options, log, extra);
}

/** How the store actor is created. */
export interface StoreActorOptions {
  /** xstate's `inspect` observer for the store actor (the inspector's). @default none */
  inspect?: ((event: InspectionEvent) => void) | undefined;
}

/** The same over a backend built elsewhere (a custom one, or one a test holds on to). */
export function openStoreOn(backend: StoreBackend, options: BackendStoreOptions, log?: Logger, extra: StoreActorOptions = {}): OpenedStore {
  const actor = extra.inspect ? createActor(createStoreLogic(backend), { inspect: extra.inspect }).start() : createStoreActor(backend);
  const store = new BackendStore(backend, actor, options);
  const logger = log?.child({ store: options.namespace, backend: backend.kind });
  let last: string | undefined;
  actor.subscribe((snapshot) => {
    const state = String(snapshot.value);
    if (state === last) return;
    const previous = last;
    last = state;
    if (!logger) return;
    if (state === 'ready') logger.info({ where: backend.where }, previous === 'failed' ? 'store available again' : 'store ready');
    else if (state === 'failed')
      logger.warn(
        { where: backend.where, error: snapshot.context.error },
        `store unavailable: ${snapshot.context.error?.message ?? 'unknown error'}`,
      );
    else if (state === 'closed') logger.debug('store closed');
  });
  const ready = waitFor(actor, (s) => s.value !== 'opening').then((snapshot) => {
    if (snapshot.value === 'ready') return;
    if (snapshot.value === 'failed')
      throw new StoreError(
        'ERR_STORE_UNAVAILABLE',
        snapshot.context.error?.message ?? `Store "${options.namespace}" could not open ${backend.kind} at ${backend.where}`,
      );
    throw new StoreError('ERR_STORE_CLOSED', `Store "${options.namespace}" was closed before it was ready`);
  });
  ready.catch(() => {});
  const close = async () => {
    if (actor.getSnapshot().status === 'active') actor.send({ type: 'store.close' });
    await waitFor(actor, (s) => s.status !== 'active');
  };
  const ping = backend.ping ? (signal?: AbortSignal) => store.ping(signal) : undefined;
  return { store, actor, backend, ping, ready, close };
}
