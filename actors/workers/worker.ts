import type { Logger } from 'pino';
import { createActor, type ActorOptions, type AnyActorLogic, type InspectionEvent } from 'xstate';
// Type-only: the client is a helper of src/; nothing of src/ is loaded from here at run time.
import type { RestClient } from '../../src/kernel/api-client.js';
import type { LockHandle, LockOptions, Locks, WithLockOptions } from '../locks/lock-api.js';
import type { Store } from '../stores/store-api.js';
import { FlowdError } from '../../src/kernel/errors.js';

/** What the app knows about itself. */
export interface AppInfo {
  /** `[Flow] app name` (default: the INI file's base name). */
  name: string;
  /** The folder of the INI file (or the working directory when embedded). */
  dir: string;
  /** Where the app keeps its state (`[Flow] state dir`). */
  stateDir: string;
}

/** The app's own INI sections (those the runtime does not own), key -> raw value. */
export type AppSections = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** The app's store, locks and API client, as the runtime made them. */
export interface WorkerServices {
  readonly store: Store;
  readonly locks: Locks;
  /** Throws ERR_CONFIG when the app has no `[Api]` section. */
  readonly client: RestClient;
}

/** Handed to `configure()` once at start-up. */
export interface ConfigureContext {
  log: Logger;
  app: AppInfo;
  config: AppSections;
  /**
   * The app's store (`[Store]`): one namespace per app, JSON values,
   * versions for compare-and-set.
   * @example await ctx.store.update('count', (n = 0) => n + 1);
   */
  readonly store: Store;
  /**
   * Waits for the lock on `key` (`[Lock]`) and returns it held; inside a
   * worker the wait ends with the event's signal.
   * @example await using lock = await ctx.lock(`asset-${event.id}`);
   */
  lock(key: string, options?: LockOptions): Promise<LockHandle>;
  /** Runs `fn` holding the lock on `key`, renewing its lease, and releases it after. */
  withLock<T>(key: string, fn: (lock: LockHandle) => T | Promise<T>, options?: WithLockOptions): Promise<T>;
  /** The REST client of the `[Api]` section (`[Viz One]` in Flow's spelling). Throws ERR_CONFIG without one. */
  readonly client: RestClient;
}

/** Handed to `start(event, ctx)` with every event. */
export interface WorkerContext extends ConfigureContext {
  /** Fires on the execution timeout and on shutdown: stop and clean up. */
  signal: AbortSignal;
  /** A child logger carrying the event id. */
  log: Logger;
  /** 1 for the first try, then 2, 3, ... with `[Flow] retries`. */
  attempt: number;
  /** The source's id for the event. */
  id: string;
  /** Source-specific facts (a stomp message's `redelivered` flag, a line number, ...). */
  meta: Readonly<Record<string, unknown>>;
  /**
   * Sends a message through the source's connection (a stomp source), as a
   * persistent message; resolves once the broker confirmed it with a receipt.
   * Rejects with ERR_NO_PUBLISH when the source cannot publish.
   * @example await ctx.publish('/queue/thumbnails.done', { id: event.body.id });
   */
  publish(destination: string, body: string | Uint8Array | object, headers?: Record<string, string | number | boolean>): Promise<void>;
}

/** A worker written as an object. */
export interface WorkerDefinition<E = unknown, R = unknown> {
  /** Shown in logs and errors. */
  name?: string;
  /** Runs once at start-up; a failure stops the app (exit 1). */
  configure?(ctx: ConfigureContext): void | Promise<void>;
  /** Runs for each event; the returned value is the event's result. */
  start(event: E, ctx: WorkerContext): R | Promise<R>;
}

const WORKER = Symbol.for('flowd.worker');

/**
 * Defines a worker.
 * @example
 * export default defineWorker({
 *   async start(event, ctx) { ctx.log.info({ event }, 'got one'); },
 * });
 */
