import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { isInWindow, nextWindowOpening, parseTimeOfDay, type TimeWindow } from '../../actors/sources/window.js';

const H = 3600;
const M = 60;

/** Epoch ms of an ISO date-time read in `zone`. */
const at = (iso: string, zone = 'UTC'): number => {
  const dt = DateTime.fromISO(iso, { zone });
  if (!dt.isValid) throw new Error(`bad test time ${iso}`);
  return dt.toMillis();
};
const iso = (ms: number, zone = 'UTC'): string => DateTime.fromMillis(ms, { zone }).toISO()!;

/** The first whole minute at or after `from` that is inside the window, by brute force (up to two days). */
function firstOpenMinute(window: TimeWindow, from: number): number | undefined {
  const start = Math.ceil(from / 60_000) * 60_000;
  for (let t = start; t <= from + 2 * 24 * H * 1000; t += 60_000) if (isInWindow(window, t)) return t;
  return undefined;
}

describe('parseTimeOfDay', () => {
  it('reads hours alone as whole hours after midnight', () => {
    expect(parseTimeOfDay('0')).toBe(0);
    expect(parseTimeOfDay('7')).toBe(7 * H);
    expect(parseTimeOfDay('07')).toBe(7 * H);
    expect(parseTimeOfDay('23')).toBe(23 * H);
  });

  it('reads hours and minutes', () => {
    expect(parseTimeOfDay('01:00')).toBe(H);
    expect(parseTimeOfDay('7:30')).toBe(7 * H + 30 * M);
    expect(parseTimeOfDay('23:59')).toBe(23 * H + 59 * M);
  });

  it('reads hours, minutes and seconds', () => {
    expect(parseTimeOfDay('00:00:01')).toBe(1);
    expect(parseTimeOfDay('12:34:56')).toBe(12 * H + 34 * M + 56);
    expect(parseTimeOfDay('23:59:59')).toBe(86_399);
  });

  it('ignores whitespace around the time', () => {
    expect(parseTimeOfDay('  03:15 ')).toBe(3 * H + 15 * M);
    expect(parseTimeOfDay('\t9\n')).toBe(9 * H);
  });

  it('rejects hours, minutes or seconds out of range', () => {
    expect(parseTimeOfDay('24')).toBeUndefined();
    expect(parseTimeOfDay('24:00')).toBeUndefined();
    expect(parseTimeOfDay('12:60')).toBeUndefined();
    expect(parseTimeOfDay('12:00:60')).toBeUndefined();
    expect(parseTimeOfDay('99:99:99')).toBeUndefined();
  });

  it('rejects text that is not HH[:MM[:SS]]', () => {
    for (const text of [
      '',
      ' ',
      'noon',
      '123',
      '1:2',
      '12:3',
      '12:30:4',
      '12:30:45:00',
      '-1',
      '+1',
      '12h',
      '12.30',
      '12:30 pm',
      '１２',
      '12:',
    ]) {
      expect(parseTimeOfDay(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('gives back the seconds of every valid HH:MM:SS', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }), (h, m, s) => {
        const pad = (n: number) => String(n).padStart(2, '0');
        expect(parseTimeOfDay(`${pad(h)}:${pad(m)}:${pad(s)}`)).toBe(h * H + m * M + s);
      }),
    );
  });
});

