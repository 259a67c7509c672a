/**
 * flowd's public API: embed the runtime, define workers, choose sources.
 * @packageDocumentation
 */

/** Creates a runtime to embed in a service. */
export {
  createRuntime,
  type Runtime,
  type RuntimeOptions,
  type RunSummary,
  type RuntimeSnapshot,
  type RuntimeState,
  type SlotSnapshot,
  type RuntimeEventType,
  type RuntimeClock,
} from './runtime/runtime.js';
/** Worker forms: defineWorker({...}), a class extending Flow, or xstate actor logic. */
export {
  defineWorker,
  Flow,
  type WorkerDefinition,
  type WorkerContext,
  type ConfigureContext,
  type WorkerServices,
  type AppInfo,
  type AppSections,
  type WorkerLike,
} from '../actors/workers/worker.js';
/** Built-in sources for code: sources.interval({...}), sources.stdin({...}). */
export { sources, sourceTypes, type SourceSpec } from './runtime/sources.js';
/** What each `sources.<kind>({...})` takes: every key with its `@default`. */
export type { IntervalSourceOptions } from '../actors/sources/interval.js';
export type { StdinSourceOptions } from '../actors/sources/stdin.js';
export type { FilesSourceOptions } from '../actors/sources/files.js';
export type { HttpSourceOptions } from '../actors/sources/http.js';
export type { StompSourceOptions } from '../actors/sources/stomp.js';
export type { EventLogSourceOptions } from '../actors/sources/event-log.js';
/** Write your own source: a driver the source machine drives. */
export type { SourceDriver, Feed } from '../actors/sources/driver.js';

