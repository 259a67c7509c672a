import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { toErrorInfo, type ErrorInfo } from '../../src/kernel/error-info.js';
import { FlowdError, WorkerConfigureError, type ErrorCode } from '../../src/kernel/errors.js';
import type { FromThread, ThreadCall, ThreadData, ToThread } from './thread-protocol.js';
import type { LockHandle } from '../locks/lock-api.js';
import type { ConfigureContext, Runner, WorkerContext } from './worker.js';

/** The worker's module, which each thread loads: `[Flow] class`, or createRuntime's `workerModule`. */
export interface ThreadModule {
  /** Absolute path of the module. */
  file: string;
  /** Its export; undefined for the default export. */
  exportName: string | undefined;
}

/** A Runner whose runs happen in worker threads it can terminate. */
export interface ThreadRunner extends Runner {
  /** Always true: the slots go to `terminating` on an abort. */
  readonly terminable: true;
  /** Terminates every thread (the runtime calls it when the run ends). */
  close(): Promise<void>;
}

const here = import.meta.url;
// Run from the TypeScript sources (tests), the thread's entry is TypeScript too: a bootstrap loads it through tsx.
const fromSources = here.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(fromSources ? './thread-entry.ts' : './thread-entry.js', here));
const BOOT = new URL(
  `data:text/javascript,${encodeURIComponent(
    "import { createRequire } from 'node:module'; import { workerData } from 'node:worker_threads';" +
      "createRequire(workerData.boot.from)('tsx/cjs/api').require(workerData.boot.entry, workerData.boot.from);",
  )}`,
);

function rebuild(error: ErrorInfo): FlowdError {
  return new FlowdError(error.code as ErrorCode, error.message);
}

/** One thread and the run it is doing. */
interface Thread {
  worker: Worker;
  run: { ctx: WorkerContext; resolve(value: unknown): void; reject(error: unknown): void } | undefined;
  /** The locks the thread holds, by the id it knows them by; `done` ends a withLock hold. */
  locks: Map<number, { handle: LockHandle; done?: () => void }>;
}

let nextLock = 0;

/** Releases what a thread still holds (it was terminated, or it ended). */
function releaseLocks(thread: Thread): void {
  for (const { handle, done } of thread.locks.values()) {
    if (done) done();
    else handle.release().catch(() => {});
  }
  thread.locks.clear();
}

/**
 * Runs `base`'s worker in `node:worker_threads` Workers, one at a time per
 * thread: a pool of threads reused between events, each configured once
 * (its worker's configure() runs in the thread). When a run's signal fires
 * (the execution timeout, shutdown) its thread is terminated, and the run
 * rejects with the signal's reason once the thread is gone; the next run
 * gets a fresh thread. `base` (loaded in the main thread) gives the name,
 * `static SOURCE` and checkConfig.
 */
