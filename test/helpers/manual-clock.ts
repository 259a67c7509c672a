import type { ExecutorClock } from '../../src/workflows/executor.js';
import { flush as settle } from './wait.js';

/** A clock whose timers run only when the test advances it; it refuses delays setTimeout cannot hold. It starts at `start` (ms). */
export function manualClock(start = 0): ExecutorClock & {
  advance(ms: number): Promise<void>;
  jump(ms: number): void;
  delays: number[];
  pending(): number;
  pendingBefore(at: number): number;
} {
  let now = start;
  let nextId = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const delays: number[] = [];
  return {
    delays,
    now: () => now,
    /** Timers armed and not yet run or cleared. */
    pending: () => timers.size,
    /** Timers armed, not yet run or cleared, that are due before `at`. */
    pendingBefore: (at: number) => [...timers.values()].filter((timer) => timer.at < at).length,
    setTimeout(fn, ms) {
      if (ms > 2_147_483_647) throw new RangeError(`a delay of ${ms}ms is past setTimeout's limit`);
      delays.push(ms);
      timers.set(++nextId, { at: now + ms, fn });
      return nextId;
    },
    clearTimeout: (id) => void timers.delete(id as number),
    /** Moves time without running timers, as a busy event loop does. */
    jump(ms) {
      now += ms;
    },
    async advance(ms) {
      const end = now + ms;
      await settle();
      for (;;) {
        const due = [...timers].filter(([, timer]) => timer.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await settle();
      }
      now = end;
    },
  };
}
