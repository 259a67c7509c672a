import path from 'node:path';
import pino, { type Logger } from 'pino';
import { createActor, type Actor, type AnyActorRef, type StateValueFrom } from 'xstate';
import { createSourceLogic, type SourceDriver } from '../../actors/sources/driver.js';
import { compileMachine, type CompiledMachine } from '../../machines/compile.js';
import { createSlotLogic } from '../../actors/workers/slot.js';
import { toThreadRunner, type ThreadModule, type ThreadRunner } from '../../actors/workers/thread-runner.js';
import {
  toRunner,
  describeValue,
  type AppInfo,
  type AppSections,
  type ConfigureContext,
  type Runner,
  type RunActorSettings,
  type WorkerLike,
} from '../../actors/workers/worker.js';
import { eventCancel, eventReceived, runtimeStop, type Job } from '../../machines/events.js';
import { isStompEvent, republishedMessage, republishRefusal } from '../../actors/sources/stomp-republish.js';
import type { StompDriver, StompEvent } from '../../actors/sources/stomp.js';
import {
  LIFECYCLE_TYPES,
  supervisorMachine,
  zeroCounters,
  type SupervisorCounters,
  type SupervisorEmitted,
  type SupervisorLifecycle,
  type SupervisorSettings,
} from '../../machines/supervisor.js';
import { createAppServices, type AppServices, type ServiceSettings } from './app-services.js';
import { createPingLogic } from './dependency-ping.js';
import { formatDuration } from '../kernel/duration.js';
import { compileServiceSettings, type ServiceOptions } from '../config/service-settings.js';
import { appNameProblem, compileFlowSettings, toIniKeys } from '../config/flow-settings.js';
import { hint, SectionReader } from '../kernel/section-reader.js';
import { ConfigError, FlowdError, WorkerConfigureError, WorkerLoadError, type ErrorInfo } from '../kernel/errors.js';
import { compileSource, type CompiledSource, type SourceApp, type SourceSpec } from './sources.js';
// The inspector (its server, page, metrics and Graphviz) loads only when it is asked for.
import type { AttachedInspector } from '../inspector/attach.js';
import type { OfferedEvent } from '../inspector/journal-actions.js';
import { compileInspectorOptions, type InspectorOptions, type InspectorSettings } from '../config/inspector-settings.js';
import { compilePluginSettings, type PluginSettings } from '../config/plugin-settings.js';
import type { PluginHost } from '../../actors/plugins/plugin-api.js';
import { createPluginHost } from '../../actors/plugins/host.js';
import { pluginRunner } from '../../actors/plugins/runner.js';
import { compileWorkflowOptions, type WorkflowSettings } from '../config/workflow-settings.js';
import { collectDefinitions, type WorkflowDefinitions } from '../workflows/module.js';
import { createWorkflowHost, type WorkflowHost, type WorkflowHostStats } from '../workflows/host.js';
import { workflowsOnly } from '../workflows/workflows-only.js';
import type { RunRecord } from '../workflows/engine.js';
import { createLogger } from './logger.js';
import { compileEmailSettings, type EmailOptions, type EmailSettings } from '../config/email-settings.js';
import { withEmailAlerts } from './email-alerts.js';
import { handleSignals, type SignalPolicy } from './signals.js';
import { createEventTracing, registeredTracer } from './tracing.js';
import type { RunTracing } from '../../actors/workers/run-tracing.js';

/** While a source reconnects, at most one warning per this many ms (after the first attempt's). */
const RECONNECT_WARN_EVERY_MS = 60_000;

