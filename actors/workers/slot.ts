import { context as otelContext, type Context } from '@opentelemetry/api';
import type { Logger } from 'pino';
import {
  slotFailed,
  slotFinished,
  slotsReported,
  toErrorInfo,
  workerDone,
  workerFailed,
  type Job,
  type SlotFailed,
  type SlotAbort,
  type SlotFinished,
  type WorkerDone,
  type WorkerFailed,
} from '../../machines/events.js';
import { compileMachine, type CompiledMachine } from '../../machines/compile.js';
import { workerSlotMachine, type SlotActionArgs } from '../../machines/worker-slot.js';
import type { RestClient } from '../../src/kernel/api-client.js';
import { FlowdError, type ErrorCode } from '../../src/kernel/errors.js';
import type { LockHandle, LockOptions, WithLockOptions } from '../locks/lock-api.js';
import type { Store } from '../stores/store-api.js';
import {
  RUN_ACTOR,
  type AppInfo,
  type AppSections,
  type RunActorSettings,
  type Runner,
  type WorkerContext,
  type WorkerServices,
} from './worker.js';
import { isTerminable } from './thread-runner.js';
import { tracedClient, withTraceHeaders, type RunTracing } from './run-tracing.js';
import { inMicrotask } from '../../src/kernel/microtask.js';

export interface SlotDeps {
  runner: Runner;
  log: Logger;
  app: AppInfo;
  config: AppSections;
  /** The source's publish, when it has one (stomp). */
  publish?: WorkerContext['publish'] | undefined;
  /** The app's store, locks and client. */
  services?: WorkerServices | undefined;
  /** For workers that are actor logic: the inspector's observer and the runtime's clock (the runtime fills it in at start). */
  runs?: RunActorSettings | undefined;
  /** With an OpenTelemetry tracer provider registered: each attempt's trace context (the runtime fills it in at start). */
  tracing?: RunTracing | undefined;
}

function services(deps: SlotDeps): WorkerServices {
  if (!deps.services)
    throw new FlowdError('ERR_CONFIG', 'this runtime has no store, locks or API client (the slots were made without services)');
  return deps.services;
}

/**
 * One run's `ctx`. A class (not an object literal with getters) because one
 * is made per event: the AbortController and the child logger are made only
 * when the worker asks for them.
 */
class RunContext implements WorkerContext {
  private controller: AbortController | undefined;
  private abortedWith: Error | undefined;
  private childLog: Logger | undefined;
  private runStore: Store | undefined;
  private runClient: RestClient | undefined;
  readonly attempt: number;
  readonly id: string;
  readonly meta: Readonly<Record<string, unknown>>;

  constructor(
    private readonly job: Job,
    private readonly slotId: string,
    private readonly deps: SlotDeps,
    /** The attempt's trace context, when it is traced: its publishes and requests carry it. */
    private readonly trace: Context | undefined,
  ) {
    this.attempt = job.attempt;
    this.id = job.delivery.id;
    this.meta = job.delivery.meta ?? {};
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedWith) this.controller.abort(this.abortedWith);
    }
    return this.controller.signal;
  }

  get log(): Logger {
    return (this.childLog ??= this.deps.log.child({ event: this.id, slot: this.slotId, attempt: this.attempt }));
  }

  get app(): AppInfo {
    return this.deps.app;
  }

  get config(): AppSections {
    return this.deps.config;
  }

  publish(destination: string, body: string | Uint8Array | object, headers?: Record<string, string | number | boolean>): Promise<void> {
    const publish = this.deps.publish;
    if (!publish)
      return Promise.reject(
        new FlowdError('ERR_NO_PUBLISH', `ctx.publish(${JSON.stringify(destination)}) needs a source that can publish (type = stomp)`),
      );
    return publish(destination, body, this.trace ? withTraceHeaders(this.trace, headers) : headers);
  }

  get store(): Store {
    // update() stops retrying when the event's signal fires (its execution timeout, shutdown).
    if (!this.runStore) {
      const store = services(this.deps).store;
      this.runStore = { ...store, update: (key, fn, options) => store.update(key, fn, { signal: this.signal, ...options }) };
    }
    return this.runStore;
  }

  get client(): RestClient {
    if (!this.trace) return services(this.deps).client;
    return (this.runClient ??= tracedClient(services(this.deps).client, this.trace));
  }

  lock(key: string, options?: LockOptions): Promise<LockHandle> {
    return services(this.deps).locks.lock(key, { signal: this.signal, ...options });
  }

  withLock<T>(key: string, fn: (lock: LockHandle) => T | Promise<T>, options?: WithLockOptions): Promise<T> {
    return services(this.deps).locks.withLock(key, fn, { signal: this.signal, ...options });
  }

  /** For a worker that is actor logic: its slot and the runtime's settings (see runActorLogic). */
  get [RUN_ACTOR]() {
    return { slotId: this.slotId, settings: this.deps.runs };
  }

  /** Fires the signal with a FlowdError that says why: ERR_WORKER_TIMEOUT (the default) or ERR_SHUTDOWN. */
  abort(reason: SlotAbort['reason']): void {
    this.abortedWith = new FlowdError(
      (reason?.code ?? 'ERR_WORKER_TIMEOUT') as ErrorCode,
      `event ${this.id} was aborted: ${reason?.message ?? 'it passed the execution timeout'}`,
    );
    this.controller?.abort(this.abortedWith);
  }
}

