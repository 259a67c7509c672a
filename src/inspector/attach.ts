import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { InspectorSettings } from '../config/inspector-settings.js';
export { compileInspectorOptions, type InspectorOptions } from '../config/inspector-settings.js';
import { createInspection, type Inspection } from './inspection.js';
import { createRuntimeMetrics, type MetricsSource, type RuntimeMetrics } from './metrics.js';
import { startInspectorServer, type InspectorServer } from './server.js';

/** `runtime.inspect({...})` / `createRuntime({ inspector })`: `[Inspector]` in camelCase. */

/** What the inspector reads from a runtime. */
export interface InspectedRuntime extends MetricsSource {
  now(): number;
  /** The source's type and counters, for its summary. */
  source(): { type: string; stats?: Record<string, number> | undefined };
}

/** An inspector attached to a runtime. */
export interface AttachedInspector {
  url: string;
  inspection: Inspection;
  metrics: RuntimeMetrics;
  server: InspectorServer;
  /** The observer for the runtime's actors (`createActor(logic, { inspect })`). */
  observer: (event: InspectionEvent) => void;
  /** The observer for the runs of workers that are actor logic. */
  runObserver: (event: InspectionEvent) => void;
  close(): Promise<void>;
}

/** Why a runtime is not ready: not started, stopping, its source not running, its store or locks unavailable, an actor failed. */
export function readiness(runtime: Pick<MetricsSource, 'snapshot'>, inspection: Inspection): string[] {
  const snap = runtime.snapshot() as ReturnType<MetricsSource['snapshot']> & {
    state?: string;
    source: { state?: string };
    dependency?: { error: { message: string }; downForMs: number };
  };
  const reasons: string[] = [];
  if (snap.state === 'created') reasons.push('the runtime has not started');
  else if (snap.state === 'stopping' || snap.state === 'stopped') reasons.push(`the runtime is ${snap.state}`);
  const sourceState = snap.source.state;
  if (snap.state !== 'created' && sourceState !== 'running' && sourceState !== 'paused')
    reasons.push(`source ${snap.source.type} is ${sourceState ?? 'unknown'}`);
  if (snap.dependency)
    reasons.push(
      `the app's store or locks are unavailable (for ${Math.round(snap.dependency.downForMs)}ms): ${snap.dependency.error.message}`,
    );
  reasons.push(...inspection.failures());
  return reasons;
}

/** Starts the hub, the metrics and the server for a runtime; logs where the inspector listens. */
export async function attachInspector(runtime: InspectedRuntime, settings: InspectorSettings, log?: Logger): Promise<AttachedInspector> {
  const app = runtime.snapshot().app;
  const inspection = createInspection({ app, now: () => runtime.now(), source: () => runtime.source() });
  const metrics = createRuntimeMetrics(runtime);
  let server: InspectorServer;
  try {
    server = await startInspectorServer({ settings, inspection, metrics, readiness: () => readiness(runtime, inspection), log });
  } catch (error) {
    metrics.close();
    inspection.close();
    throw error;
  }
  log?.info(
    { inspector: server.url, ...(server.stately ? { stately: server.stately.url } : {}) },
    `inspector at ${server.url}${server.stately ? ` (Stately's inspector at ${server.stately.url})` : ''}`,
  );
  let closed: Promise<void> | undefined;
  return {
    url: server.url,
    inspection,
    metrics,
    server,
    observer: server.observer,
    runObserver: server.runObserver,
    close: () =>
      (closed ??= (async () => {
        await server.close();
        metrics.close();
        inspection.close();
      })()),
  };
}
