import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConflictError, FlowdError, Retry } from '../../../src/kernel/errors.js';
import { isRetryable, retryOnConflict } from '../../../src/kernel/retry-on-conflict.js';

describe('retryOnConflict', () => {
  afterEach(() => vi.useRealTimers());

  it('returns the first attempt that does not conflict, telling each attempt whether the last one conflicted', async () => {
    const seen: Array<{ conflict: boolean; attempt: number }> = [];
    const result = await retryOnConflict((attempt) => {
      seen.push(attempt);
      if (attempt.attempt < 3) throw new ConflictError('stale');
      return 'written';
    });
    expect(result).toBe('written');
    expect(seen).toEqual([
      { conflict: false, attempt: 1 },
      { conflict: true, attempt: 2 },
      { conflict: true, attempt: 3 },
    ]);
  });

  it('retries on HTTP 409 and 412 and on Retry, and throws any other error at once', async () => {
    for (const error of [
      Object.assign(new Error('conflict'), { status: 409 }),
      Object.assign(new Error('precondition'), { status: 412 }),
      new Retry('not yet'),
    ]) {
      let calls = 0;
      await retryOnConflict(() => {
        if (++calls === 1) throw error;
      });
      expect(calls).toBe(2);
    }
    let calls = 0;
    const boom = Object.assign(new Error('server error'), { status: 500 });
    await expect(
      retryOnConflict(() => {
        calls++;
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(calls).toBe(1);
  });

  it("calls the function maxRetries times in all, as Flow's retry_on_conflict(max_retries=3) does, then throws a ConflictError carrying the last error", async () => {
    // Flow's decorator: `for retry in range(max_retries)`, so max_retries=3 is three calls (eblade/flow flow/operation.py).
    let calls = 0;
    const last = Object.assign(new Error('etag mismatch'), { status: 412 });
    const failure = await retryOnConflict(
      () => {
        calls++;
        throw last;
      },
      { maxRetries: 3 },
    ).catch((error: unknown) => error as ConflictError);
    expect(calls).toBe(3);
    // Flow returned None here, losing the failure; flowd throws (docs/differences.md).
    expect(failure).toBeInstanceOf(ConflictError);
    expect(failure).toMatchObject({ code: 'ERR_CONFLICT', status: 412, cause: last });
    expect(failure.message).toMatch(/gave up after 3 attempt\(s\) \(maxRetries 3\): etag mismatch/);
  });

  it('calls the function 3 times by default, and once with maxRetries 1', async () => {
    for (const [options, expected] of [
      [undefined, 3],
      [{ maxRetries: 1 }, 1],
    ] as const) {
      let calls = 0;
      await expect(
        retryOnConflict(() => {
          calls++;
          throw new ConflictError('stale');
        }, options),
      ).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      expect(calls).toBe(expected);
    }
  });

  it('makes at most maxRetries calls for any run of conflicts, and returns the first that does not conflict', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 10 }), async (maxRetries, conflicts) => {
        let calls = 0;
        const outcome = await retryOnConflict(
          () => {
            if (++calls <= conflicts) throw new ConflictError('stale');
            return 'written';
          },
          { maxRetries },
        ).catch((error: unknown) => error);
        expect(calls).toBe(Math.min(conflicts + 1, maxRetries));
        if (conflicts < maxRetries) expect(outcome).toBe('written');
        else expect(outcome).toBeInstanceOf(ConflictError);
      }),
    );
  });

  it('waits a jittered, growing, capped pause between attempts when given a backoff', async () => {
    vi.useFakeTimers();
    const times: number[] = [];
    const work = retryOnConflict(
      () => {
        times.push(Date.now());
        if (times.length < 4) throw new ConflictError('again');
        return 'done';
      },
      { maxRetries: 4, backoffMs: 100, maxBackoffMs: 300, random: () => 0.99 },
    );
    await vi.runAllTimersAsync();
    await expect(work).resolves.toBe('done');
    const pauses = times.slice(1).map((t, i) => t - times[i]!);
    expect(pauses).toEqual([99, 198, 297]);
  });

  it('stops waiting when its signal aborts', async () => {
    const controller = new AbortController();
    const work = retryOnConflict(
      () => {
        controller.abort(new Error('shutdown'));
        throw new ConflictError('again');
      },
      { backoffMs: 60_000, signal: controller.signal },
    );
    await expect(work).rejects.toThrow('shutdown');
  });

  it("rejects a bad maxRetries, 0 included (Flow's max_retries=0 never called the function)", async () => {
    await expect(retryOnConflict(() => 1, { maxRetries: -1 })).rejects.toThrow(/maxRetries is -1; expected a whole number of at least 1/);
    await expect(retryOnConflict(() => 1, { maxRetries: 0 })).rejects.toThrow(/maxRetries is 0; expected a whole number of at least 1/);
  });

  it('knows which errors are retryable', () => {
    expect(isRetryable(new ConflictError('x'))).toBe(true);
    expect(isRetryable(new FlowdError('ERR_STORE', 'x'))).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
  });
});
