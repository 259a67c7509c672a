import { DateTime, FixedOffsetZone } from 'luxon';

/** A daily time window in a zone: `start` inclusive, `end` exclusive; it may wrap midnight. */
export interface TimeWindow {
  /** Seconds after midnight. */
  start: number;
  end: number;
  zone: string;
}

/** Parses HH[:MM[:SS]] into seconds after midnight, or undefined. */
export function parseTimeOfDay(text: string): number | undefined {
  const match = /^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?$/.exec(text.trim());
  if (!match) return undefined;
  const [h, m, s] = [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
  if (h > 23 || m > 59 || s > 59) return undefined;
  return h * 3600 + m * 60 + s;
}

function secondsOfDay(at: DateTime): number {
  return at.hour * 3600 + at.minute * 60 + at.second;
}

/** Whether `ms` (epoch) falls inside the window. */
export function isInWindow(window: TimeWindow, ms: number): boolean {
  const t = secondsOfDay(DateTime.fromMillis(ms, { zone: window.zone }));
  return window.start < window.end ? t >= window.start && t < window.end : t >= window.start || t < window.end;
}

/**
 * The next moment at or after `ms` when the window is open (ms epoch).
 *
 * The window is wall-clock time, so besides the start time on each day the
 * candidates include the moments the zone's offset changes: a start that
 * falls in a spring-forward gap opens the window as the clocks jump, and a
 * start in a repeated hour (clocks going back) opens it again on its second
 * pass.
 */
export function nextWindowOpening(window: TimeWindow, ms: number): number {
  if (isInWindow(window, ms)) return ms;
  const hour = Math.floor(window.start / 3600);
  const minute = Math.floor((window.start % 3600) / 60);
  const second = window.start % 60;
  const today = DateTime.fromMillis(ms, { zone: window.zone }).startOf('day');
  const candidates: number[] = [];
  for (let d = 0; d <= 2; d++) {
    const day = today.plus({ days: d });
    const end = day.plus({ days: 1 });
    for (const offset of new Set([day.offset, end.offset])) {
      // The start time on this day's wall clock, under each offset the day has.
      const at = DateTime.fromObject(
        { year: day.year, month: day.month, day: day.day, hour, minute, second },
        { zone: FixedOffsetZone.instance(offset) },
      );
      candidates.push(at.toMillis());
    }
    if (day.offset !== end.offset) candidates.push(offsetChange(day.toMillis(), end.toMillis(), window.zone));
  }
  const opening = candidates.filter((c) => c >= ms && isInWindow(window, c)).sort((a, b) => a - b)[0];
  return opening ?? today.plus({ days: 1 }).set({ hour, minute, second }).toMillis();
}

/** The first millisecond in (from, to] whose offset differs from `from`'s (binary search). */
function offsetChange(from: number, to: number, zone: string): number {
  const before = DateTime.fromMillis(from, { zone }).offset;
  let lo = from;
  let hi = to;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (DateTime.fromMillis(mid, { zone }).offset === before) lo = mid;
    else hi = mid;
  }
  return hi;
}
