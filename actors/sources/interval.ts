import { MAX_TIMER_DELAY } from '../../src/kernel/timers.js';
import type { Feed, SourceDriver } from './driver.js';
import { IANAZone } from 'luxon';
import { formatDuration } from '../../src/kernel/duration.js';
import type { DurationOption, SourceKind } from './source-kind.js';
import type { SectionReader } from '../../src/kernel/section-reader.js';
import { isInWindow, nextWindowOpening, parseTimeOfDay, type TimeWindow } from './window.js';

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

/** `sources.interval({ ... })`: the `[Source] type = interval` keys, in camelCase. */
export interface IntervalSourceOptions {
  /** Between events. @default '60s' */
  interval?: DurationOption;
  /** The daily window's opening, HH[:MM[:SS]]; alone, the window runs to the end of the day (as in Flow). Unset with `windowEnd`: always. */
  windowStart?: string;
  /**
   * The daily window's closing, HH[:MM[:SS]]; alone, the window runs from midnight. A window may span midnight,
   * and one whose end equals its start is the whole day (as in Flow).
   */
  windowEnd?: string;
  /** The window's IANA time zone, such as Europe/Oslo. @default 'system' */
  timezone?: string;
}

const DAY = 24 * 3600;

const formatTime = (s: number) =>
  [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60].map((n) => String(n).padStart(2, '0')).join(':');

/** `[Source] type = interval`: reads its keys and makes its driver. */
export const intervalSource: SourceKind = {
  compile(reader: SectionReader) {
    const intervalMs = reader.duration('interval', 60_000, { minMs: 1 });
    const startText = reader.string('window start');
    const endText = reader.string('window end');
    const zone = reader.string('timezone', 'system');
    if (zone !== 'system' && !IANAZone.isValidZone(zone)) {
      reader.fail('timezone', `found "${zone}"; expected an IANA time zone such as Europe/Oslo or UTC`);
    }
    let window: IntervalOptions['window'];
    if (startText !== undefined || endText !== undefined) {
      // As Flow: a start alone runs to the end of the day, an end alone from midnight, and equal times are the whole day.
      const start = startText === undefined ? 0 : parseTimeOfDay(startText);
      const end = endText === undefined ? DAY : parseTimeOfDay(endText);
      if (start === undefined) reader.fail('window start', `found "${startText}"; expected HH[:MM[:SS]] such as 01:00`);
      if (end === undefined) reader.fail('window end', `found "${endText}"; expected HH[:MM[:SS]] such as 03:00`);
      window = start === end ? { start: 0, end: DAY, zone } : { start, end, zone };
    }
    const options: IntervalOptions = { intervalMs, window };
    const description = window
      ? `interval every ${formatDuration(intervalMs)} between ${formatTime(window.start)} and ${formatTime(window.end)} (${zone})`
      : `interval every ${formatDuration(intervalMs)}`;
    return { type: 'interval', description, create: (deps = {}) => intervalDriver(options, Date, deps.log) };
  },
};