/** A timer clock: xstate's SimulatedClock fits. */
export interface RuntimeClock {
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Options for `createRuntime`; durations take `'30s'`-style text or milliseconds. */
export interface RuntimeOptions {
  /** The worker: defineWorker({...}), a Flow-style class, or xstate actor logic. Not with `plugins`, which are the workers. */
  worker?: WorkerLike;
  /**
   * Plugin folders for an event-log source (`[Plugins]` in camelCase): each
   * module exports `registerCallbacks(reg)`.
   * @example { paths: ['./plugins'], reload: true }
   */
  plugins?: { paths: string[]; reload?: boolean; rescanInterval?: string | number };
  /**
   * Workflows of activities (`[Workflow]` in camelCase, with the
   * definitions themselves): `runtime.startWorkflow(name, input)` runs them.
   * Without a worker, the runtime runs only these.
   * @example { definitions: [UploadWorkflow, Transcoding, ThumbnailGenerator], concurrency: 4 }
   */
  workflows?: {
    definitions: unknown[];
    concurrency?: number;
    pollInterval?: string | number;
    retryDelay?: string | number;
    retryMaxDelay?: string | number;
    broker?: string;
    /** With `broker`: the STOMP virtual host (its `host` header). @default the broker URL's host */
    brokerVirtualHost?: string;
    /** With `broker`: the task lists this runtime serves. */
    taskLists?: string[];
    /** `false`: this runtime runs activities only (with `broker`), never decides. @default true */
    decide?: boolean;
  };
  /** `sources.interval({...})`, `sources.stdin({...})`, or your own SourceDriver. Default: the worker class's `static SOURCE`. */
  source?: SourceSpec | SourceDriver;
  /** @default 1 */
  workers?: number;
  /** @default 1000 */
  queueSize?: number;
  /** @default 80% of queueSize */
  highWatermark?: number;
  /** @default half the high watermark */
  lowWatermark?: number;
  /** @default '60s' */
  queueTimeout?: string | number;
  /** @default '60s' */
  executionTimeout?: string | number;
  /** @default '30s' */
  shutdownTimeout?: string | number;
  /** @default 0 */
  retries?: number;
  /** @default 'exponential' */
  retryBackoff?: 'exponential' | 'fixed';
  /** @default '1s' */
  retryDelay?: string | number;
  /** @default '60s' */
  retryMaxDelay?: string | number;
  /** A dotted path into the event, e.g. `headers.asset-id`. */
  orderBy?: string;
  /**
   * `[Flow] isolation`: `'thread'` runs the worker in `node:worker_threads`
   * Workers, terminated past the execution timeout (docs/workers.md). It
   * needs `workerModule`: a thread loads the worker from its module.
   * @default 'process'
   */
  isolation?: 'process' | 'thread';
  /**
   * The worker's module, for `isolation: 'thread'`: each thread imports
   * `export` (default: the default export) of `file` (relative to `app.dir`).
   * @example { file: './thumbnails.ts', export: 'Thumbnails' }
   */
  workerModule?: { file: string; export?: string };
  /** @default { name: 'flowd', dir: process.cwd() } */
  app?: Partial<AppInfo>;
  /** The app's own sections, handed to configure(). */
  config?: AppSections;
  /** `[Store]` in camelCase: `{ backend: 'redis', url: 'redis://127.0.0.1:6379/0' }`. @default a file store under the app's state folder */
  store?: ServiceOptions['store'];
  /** `[Lock]` in camelCase: `{ backend, url, lease }`. @default local locks, or Redis when the store is Redis */
  lock?: ServiceOptions['lock'];
  /** `[Api]` in camelCase: `{ hostname, username, password, useHttps, checkCertificates, timeOut }`, for `ctx.client`. */
  api?: ServiceOptions['api'];
  /**
   * Where the runtime logs. Without it, warnings and errors (failed,
   * expired and rejected events, a source reconnecting, ...) go to stderr
   * as pino lines (pretty on a terminal), secrets redacted; `false` logs
   * nothing at all.
   * @default a pino logger at level warn on stderr
   * @example createRuntime({ worker, logger: pino({ level: 'info' }) })
   */
  logger?: Logger | false;
  /**
   * Stop on SIGINT and SIGTERM as `flowd run` does: the first signal drains
   * the runtime (stop(): the source stops, queued events go back, in-flight
   * work gets the shutdown timeout) and then exits the process, with 0 when
   * the run ended cleanly and 1 otherwise; a second signal exits at once
   * with 1. A signal before start() has finished exits at once with 1. The
   * listeners are installed by start() and removed when the run ends.
   * @default false
   * @example
   * const runtime = createRuntime({ worker, source, handleSignals: true });
   * await runtime.start(); // Ctrl-C now drains, then exits
   */
  handleSignals?: boolean;
  /** A clock for timers (xstate's SimulatedClock in tests) and its `now()`. */
  clock?: RuntimeClock;
  /** [0, 1), for retry jitter. @default Math.random */
  random?: () => number;
  /** Serve the inspector from start() on (see `runtime.inspect()`). @default off */
  inspector?: InspectorOptions;
  /**
   * Mail plugin deactivations and a failed start or source (`[Email]` in camelCase).
   * @example { host: 'smtp.example.com', tls: 'starttls', user: 'flowd', password: process.env.SMTP_PASSWORD, from: 'flowd@example.com', to: ['ops@example.com'] }
   */
  email?: EmailOptions;
}

/** A running inspector (`runtime.inspect()`). */
export interface InspectorHandle {
  /** `http://127.0.0.1:9464/`; never shows the token. */
  url: string;
  /** Stately's inspector bridge, with `stately: true`. */
  statelyUrl?: string | undefined;
  /** Stops serving (it also stops when the run ends). */
  close(): Promise<void>;
}

/** How a run ended. */
export interface RunSummary {
  /** `ended`: the source's input was exhausted and every event finished; `requested`: stop(); `source failed`. */
  reason: 'ended' | 'requested' | 'source failed';
  counters: SupervisorCounters;
  sourceError: ErrorInfo | undefined;
}

/** One slot as `snapshot()` shows it. */
export interface SlotSnapshot {
  id: string;
  state: string;
  event: string | undefined;
  attempt: number | undefined;
  runningForMs: number | undefined;
}

/**
 * The runtime's state, as `runtime.snapshot().state` and the inspector show
 * it (the supervisor's top-level state once started):
 * - `created`: made, not yet running: before start(), and while start()
 *   opens the services, runs configure() and starts the workflows.
 * - `flowing`: taking events from the source and handing them to idle slots.
 * - `throttled`: the queue passed its high watermark; the source is paused
 *   until the queue drains to the low one.
 * - `stopping`: stop(), a source that ended or failed: the source is paused,
 *   waiting events go back, in-flight work has the shutdown timeout, then
 *   the source closes.
 * - `stopped`: every event has its outcome; `runtime.done` resolves once the
 *   services are closed.
 */
export type RuntimeState = 'created' | 'flowing' | 'throttled' | 'stopping' | 'stopped';

// Checked by the compiler: once started, the runtime's state is the supervisor's top-level state.
type SupervisorStateValue = StateValueFrom<typeof supervisorMachine>;
type TopLevel<V> = V extends string ? V : keyof V & string;
const SUPERVISOR_STATES_ARE_RUNTIME_STATES: [TopLevel<SupervisorStateValue>] extends [RuntimeState] ? true : never = true;
void SUPERVISOR_STATES_ARE_RUNTIME_STATES;

/** Every actor's state and counters. */
export interface RuntimeSnapshot {
  app: string;
  state: RuntimeState;
  /**
   * The source's type and state, and its own counts where it keeps some (a stomp source's acks, voided outcomes, ...);
   * while `paused`, why (`backpressure`, `dependency`, `shutdown`).
   */
  source: { type: string; state: string; pausedFor?: string[]; stats?: Record<string, number> };
  /** Set while the app's store or locks are unavailable: its events are held and one runs at a time as a probe. */
  dependency?: { down: true; error: ErrorInfo; downForMs: number; probes: number };
  waiting: number;
  running: number;
  retrying: number;
  abandoned: number;
  counters: SupervisorCounters;
  slots: SlotSnapshot[];
  /** With workflows: whether this daemon decides, its runs, and its task lists' load. */
  workflows?: WorkflowHostStats;
}

/**
 * Outcome notifications: `event.completed`, `event.failed`, `event.expired`, `event.rejected`, `event.returned`, `event.retrying`,
 * `slot.replaced`, `source.reconnecting`, and `dependency.down` / `dependency.up` (the app's store or locks went down, came back).
 * Lifecycle notifications (`event.received`, `event.queued`, `event.started`, `event.timedOut`, `event.abandoned`,
 * `event.settled`; see `SupervisorLifecycle`) are emitted only once something listens to one of them.
 */
export type RuntimeEventType = SupervisorEmitted['type'];

/** An embedded flowd runtime. */
export interface Runtime {
  /** Runs the worker's configure() once, then starts the source and the slots. */
  start(): Promise<void>;
  /** Stops the source, returns queued events, gives in-flight work the shutdown timeout; resolves when all have outcomes. */
  stop(): Promise<RunSummary>;
  /** Resolves when the run ends for any reason. */
  readonly done: Promise<RunSummary>;
  /** Every actor's state and counters, now. */
  snapshot(): RuntimeSnapshot;
  /** Subscribes to outcomes; returns the unsubscribe function. */
  on<T extends RuntimeEventType>(type: T, listener: (event: Extract<SupervisorEmitted, { type: T }>) => void): () => void;
  /** The supervisor actor (for inspection), once started. */
  readonly actor: Actor<CompiledMachine<typeof supervisorMachine>> | undefined;
  /**
   * Serves the inspector (the live page, `/metrics`, `/healthz`, `/readyz`)
   * until the run ends; call it before start(). Rejects with ConfigError for
   * a non-loopback interface without a token, or when the port is taken.
   * @example
   * const { url } = await runtime.inspect({ port: 9464 });
   */
  inspect(options?: InspectorOptions): Promise<InspectorHandle>;
  /**
   * Starts a run of the workflow `name` (its last version here) with a JSON
   * `input`; resolves with the run's id once its record is in the store. The
   * deciding daemon runs it (this one, unless another holds the decider lock).
   * Rejects with ERR_CONFIG without workflows, ERR_WORKFLOW for an unknown name.
   * @example const runId = await runtime.startWorkflow('UploadWorkflow', { videoId: 'v1' });
   */
  startWorkflow(name: string, input?: unknown, options?: { runId?: string }): Promise<string>;
  /** A run's record: state (running, completed, failed, restarted), history, result or error; undefined for an unknown id. */
  workflowRun(runId: string): Promise<RunRecord | undefined>;
  /** Resolves with the run's record once it has ended. */
  workflowEnded(runId: string): Promise<RunRecord>;
}

/** Everything the runtime needs, compiled (the CLI builds this from an INI file). */
export interface RuntimeParts {
  runner: Runner;
  source: CompiledSource | SourceDriver;
  settings: SupervisorSettings;
  app: AppInfo;
  config: AppSections;
  logger: Logger;
  /** The app's store, locks and API client; closed when the run ends. */
  services: AppServices;
  clock?: RuntimeClock | undefined;
  random?: (() => number) | undefined;
  /** `[Inspector]`: served from start() on. */
  inspector?: InspectorSettings | undefined;
  /** `[Plugins]`: the plugins an event-log source hands its events to (the runner is then `pluginRunner(plugins)`). Closed when the run ends. */
  plugins?: PluginHost | undefined;
  /** `[Workflow]`: its settings and the definitions its module exports. */
  workflows?: { settings: Omit<WorkflowSettings, 'module'>; definitions: WorkflowDefinitions } | undefined;
  /** SIGINT and SIGTERM drain the runtime (see `RuntimeOptions.handleSignals`); without it the process's signals are left alone. */
  signals?: SignalPolicy | undefined;
}

/**
 * A runtime's configuration, compiled and fully defaulted: what
 * createRuntime compiles from its options, and `flowd run` from an INI file
 * (loadAppConfig). assembleRuntime makes a runtime of it, the one way both
 * take.
 */
export interface RuntimeConfig {
  /** The app's worker, loaded; undefined with `plugins` (they are the workers) or for workflows only. */
  worker: Runner | undefined;
  /** The worker's module, which each thread loads under `isolation = thread`. */
  workerModule?: ThreadModule | undefined;
  /** The source, compiled (`flowd run`'s `[Source]`). */
  source?: CompiledSource | undefined;
  /**
   * Or a source from code (a driver, a spec, a type name), compiled here
   * against the worker. Without either: the worker's `static SOURCE`, or
   * none for workflows only.
   */
  sourceSpec?: unknown;
  settings: SupervisorSettings;
  app: AppInfo;
  /** The app's own sections, handed to configure(). */
  config: AppSections;
  logger: Logger;
  /** `[Store]`, `[Lock]` and `[Api]`: opened by start(), closed when the run ends. */
  services: ServiceSettings;
  /** `[Plugins]`: an event-log source hands its events to these plugins, which are then the workers. */
  plugins?: PluginSettings | undefined;
  /** `[Workflow]`: its settings and the definitions its module exports. */
  workflows?: RuntimeParts['workflows'];
  /** `[Inspector]`: served from start() on. */
  inspector?: InspectorSettings | undefined;
  clock?: RuntimeClock | undefined;
  random?: (() => number) | undefined;
  /** SIGINT and SIGTERM: how they drain the runtime and end the process. */
  signals?: SignalPolicy | undefined;
  /** `[Email]`: plugin deactivations and app failures are mailed. */
  email?: EmailSettings | undefined;
}

/**
 * Makes a runtime of its compiled configuration: the plugins' host (whose
 * runner is then the worker), the idle worker and source of an app that
 * runs only workflows, the source, and the app's services.
 */
export function assembleRuntime(compiled: RuntimeConfig): Runtime {
  const { settings, app, logger } = compiled;
  const worker = settings.isolation === 'thread' ? inThreads(compiled) : compiled.worker;
  const plugins = compiled.plugins ? createPluginHost({ ...compiled.plugins, log: logger }) : undefined;
  const idle = !worker && !plugins ? workflowsOnly() : undefined;
  const runner = plugins ? pluginRunner(plugins) : (worker ?? idle!.runner);
  const source =
    compiled.source ??
    (idle && compiled.sourceSpec === undefined
      ? idle.source
      : resolveSource(compiled.sourceSpec ?? runner.source, runner.name, { ...app, workers: settings.workers }));
  const runtime = buildRuntime({
    runner,
    source,
    settings,
    app,
    config: compiled.config,
    logger,
    services: createAppServices(compiled.services, app.name, logger),
    clock: compiled.clock,
    random: compiled.random,
    inspector: compiled.inspector,
    plugins,
    workflows: compiled.workflows,
    signals: compiled.signals,
  });
  return compiled.email
    ? withEmailAlerts(runtime, {
        settings: compiled.email,
        app: app.name,
        log: logger,
        plugins,
        recordFile: path.join(app.stateDir, 'email-sent.json'),
      })
    : runtime;
}

/** createRuntime's `workerModule`, checked and resolved against the app's folder. */
function compileWorkerModule(option: unknown, dir: string): ThreadModule {
  const { file, export: exportName } = (option ?? {}) as { file?: unknown; export?: unknown };
  if (typeof file !== 'string' || file.trim() === '' || (exportName !== undefined && typeof exportName !== 'string'))
    throw new ConfigError(
      { section: 'createRuntime options', key: 'workerModule' },
      `is ${JSON.stringify(option)}; expected { file: './worker.ts', export?: 'Name' }`,
    );
  return { file: path.resolve(dir, file), exportName };
}

/** The main thread's stand-in for a worker given only as a module: it runs in threads, never here. */
function moduleRunner(module: ThreadModule): Runner {
  return {
    name: module.exportName ?? path.basename(module.file, path.extname(module.file)),
    source: undefined,
    configure: async () => {},
    run: () => {
      throw new FlowdError('ERR_INTERNAL', `worker ${module.file} runs only in threads`);
    },
  };
}

/** `isolation = thread`: the worker, run in threads that load it from its module. */
function inThreads(compiled: RuntimeConfig): Runner {
  if (!compiled.worker || compiled.plugins)
    throw new ConfigError(
      { section: 'Flow', key: 'isolation' },
      'is thread, which runs a worker class in threads; expected isolation = process for an app with [Plugins] or only workflows',
    );
  if (!compiled.workerModule)
    throw new ConfigError(
      { section: 'Flow', key: 'isolation' },
      `is thread, but worker "${compiled.worker.name}" has no module a thread can load: expected [Flow] class = ./file.ts:Export (a module file, not a built-in app) or createRuntime({ workerModule: { file, export } }); a worker given as an object in code cannot move to a thread`,
    );
  return toThreadRunner(compiled.worker, compiled.workerModule, { threads: compiled.settings.workers });
}

/**
 * Creates a runtime to embed in a service. Without a `logger` it logs
 * warnings and errors to stderr; an option it does not know is a
 * ConfigError with a did-you-mean.
 * @example
 * const runtime = createRuntime({ worker, source: sources.interval({ interval: '10s' }), workers: 4 });
 * await runtime.start();
 * // ...
 * await runtime.stop();
 * @example
 * // A service of its own: SIGINT / SIGTERM drain the runtime, then the process exits (0 when clean).
 * await createRuntime({ worker, source: sources.interval({ interval: '10s' }), handleSignals: true }).start();
 */
export function createRuntime(options: RuntimeOptions): Runtime {
  checkOptionNames(options, RUNTIME_OPTION_NAMES, 'createRuntime options');
  const {
    worker,
    workerModule,
    source,
    app,
    config,
    logger,
    clock,
    random,
    store,
    lock,
    api,
    inspector,
    plugins,
    workflows,
    handleSignals,
    email,
    ...flow
  } = options;
  const { settings } = compileOptions('createRuntime options', flow, compileFlowSettings);
  const name = app?.name ?? 'flowd';
  const nameProblem = appNameProblem(name);
  if (nameProblem !== undefined) throw new ConfigError({ section: 'createRuntime options', key: 'app.name' }, nameProblem);
  const dir = app?.dir ?? process.cwd();
  const appInfo = { name, dir, stateDir: app?.stateDir ?? path.join(dir, '.flowd', name) };
  const log = logger === false ? pino({ level: 'silent' }) : (logger ?? createLogger({ level: 'warn', file: undefined }, name));
  let pluginSettings: PluginSettings | undefined;
  if (plugins) {
    if (worker !== undefined)
      throw new ConfigError(
        { section: 'createRuntime options', key: 'worker' },
        'is set, and so is plugins: the plugins are the workers; expected one of the two',
      );
    checkOptionNames(plugins, PLUGIN_OPTION_NAMES, 'createRuntime options.plugins');
    pluginSettings = compileOptions('createRuntime options.plugins', { ...plugins, paths: plugins.paths.join(',') }, (reader) =>
      compilePluginSettings(reader, dir),
    );
  }
  let workflowParts: RuntimeParts['workflows'];
  if (workflows) {
    checkOptionNames(workflows, WORKFLOW_OPTION_NAMES, 'createRuntime options.workflows');
    const { definitions, taskLists, ...rest } = workflows;
    const workflowSettings = compileOptions(
      'createRuntime options.workflows',
      { ...rest, ...(taskLists ? { taskLists: taskLists.join(',') } : {}) },
      compileWorkflowOptions,
    );
    workflowParts = {
      settings: workflowSettings,
      definitions: collectDefinitions(definitions ?? [], 'createRuntime options.workflows.definitions'),
    };
  }
  // The plugins are the workers; workflows alone need none.
  const workerless = !!plugins || (workflowParts !== undefined && worker === undefined);
  const threadModule = workerModule ? compileWorkerModule(workerModule, dir) : undefined;
  if (threadModule && settings.isolation !== 'thread')
    throw new ConfigError(
      { section: 'createRuntime options', key: 'workerModule' },
      "is set, but isolation is not 'thread'; expected isolation: 'thread' with workerModule, or worker without it",
    );
  const runner = workerless ? undefined : worker === undefined && threadModule ? moduleRunner(threadModule) : toRunner(worker, 'worker');
  if (!workerless && !runner)
    throw new WorkerLoadError(
      `createRuntime: worker is ${describeValue(worker)}; expected defineWorker({ start }), a class with start(event), or xstate actor logic`,
    );
  return assembleRuntime({
    worker: runner,
    workerModule: threadModule,
    sourceSpec: source,
    settings,
    app: appInfo,
    config: config ?? {},
    logger: log,
    services: compileServiceSettings({ store, lock, api }, appInfo),
    plugins: pluginSettings,
    workflows: workflowParts,
    inspector: inspector ? compileInspectorOptions(inspector) : undefined,
    email: email
      ? compileOptions('createRuntime options.email', { ...email, to: [email.to].flat().join(',') }, compileEmailSettings)
      : undefined,
    clock,
    random,
    signals: handleSignals === true ? {} : undefined,
  });
}

// Every option of createRuntime, checked against RuntimeOptions by the compiler: an unknown one is a typo.
const RUNTIME_OPTION_NAMES = Object.keys({
  worker: 1,
  plugins: 1,
  workflows: 1,
  source: 1,
  workers: 1,
  queueSize: 1,
  highWatermark: 1,
  lowWatermark: 1,
  queueTimeout: 1,
  executionTimeout: 1,
  shutdownTimeout: 1,
  retries: 1,
  retryBackoff: 1,
  retryDelay: 1,
  retryMaxDelay: 1,
  orderBy: 1,
  isolation: 1,
  workerModule: 1,
  app: 1,
  config: 1,
  store: 1,
  lock: 1,
  api: 1,
  logger: 1,
  handleSignals: 1,
  clock: 1,
  random: 1,
  inspector: 1,
  email: 1,
} satisfies Record<keyof RuntimeOptions, 1>);
const PLUGIN_OPTION_NAMES = Object.keys({ paths: 1, reload: 1, rescanInterval: 1 } satisfies Record<
  keyof NonNullable<RuntimeOptions['plugins']>,
  1
>);
const WORKFLOW_OPTION_NAMES = Object.keys({
  definitions: 1,
  concurrency: 1,
  pollInterval: 1,
  retryDelay: 1,
  retryMaxDelay: 1,
  broker: 1,
  brokerVirtualHost: 1,
  taskLists: 1,
  decide: 1,
} satisfies Record<keyof NonNullable<RuntimeOptions['workflows']>, 1>);

/** Rejects an option createRuntime does not know, suggesting the nearest one by its name in code (`executionTimeout`). */
function checkOptionNames(options: object, known: readonly string[], section: string): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || known.includes(key)) continue;
    // clock and random are for tests: not offered to someone who misspelt an option.
    const offered = known.filter((name) => name !== 'clock' && name !== 'random');
    throw new ConfigError({ section, key }, `is not an option${hint(key, offered)}; known options: ${offered.join(', ')}`);
  }
}

