import { describe, expect, it } from 'vitest';
import { followRun, progressLines, renderRun, type WaitClock } from '../../../src/cli/workflow-command.js';
import type { RunRecord } from '../../../src/workflows/engine.js';
import type { HistoryEvent } from '../../../src/workflows/history.js';

/** A clock whose sleep moves time on at once: the wait runs through minutes in no time. */
function steppingClock(): WaitClock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

const started: HistoryEvent = { type: 'workflow.started', at: 0, input: null };
const scheduled = {
  type: 'activity.scheduled',
  at: 1,
  callId: 'Transcode#1',
  activity: { name: 'Transcode', version: 1 },
  taskList: 'default',
  input: null,
  options: {},
} as unknown as HistoryEvent;
const record = (state: RunRecord['state'], history: HistoryEvent[], extra: Partial<RunRecord> = {}): RunRecord => ({
  runId: 'r1',
  workflow: { name: 'Upload', version: 1 },
  state,
  history,
  ...extra,
});

describe('followRun', () => {
  it('says when no daemon has taken up the run, again and again while that lasts, and once when one does', async () => {
    const clock = steppingClock();
    const notes: string[] = [];
    // A daemon takes the run up after 40s and it completes at 41s.
    const read = () =>
      Promise.resolve(
        clock.now() < 40_000
          ? record('running', [started])
          : clock.now() < 41_000
            ? record('running', [started, scheduled])
            : record('completed', [started, scheduled], { result: 1 }),
      );
    const result = await followRun(read, 'r1', {
      pollMs: 500,
      clock,
      unclaimedAfterMs: 3000,
      unclaimedEveryMs: 15_000,
      onUnclaimed: (runId, waitedMs) => notes.push(`unclaimed ${runId} ${waitedMs}`),
      onClaimed: (runId) => notes.push(`claimed ${runId} ${clock.now()}`),
    });
    expect(result?.state).toBe('completed');
    expect(notes).toEqual(['unclaimed r1 3000', 'unclaimed r1 18000', 'unclaimed r1 33000', 'claimed r1 40000']);
  });

  it('says nothing about a run a daemon takes up in time', async () => {
    const clock = steppingClock();
    const notes: string[] = [];
    const read = () =>
      Promise.resolve(
        clock.now() < 1000
          ? record('running', [started])
          : clock.now() < 60_000
            ? record('running', [started, scheduled])
            : record('failed', [started, scheduled], { error: { code: 'ERR_TASK', message: 'no' } }),
      );
    const result = await followRun(read, 'r1', {
      pollMs: 500,
      clock,
      onUnclaimed: () => notes.push('unclaimed'),
      onClaimed: () => notes.push('claimed'),
    });
    expect(result?.state).toBe('failed');
    expect(notes).toEqual([]);
  });

  it('gives up after timeoutMs with undefined, having said so on the way', async () => {
    const clock = steppingClock();
    const notes: number[] = [];
    const result = await followRun(() => Promise.resolve(record('running', [started])), 'r1', {
      pollMs: 1000,
      timeoutMs: 20_000,
      clock,
      onUnclaimed: (_, waitedMs) => notes.push(waitedMs),
    });
    expect(result).toBeUndefined();
    expect(notes).toEqual([3000, 18_000]);
    expect(clock.now()).toBe(20_000);
  });

  it('follows a run that continues as new, and times the notes for the new run from when it began', async () => {
    const clock = steppingClock();
    const notes: string[] = [];
    const continued: string[] = [];
    const read = (runId: string) =>
      Promise.resolve(
        runId === 'r1' ? record('restarted', [started, scheduled], { next: 'r2' }) : { ...record('running', [started]), runId: 'r2' },
      );
    const result = await followRun(read, 'r1', {
      pollMs: 1000,
      timeoutMs: 5000,
      clock,
      onContinued: (from, to) => void continued.push(`${from} -> ${to}`),
      onUnclaimed: (runId, waitedMs) => notes.push(`${runId} ${waitedMs}`),
    });
    expect(result).toBeUndefined();
    expect(continued).toEqual(['r1 -> r2']);
    expect(notes).toEqual(['r2 3000']);
  });
});

/** `activity.scheduled` of `callId` at `at`, on task list `video`, with `options`. */
const scheduledAt = (at: number, callId: string, options: Record<string, unknown> = { retries: 3 }) =>
  ({
    type: 'activity.scheduled',
    at,
    callId,
    activity: { name: callId.split('#')[0], version: 1 },
    taskList: 'video',
    input: 'talk.mp3',
    options,
  }) as unknown as HistoryEvent;

describe('progressLines', () => {
  it('tells the calls in the order the history has them, each end with the counts at that point, and each thing once', () => {
    const first: HistoryEvent[] = [
      started,
      scheduledAt(1, 'Transcoding#1'),
      scheduledAt(1, 'ThumbnailGenerator#1'),
      scheduledAt(1, 'AddSubtitles#1'),
      {
        type: 'activity.failed',
        at: 2,
        callId: 'ThumbnailGenerator#1',
        attempt: 1,
        error: { code: 'ERR_X', message: 'no frame' },
        final: true,
      },
      { type: 'activity.timedOut', at: 3, callId: 'Transcoding#1', attempt: 1, kind: 'startToClose', final: false },
      { type: 'activity.completed', at: 4, callId: 'Transcoding#1', result: 'talk.mp4' },
    ];
    const told = new Set<string>();
    expect(progressLines(record('running', first), told)).toEqual([
      'Transcoding#1 scheduled',
      'ThumbnailGenerator#1 scheduled',
      'AddSubtitles#1 scheduled',
      'ThumbnailGenerator#1 failed: no frame (1 done, 3 scheduled so far)',
      'Transcoding#1 completed (2 done, 3 scheduled so far)',
    ]);
    // Later: the metadata is scheduled and ends before the subtitles, which were scheduled first.
    const later: HistoryEvent[] = [
      ...first,
      scheduledAt(5, 'MetadataProcessing#1'),
      { type: 'activity.completed', at: 6, callId: 'MetadataProcessing#1', result: 1 },
      { type: 'activity.completed', at: 7, callId: 'AddSubtitles#1', result: 'talk.en.vtt' },
    ];
    expect(progressLines(record('completed', later), told)).toEqual([
      'MetadataProcessing#1 scheduled',
      'MetadataProcessing#1 completed (3 done, 4 scheduled so far)',
      'AddSubtitles#1 completed (4 done, 4 scheduled so far)',
    ]);
    expect(progressLines(record('completed', later), told)).toEqual([]);
  });
});

describe('renderRun', () => {
  it('shows the task list and the options each call was scheduled with, after the layers', () => {
    const text = renderRun(
      record('running', [
        started,
        scheduledAt(1, 'Transcoding#1', { startToClose: 300, heartbeat: 90_000, retries: 1 }),
        scheduledAt(1, 'AddSubtitles#1', { delay: 1500, retries: 2, retryDelays: [10_000, 60_000], retryErrors: true }),
      ]),
      false,
    );
    expect(text).toMatch(
      / {2}activity\.scheduled {2}Transcoding#1 {2}input "talk\.mp3" {2}task list video, startToClose 300ms, heartbeat 1\.5m, retry 1$/m,
    );
    expect(text).toMatch(
      / {2}activity\.scheduled {2}AddSubtitles#1 {2}input "talk\.mp3" {2}task list video, delay 1\.5s, retry \[10s, 1m\], retryErrors$/m,
    );
  });
});