export function toThreadRunner(base: Runner, module: ThreadModule, options: { threads: number }): ThreadRunner {
  const idle: Thread[] = [];
  // Fresh threads on their way (after a termination): a run waits for one rather than paying a thread's start-up itself.
  const coming: Array<Promise<Thread | undefined>> = [];
  const all = new Set<Thread>();
  let configureCtx: ConfigureContext | undefined;
  let closed = false;

  const serve = (thread: Thread, message: Extract<FromThread, { type: 'call' }>) => {
    const ctx = thread.run?.ctx ?? configureCtx!;
    const reply = (m: ToThread) => {
      if (all.has(thread)) thread.worker.postMessage(m);
    };
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(perform(ctx, message, thread));
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => {
        try {
          reply({ type: 'reply', call: message.call, ok: true, value });
        } catch (error) {
          reply({ type: 'reply', call: message.call, ok: false, error: toErrorInfo(error) });
        }
      },
      (error: unknown) => reply({ type: 'reply', call: message.call, ok: false, error: toErrorInfo(error) }),
    );
  };

  const spawn = (): Promise<Thread> => {
    const ctx = configureCtx;
    if (!ctx) return Promise.reject(new FlowdError('ERR_INVALID_STATE', `worker "${base.name}" runs in threads: configure() first`));
    const workerData: ThreadData & { boot?: { entry: string; from: string } } = {
      file: module.file,
      exportName: module.exportName,
      app: ctx.app,
      config: ctx.config,
      apiOrigin: apiOrigin(ctx),
      ...(fromSources ? { boot: { entry: ENTRY, from: here } } : {}),
    };
    const worker = new Worker(fromSources ? BOOT : ENTRY, { workerData });
    const thread: Thread = { worker, run: undefined, locks: new Map() };
    all.add(thread);
    return new Promise<Thread>((resolve, reject) => {
      let ready = false;
      const gone = (error: Error) => {
        all.delete(thread);
        releaseLocks(thread);
        const at = idle.indexOf(thread);
        if (at >= 0) idle.splice(at, 1);
        if (!ready) reject(new WorkerConfigureError(`worker "${base.name}" in its thread: ${error.message}`, { cause: error }));
        const run = thread.run;
        thread.run = undefined;
        run?.reject(new FlowdError('ERR_WORKER_FAILED', `the worker's thread ended: ${error.message}`, { cause: error }));
      };
      worker.on('error', gone);
      worker.on('exit', (code) => gone(new Error(`it exited with code ${code}`)));
      worker.on('message', (message: FromThread) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            resolve(thread);
            return;
          case 'configureFailed':
            all.delete(thread);
            reject(new WorkerConfigureError(`worker "${base.name}": configure() failed in its thread: ${message.error.message}`));
            void worker.terminate();
            return;
          case 'log': {
            const log = (thread.run?.ctx.log ?? ctx.log).child(message.bindings) as unknown as Record<string, (...args: unknown[]) => void>;
            log[message.level]!(...message.args);
            return;
          }
          case 'call':
            serve(thread, message);
            return;
          case 'done':
          case 'failed': {
            // A result that was on its way when the run was aborted: the thread is being terminated, never reused.
            if (!all.has(thread)) return;
            const run = thread.run;
            thread.run = undefined;
            if (closed) void worker.terminate();
            else idle.push(thread);
            if (message.type === 'done') run?.resolve(message.output);
            else run?.reject(rebuild(message.error));
            return;
          }
        }
      });
    });
  };

  /** A fresh thread in the background, to replace a terminated one. */
  const replace = () => {
    const next = spawn().then(
      (thread) => {
        void coming.splice(coming.indexOf(next), 1);
        if (closed) void thread.worker.terminate();
        else idle.push(thread);
        return thread;
      },
      (error: unknown) => {
        void coming.splice(coming.indexOf(next), 1);
        // Terminated by close() before it was up: nothing to say.
        if (!closed)
          configureCtx?.log.error({ err: error }, `worker "${base.name}": a fresh thread failed to start: ${(error as Error).message}`);
        return undefined;
      },
    );
    coming.push(next);
  };

  const take = async (): Promise<Thread> => {
    const ready = idle.pop();
    if (ready) return ready;
    if (coming.length > 0) {
      await Promise.race(coming);
      const thread = idle.pop();
      if (thread) return thread;
    }
    return spawn();
  };

  const run = async (event: unknown, ctx: WorkerContext): Promise<unknown> => {
    const { signal } = ctx;
    const thread = await take();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        // The run ends only once its thread is gone: nothing of it can overlap what comes next.
        thread.run = undefined;
        all.delete(thread);
        releaseLocks(thread);
        const reason: unknown = signal.reason;
        if (!closed) replace();
        thread.worker.terminate().then(
          () => reject(reason),
          () => reject(reason),
        );
      };
      thread.run = {
        ctx,
        resolve: (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        thread.worker.postMessage({ type: 'run', event, id: ctx.id, attempt: ctx.attempt, meta: { ...ctx.meta } } satisfies ToThread);
      } catch (error) {
        thread.run = undefined;
        signal.removeEventListener('abort', onAbort);
        idle.push(thread);
        reject(
          new FlowdError(
            'ERR_PAYLOAD',
            `event ${ctx.id} cannot cross to the worker's thread as a structured clone (${(error as Error).message}); under isolation = thread an event is plain data (no functions or symbols)`,
          ),
        );
      }
    });
  };

  return {
    name: base.name,
    source: base.source,
    ...(base.check ? { check: base.check } : {}),
    terminable: true,
    async configure(ctx) {
      configureCtx = ctx;
      // A thread a slot, each configured at start-up: a failing configure() stops the app before any event.
      const threads = await Promise.allSettled(Array.from({ length: Math.max(1, options.threads) }, () => spawn()));
      const failed = threads.find((t): t is PromiseRejectedResult => t.status === 'rejected');
      for (const t of threads) if (t.status === 'fulfilled') idle.push(t.value);
      if (failed) {
        await this.close!();
        throw failed.reason;
      }
    },
    run,
    async close() {
      closed = true;
      const threads = [...all];
      all.clear();
      idle.length = 0;
      await Promise.allSettled(threads.map((thread) => thread.worker.terminate()));
    },
  };
}