describe('isInWindow', () => {
  const office: TimeWindow = { start: 9 * H, end: 17 * H, zone: 'UTC' };

  it('includes the start of the window', () => {
    expect(isInWindow(office, at('2025-01-15T09:00:00'))).toBe(true);
  });

  it('excludes the last instant before the start', () => {
    expect(isInWindow(office, at('2025-01-15T08:59:59.999'))).toBe(false);
  });

  it('includes the last second before the end', () => {
    expect(isInWindow(office, at('2025-01-15T16:59:59.999'))).toBe(true);
  });

  it('excludes the end of the window', () => {
    expect(isInWindow(office, at('2025-01-15T17:00:00'))).toBe(false);
  });

  it('is false well outside a window that does not wrap', () => {
    expect(isInWindow(office, at('2025-01-15T03:00'))).toBe(false);
    expect(isInWindow(office, at('2025-01-15T23:00'))).toBe(false);
  });

  describe('with a window that wraps midnight (22:00-02:00)', () => {
    const night: TimeWindow = { start: 22 * H, end: 2 * H, zone: 'UTC' };

    it('is open from the start until midnight', () => {
      expect(isInWindow(night, at('2025-01-15T22:00'))).toBe(true);
      expect(isInWindow(night, at('2025-01-15T23:59:59'))).toBe(true);
    });

    it('is open from midnight until the end', () => {
      expect(isInWindow(night, at('2025-01-16T00:00'))).toBe(true);
      expect(isInWindow(night, at('2025-01-16T01:59:59.999'))).toBe(true);
    });

    it('is closed at the end and during the day', () => {
      expect(isInWindow(night, at('2025-01-16T02:00'))).toBe(false);
      expect(isInWindow(night, at('2025-01-16T12:00'))).toBe(false);
      expect(isInWindow(night, at('2025-01-16T21:59:59.999'))).toBe(false);
    });
  });

  it("evaluates the time of day in the window's zone", () => {
    // 09:00-10:00 in Tokyo (UTC+9, no DST) is 00:00-01:00 UTC.
    const tokyo: TimeWindow = { start: 9 * H, end: 10 * H, zone: 'Asia/Tokyo' };
    const utc: TimeWindow = { ...tokyo, zone: 'UTC' };
    const halfPastMidnightUtc = at('2025-01-16T00:30');
    expect(isInWindow(tokyo, halfPastMidnightUtc)).toBe(true);
    expect(isInWindow(utc, halfPastMidnightUtc)).toBe(false);
    const halfPastNineUtc = at('2025-01-16T09:30');
    expect(isInWindow(tokyo, halfPastNineUtc)).toBe(false);
    expect(isInWindow(utc, halfPastNineUtc)).toBe(true);
  });

  it('follows daylight saving time in a zone that has it', () => {
    // 08:00-09:00 in Oslo is 07:00-08:00 UTC in winter and 06:00-07:00 UTC in summer.
    const oslo: TimeWindow = { start: 8 * H, end: 9 * H, zone: 'Europe/Oslo' };
    expect(isInWindow(oslo, at('2025-01-15T07:30'))).toBe(true);
    expect(isInWindow(oslo, at('2025-07-15T07:30'))).toBe(false);
    expect(isInWindow(oslo, at('2025-07-15T06:30'))).toBe(true);
  });

  it('reads the "system" zone as the local time of this process', () => {
    const window: TimeWindow = { start: 10 * H, end: 11 * H, zone: 'system' };
    for (let hour = 0; hour < 48; hour++) {
      const ms = at('2025-01-15T00:15') + hour * H * 1000;
      const local = new Date(ms);
      expect(isInWindow(window, ms), local.toString()).toBe(local.getHours() === 10);
    }
  });
});

