import { describe, expect, it } from 'vitest';
import { checkRunRecord } from '../../src/workflows/run-record.js';

const started = { type: 'workflow.started', at: 1, input: { video: 'cat.mov' } };
const scheduled = {
  type: 'activity.scheduled',
  at: 2,
  callId: 'Transcode#1',
  activity: { name: 'Transcode', version: 1 },
  taskList: 'default',
  input: 'cat.mov',
  options: { retries: 3 },
};
const record = (...history: unknown[]) => ({ runId: 'r1', workflow: { name: 'Upload', version: 1 }, state: 'running', history });

describe('a stored run record, checked before any use', () => {
  it('passes a history flowd writes', () => {
    const ok = record(
      started,
      scheduled,
      { type: 'activity.started', at: 3, callId: 'Transcode#1', attempt: 1 },
      { type: 'activity.completed', at: 4, callId: 'Transcode#1', result: 'cat.mp4' },
    );
    expect(checkRunRecord(ok, 'workflow/run/r1')).toBe(ok);
  });

  it.each([
    [
      'a scheduled call with no activity',
      record(started, { ...scheduled, callId: { a: 1 }, activity: null }),
      /history\[1\] \(activity.scheduled\) to have a "callId" string/,
    ],
    [
      'a scheduled call whose activity is null',
      record(started, { ...scheduled, activity: null }),
      /history\[1\] \(activity.scheduled\) to have an "activity" \{ name, version \}/,
    ],
    [
      'an event of a call never scheduled',
      record(started, { type: 'activity.completed', at: 2 }),
      /history\[1\] \(activity.completed\) to have a "callId" string/,
    ],
    [
      'a completion naming an unknown call',
      record(started, { type: 'activity.completed', at: 2, callId: 'X#1' }),
      /to name a call scheduled before it \(no activity.scheduled for "X#1"\)/,
    ],
    [
      'a failure without its error',
      record(started, scheduled, { type: 'activity.failed', at: 3, callId: 'Transcode#1', attempt: 1, final: true }),
      /history\[2\] \(activity.failed\) to have an "error" \{ code, message \}/,
    ],
    ['an event type flowd never writes', record(started, { type: 'activity.exploded', at: 2 }), /to be an event flowd writes/],
  ])('names the key and the event for %s (ERR_WORKFLOW_STATE)', (_what, value, message) => {
    let thrown: unknown;
    try {
      checkRunRecord(value, 'workflow/run/r1');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'ERR_WORKFLOW_STATE' });
    expect((thrown as Error).message).toContain('workflow/run/r1');
    expect((thrown as Error).message).toMatch(message);
  });
});