function apiOrigin(ctx: ConfigureContext): string | undefined {
  try {
    return ctx.client.origin;
  } catch {
    return undefined;
  }
}

/** Takes a lock for a thread: held until it says release (with `withLock`, renewed meanwhile as withLock does). */
function acquire(
  ctx: ConfigureContext,
  thread: Thread,
  key: string,
  options: { lease?: number; autoRenew?: boolean; hold: 'lock' | 'withLock' },
) {
  const id = nextLock++;
  const { hold, ...rest } = options;
  const described = (handle: LockHandle) => {
    handle.signal.addEventListener(
      'abort',
      () => {
        if (thread.locks.has(id))
          thread.worker.postMessage({ type: 'lockLost', id, error: toErrorInfo(handle.signal.reason) } satisfies ToThread);
      },
      { once: true },
    );
    return { id, key: handle.key, fence: handle.fence };
  };
  if (hold === 'lock')
    return ctx.lock(key, rest).then((handle) => {
      thread.locks.set(id, { handle });
      return described(handle);
    });
  return new Promise((resolve, reject) => {
    ctx
      .withLock(
        key,
        (handle) =>
          new Promise<void>((done) => {
            thread.locks.set(id, { handle, done });
            resolve(described(handle));
          }),
        rest,
      )
      .catch(reject);
  });
}

/** A thread's call, performed with the run's (or configure()'s) services in the main thread. */
function perform(ctx: ConfigureContext | WorkerContext, message: ThreadCall, thread: Thread): unknown {
  switch (message.method) {
    case 'lock.acquire':
      return acquire(ctx, thread, ...message.args);
    case 'lock.renew':
    case 'lock.release': {
      const held = thread.locks.get(message.args[0]);
      if (!held) throw new FlowdError('ERR_LOCK_LOST', 'the lock was already released');
      if (message.method === 'lock.renew') return held.handle.renew();
      thread.locks.delete(message.args[0]);
      if (held.done) return held.done();
      return held.handle.release();
    }
    case 'client.request':
      return ctx.client.request(message.args[0]).then(({ status, headers, body, text, etag }) => ({ status, headers, body, text, etag }));
    case 'store.get':
      return ctx.store.get(message.args[0]);
    case 'store.getVersioned':
      return ctx.store.getVersioned(message.args[0]);
    case 'store.put':
      return ctx.store.put(...message.args);
    case 'store.delete':
      return ctx.store.delete(...message.args);
    case 'publish': {
      const publish = (ctx as Partial<WorkerContext>).publish;
      if (!publish) throw new FlowdError('ERR_NO_PUBLISH', 'ctx.publish() is available in start(), not in configure()');
      return publish.call(ctx, ...message.args);
    }
  }
}

/** Whether a runner runs its worker in threads it can terminate. */
export function isTerminable(runner: Runner): boolean {
  return (runner as Partial<ThreadRunner>).terminable === true;
}
