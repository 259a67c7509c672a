import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/workflows/engine.js';
import type { HistoryEvent } from '../../src/workflows/history.js';
import { workflowRunView } from '../../src/inspector/workflow-calls.js';

const scheduled = (callId: string, name: string, at: number) =>
  ({
    type: 'activity.scheduled',
    at,
    callId,
    activity: { name, version: 1 },
    taskList: 'default',
    input: null,
    options: {},
  }) as unknown as HistoryEvent;

describe('workflowRunView', () => {
  it("shows each activity call's state, attempt, last heartbeat and its details (redacted), and a failed call's error", () => {
    const history = [
      { type: 'workflow.started', at: 1, input: null },
      scheduled('Encode#1', 'Encode', 2),
      { type: 'activity.started', at: 3, callId: 'Encode#1', attempt: 1 },
      { type: 'activity.failed', at: 4, callId: 'Encode#1', attempt: 1, error: { code: 'ERR_X', message: 'no codec' }, final: false },
      { type: 'activity.started', at: 5, callId: 'Encode#1', attempt: 2 },
      { type: 'activity.heartbeat', at: 6, callId: 'Encode#1', details: { percent: 40, token: 'secret' } },
      scheduled('Notify#1', 'Notify', 7),
      scheduled('Thumb#1', 'Thumb', 8),
      { type: 'activity.started', at: 9, callId: 'Thumb#1', attempt: 1 },
      { type: 'activity.failed', at: 10, callId: 'Thumb#1', attempt: 1, error: { code: 'ERR_Y', message: 'broken' }, final: true },
    ] as HistoryEvent[];
    const record = { runId: 'r1', workflow: { name: 'Upload', version: 1 }, state: 'running', history } as RunRecord;
    expect(workflowRunView(record, [])).toEqual({
      runId: 'r1',
      workflow: { name: 'Upload', version: 1 },
      state: 'running',
      calls: [
        {
          callId: 'Encode#1',
          activity: 'Encode',
          version: 1,
          state: 'running',
          attempt: 2,
          scheduledAt: 2,
          lastHeartbeatAt: 6,
          details: '{"percent":40,"token":"[redacted]"}',
          error: null,
        },
        {
          callId: 'Notify#1',
          activity: 'Notify',
          version: 1,
          state: 'scheduled',
          attempt: 0,
          scheduledAt: 7,
          lastHeartbeatAt: null,
          details: null,
          error: null,
        },
        {
          callId: 'Thumb#1',
          activity: 'Thumb',
          version: 1,
          state: 'failed',
          attempt: 1,
          scheduledAt: 8,
          lastHeartbeatAt: null,
          details: null,
          error: { code: 'ERR_Y', message: 'broken' },
        },
      ],
    });
  });
});
