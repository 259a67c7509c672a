import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SupervisorCounters, SupervisorEmitted } from '../../machines/supervisor.js';

/** What the metrics read from a runtime: its snapshot at scrape time and its outcome events. */
export interface MetricsSource {
  snapshot(): { app: string; source: { type: string }; waiting: number; running: number; counters: SupervisorCounters };
  on(
    type: 'event.completed' | 'event.failed' | 'event.expired' | 'event.rejected' | 'event.returned',
    listener: (event: SupervisorEmitted) => void,
  ): () => void;
}

/** A runtime's Prometheus metrics, in a registry of its own. */
export interface RuntimeMetrics {
  registry: Registry;
  /** The text `GET /metrics` serves. */
  text(): Promise<string>;
  contentType: string;
  /** Stops listening to the runtime's outcomes. */
  close(): void;
}

/** Bucket bounds in seconds, from a millisecond to ten minutes. */
export const TIME_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

const COUNTERS: Array<[name: string, help: string, key: keyof SupervisorCounters]> = [
  ['flowd_events_received_total', 'Events taken from the source.', 'received'],
  ['flowd_events_completed_total', 'Events whose worker finished.', 'completed'],
  ['flowd_events_failed_total', 'Events that failed after their last attempt (unreadable ones included).', 'failed'],
  ['flowd_events_expired_total', 'Events that waited longer than the queue timeout.', 'expired'],
  ['flowd_events_dead_lettered_total', 'Failed events dead-lettered at their source.', 'deadLettered'],
];

/**
 * Registers flowd's metrics for one runtime: outcome counters (read from
 * the supervisor's counters at scrape time, so they always agree with
 * `runtime.snapshot()`), queue depth and busy slots, and histograms of how
 * long events waited in the queue and how long their last run took, one
 * observation per outcome of an event that ran.
 * Labels: `app` and `source` (the source's type).
 * @example
 * const metrics = createRuntimeMetrics(runtime);
 * response.end(await metrics.text());
 */
export function createRuntimeMetrics(runtime: MetricsSource): RuntimeMetrics {
  const registry = new Registry();
  const labelNames = ['app', 'source'] as const;
  const labels = () => {
    const snap = runtime.snapshot();
    return { snap, labels: { app: snap.app, source: snap.source.type } };
  };
  for (const [name, help, key] of COUNTERS) {
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const { snap, labels: l } = labels();
        this.reset();
        this.inc(l, snap.counters[key]);
      },
    });
  }
  new Gauge({
    name: 'flowd_queue_depth',
    help: 'Events waiting in the queue.',
    labelNames,
    registers: [registry],
    collect() {
      const { snap, labels: l } = labels();
      this.set(l, snap.waiting);
    },
  });
  new Gauge({
    name: 'flowd_busy_slots',
    help: 'Worker slots running an event.',
    labelNames,
    registers: [registry],
    collect() {
      const { snap, labels: l } = labels();
      this.set(l, snap.running);
    },
  });
  const wait = new Histogram({
    name: 'flowd_event_wait_seconds',
    help: 'How long an event waited in the queue before its last attempt started.',
    labelNames,
    buckets: TIME_BUCKETS,
    registers: [registry],
  });
  const run = new Histogram({
    name: 'flowd_event_run_seconds',
    help: "How long an event's last attempt ran.",
    labelNames,
    buckets: TIME_BUCKETS,
    registers: [registry],
  });

  let fixed: { app: string; source: string } | undefined;
  const observe = (event: SupervisorEmitted) => {
    const e = event as { waitMs?: number; runMs?: number };
    if (e.waitMs === undefined && e.runMs === undefined) return;
    fixed ??= labels().labels;
    if (e.waitMs !== undefined) wait.observe(fixed, e.waitMs / 1000);
    if (e.runMs !== undefined) run.observe(fixed, e.runMs / 1000);
  };
  const unsubscribe = (['event.completed', 'event.failed', 'event.expired', 'event.rejected', 'event.returned'] as const).map((type) =>
    runtime.on(type, observe),
  );
  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    close: () => unsubscribe.forEach((off) => off()),
  };
}