describe('nextWindowOpening', () => {
  const office: TimeWindow = { start: 9 * H, end: 17 * H, zone: 'UTC' };

  it('is the moment itself when the window is open', () => {
    const ms = at('2025-01-15T12:34:56.789');
    expect(nextWindowOpening(office, ms)).toBe(ms);
  });

  it('is later the same day before the window opens', () => {
    expect(iso(nextWindowOpening(office, at('2025-01-15T06:10:20.300')))).toBe('2025-01-15T09:00:00.000Z');
  });

  it('is the next day once the window has closed', () => {
    expect(iso(nextWindowOpening(office, at('2025-01-15T17:00')))).toBe('2025-01-16T09:00:00.000Z');
    expect(iso(nextWindowOpening(office, at('2025-01-15T23:59:59')))).toBe('2025-01-16T09:00:00.000Z');
  });

  it('crosses a month and a year end', () => {
    expect(iso(nextWindowOpening(office, at('2025-12-31T18:00')))).toBe('2026-01-01T09:00:00.000Z');
  });

  it('keeps the seconds of the window start', () => {
    const window: TimeWindow = { start: 9 * H + 5 * M + 7, end: 10 * H, zone: 'UTC' };
    expect(iso(nextWindowOpening(window, at('2025-01-15T09:05:06.999')))).toBe('2025-01-15T09:05:07.000Z');
  });

  it('finds the evening start of a window that wraps midnight', () => {
    const night: TimeWindow = { start: 22 * H, end: 2 * H, zone: 'UTC' };
    expect(iso(nextWindowOpening(night, at('2025-01-15T02:00')))).toBe('2025-01-15T22:00:00.000Z');
    expect(iso(nextWindowOpening(night, at('2025-01-15T21:00')))).toBe('2025-01-15T22:00:00.000Z');
    const inside = at('2025-01-16T01:00');
    expect(nextWindowOpening(night, inside)).toBe(inside);
  });

  it("computes the opening in the window's zone", () => {
    const tokyo: TimeWindow = { start: 9 * H, end: 10 * H, zone: 'Asia/Tokyo' };
    // 12:00 UTC is 21:00 in Tokyo: the next 09:00 there is 00:00 UTC the next day.
    expect(iso(nextWindowOpening(tokyo, at('2025-01-15T12:00')))).toBe('2025-01-16T00:00:00.000Z');
    expect(iso(nextWindowOpening({ ...tokyo, zone: 'UTC' }, at('2025-01-15T12:00')))).toBe('2025-01-16T09:00:00.000Z');
  });

  it('lands on an open moment, with the window closed one second earlier, for any time in UTC', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 86_399 }),
        fc.integer({ min: 0, max: 86_399 }),
        fc.integer({ min: at('2000-01-01T00:00'), max: at('2040-01-01T00:00') }),
        (start, end, ms) => {
          fc.pre(start !== end);
          const window: TimeWindow = { start, end, zone: 'UTC' };
          const opening = nextWindowOpening(window, ms);
          expect(opening).toBeGreaterThanOrEqual(ms);
          expect(opening - ms).toBeLessThanOrEqual(24 * H * 1000);
          expect(isInWindow(window, opening)).toBe(true);
          if (opening > ms) expect(isInWindow(window, opening - 1000)).toBe(false);
        },
      ),
    );
  });

  it('agrees with a minute-by-minute search on ordinary days in several zones', () => {
    const windows: TimeWindow[] = [
      { start: 9 * H, end: 17 * H, zone: 'Europe/Oslo' },
      { start: 22 * H, end: 2 * H, zone: 'America/New_York' },
      { start: 1 * H + 30 * M, end: 3 * H, zone: 'Asia/Tokyo' },
    ];
    for (const window of windows) {
      for (let step = 0; step < 48; step++) {
        const from = at('2025-05-10T00:07') + step * 37 * M * 1000;
        expect(nextWindowOpening(window, from), `${window.zone} from ${iso(from)}`).toBe(firstOpenMinute(window, from));
      }
    }
  });

  // BUG: on the day clocks go forward, a start inside the skipped hour is moved
  // an hour later by luxon's set(), but the window is really open from the end
  // of the gap: in Oslo on 2025-03-30, 02:00 CET jumps to 03:00 CEST, so a
  // 02:30-04:00 window is open from 03:00 CEST (isInWindow agrees).
  it('opens a window whose start falls in the spring-forward gap as soon as the clocks jump', () => {
    const window: TimeWindow = { start: 2 * H + 30 * M, end: 4 * H, zone: 'Europe/Oslo' };
    const jump = at('2025-03-30T03:00', 'Europe/Oslo');
    expect(isInWindow(window, jump)).toBe(true);
    expect(iso(nextWindowOpening(window, at('2025-03-30T01:00', 'Europe/Oslo')), 'Europe/Oslo')).toBe(iso(jump, 'Europe/Oslo'));
  });

  // BUG: on the day clocks go back, 02:00-03:00 happens twice in Oslo.
  // isInWindow says a 02:30-02:45 window is open again at 02:30 CET, 40 minutes
  // after 02:50 CEST, but nextWindowOpening skips to the next day.
  it('finds the second 02:30 on the day clocks go back', () => {
    const window: TimeWindow = { start: 2 * H + 30 * M, end: 2 * H + 45 * M, zone: 'Europe/Oslo' };
    const from = at('2025-10-26T02:50:00+02:00');
    const again = at('2025-10-26T02:30:00+01:00');
    expect(again - from).toBe(40 * M * 1000);
    expect(isInWindow(window, again)).toBe(true);
    expect(iso(nextWindowOpening(window, from))).toBe(iso(again));
  });
});
