import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressReporter, type TransferReport } from '../../src/apps/transfer-report.js';

function reporter(intervalMs = 1000) {
  const sent: TransferReport[] = [];
  const errors: unknown[] = [];
  const progress = new ProgressReporter({
    send: async (report) => {
      sent.push(report);
    },
    onError: (error) => errors.push(error),
    intervalMs,
    now: () => Date.now(),
  });
  return { progress, sent, errors };
}

describe('ProgressReporter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports 0, 99 and 100 in quick succession, all three, in order', async () => {
    const { progress, sent } = reporter();
    void progress.progress(0);
    void progress.progress(99);
    await progress.progress(100);
    expect(sent).toEqual([{ progress: 0 }, { progress: 99 }, { progress: 100 }]);
  });

  it('sends at most one report per interval, the latest value at its end', async () => {
    const { progress, sent } = reporter(1000);
    await progress.progress(1);
    for (const p of [2, 3, 4, 5]) void progress.progress(p);
    expect(sent).toEqual([{ progress: 1 }]);
    await vi.advanceTimersByTimeAsync(999);
    expect(sent).toEqual([{ progress: 1 }]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toEqual([{ progress: 1 }, { progress: 5 }]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(2);
  });

  it('only goes up, in whole percentages (floored), and ignores repeats', async () => {
    const { progress, sent } = reporter(0);
    await progress.progress(10.9);
    await progress.progress(10.2);
    await progress.progress(5);
    await progress.progress(99.99);
    expect(sent).toEqual([{ progress: 10 }, { progress: 99 }]);
  });

  it('refuses a value that is not a percentage', () => {
    const { progress } = reporter();
    expect(() => progress.progress(101)).toThrowError(/got 101; expected a number from 0 to 100/);
    expect(() => progress.progress(Number.NaN)).toThrowError(/expected a number from 0 to 100/);
    expect(() => progress.progress(-1)).toThrowError(/got -1; expected a number from 0 to 100/);
  });

  it('sends the waiting value before the final status, and nothing after it', async () => {
    const { progress, sent } = reporter();
    await progress.progress(10);
    void progress.progress(50);
    await progress.finish({ status: 'failed', message: 'disk full' });
    await progress.progress(90);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toEqual([{ progress: 10 }, { progress: 50 }, { status: 'failed', message: 'disk full' }]);
  });

  it('hands a progress report that could not be sent to onError and goes on; a final status that fails rejects', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const progress = new ProgressReporter({
      send: () => (++calls === 1 ? Promise.reject(new Error('step unreachable')) : Promise.resolve()),
      onError: (error) => errors.push(error),
      intervalMs: 0,
    });
    await progress.progress(1);
    await progress.progress(2);
    expect(errors).toEqual([new Error('step unreachable')]);
    expect(calls).toBe(2);
    const failing = new ProgressReporter({ send: () => Promise.reject(new Error('gone')), onError: () => {}, intervalMs: 0 });
    await expect(failing.finish({ status: 'completed' })).rejects.toThrow('gone');
  });
});
