import { createRequire } from 'node:module';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ApiRequest, ApiResponse, RequestOptions, RestClient } from '../../src/kernel/api-client.js';
import { toErrorInfo, type ErrorInfo } from '../../src/kernel/error-info.js';
import { FlowdError } from '../../src/kernel/errors.js';
import { retryOnConflict } from '../../src/kernel/retry-on-conflict.js';
import { importModule } from '../import-module.js';
import type { LockHandle } from '../locks/lock-api.js';
import type { Store, Versioned } from '../stores/store-api.js';
import type { FromThread, LogLevel, ThreadCall, ThreadData, ToThread } from './thread-protocol.js';
import { describeValue, toRunner, type ConfigureContext, type Runner, type WorkerContext } from './worker.js';

/**
 * The worker thread of one slot (`[Flow] isolation = thread`): loads the
 * worker's module, runs its configure() once, then runs one event at a time
 * as the main thread sends them. ctx.log, ctx.store, ctx.lock,
 * ctx.withLock, ctx.client and ctx.publish are calls to the main thread;
 * ctx.client.createOrUpdate (which takes functions) is not available
 * here. The main thread terminates the thread past the execution timeout,
 * so the run's signal never fires inside it.
 */

const port = parentPort!;
const data = workerData as ThreadData;
const send = (message: FromThread) => port.postMessage(message);

const calls = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
let nextCall = 0;

function call<T>(request: ThreadCall): Promise<T> {
  const id = nextCall++;
  return new Promise<T>((resolve, reject) => {
    calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
    try {
      send({ type: 'call', call: id, ...request });
    } catch (error) {
      calls.delete(id);
      reject(new FlowdError('ERR_INVALID_ARGUMENT', `${request.method}() under isolation = thread: ${cloneFailure(error)}`));
    }
  });
}

function cloneFailure(error: unknown): string {
  return `its arguments cannot cross to the main thread as a structured clone (${(error as Error).message}); functions, class instances' methods and symbols cannot cross`;
}

function unavailable(what: string): FlowdError {
  return new FlowdError(
    'ERR_CONFIG',
    `${what} is not available under [Flow] isolation = thread: a function cannot cross to the main thread; use get/put/post/delete/request, or isolation = process`,
  );
}

const store: Store = {
  get: <T>(key: string) => call<T | undefined>({ method: 'store.get', args: [key] }),
  getVersioned: <T>(key: string) => call<Versioned<T>>({ method: 'store.getVersioned', args: [key] }),
  put: <T>(key: string, value: T, options?: { ifVersion?: number; fence?: number }) =>
    call<Versioned<T>>({ method: 'store.put', args: [key, value, ...(options ? [options] : [])] as [string, unknown] }),
  delete: (key: string, options?: { ifVersion?: number; fence?: number }) =>
    call<boolean>({ method: 'store.delete', args: [key, ...(options ? [options] : [])] as [string] }),
  // fn runs here, in the thread: a read and a compare-and-set write, retried on conflict.
  update: <T>(key: string, fn: (current: T | undefined) => T | Promise<T>, options: { maxRetries?: number } = {}) =>
    retryOnConflict(
      async () => {
        const current = await store.getVersioned<T>(key);
        return store.put(key, await fn(current.value), { ifVersion: current.version });
      },
      { maxRetries: options.maxRetries ?? 10 },
    ),
};

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** A logger whose lines are written by the main thread's logger, with these bindings. */
function threadLogger(bindings: Record<string, unknown>): Logger {
  const logger: Record<string, unknown> = {
    child: (more: Record<string, unknown>) => threadLogger({ ...bindings, ...more }),
    bindings: () => bindings,
    level: 'trace',
    isLevelEnabled: () => true,
  };
  for (const level of LEVELS) {
    logger[level] = (...args: unknown[]) => {
      try {
        send({ type: 'log', level, bindings, args });
      } catch {
        // Something in the line cannot be cloned: send it as text.
        send({ type: 'log', level, bindings, args: args.map((arg) => (typeof arg === 'string' ? arg : describeValue(arg))) });
      }
    };
  }
  return logger as unknown as Logger;
}

const heldLocks = new Map<number, AbortController>();

/** A lock held in the main thread, as a handle here: renew and release are calls; its signal fires when the main thread loses it. */
async function lockHere(
  key: string,
  options: { lease?: number; autoRenew?: boolean } | undefined,
  hold: 'lock' | 'withLock',
): Promise<LockHandle> {
  const { lease, autoRenew } = options ?? {};
  const held = await call<{ id: number; key: string; fence: number }>({
    method: 'lock.acquire',
    args: [key, { ...(lease !== undefined ? { lease } : {}), ...(autoRenew !== undefined ? { autoRenew } : {}), hold }],
  });
  const controller = new AbortController();
  heldLocks.set(held.id, controller);
  const release = async () => {
    if (!heldLocks.delete(held.id)) return;
    await call<void>({ method: 'lock.release', args: [held.id] });
  };
  return {
    key: held.key,
    fence: held.fence,
    signal: controller.signal,
    renew: () => call<void>({ method: 'lock.renew', args: [held.id] }),
    release,
    [Symbol.asyncDispose]: release,
  };
}