/** Compiles options given in code as an INI section of the same name would be, every key read (see inCamelCase). */
function compileOptions<T>(section: string, options: Record<string, unknown>, compile: (reader: SectionReader) => T): T {
  return inCamelCase(section, () => {
    const reader = new SectionReader(toIniKeys(options), { section });
    const compiled = compile(reader);
    reader.finish();
    return compiled;
  });
}

/** Runs an INI-style compile over options given in code, and names the option as the code wrote it (`queueTimeout`, not "queue timeout") when it fails. */
function inCamelCase<T>(section: string, compile: () => T): T {
  try {
    return compile();
  } catch (error) {
    if (!(error instanceof ConfigError) || error.key === undefined || error.section !== section) throw error;
    const prefix = `[${section}] "${error.key}": `;
    if (!error.message.startsWith(prefix)) throw error;
    const key = error.key.replace(/ ([a-z])/g, (_, c: string) => c.toUpperCase());
    throw new ConfigError({ section, key }, error.message.slice(prefix.length), { cause: error });
  }
}

function isDriver(value: unknown): value is SourceDriver {
  return !!value && typeof (value as SourceDriver).start === 'function';
}

/** A source from code or `static SOURCE`: a driver, a spec, a type name or `{ type, ...options }`. */
export function resolveSource(source: unknown, workerName: string, app: SourceApp): CompiledSource | SourceDriver {
  if (isDriver(source)) return source;
  if (typeof source === 'string') return compileSource(source, new Map(), { section: `${workerName}.SOURCE` }, app);
  if (source && typeof source === 'object' && typeof (source as SourceSpec).type === 'string') {
    const spec = source as SourceSpec & Record<string, unknown>;
    const values = spec.options
      ? new Map(Object.entries(spec.options))
      : toIniKeys(Object.fromEntries(Object.entries(spec).filter(([k]) => k !== 'type')));
    return compileSource(spec.type, values, { section: `${workerName} source` }, app);
  }
  throw new ConfigError(
    { section: 'Source' },
    `no source for worker "${workerName}": set [Source] type (interval, stdin, ...), a static SOURCE on the class, or createRuntime({ source })`,
  );
}

