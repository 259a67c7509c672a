import { DateTime } from 'luxon';

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

/** The next moment at or after `ms` when the window opens (ms epoch). */
export function nextWindowOpening(window: TimeWindow, ms: number): number {
  if (isInWindow(window, ms)) return ms;
  const now = DateTime.fromMillis(ms, { zone: window.zone });
  const h = Math.floor(window.start / 3600);
  const m = Math.floor((window.start % 3600) / 60);
  const s = window.start % 60;
  let opening = now.set({ hour: h, minute: m, second: s, millisecond: 0 });
  if (opening.toMillis() <= ms) opening = opening.plus({ days: 1 }).set({ hour: h, minute: m, second: s, millisecond: 0 });
  return opening.toMillis();
}
