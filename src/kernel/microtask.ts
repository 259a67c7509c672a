const resolved = Promise.resolve();

/**
 * Runs `fn` in a microtask of the current task, as `queueMicrotask` does,
 * for the hot paths that batch the work of one tick (a source's deliveries,
 * the slots' reports). Node's `queueMicrotask` wraps every call in an
 * `AsyncResource` and a bound function (some 250 bytes and an async id a
 * call); a reaction on a settled promise costs one small object. An error
 * thrown by `fn` surfaces as an unhandled rejection (which stops the
 * process under node's default, as an uncaught exception would).
 * @example inMicrotask(flush)
 */
export function inMicrotask(fn: () => void): void {
  void resolved.then(fn);
}
