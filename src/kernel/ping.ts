/**
 * A dependency that answers a cheap health check: the store's backend, the
 * locks' driver. While the app's store or locks are down, the runtime pings
 * them (on a backoff) to learn when they are back, instead of re-running a
 * user's worker as the probe.
 */
export interface Pingable {
  /**
   * Resolves when the dependency answers (Redis: PING on its connection; a
   * folder: it is there and writable). Rejects with its `..._UNAVAILABLE`
   * error when it does not, and with the signal's reason once `signal`
   * aborts (it never waits longer than the caller allows).
   */
  ping(signal?: AbortSignal): Promise<void>;
}

/**
 * Waits for `promise`, or rejects with the signal's reason as soon as
 * `signal` aborts (the work itself goes on; its outcome is ignored).
 * @example await untilAborted(redis.ping(), AbortSignal.timeout(1000));
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
