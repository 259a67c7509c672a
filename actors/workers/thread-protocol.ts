import type { ApiRequest } from '../../src/kernel/api-client.js';
import type { ErrorInfo } from '../../src/kernel/error-info.js';
import type { AppInfo, AppSections } from './worker.js';

/**
 * The messages between a slot's runner in the main thread and the worker it
 * runs in a `node:worker_threads` Worker (`[Flow] isolation = thread`).
 * Everything in them crosses as a structured clone.
 */

/** What a worker thread is started with (its `workerData`). */
export interface ThreadData {
  /** The worker's module, absolute. */
  file: string;
  /** Its export; undefined for the default export. */
  exportName: string | undefined;
  app: AppInfo;
  config: AppSections;
  /** `[Api]`'s origin; undefined without an `[Api]` section (ctx.client then fails as in the main thread). */
  apiOrigin: string | undefined;
}

/** The main thread to a worker thread. */
export type ToThread =
  | { type: 'run'; event: unknown; id: string; attempt: number; meta: Record<string, unknown> }
  | { type: 'reply'; call: number; ok: true; value: unknown }
  | { type: 'reply'; call: number; ok: false; error: ErrorInfo }
  | { type: 'lockLost'; id: number; error: ErrorInfo };

/** The services a worker thread calls in the main thread. */
export type ThreadCall =
  | { method: 'store.get' | 'store.getVersioned'; args: [key: string] }
  | { method: 'store.put'; args: [key: string, value: unknown, options?: { ifVersion?: number; fence?: number }] }
  | { method: 'store.delete'; args: [key: string, options?: { ifVersion?: number; fence?: number }] }
  | { method: 'lock.acquire'; args: [key: string, options: { lease?: number; autoRenew?: boolean; hold: 'lock' | 'withLock' }] }
  | { method: 'lock.renew' | 'lock.release'; args: [id: number] }
  | { method: 'client.request'; args: [request: Omit<ApiRequest, 'signal'>] }
  | {
      method: 'publish';
      args: [destination: string, body: string | Uint8Array | object, headers?: Record<string, string | number | boolean>];
    };

/** A worker thread to the main thread. */
export type FromThread =
  | { type: 'ready' }
  | { type: 'configureFailed'; error: ErrorInfo }
  | { type: 'done'; output: unknown }
  | { type: 'failed'; error: ErrorInfo }
  | ({ type: 'call'; call: number } & ThreadCall)
  | { type: 'log'; level: LogLevel; bindings: Record<string, unknown>; args: unknown[] };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
