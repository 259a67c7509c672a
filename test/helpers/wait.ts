// Waiting in tests: `until` polls a condition, `flush` lets pending work run. Use these instead of loops with setTimeout.

export interface UntilOptions {
  /** Rejects after this many milliseconds (default 10 s, under the test's own timeout). */
  timeout?: number;
  /** Milliseconds between checks; 0 (the default) re-checks on the next macrotask turn. */
  interval?: number;
  /** What is awaited, for the timeout's message. */
  what?: string;
  /** Rejects the wait at once with the error this resolves to (a daemon that exited, say). */
  abortOn?: Promise<Error>;
}

/** Resolves once `check` (sync or async) returns true; rejects on timeout, naming `what`, or when `abortOn` settles first. */
export async function until(check: () => boolean | Promise<boolean>, options: UntilOptions = {}): Promise<void> {
  const { timeout = 10_000, interval = 0, what = 'the condition', abortOn } = options;
  const deadline = Date.now() + timeout;
  let aborted: Error | undefined;
  void abortOn?.then((error) => (aborted = error));
  for (;;) {
    if (aborted) throw aborted;
    if (await check()) return;
    if (aborted) throw aborted;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeout}ms waiting for ${what}`);
    await (interval > 0 ? new Promise((resolve) => setTimeout(resolve, interval)) : flush());
  }
}

/**
 * Lets everything already scheduled run: promise callbacks, xstate's deferred
 * sends and actor starts, I/O callbacks. One macrotask turn (setImmediate).
 * Prefer xstate's `waitFor(actor, predicate)` where a state can be awaited.
 */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
