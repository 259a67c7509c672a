import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { MultiParser } from '../../src/toolkit/multi-parser.js';
import { translateStrftime } from '../../src/toolkit/strftime.js';

/** Real zones: with and without summer time, half- and quarter-hour offsets, the southern hemisphere, a zone that skipped a day (Apia, 2011). */
const ZONES = [
  'UTC',
  'Europe/Oslo',
  'Europe/London',
  'America/New_York',
  'America/Sao_Paulo',
  'America/St_Johns',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Pacific/Apia',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Asia/Tokyo',
  'Africa/Casablanca',
];

/** Formats and the precision they keep, in ms. */
const FORMATS: Array<{ format: string; precision: number }> = [
  { format: '%Y-%m-%dT%H:%M:%S', precision: 1000 },
  { format: '%d/%m/%Y %H:%M:%S', precision: 1000 },
  { format: '%d/%m/%Y %H:%M', precision: 60_000 },
  { format: '%a %d %b %Y %I:%M:%S %p', precision: 1000 },
  { format: '%A, %B %d, %Y %I:%M %p', precision: 60_000 },
  { format: '%Y-%j %H:%M:%S.%f', precision: 1 },
  { format: '%y%m%d%H%M%S', precision: 1000 },
  { format: "%d.%m.%Y at %H o'clock, %M:%S", precision: 1000 },
  { format: '%Y-%m-%dT%H:%M:%S%z', precision: 1000 },
  { format: '%Y-%m-%d %H:%M:%S %Z', precision: 1000 },
];

// 1972 on: some zones had offsets of odd seconds before (Monrovia until 1972); %y covers 1969-2068.
const instantArb = fc.integer({ min: Date.UTC(1972, 0, 1), max: Date.UTC(2067, 11, 31) });

/** What a wall clock in `zone` shows at `instant`, to the minute or second. */
const wall = (instant: number, zone: string) => DateTime.fromMillis(instant, { zone }).toFormat('yyyy-MM-dd HH:mm:ss.SSS');

describe('MultiParser datetime (property)', () => {
  it('reads back any instant written in any zone with any format, to the format precision', () => {
    fc.assert(
      fc.property(
        instantArb,
        fc.constantFrom(...ZONES),
        fc.constantFrom(...FORMATS),
        fc.constantFrom(...ZONES),
        (instant, zone, { format, precision }, other) => {
          const expected = Math.floor(instant / precision) * precision;
          const text = DateTime.fromMillis(instant, { zone }).toFormat(translateStrftime(format).format, { locale: 'en-US' });
          // A value naming its own offset or zone does not need the default timezone: give it another.
          const carriesZone = /%[zZ]/.test(format);
          const parser = new MultiParser({ type: 'datetime', format, defaultTimezone: carriesZone ? other : zone });
          const parsed = Date.parse(parser.convertSync(text)!);
          if (format.includes('%z')) {
            expect(parsed).toBe(expected);
            return;
          }
          // A wall time shown twice (clocks going back) reads as the earlier instant, on purpose.
          if (parsed !== expected) {
            expect(parsed).toBeLessThan(expected);
            expect(wall(parsed, zone)).toBe(wall(expected, zone));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('reads every instant of the hours around summer-time changes back as the earlier of equal wall times', () => {
    // Every 10 minutes through the days of the 2024 changes in New York, Oslo, Lord Howe (30 min) and Sydney.
    const days = [
      ['America/New_York', '2024-03-10'],
      ['America/New_York', '2024-11-03'],
      ['Europe/Oslo', '2024-03-31'],
      ['Europe/Oslo', '2024-10-27'],
      ['Australia/Lord_Howe', '2024-04-07'],
      ['Australia/Lord_Howe', '2024-10-06'],
      ['Australia/Sydney', '2024-04-07'],
    ] as const;
    let repeated = 0;
    for (const [zone, day] of days) {
      const parser = new MultiParser({ type: 'datetime', format: '%Y-%m-%d %H:%M', defaultTimezone: zone });
      const start = DateTime.fromISO(day, { zone }).toMillis();
      const seen = new Map<string, number>();
      for (let instant = start; instant < start + 86_400_000; instant += 600_000) {
        const text = DateTime.fromMillis(instant, { zone }).toFormat('yyyy-MM-dd HH:mm');
        const parsed = Date.parse(parser.convertSync(text)!);
        // The first instant showing this text is the one expected.
        if (seen.has(text)) repeated++;
        else seen.set(text, instant);
        expect(parsed).toBe(seen.get(text));
      }
    }
    // Three fall-back days, an hour (half an hour on Lord Howe) shown twice each.
    expect(repeated).toBe(6 + 6 + 3 + 6);
  });

  it('reads back any instant written as ISO 8601 with its offset, or without it in the default timezone', () => {
    fc.assert(
      fc.property(instantArb, fc.constantFrom(...ZONES), (instant, zone) => {
        const local = DateTime.fromMillis(instant, { zone });
        expect(Date.parse(new MultiParser({ type: 'iso', defaultTimezone: 'Asia/Tokyo' }).convertSync(local.toISO()!)!)).toBe(instant);
        const withoutOffset = Date.parse(
          new MultiParser({ type: 'iso', defaultTimezone: zone }).convertSync(local.toISO({ includeOffset: false })!)!,
        );
        expect(wall(withoutOffset, zone)).toBe(wall(instant, zone));
        expect(withoutOffset).toBeLessThanOrEqual(instant);
      }),
      { numRuns: 1000 },
    );
  });
});
