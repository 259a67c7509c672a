/**
 * A pass (a folder scan, say) that never runs twice at once: a call made
 * while one runs waits for it, and the pass runs once more before it ends,
 * so that however many calls came meanwhile, one more pass sees what they
 * asked about. `pass` returns false to stop repeating (the owner stopped).
 */
export function coalescedPass(pass: () => Promise<boolean>): {
  /** Runs the pass; true for the call that ran it, false for a call that joined one already running. */
  run(): Promise<boolean>;
  /** The pass under way, if any. */
  readonly current: Promise<void> | undefined;
} {
  let current: Promise<void> | undefined;
  let again = false;
  return {
    async run() {
      if (current) {
        again = true;
        await current;
        return false;
      }
      current = (async () => {
        do {
          again = false;
          if (!(await pass())) return;
        } while (again);
      })().finally(() => {
        current = undefined;
      });
      await current;
      return true;
    },
    get current() {
      return current;
    },
  };
}
