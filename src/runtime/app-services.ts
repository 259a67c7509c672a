import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { LoggingStore } from '../../actors/stores/store-api.js';
import type { Locks } from '../../actors/locks/lock-api.js';
// The store and lock modules (ioredis, pg, proper-lockfile) load on first use: an app without them pays nothing.
import type { ClosableLocks, LockBackendOptions } from '../../actors/locks/locks.js';
import type { OpenedStore, StoreOptions } from '../../actors/stores/store.js';
import { FlowdError, LockError, StoreError, type ConfigError } from '../kernel/errors.js';
import type { Dependency, PingResult } from '../../machines/outage.js';
import { createClient, type ApiClient } from '../toolkit/client.js';
import type { ApiSettings } from '../config/api-settings.js';
import type { LockSettings } from '../config/lock-settings.js';
import type { StoreSettings } from '../config/store-settings.js';

/** The app's `[Store]`, `[Lock]` and `[Api]` sections, compiled. */
export interface ServiceSettings {
  store: StoreSettings;
  lock: LockSettings;
  /** Undefined without an `[Api]` (or `[Viz One]`) section, or without its `hostname`. */
  api: ApiSettings | undefined;
  /** A section without `hostname` (as the seed's `[Viz One] use https = no`): what `ctx.client` throws, naming the key. */
  apiMissing?: ConfigError | undefined;
}

/** What the slots hand to every run's ctx: the app's store, locks and API client. */
export interface AppServices {
  readonly store: LoggingStore;
  readonly locks: Locks;
  /** The locks' lease (`[Lock] lease`), for holders that renew it. */
  readonly leaseMs: number;
  /** `[Lock] backend`: local locks hold within this process only. */
  readonly lockBackend: 'local' | 'redis';
  /** Throws ERR_CONFIG when the app has no `[Api]` section. */
  readonly client: ApiClient;
  /** Opens what must be up before work starts (a Redis or PostgreSQL store, Redis locks); rejects when it cannot. */
  open(): Promise<void>;
  /** Closes the store, the locks and the client; safe to call more than once. */
  close(): Promise<void>;
  /**
   * The health check of the store or the locks (see `Pingable`): `up` when
   * it answers, `unsupported` when it has none (a custom store backend) or
   * was never opened (so the error came from elsewhere);
   * rejects with ERR_STORE_UNAVAILABLE / ERR_LOCK_UNAVAILABLE while it is
   * down. The runtime pings them while they are down, instead of running a
   * worker.
   */
  ping?(dependency: Dependency, signal?: AbortSignal): Promise<PingResult>;
  /** Store and lock actors created from now on report to this observer (the inspector's). */
  inspect?(observer: InspectionObserver | undefined): void;
}

/** xstate's `inspect` option, as the inspector passes it. */
export type InspectionObserver = (event: InspectionEvent) => void;

/** Options of createAppServices. */
export interface AppServicesOptions {
  /** The inspector's observer for the store and lock actors (see `AppServices.inspect`). @default none */
  inspect?: InspectionObserver | undefined;
}

/**
 * Makes the app's services. The file store opens on first use, so an app
 * that never stores anything leaves no folder behind; Redis and PostgreSQL
 * connect at start, so a wrong URL shows at once.
 */