/** What a run's promise settles: its slot's run number, and its context to forget (an abandoned one is kept until then, for abort). */
interface RunSettlement {
  runs: Map<string, RunContext>;
  ctx: RunContext;
  slotId: string;
  run: number;
  self: SlotActionArgs['self'];
}

function forget(this: RunSettlement): void {
  if (this.runs.get(this.slotId) === this.ctx) this.runs.delete(this.slotId);
}

function runDone(this: RunSettlement, output: unknown): void {
  forget.call(this);
  this.self.send(workerDone(this.run, output));
}

function runFailed(this: RunSettlement, error: unknown): void {
  forget.call(this);
  this.self.send(workerFailed(this.run, toErrorInfo(error)));
}

/**
 * The worker-slot machine with its `startWorker` / `abortWorker` actions:
 * the slot starts the worker's promise itself (no child actor per event)
 * and reports its settlement back as `worker.done` / `worker.failed`. The
 * runtime runs it compiled (createSlotLogic); bench:dispatch also runs it
 * interpreted, to compare.
 */
export function provideSlotMachine(deps: SlotDeps): typeof workerSlotMachine {
  const { runner } = deps;
  const runs = new Map<string, RunContext>();

  // Runs that settle in the same tick report to the supervisor in one message,
  // so a flood costs the supervisor one transition per tick, not one per event.
  // A tick's only report (the usual case under I/O) goes alone, with no array made for it.
  let first: SlotFinished | SlotFailed | undefined;
  let more: Array<SlotFinished | SlotFailed> | undefined;
  let supervisor: SlotActionArgs['context']['supervisor'];
  const flush = () => {
    const message = more ? slotsReported(more) : first!;
    first = more = undefined;
    supervisor!.send(message);
  };
  const report = (context: SlotActionArgs['context'], message: SlotFinished | SlotFailed) => {
    supervisor = context.supervisor;
    if (!supervisor) throw new FlowdError('ERR_INTERNAL', 'a batching slot needs its supervisor in its input');
    if (first === undefined) {
      first = message;
      inMicrotask(flush);
    } else (more ??= [first]).push(message);
  };

  // A worker in threads (`isolation = thread`) has its thread terminated on an abort: the slot shows it as `terminating`.
  const terminable = isTerminable(runner);
  return workerSlotMachine.provide({
    guards: { isTerminable: () => terminable },
    actions: {
      startWorker: ({ context, self }: SlotActionArgs) => {
        const job = context.job!;
        const trace = deps.tracing?.contextOf?.(job);
        const ctx = new RunContext(job, context.slotId, deps, trace);
        runs.set(context.slotId, ctx);
        let result: unknown;
        try {
          // A traced attempt runs in its span's context, so the worker's own spans are its children.
          result = trace ? otelContext.with(trace, runner.run, runner, job.delivery.payload, ctx) : runner.run(job.delivery.payload, ctx);
        } catch (error) {
          runs.delete(context.slotId);
          self.send(workerFailed(context.run, toErrorInfo(error)));
          return;
        }
        if (result !== null && typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
          // Two handlers bound to a plain record of the run, rather than three closures a run (each of which,
          // under tsx, also costs a defineProperty for its name).
          const settlement: RunSettlement = { runs, ctx, slotId: context.slotId, run: context.run, self };
          (result as PromiseLike<unknown>).then(runDone.bind(settlement), runFailed.bind(settlement));
        } else {
          // A synchronous result is reported once the slot has settled into `busy`.
          runs.delete(context.slotId);
          self.send(workerDone(context.run, result));
        }
      },
      abortWorker: ({ context, event }: SlotActionArgs & { event: { type: string } }) => {
        runs.get(context.slotId)?.abort((event as SlotAbort).reason);
      },
      reportFinished: ({ context, event }: SlotActionArgs & { event: { type: string } }) => {
        report(context, slotFinished(context.slotId, context.job!.seq, (event as WorkerDone).output));
      },
      reportFailed: ({ context, event }: SlotActionArgs & { event: { type: string } }) => {
        report(context, slotFailed(context.slotId, context.job!.seq, (event as WorkerFailed).error));
      },
    },
  });
}

/** The worker slot as the runtime runs it: provideSlotMachine's machine, compiled (machines/compile.ts: each event a table look-up). */
export function createSlotLogic(deps: SlotDeps): CompiledMachine<typeof workerSlotMachine> {
  return compileMachine(provideSlotMachine(deps));
}