/** Builds a runtime from its parts (assembleRuntime makes them). */
function buildRuntime(parts: RuntimeParts): Runtime {
  const { runner, settings, app, config, logger, services } = parts;
  const driver = isDriver(parts.source)
    ? parts.source
    : parts.source.create({
        log: logger,
        workers: settings.workers,
        services: { store: services.store, locks: services.locks, leaseMs: services.leaseMs, lockBackend: services.lockBackend },
        ...(parts.plugins ? { plugins: parts.plugins } : {}),
      });
  const workflows: WorkflowHost | undefined = parts.workflows
    ? createWorkflowHost({ ...parts.workflows, services, app, log: logger })
    : undefined;
  // The store, locks, client and plugins are no longer needed once every outcome is in (and the workflows have stopped writing).
  const closeAll = () =>
    (workflows?.close(settings.shutdownTimeoutMs) ?? Promise.resolve())
      .catch((error: unknown) => logger.error({ err: error }, `workflows: ${(error as Error).message}`))
      .then(() => Promise.allSettled([services.close(), parts.plugins?.close(), (runner as Partial<ThreadRunner>).close?.()]))
      .then(() => undefined);
  const needWorkflows = () => {
    if (!workflows)
      throw new ConfigError(
        { section: 'Workflow' },
        'is missing: this runtime has no workflows; expected [Workflow] module = ./workflows.ts, or createRuntime({ workflows: { definitions } })',
      );
    if (!actor) throw new FlowdError('ERR_INVALID_STATE', 'the runtime was not started: call start() before startWorkflow()');
    return workflows;
  };
  const reconnect = isDriver(parts.source) ? undefined : parts.source.reconnect;
  const sourceType = driver.type;
  const now = parts.clock ? () => parts.clock!.now() : () => Date.now();
  let actor: Actor<CompiledMachine<typeof supervisorMachine>> | undefined;
  let resolveDone!: (summary: RunSummary) => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<RunSummary>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  /** Listeners registered before start(); attached to the supervisor when it starts. */
  const pending: Array<{ type: RuntimeEventType; listener: (event: never) => void; unsubscribe?: () => void }> = [];
  let starting = false;
  let inspector: Promise<AttachedInspector> | undefined;

  // Workers that are actor logic run on the runtime's clock, and are shown by the inspector once it is attached.
  const runs: RunActorSettings = { clock: parts.clock as RunActorSettings['clock'] };
  // Set at start when the app registered an OpenTelemetry tracer provider (see tracing.ts).
  const tracing: RunTracing = {};
  // Compiled (machines/compile.ts), as its slots and source are: the same snapshots, events and diagram.
  const machine = compileMachine(
    supervisorMachine.provide({
      actors: {
        // The supervisor names the slot's machine; the runtime runs it compiled (machines/compile.ts): the same
        // snapshots, events and diagram, as the property test shows, in a sixth of the time.
        workerSlot: createSlotLogic({
          runner,
          log: logger,
          app,
          config,
          publish: driver.publish?.bind(driver),
          services,
          runs,
          tracing,
        }) as never,
        source: createSourceLogic(driver, logger) as never,
        pingDependency: createPingLogic(services),
      },
    }),
  );

  const logOutcomes = (supervisor: Actor<CompiledMachine<typeof supervisorMachine>>) => {
    supervisor.on('event.failed', (e) =>
      logger.error(
        { event: e.id, attempts: e.attempts, error: e.error, payload: e.payload, meta: e.meta },
        `event ${e.id} failed after ${e.attempts} attempt(s) and was dead-lettered: ${e.error.message}`,
      ),
    );
    supervisor.on('event.expired', (e) => logger.warn({ event: e.id, error: e.error }, `event ${e.id} expired in the queue`));
    supervisor.on('event.rejected', (e) => logger.warn({ event: e.id, error: e.error }, `event ${e.id} was rejected: ${e.error.message}`));
    supervisor.on('event.returned', (e) => {
      if (e.error?.code === 'ERR_CONNECTION_LOST')
        return logger.info(
          { event: e.id, error: e.error },
          `event ${e.id} was returned to its source because the connection was lost: ${e.error.message}`,
        );
      if (e.error && e.error.code !== 'ERR_SHUTDOWN')
        return logger.warn(
          { event: e.id, attempts: e.attempts, error: e.error },
          `event ${e.id} was returned to its source unacknowledged after ${e.attempts} attempt(s): ${e.error.message}`,
        );
      return logger.info({ event: e.id }, `event ${e.id} was returned to its source on shutdown`);
    });
    supervisor.on('event.retrying', (e) =>
      logger.warn(
        { event: e.id, attempt: e.attempt, delayMs: e.delayMs, error: e.error },
        `event ${e.id} failed (attempt ${e.attempt}): ${e.error.message}; retrying in ${e.delayMs}ms`,
      ),
    );
    // An outage of any length retries every second or two: the first attempt and then one a minute warn, the rest are debug lines.
    let reconnectWarnedAt = -Infinity;
    supervisor.on('source.reconnecting', (e) => {
      const at = now();
      const loud = e.attempt === 1 || at - reconnectWarnedAt >= RECONNECT_WARN_EVERY_MS;
      if (loud) reconnectWarnedAt = at;
      logger[loud ? 'warn' : 'debug'](
        { source: sourceType, attempt: e.attempt, delayMs: e.delayMs, error: e.error },
        `source ${sourceType}: ${e.error.message} (attempt ${e.attempt}, retrying in ${formatDuration(e.delayMs)})`,
      );
    });
    // One warning when the app's store or locks go down, one when they are back: not one per event.
    supervisor.on('dependency.down', (e) =>
      logger.warn(
        { error: e.error },
        `${app.name}: its store or locks are unavailable (${e.error.message}); the source is paused and events are held until they are back`,
      ),
    );
    supervisor.on('dependency.up', (e) =>
      logger.warn(
        { downForMs: e.downForMs, probes: e.probes },
        `${app.name}: its store and locks are available again after ${formatDuration(e.downForMs)} (${e.probes} probe(s)); resuming`,
      ),
    );
    supervisor.on('slot.replaced', (e) => {
      const why = e.reason === 'ERR_CANCELLED' ? 'was cancelled' : 'timed out';
      logger.warn(
        { slot: e.slotId, replacement: e.replacement },
        settings.isolation === 'thread'
          ? `slot ${e.slotId} ${why} and was replaced by ${e.replacement}; its thread is being terminated`
          : `slot ${e.slotId} ${why} and was replaced by ${e.replacement}; its run is abandoned until it settles`,
      );
    });
    if (logger.isLevelEnabled('debug'))
      supervisor.on('event.completed', (e) => logger.debug({ event: e.id, attempts: e.attempts }, `event ${e.id} completed`));
  };

  /** Whether the source republishes an event to its queue (a STOMP message) rather than the supervisor taking it anew. */
  const republishes = (event: OfferedEvent): event is OfferedEvent & { payload: StompEvent } =>
    sourceType === 'stomp' && driver.publish !== undefined && isStompEvent(event.payload);
  /** The error a retry of `event` meets before anything is offered, if any (see EventOffers.offerRefusal). */
  const offerRefusal = (event: OfferedEvent): FlowdError | undefined => {
    if (!actor || actor.getSnapshot().status !== 'active')
      return new FlowdError('ERR_INVALID_STATE', `cannot retry event ${event.id}: the runtime is not running`);
    const refused = republishes(event)
      ? republishRefusal(event.id, event.payload, event.raw, (driver as StompDriver).payloadClass)
      : undefined;
    return refused === undefined ? undefined : new FlowdError('ERR_NO_PUBLISH', refused);
  };

  /**
   * Offers a finished event again (the inspector's retry): a STOMP source's
   * message is republished to its queue as it came (its body's bytes, its
   * headers), so it comes back through the broker and is acknowledged or
   * dead-lettered as any other; any other source's event goes to the
   * supervisor anew, its outcome not told to the source.
   */
  const offerAgain = async (event: OfferedEvent) => {
    const refused = offerRefusal(event);
    if (refused) throw refused;
    if (republishes(event)) {
      const message = republishedMessage(event.id, event.payload, event.raw, (driver as StompDriver).payloadClass);
      await driver.publish!(message.destination, message.body, message.headers);
      return 'republished' as const;
    }
    actor!.send(eventReceived({ id: event.id, payload: event.payload, ...(event.meta ? { meta: event.meta } : {}) }));
    return 'offered' as const;
  };

  const runtime: Runtime = {
    get actor() {
      return actor;
    },
    done,
    async start() {
      if (actor || starting) throw new FlowdError('ERR_INVALID_STATE', 'the runtime was already started');
      if (parts.inspector && !inspector) await runtime.inspect(parts.inspector);
      starting = true;
      const removeSignals = parts.signals
        ? handleSignals(
            {
              logger,
              appName: app.name,
              shutdownTimeoutMs: settings.shutdownTimeoutMs,
              isStarted: () => actor !== undefined,
              stop: () => runtime.stop(),
              done,
            },
            parts.signals,
          )
        : undefined;
      // An inspector that failed to start was reported to inspect()'s caller; the run goes on without it.
      const inspecting = await inspector?.catch(() => undefined);
      runs.inspect = inspecting?.runObserver;
      // A start that fails leaves nothing open behind it: no connection, no inspector port.
      const abandonStart = async (error: unknown): Promise<never> => {
        removeSignals?.();
        await Promise.allSettled([closeAll(), inspecting?.close()]);
        throw error;
      };
      try {
        await services.open();
      } catch (error) {
        await abandonStart(error);
      }
      const configureContext: ConfigureContext = {
        log: logger,
        app,
        config,
        store: services.store,
        lock: (key, options) => services.locks.lock(key, options),
        withLock: (key, fn, options) => services.locks.withLock(key, fn, options),
        get client() {
          return services.client;
        },
      };
      try {
        await runner.configure(configureContext);
      } catch (error) {
        await abandonStart(
          new WorkerConfigureError(`worker "${runner.name}" failed in configure(): ${(error as Error)?.message ?? String(error)}`, {
            cause: error,
          }),
        );
      }
      try {
        await workflows?.start();
      } catch (error) {
        await abandonStart(error);
      }
      // Every event is a trace when the app registered a tracer provider (read now: it registers one before start()).
      const tracer = registeredTracer();
      if (tracer) {
        const events = createEventTracing(tracer, { sourceType, orderBy: settings.orderBy, settles: typeof driver.settle === 'function' });
        events.listen((type, listener) => runtime.on(type, listener));
        tracing.contextOf = (job) => events.contextOf(job);
      }
      // The lifecycle notifications cost a few emits per event: on only when something listens to them.
      const lifecycle = pending.flatMap((entry) => (LIFECYCLE_TYPES.has(entry.type) ? [entry.type as SupervisorLifecycle['type']] : []));
      const supervisor = createActor(machine, {
        input: { settings, now, random: parts.random ?? Math.random, reconnect, lifecycle },
        ...(parts.clock ? { clock: parts.clock as never } : {}),
        ...(inspecting ? { inspect: inspecting.observer } : {}),
      });
      actor = supervisor;
      logOutcomes(supervisor);
      for (const entry of pending) entry.unsubscribe = supervisor.on(entry.type, entry.listener as never).unsubscribe;
      supervisor.subscribe({
        complete: () => {
          const output = supervisor.getSnapshot().output as RunSummary;
          logger.info(
            { counters: output.counters, reason: output.reason, ...(driver.stats ? { source: driver.stats() } : {}) },
            `${app.name} stopped (${output.reason})`,
          );
          // Every outcome is in: the store, the locks and the client are no longer needed.
          void closeAll().then(() => resolveDone(output));
        },
        error: (error) => void closeAll().then(() => rejectDone(error)),
      });
      supervisor.start();
      if (runner.name === 'workflows' && sourceType === 'workflows')
        logger.info({ source: sourceType }, `${app.name} started: workflows only`);
      else
        logger.info(
          { workers: settings.workers, source: sourceType },
          `${app.name} started: ${settings.workers} worker(s), source ${sourceType}`,
        );
    },
    async stop() {
      if (!actor) throw new FlowdError('ERR_INVALID_STATE', 'the runtime was not started');
      actor.send(runtimeStop());
      return done;
    },
    inspect(options = {}) {
      if (actor || starting) return Promise.reject(new FlowdError('ERR_INVALID_STATE', 'runtime.inspect() must be called before start()'));
      if (inspector) return Promise.reject(new FlowdError('ERR_INVALID_STATE', 'the inspector was already started'));
      let settings: InspectorSettings;
      try {
        settings = compileInspectorOptions(options);
      } catch (error) {
        return Promise.reject(error as Error);
      }
      const attaching = import('../inspector/attach.js').then(({ attachInspector }) =>
        attachInspector(
          {
            now,
            snapshot: () => runtime.snapshot(),
            on: (type, listener) => runtime.on(type, listener),
            source: () => ({ type: sourceType, stats: driver.stats?.() }),
            events: {
              on: (type, listener) => runtime.on(type, listener),
              orderBy: parts.settings.orderBy,
              settles: driver.settle !== undefined,
              offerAgain,
              offerRefusal,
              cancel: (seq, reason) => {
                const running = actor && [...actor.getSnapshot().context.ledger.slots.values()].some((job) => job?.seq === seq);
                if (running) actor!.send(eventCancel(seq, reason));
                return running === true;
              },
            },
            addressFile: path.join(app.stateDir, 'inspector.json'),
            workflowRun: workflows ? (runId) => workflows.run(runId) : undefined,
          },
          settings,
          logger,
        ),
      );
      inspector = attaching;
      return attaching.then((attached) => {
        services.inspect?.(attached.observer);
        parts.plugins?.inspect?.(attached.observer);
        workflows?.inspect(attached.observer);
        // The server closes when the run ends.
        void done.catch(() => undefined).then(() => attached.close());
        return { url: attached.url, statelyUrl: attached.server.stately?.url, close: () => attached.close() };
      });
    },
    on(type, listener) {
      if (actor) {
        const subscription = actor.on(type, listener as never);
        if (LIFECYCLE_TYPES.has(type) && !actor.getSnapshot().context.ledger.emits[type as SupervisorLifecycle['type']])
          actor.send({ type: 'lifecycle.observe', types: [type as SupervisorLifecycle['type']] });
        return subscription.unsubscribe;
      }
      const entry: (typeof pending)[number] = { type, listener: listener as never };
      pending.push(entry);
      return () => {
        const index = pending.indexOf(entry);
        if (index >= 0) pending.splice(index, 1);
        entry.unsubscribe?.();
      };
    },
    snapshot() {
      const snap = actor?.getSnapshot();
      const ledger = snap?.context.ledger;
      const children = (snap?.children ?? {}) as Record<string, AnyActorRef | undefined>;
      const slots: SlotSnapshot[] = [];
      for (const [id, child] of Object.entries(children)) {
        if (!id.startsWith('slot-') || !child) continue;
        const slot = child.getSnapshot() as { value: string; context: { job: Job | undefined; startedAt?: number } };
        const job = slot.context.job;
        // An abandoned run's own start: its job record moves on with a retry.
        const startedAt = slot.context.startedAt ?? job?.startedAt;
        slots.push({
          id,
          state: slot.value,
          event: job?.delivery.id,
          attempt: job?.attempt,
          runningForMs: job && startedAt !== undefined ? now() - startedAt : undefined,
        });
      }
      const sourceRef = children.source;
      const sourceSnap = sourceRef?.getSnapshot() as
        { value: string | Record<string, string>; context?: { pausedFor?: string[] } } | undefined;
      const sourceValue = sourceSnap?.value;
      const pausedFor = sourceSnap?.context?.pausedFor;
      const outage = ledger?.outage;
      return {
        app: app.name,
        state: !snap ? 'created' : typeof snap.value === 'string' ? snap.value : (Object.keys(snap.value)[0] as RuntimeState),
        source: {
          type: sourceType,
          state:
            sourceValue === undefined
              ? snap
                ? 'stopped'
                : 'created'
              : typeof sourceValue === 'string'
                ? sourceValue
                : Object.values(sourceValue)[0]!,
          ...(pausedFor && pausedFor.length > 0 ? { pausedFor: [...pausedFor] } : {}),
          ...(driver.stats ? { stats: driver.stats() } : {}),
        },
        ...(outage
          ? { dependency: { down: true as const, error: outage.error, downForMs: now() - outage.since, probes: outage.probes } }
          : {}),
        waiting: ledger?.queue.size ?? 0,
        running: ledger?.running ?? 0,
        retrying: ledger?.retrying.size ?? 0,
        abandoned: ledger?.abandoned ?? 0,
        counters: { ...(ledger?.counters ?? zeroCounters()) },
        slots,
        ...(workflows ? { workflows: workflows.stats() } : {}),
      };
    },
    startWorkflow: async (name, input, start) => needWorkflows().startWorkflow(name, input, start),
    workflowRun: async (runId) => needWorkflows().run(runId),
    workflowEnded: async (runId) => needWorkflows().ended(runId),
  };
  return runtime;
}