export function createAppServices(settings: ServiceSettings, appName: string, log: Logger, options: AppServicesOptions = {}): AppServices {
  let inspect = options.inspect;
  let opened: Promise<OpenedStore> | undefined;
  // After close(), nothing comes back to life: an abandoned run or a background task gets a clear error instead.
  const ifOpen = () => {
    if (closed) throw new StoreError('ERR_STORE_CLOSED', `the store of app "${appName}" was closed when its run ended`);
  };
  const openOnce = (): Promise<OpenedStore> => {
    ifOpen();
    return (opened ??= import('../../actors/stores/store.js').then(({ openStore }) =>
      openStore(toStoreOptions(settings.store, appName), log, inspect ? { inspect } : {}),
    ));
  };
  let locks: Promise<ClosableLocks> | undefined;
  const locksOnce = (): Promise<ClosableLocks> => {
    if (closed) throw new LockError('ERR_LOCK_UNAVAILABLE', `the locks of app "${appName}" were closed when its run ended`);
    return (locks ??= import('../../actors/locks/locks.js').then(({ createLocks }) =>
      createLocks(toLockOptions(settings.lock, appName), { leaseMs: settings.lock.leaseMs, ...(inspect ? { inspect } : {}) }),
    ));
  };
  let client: ApiClient | undefined;
  let closed: Promise<void> | undefined;

  const store: LoggingStore = {
    logs: {
      append: async (key, values, options) => (await openOnce()).store.logs.append(key, values, options),
      read: async <T>(key: string, from?: number) => (await openOnce()).store.logs.read<T>(key, from),
    },
    get: async (key) => (await openOnce()).store.get(key),
    getVersioned: async (key) => (await openOnce()).store.getVersioned(key),
    put: async (key, value, options) => (await openOnce()).store.put(key, value, options),
    delete: async (key, options) => (await openOnce()).store.delete(key, options),
    update: async (key, fn, options) => (await openOnce()).store.update(key, fn, options),
  };
  const lockApi: Locks = {
    lock: async (key, options) => (await locksOnce()).lock(key, options),
    withLock: async (key, fn, options) => (await locksOnce()).withLock(key, fn, options),
  };

  return {
    store,
    locks: lockApi,
    leaseMs: settings.lock.leaseMs,
    lockBackend: settings.lock.backend,
    get client(): ApiClient {
      if (settings.apiMissing) throw settings.apiMissing;
      if (!settings.api)
        throw new FlowdError(
          'ERR_CONFIG',
          "ctx.client needs an [Api] (or [Viz One]) section in the app's INI file, or createRuntime({ api: { hostname, ... } })",
        );
      if (closed && !client) throw new FlowdError('ERR_HTTP', `the API client of app "${appName}" was closed when its run ended`);
      return (client ??= createClient(settings.api, { log }));
    },
    async open() {
      if (settings.store.backend !== 'file') await (await openOnce()).ready;
      if (settings.lock.backend === 'redis') await locksOnce();
    },
    async ping(dependency, signal) {
      // Never opened: the error came from something else (a store of the worker's own), which no ping here can see.
      if (dependency === 'lock') {
        if (!locks) return 'unsupported';
        await (await locksOnce()).ping(signal);
        return 'up';
      }
      if (!opened) return 'unsupported';
      const store = await openOnce();
      if (!store.ping) return 'unsupported';
      await store.ping(signal);
      return 'up';
    },
    inspect(observer) {
      inspect = observer;
    },
    close() {
      return (closed ??= (async () => {
        await Promise.allSettled([opened?.then((store) => store.close()), locks?.then((held) => held.close()), client?.close()]);
      })());
    },
  };
}

function toStoreOptions(settings: StoreSettings, namespace: string): StoreOptions {
  switch (settings.backend) {
    case 'redis':
      return { backend: 'redis', url: settings.url, namespace, ...(settings.prefix ? { prefix: settings.prefix } : {}) };
    case 'postgres':
      return {
        backend: 'postgres',
        url: settings.url,
        namespace,
        table: settings.table,
        queryTimeoutMs: settings.queryTimeoutMs,
        maxConnections: settings.poolSize,
      };
    case 'file':
      return { backend: 'file', folder: settings.folder, namespace };
  }
}

function toLockOptions(settings: LockSettings, namespace: string): LockBackendOptions {
  return settings.backend === 'redis'
    ? { backend: 'redis', url: settings.url!, namespace, ...(settings.prefix ? { prefix: settings.prefix } : {}) }
    : { backend: 'local' };
}
