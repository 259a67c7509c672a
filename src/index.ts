/**
 * flowd's public API: embed the runtime, define workers, choose sources.
 * @packageDocumentation
 */

/** Creates a runtime to embed in a service. */
export { createRuntime, type Runtime, type RuntimeOptions, type RunSummary, type RuntimeSnapshot, type SlotSnapshot, type RuntimeEventType, type RuntimeClock } from './runtime.js';
/** Worker forms: defineWorker({...}), a class extending Flow, or xstate actor logic. */
export { defineWorker, Flow, type WorkerDefinition, type WorkerContext, type ConfigureContext, type AppInfo, type AppSections, type WorkerLike } from '../actors/workers/worker.js';
/** Built-in sources for code: sources.interval({...}), sources.stdin({...}). */
export { sources, sourceTypes, type SourceSpec } from './sources.js';
/** Write your own source: a driver the source machine drives. */
export type { SourceDriver, Feed } from '../actors/sources/driver.js';

/** What a stomp source hands the worker for each message, and the counts it keeps. */
export type { StompEvent, StompStats } from '../actors/sources/stomp.js';
/** Events, deliveries and settlements as they cross actors. */
export type { Delivery, Settlement, Outcome, ErrorInfo } from '../machines/events.js';
/** The machines, for drawing, inspection and tests. */
export { supervisorMachine, type SupervisorSettings, type SupervisorCounters, type SupervisorEmitted } from '../machines/supervisor.js';
export { workerSlotMachine } from '../machines/worker-slot.js';
export { sourceMachine } from '../machines/source.js';
/** Errors, each with a stable code. */
export { FlowdError, ConfigError, UsageError, WorkerLoadError, WorkerConfigureError, type ErrorCode } from './errors.js';
/** Reads an app's INI file into its compiled config (what `flowd check` validates). */
export { loadAppConfig, compileAppConfig, type AppConfig } from './config/app-config.js';
/** Parses a duration: `30` (seconds), `250ms`, `30s`, `5m`, `1h`. */
export { parseDuration } from './config/duration.js';