async function withLockHere<T>(
  key: string,
  fn: (lock: LockHandle) => T | Promise<T>,
  options?: { lease?: number; autoRenew?: boolean },
): Promise<T> {
  const lock = await lockHere(key, options, 'withLock');
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

/** ctx.client: its request methods are calls to the main thread's client; what takes a function cannot cross. */
function threadClient(origin: string | undefined): RestClient {
  if (origin === undefined) throw new FlowdError('ERR_CONFIG', 'ctx.client needs an [Api] section (hostname, username, password)');
  const request = <T>({ signal: _signal, ...req }: ApiRequest) => call<ApiResponse<T>>({ method: 'client.request', args: [req] });
  const strip = (options: RequestOptions | undefined): Omit<RequestOptions, 'signal'> => {
    const { signal: _signal, ...rest } = options ?? {};
    return rest;
  };
  return {
    origin,
    get: (path, options) => request({ method: 'GET', path, ...strip(options) }),
    delete: (path, options) => request({ method: 'DELETE', path, ...strip(options) }),
    put: (path, body, options) => request({ method: 'PUT', path, body, ...strip(options) }),
    post: (path, body, options) => request({ method: 'POST', path, body, ...strip(options) }),
    request,
    createOrUpdate: () => Promise.reject(unavailable('ctx.client.createOrUpdate() (its payload and compare are functions)')),
    close: async () => {},
  };
}

/** Adds the services to a ctx: the store, locks and client by message passing (the client a getter: only its use fails without [Api]). */
function withServices<T extends object>(ctx: T): T & Pick<ConfigureContext, 'store' | 'lock' | 'withLock' | 'client'> {
  return Object.defineProperties(ctx, {
    store: { value: store, enumerable: true },
    lock: { value: (key: string, options?: { lease?: number }) => lockHere(key, options, 'lock'), enumerable: true },
    withLock: { value: withLockHere, enumerable: true },
    client: {
      get: () => threadClient(data.apiOrigin),
      enumerable: true,
    },
  }) as T & Pick<ConfigureContext, 'store' | 'lock' | 'withLock' | 'client'>;
}

async function loadRunner(): Promise<Runner> {
  const { file, exportName } = data;
  let module: Record<string, unknown>;
  if (/\.[cm]?ts$/.test(file)) {
    // Node 20 does not run module hooks in worker threads: TypeScript loads through tsx's require hooks.
    const tsx = createRequire(import.meta.url)('tsx/cjs/api') as { require(id: string, from: string): unknown };
    const exports = tsx.require(file, import.meta.url) as Record<string, unknown>;
    module = { ...exports };
    delete module.__esModule;
  } else {
    module = await importModule(file);
  }
  const name = exportName ?? 'default';
  const runner = toRunner(module[name], exportName ?? path.basename(file, path.extname(file)));
  if (!runner)
    throw new FlowdError(
      'ERR_WORKER_LOAD',
      `export "${name}" of ${path.basename(file)} is ${describeValue(module[name])} in the worker thread`,
    );
  return runner;
}

const never = new AbortController().signal;

function runContext(message: Extract<ToThread, { type: 'run' }>, log: Logger): WorkerContext {
  const ctx: WorkerContext = withServices<Omit<WorkerContext, 'store' | 'lock' | 'withLock' | 'client'>>({
    signal: never,
    log: log.child({ event: message.id, attempt: message.attempt }),
    attempt: message.attempt,
    id: message.id,
    meta: message.meta,
    app: data.app,
    config: data.config,
    publish: (destination, body, headers) =>
      call<void>({ method: 'publish', args: [destination, body, ...(headers ? [headers] : [])] as [string, string] }),
  });
  return ctx;
}

function errorInfo(error: unknown): ErrorInfo {
  return toErrorInfo(error);
}

async function main(): Promise<void> {
  const log = threadLogger({});
  let runner: Runner;
  try {
    runner = await loadRunner();
    const ctx: ConfigureContext = withServices({ log, app: data.app, config: data.config });
    await runner.configure(ctx);
  } catch (error) {
    send({ type: 'configureFailed', error: errorInfo(error) });
    return;
  }
  port.on('message', (message: ToThread) => {
    if (message.type === 'lockLost') {
      heldLocks.get(message.id)?.abort(new FlowdError(message.error.code as never, message.error.message));
      heldLocks.delete(message.id);
      return;
    }
    if (message.type === 'reply') {
      const pending = calls.get(message.call);
      calls.delete(message.call);
      if (message.ok) pending?.resolve(message.value);
      else pending?.reject(new FlowdError(message.error.code as never, message.error.message));
      return;
    }
    void Promise.resolve()
      .then(() => runner.run(message.event, runContext(message, log)))
      .then(
        (output) => {
          try {
            send({ type: 'done', output });
          } catch (error) {
            send({
              type: 'failed',
              error: {
                code: 'ERR_WORKER_FAILED',
                message: `the worker's result cannot cross back from its thread as a structured clone (${(error as Error).message}); return plain data (no functions, symbols or class instances' methods)`,
              },
            });
          }
        },
        (error: unknown) => send({ type: 'failed', error: errorInfo(error) }),
      );
  });
  send({ type: 'ready' });
}

void main();
