import { describe, expect, it } from 'vitest';
import { followRun, type WaitClock } from '../../../src/cli/workflow-command.js';
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
