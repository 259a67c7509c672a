import { MAX_TIMER_DELAY } from '../../src/kernel/timers.js';
import type { Feed, SourceDriver } from './driver.js';
import { isInWindow, nextWindowOpening, type TimeWindow } from './window.js';

/** `[Source] type = interval`, compiled. */
export interface IntervalOptions {
  /** Between events (ms). @default 60000 */
  intervalMs: number;
  /** Only fire inside this daily window, when given. */
  window: TimeWindow | undefined;
}

/**
 * Fires an event (`null`, as in Flow) every interval, at once on start and
 * then on schedule; outside the window it sleeps until the window opens.
 * While paused, ticks are skipped rather than piled up.
 */
export function intervalDriver(
  options: IntervalOptions,
  clock: { now(): number } = Date,
  log: { info(fields: object, message: string): void } = { info: () => {} },
): SourceDriver {
  let timer: NodeJS.Timeout | undefined;
  let paused = false;
  let tick = 0;
  let feed: Feed | undefined;

  // setTimeout turns longer delays into 1 ms: wait in steps.
  const schedule = (at: number): void => {
    const delay = Math.max(0, at - clock.now());
    timer = delay > MAX_TIMER_DELAY ? setTimeout(() => schedule(at), MAX_TIMER_DELAY) : setTimeout(fire, delay);
  };
  const fire = (): void => {
    const now = clock.now();
    if (options.window && !isInWindow(options.window, now)) {
      const opening = nextWindowOpening(options.window, now);
      log.info(
        { nextEventAt: new Date(opening).toISOString() },
        `interval: outside its window; next event at ${new Date(opening).toISOString()}`,
      );
      schedule(opening);
      return;
    }
    tick++;
    if (!paused) feed?.deliver(null, { id: `tick-${tick}`, meta: { firedAt: new Date(now).toISOString() } });
    schedule(now + options.intervalMs);
  };

  return {
    type: 'interval',
    start(f) {
      feed = f;
      fire();
    },
    stop() {
      clearTimeout(timer);
      feed = undefined;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
    },
  };
}