/** What a stomp source hands the worker for each message, and the counts it keeps. */
export type { StompEvent, StompStats } from '../actors/sources/stomp.js';
/** Event-log plugins: what `registerCallbacks(reg)` is given, the events and ctx its callbacks get. */
export type {
  LogEvent,
  MatchEvents,
  MatchFilter,
  CallbackOptions,
  PluginCallback,
  PluginContext,
  PluginRegistrar,
  PluginEmails,
  PluginModule,
  PluginInfo,
  PluginState,
} from '../actors/plugins/plugin-api.js';
export { pluginMachine } from '../machines/plugin.js';
/** Events, deliveries and settlements as they cross actors. */
export type { Delivery, Settlement, Outcome, ErrorInfo } from '../machines/events.js';
/** The machines, for drawing, inspection and tests. */
export {
  supervisorMachine,
  type SupervisorSettings,
  type SupervisorCounters,
  type SupervisorEmitted,
  type SupervisorLifecycle,
  type SettleHow,
} from '../machines/supervisor.js';
export { workerSlotMachine } from '../machines/worker-slot.js';
export { sourceMachine } from '../machines/source.js';
/** A machine compiled to a transition table, as the runtime runs its supervisor (`runtime.actor` is an `Actor<CompiledMachine<typeof supervisorMachine>>`). */
export { machineOf, type CompiledMachine } from '../machines/compile.js';
/** Errors, each with a stable code. */
export {
  FlowdError,
  ConfigError,
  UsageError,
  WorkerLoadError,
  WorkerConfigureError,
  ConflictError,
  Retry,
  FencedError,
  StoreError,
  LockError,
  ParseError,
  HttpError,
  ExpressionError,
  EventLogError,
  CursorError,
  PluginError,
  type ErrorCode,
} from './kernel/errors.js';
/** The store workers see as `ctx.store`, and `openStore` to use one outside a runtime. */
export type { Store, Versioned, PutOptions, UpdateOptions } from '../actors/stores/store-api.js';
export { openStore, type StoreOptions, type OpenedStore } from '../actors/stores/store.js';
/** Keyed locks (`ctx.lock`, `ctx.withLock`), Flow's process-wide `Locked(key)`, and `createLocks` outside a runtime. */
export type { Locks, LockHandle, LockOptions, WithLockOptions } from '../actors/locks/lock-api.js';
export { Locked, createLocks } from '../actors/locks/locks.js';
export { storeMachine } from '../machines/store.js';
export { lockMachine } from '../machines/lock.js';
/** Draws any machine: a graph of its states and transitions, as Mermaid, DOT or SVG (Graphviz in WebAssembly). */
export { describeMachine, toMermaid, toDot, renderSvg, type MachineGraph, type GraphState, type GraphTransition } from './graph/index.js';
/** `runtime.inspect(options)`: the live page, `/metrics`, `/healthz` and `/readyz`. */
export type { InspectorOptions } from './inspector/attach.js';
/** A named token of `[Inspector] tokens` (`runtime.inspect({ tokens })` also takes them by name). */
export type { InspectorToken } from './config/inspector-settings.js';
export type { InspectorHandle } from './runtime/runtime.js';
/** Built-in apps (also by their Flow names in `[Flow] class`) and the transfer plugin base class. */
export { XmlImport } from './apps/xmlimport.js';
export { MetadataMapper } from './apps/metadatamapper.js';
export { TransferPlugin, type TransferData, type TransferAsset, type TransferFailure } from './apps/transfer.js';
export { XmlExport } from './apps/xmlexport.js';
/** Mapping expressions without eval: `compileExpression('upper(title)', where).evaluate({ title })`. */
export { compileExpression, type CompiledExpression } from './apps/expressions.js';
/** Retries a read-modify-write on ConflictError, HTTP 409 / 412 or `Retry` (Flow's retry_on_conflict). */
export { retryOnConflict, type ConflictAttempt, type RetryOnConflictOptions } from './kernel/retry-on-conflict.js';
/** The REST client of `[Api]` (`ctx.client`); `createClient` makes one outside a runtime. */
export {
  ApiClient,
  createClient,
  type RestClient,
  type ApiRequest,
  type ApiResponse,
  type RequestOptions,
  type RequestBody,
  type CreateOrUpdateOptions,
  type CreateOrUpdateResult,
  type Payload,
} from './toolkit/client.js';
export { compileApiSettings, type ApiSettings } from './config/api-settings.js';
/** Flow's MultiParser: text to integers, floats, dates, times, UTC datetimes and dictionary terms. */
export {
  MultiParser,
  MULTI_PARSER_TYPES,
  compileMultiParserSettings,
  type MultiParserType,
  type MultiParserValues,
  type MultiParserOptions,
} from './toolkit/multi-parser.js';
/** Dictionary feeds (Atom or JSON) for MultiParser's `dictionary` type, cached per URL. */
export { DictionaryCache, sharedDictionaries, type DictionaryFetch } from './toolkit/dictionary.js';
/** Python strftime formats translated for luxon. */
export { translateStrftime, STRFTIME_DIRECTIVES, type StrftimeTranslation } from './toolkit/strftime.js';
/** Reads an app's INI file into its compiled config (what `flowd check` validates). */
export { loadAppConfig, compileAppConfig, type AppConfig } from './config/app-config.js';
/** Parses a duration: `30` (seconds), `250ms`, `30s`, `5m`, `1h`. */
export { parseDuration } from './kernel/duration.js';

// Workflows of activities (Flowy): plain sequential code, parallel on its own, with a durable history.
export {
  defineActivity,
  defineWorkflow,
  first,
  wait,
  finishOrder,
  Placeholder,
  type ActivityDefinition,
  type ActivityOptions,
  type ActivityConfig,
  type ActivityContext,
  type WorkflowDefinition,
  type WorkflowConfig,
  type WorkflowContext,
  type ChildWorkflowOptions,
  type WorkflowProxy,
  type Duration,
} from './workflows/workflow-api.js';
export { parallelReduce, type Reduced } from './workflows/parallel-reduce.js';
export { ChildWorkflowError } from './workflows/child-workflow.js';
export { TaskError, NondeterminismError, WorkflowError } from './workflows/errors.js';
export { ActivityAbortError } from './workflows/executor.js';
export type { RunRecord } from './workflows/engine.js';
export type { HistoryEvent, JsonValue } from './workflows/history.js';
export type { WorkflowHostStats } from './workflows/host.js';
export { workflowRunMachine } from '../machines/workflow-run.js';