export function defineWorker<E = unknown, R = unknown>(definition: WorkerDefinition<E, R>): WorkerDefinition<E, R> {
  if (typeof definition?.start !== 'function')
    throw new FlowdError('ERR_INVALID_ARGUMENT', 'defineWorker() needs an object with a start(event, ctx) function');
  // Methods may live on a prototype (an instance of a class): bind them, do not copy own properties only.
  const worker: WorkerDefinition<E, R> & { [WORKER]: true } = { start: definition.start.bind(definition), [WORKER]: true };
  if (definition.name !== undefined) worker.name = definition.name;
  if (typeof definition.configure === 'function') worker.configure = definition.configure.bind(definition);
  return worker;
}

/**
 * A worker class in Flow's style.
 * @example
 * export class Thumbnails extends Flow {
 *   static SOURCE = 'stomp';
 *   async configure() { this.size = Number(this.config.Thumbnails?.size ?? 256); }
 *   async start(event, ctx) { ... }
 * }
 */
export abstract class Flow<E = unknown, R = unknown> {
  /** The source type (or `{ type, ...options }`) used when the INI file names none. */
  static SOURCE?: string | ({ type: string } & Record<string, string | number | boolean>);
  /** The app's logger. */
  log!: Logger;
  /** The app's own INI sections. */
  config!: AppSections;
  app!: AppInfo;
  /** The app's store (Flow's NeedsStore). */
  store!: Store;
  /**
   * The app's locks (Flow's Locked): `await this.locks.withLock(key, fn)`.
   * In `start()`, prefer `ctx.lock` / `ctx.withLock`: their wait ends with
   * the event's signal, while this one waits until the lock is free.
   */
  locks!: Locks;
  /** The app's API client (Flow's NeedsClient); throws ERR_CONFIG without an `[Api]` section. */
  client!: RestClient;
  /** Runs once at start-up. */
  configure?(): void | Promise<void>;
  /** Runs for each event. */
  abstract start(event: E, ctx: WorkerContext): R | Promise<R>;
}

/** How a run of a worker that is actor logic joins the runtime: the inspector's observer for runs, the runtime's clock. */
export interface RunActorSettings {
  inspect?: ((event: InspectionEvent) => void) | undefined;
  clock?: ActorOptions<AnyActorLogic>['clock'];
}

/** Where a slot's run context hands runActorLogic its slot id and the runtime's RunActorSettings. */
export const RUN_ACTOR = Symbol('flowd.runActor');

/** A run context that can say which slot it runs in (the slots' own do). */
interface RunActorSource {
  [RUN_ACTOR]?: { slotId: string; settings: RunActorSettings | undefined };
}

/** Anything flowd accepts as a worker. */
export type WorkerLike = WorkerDefinition<any, any> | (abstract new () => Flow<any, any>) | AnyActorLogic;

/** A worker in the one shape the slots run. */
export interface Runner {
  name: string;
  /** The class's `static SOURCE`, when it has one. */
  source: (typeof Flow)['SOURCE'];
  configure(ctx: ConfigureContext): Promise<void>;
  run(event: unknown, ctx: WorkerContext): unknown;
  /**
   * Checks the app's own sections before anything starts (a class's
   * `static checkConfig(config, app, file)`): `flowd check` and `run` report
   * a bad one as a ConfigError naming the INI file (exit 2).
   */
  check?(config: AppSections, app: AppInfo, file: string, lines?: ReadonlyMap<string, ReadonlyMap<string, number>>): void;
}

/** Whether a value is xstate actor logic (a machine, fromPromise, ...). */
export function isActorLogic(value: unknown): value is AnyActorLogic {
  const v = value as Partial<AnyActorLogic> | null;
  return !!v && typeof v === 'object' && typeof v.transition === 'function' && typeof v.getInitialSnapshot === 'function';
}

function isFlowClass(value: unknown): value is new () => Flow {
  return typeof value === 'function' && typeof (value as { prototype?: { start?: unknown } }).prototype?.start === 'function';
}

/** Describes what was found instead of a worker, for errors. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `a function${value.name ? ` "${value.name}"` : ''} without a start() method`;
  if (typeof value === 'object') return `an object with keys ${Object.keys(value).join(', ') || '(none)'}`;
  return `a ${typeof value}`;
}

/**
 * Turns any worker form into a Runner: a defineWorker object, a Flow-style
 * class (one instance, configured once), or xstate actor logic that takes
 * the event as input and whose output is the result.
 */
