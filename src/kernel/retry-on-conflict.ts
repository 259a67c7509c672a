import { ConflictError, FlowdError } from './errors.js';

/** What each attempt of a function under retryOnConflict is told. */
export interface ConflictAttempt {
  /** True from the second attempt on: the previous one conflicted, so refetch before writing. */
  conflict: boolean;
  /** 1 for the first attempt, then 2, 3, ... */
  attempt: number;
}

/** Options for retryOnConflict. */
export interface RetryOnConflictOptions {
  /**
   * Calls in all, the first included, as Flow's `retry_on_conflict(max_retries=3)`
   * (which calls its function at most three times): 1 calls it once and never retries.
   * @default 3
   */
  maxRetries?: number;
  /**
   * Base of a jittered exponential pause between attempts, in ms: before
   * retry n it waits a random time up to `backoffMs * 2^(n-1)`, capped at
   * `maxBackoffMs`. Writers that collide again and again drift apart.
   * @default 0 (retry at once, as the seed did)
   */
  backoffMs?: number;
  /** @default 1000 */
  maxBackoffMs?: number;
  /** Stops waiting between attempts (the event's `ctx.signal`). */
  signal?: AbortSignal;
  /** [0, 1), for the jitter. @default Math.random */
  random?: () => number;
}

/** Whether an error asks for another attempt: a ConflictError, HTTP 409 / 412, or a thrown `Retry`. */
export function isRetryable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, status } = error as { code?: unknown; status?: unknown };
  return code === 'ERR_CONFLICT' || code === 'ERR_RETRY' || status === 409 || status === 412;
}

/**
 * Calls `fn({ conflict, attempt })` and calls it again when it throws a
 * ConflictError, an HTTP 409 / 412, or `Retry`, `maxRetries` calls in all
 * (Flow's `max_retries`). Any other error is thrown at once. When the last
 * attempt conflicts too it throws a ConflictError whose `cause` is the last
 * error (Flow's decorator returned None, losing the failure; flowd does not).
 * @example
 * await retryOnConflict(async ({ conflict }) => {
 *   const asset = await ctx.client.get(url);          // refetched on every attempt
 *   await ctx.client.put(url, change(asset.body), { etag: asset.etag });
 * });
 */
export async function retryOnConflict<T>(
  fn: (attempt: ConflictAttempt) => T | Promise<T>,
  options: RetryOnConflictOptions = {},
): Promise<T> {
  const { maxRetries = 3, backoffMs = 0, maxBackoffMs = 1000, signal, random = Math.random } = options;
  if (!Number.isInteger(maxRetries) || maxRetries < 1)
    throw new FlowdError(
      'ERR_INVALID_ARGUMENT',
      `retryOnConflict: maxRetries is ${maxRetries}; expected a whole number of at least 1 (the calls in all, the first included)`,
    );
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn({ conflict: attempt > 1, attempt });
    } catch (error) {
      if (!isRetryable(error)) throw error;
      if (attempt >= maxRetries) {
        const reason = (error as Error).message ?? String(error);
        throw new ConflictError(`gave up after ${attempt} attempt(s) (maxRetries ${maxRetries}): ${reason}`, {
          cause: error,
          ...statusOf(error),
        });
      }
      if (backoffMs > 0) await pause(Math.floor(random() * Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1))), signal);
    }
  }
}

function statusOf(error: unknown): { status?: number } {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' ? { status } : {};
}

/** Waits `ms` on the global timers (fake timers drive it); rejects with the signal's reason when it aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
