import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { InspectorSettings } from '../config/inspector-settings.js';
export { compileInspectorOptions, type InspectorOptions } from '../config/inspector-settings.js';
import { createInspection, type Inspection } from './inspection.js';
import { createRuntimeMetrics, type MetricsSource, type RuntimeMetrics } from './metrics.js';
import { startInspectorServer, type InspectorServer } from './server.js';
import { createJournal, type Journal, type JournalOptions } from './journal.js';
import { journalActions, type EventOffers } from './journal-actions.js';
import { removeAddressFile, writeAddressFile } from './address-file.js';
import type { RunRecord } from '../workflows/engine.js';
import { workflowRunView } from './workflow-calls.js';

/** `runtime.inspect({...})` / `createRuntime({ inspector })`: `[Inspector]` in camelCase. */

/** What the inspector reads from a runtime. */
export interface InspectedRuntime extends MetricsSource {
  now(): number;
  /** The source's type and counters, for its summary. */
  source(): { type: string; stats?: Record<string, number> | undefined };
  /** What the journal and its actions (retry, cancel) need; without it there is no journal. */
  events?: EventOffers & {
    /** Every notification, lifecycle ones included (subscribing to those turns them on). */
    on: JournalOptions['on'];
    /** `[Flow] order by`, for each event's key. */
    orderBy: readonly string[] | undefined;
    /** Whether the source takes outcomes (a broker, an event log): each event then ends settled with it. */
    settles: boolean;
  };
  /** A workflow run's record, with workflows. */
  workflowRun?: ((runId: string) => Promise<RunRecord | undefined>) | undefined;
  /** Where the running daemon tells its inspector's address (`flowd events` reads it); none when embedded without a state folder. */
  addressFile?: string | undefined;
}

/** An inspector attached to a runtime. */
export interface AttachedInspector {
  url: string;
  inspection: Inspection;
  metrics: RuntimeMetrics;
  server: InspectorServer;
  /** The event journal (none with `journal size = 0`). */
  journal: Journal | undefined;
  /** The observer for the runtime's actors (`createActor(logic, { inspect })`). */
  observer: (event: InspectionEvent) => void;
  /** The observer for the runs of workers that are actor logic. */
  runObserver: (event: InspectionEvent) => void;
  close(): Promise<void>;
}

/**
 * Why a runtime is not ready: not started, stopping, its source not running
 * (failed, reconnecting, connecting), more than half its slots abandoned
 * (runs past the execution timeout that have not settled), its store or
 * locks unavailable, an actor failed.
 */
export function readiness(runtime: Pick<MetricsSource, 'snapshot'>, inspection: Inspection): string[] {
  const snap = runtime.snapshot() as ReturnType<MetricsSource['snapshot']> & {
    state?: string;
    source: { state?: string };
    dependency?: { error: { message: string }; downForMs: number };
    abandoned?: number;
    slots?: unknown[];
  };
  const reasons: string[] = [];
  if (snap.state === 'created') reasons.push('the runtime has not started');
  else if (snap.state === 'stopping' || snap.state === 'stopped') reasons.push(`the runtime is ${snap.state}`);
  const sourceState = snap.source.state;
  const sourceDown = snap.state !== 'created' && sourceState !== 'running' && sourceState !== 'paused';
  if (sourceDown) reasons.push(`source ${snap.source.type} is ${sourceState ?? 'unknown'}`);
  const abandoned = snap.abandoned ?? 0;
  const usable = (snap.slots?.length ?? 0) - abandoned;
  if (abandoned > 0 && abandoned * 2 > usable)
    reasons.push(
      `${abandoned} worker slot(s) are abandoned, more than half of ${usable}: their runs passed the execution timeout and have not settled (a worker that ignores its AbortSignal)`,
    );
  if (snap.dependency)
    reasons.push(
      `the app's store or locks are unavailable (for ${Math.round(snap.dependency.downForMs)}ms): ${snap.dependency.error.message}`,
    );
  // A failed source is told once, above, by its type: not again as its actor (`source is failed`).
  reasons.push(...inspection.failures(sourceDown ? ['source'] : []));
  return reasons;
}

/** Starts the hub, the metrics and the server for a runtime; logs where the inspector listens. */
export async function attachInspector(runtime: InspectedRuntime, settings: InspectorSettings, log?: Logger): Promise<AttachedInspector> {
  const app = runtime.snapshot().app;
  const events = runtime.events;
  const journal =
    events && settings.journalSize > 0
      ? createJournal({
          on: events.on,
          now: () => runtime.now(),
          size: settings.journalSize,
          redact: settings.redact,
          source: runtime.source().type,
          orderBy: events.orderBy,
          settles: events.settles,
        })
      : undefined;
  // The journal reads the steps every event takes from the supervisor's inspection events, through the hub's observer.
  const inspection = createInspection({ app, now: () => runtime.now(), source: () => runtime.source(), tap: journal?.observe });
  const metrics = createRuntimeMetrics(runtime);
  let server: InspectorServer;
  try {
    server = await startInspectorServer({
      settings,
      inspection,
      metrics,
      readiness: () => readiness(runtime, inspection),
      log,
      journal: journal && events ? { journal, actions: journalActions(journal, events, log) } : undefined,
      workflowRun: runtime.workflowRun
        ? async (runId) => {
            const record = await runtime.workflowRun!(runId);
            return record && workflowRunView(record, settings.redact);
          }
        : undefined,
    });
  } catch (error) {
    metrics.close();
    inspection.close();
    journal?.close();
    throw error;
  }
  if (runtime.addressFile) await writeAddressFile(runtime.addressFile, { url: server.url, pid: process.pid }, log);
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
    journal,
    observer: server.observer,
    runObserver: server.runObserver,
    close: () =>
      (closed ??= (async () => {
        // First: a daemon that exits right after its run ends must not leave its address behind.
        if (runtime.addressFile) removeAddressFile(runtime.addressFile, server.url);
        await server.close();
        metrics.close();
        inspection.close();
        journal?.close();
      })()),
  };
}