export function toRunner(worker: unknown, name: string): Runner | undefined {
  if (isActorLogic(worker)) {
    return {
      name,
      source: undefined,
      configure: async () => {},
      run: (event, ctx) => runActorLogic(worker, event, ctx),
    };
  }
  if (isFlowClass(worker)) {
    const Class = worker;
    let instance: Flow | undefined;
    return {
      name: Class.name || name,
      source: (Class as unknown as typeof Flow).SOURCE,
      ...(typeof (Class as unknown as { checkConfig?: unknown }).checkConfig === 'function'
        ? {
            check: (config: AppSections, app: AppInfo, file: string, lines?: ReadonlyMap<string, ReadonlyMap<string, number>>) =>
              (
                Class as unknown as {
                  checkConfig(c: AppSections, a: AppInfo, f: string, l?: ReadonlyMap<string, ReadonlyMap<string, number>>): void;
                }
              ).checkConfig(config, app, file, lines),
          }
        : {}),
      async configure(ctx) {
        instance = new Class();
        Object.assign(instance, { log: ctx.log, config: ctx.config, app: ctx.app, store: ctx.store });
        // Getters: an app without [Api] only fails if it uses the client.
        Object.defineProperty(instance, 'client', { get: () => ctx.client, configurable: true });
        Object.defineProperty(instance, 'locks', {
          value: { lock: ctx.lock.bind(ctx), withLock: ctx.withLock.bind(ctx) } satisfies Locks,
          configurable: true,
        });
        await instance.configure?.();
      },
      run: (event, ctx) => instance!.start(event, ctx),
    };
  }
  if (worker && typeof worker === 'object' && typeof (worker as WorkerDefinition).start === 'function') {
    const definition = worker as WorkerDefinition;
    return {
      name: definition.name ?? name,
      source: undefined,
      configure: async (ctx) => {
        await definition.configure?.(ctx);
      },
      run: (event, ctx) => definition.start(event, ctx),
    };
  }
  return undefined;
}

/**
 * Runs actor logic on one event, in an actor system of its own (so its
 * system ids never meet another run's). In a slot it is named
 * `<slot id>/<machine id>`, runs on the runtime's clock, and reports to the
 * inspector's observer for runs. xstate sends no snapshot when an entry
 * action or an error handler throws, so a run that errored, or was stopped,
 * has its end reported here too (the inspector ignores a second one).
 */
function runActorLogic(logic: AnyActorLogic, event: unknown, ctx: WorkerContext): Promise<unknown> {
  const { signal } = ctx;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const run = (ctx as RunActorSource)[RUN_ACTOR];
    const inspect = run?.settings?.inspect;
    const clock = run?.settings?.clock;
    const name = (logic as { id?: unknown }).id;
    const actor = createActor(logic, {
      input: event,
      ...(run ? { id: `${run.slotId}/${typeof name === 'string' ? name : 'worker'}` } : {}),
      ...(inspect ? { inspect } : {}),
      ...(clock ? { clock } : {}),
    });
    const ended = () => {
      try {
        inspect?.({
          type: '@xstate.snapshot',
          actorRef: actor,
          rootId: actor.sessionId,
          snapshot: actor.getSnapshot(),
          event: { type: 'flowd.run.ended' },
        } as InspectionEvent);
      } catch {
        // The inspector's trouble is not the run's.
      }
    };
    const onAbort = () => {
      reject(signal.reason);
      actor.stop();
      ended();
    };
    actor.subscribe({
      next(snapshot) {
        if (snapshot.status === 'done') {
          signal.removeEventListener('abort', onAbort);
          resolve(snapshot.output);
        }
      },
      error(error) {
        signal.removeEventListener('abort', onAbort);
        reject(error);
        ended();
      },
    });
    signal.addEventListener('abort', onAbort, { once: true });
    actor.start();
  });
}
