import type { RunRecord } from '../workflows/engine.js';
import { readHistory, type HistoryEvent } from '../workflows/history.js';
import { previewOf } from './preview.js';

/** One activity call of a workflow run, as `GET /api/workflows/<run id>` shows it. */
export interface WorkflowCallView {
  callId: string;
  activity: string;
  version: string | number;
  /** `scheduled`, `running`, `retrying` (between attempts), or how it ended: `completed`, `failed`, `timedOut`. */
  state: 'scheduled' | 'running' | 'retrying' | 'completed' | 'failed' | 'timedOut';
  /** The current (or last) attempt; 0 before the first starts. */
  attempt: number;
  scheduledAt: number;
  /** When the current attempt last reported liveness (`ctx.heartbeat()`), or null. */
  lastHeartbeatAt: number | null;
  /** What that heartbeat carried, as a redacted preview, or null. */
  details: string | null;
  /** Its error, for a call that failed or timed out. */
  error: { code: string; message: string } | null;
}

/** A run with its calls. */
export interface WorkflowRunView {
  runId: string;
  workflow: { name: string; version: string | number };
  state: RunRecord['state'];
  calls: WorkflowCallView[];
}

/** A run's activity calls from its recorded history (the store's record, as `flowd workflow status` reads it). */
export function workflowRunView(record: RunRecord, redact: readonly string[]): WorkflowRunView {
  const { calls } = readHistory(record.history);
  const out: WorkflowCallView[] = [];
  for (const [callId, call] of calls) {
    const events = record.history.filter(
      (event): event is HistoryEvent & { callId: string } => 'callId' in event && event.callId === callId,
    );
    let attempt = 0;
    let lastHeartbeat: (HistoryEvent & { type: 'activity.heartbeat' }) | undefined;
    for (const event of events) {
      if (event.type === 'activity.started') {
        attempt = event.attempt;
        lastHeartbeat = undefined;
      } else if (event.type === 'activity.heartbeat') lastHeartbeat = event;
    }
    const settled = call.settledAt === undefined ? undefined : record.history[call.settledAt];
    const last = events.at(-1)!;
    const state: WorkflowCallView['state'] = settled
      ? (settled.type.replace('activity.', '') as 'completed' | 'failed' | 'timedOut')
      : last.type === 'activity.started' || last.type === 'activity.heartbeat'
        ? 'running'
        : last.type === 'activity.scheduled'
          ? 'scheduled'
          : 'retrying';
    out.push({
      callId,
      activity: call.scheduled.activity.name,
      version: call.scheduled.activity.version,
      state,
      attempt,
      scheduledAt: call.scheduled.at,
      lastHeartbeatAt: lastHeartbeat?.at ?? null,
      details: lastHeartbeat?.details === undefined ? null : previewOf(lastHeartbeat.details, redact),
      error: call.outcome && !call.outcome.ok ? { code: call.outcome.error.code, message: call.outcome.error.message } : null,
    });
  }
  return { runId: record.runId, workflow: record.workflow, state: record.state, calls: out };
}
