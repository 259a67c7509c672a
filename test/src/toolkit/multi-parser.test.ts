import { describe, expect, it } from 'vitest';
import { SectionReader, type RawValue } from '../../../src/kernel/section-reader.js';
import { FlowdError, ParseError } from '../../../src/kernel/errors.js';
import {
  compileMultiParserSettings,
  MultiParser,
  utcIso,
  type MultiParserOptions,
  type MultiParserType,
} from '../../../src/toolkit/multi-parser.js';
import { expectConfigError } from '../../helpers/config-error.js';

/** The injected clock: 2025-06-01T00:00:00Z. */
const JUNE_2025 = Date.UTC(2025, 5, 1);

function parser<T extends MultiParserType>(options: MultiParserOptions<T>) {
  return new MultiParser<T>({ now: () => JUNE_2025, ...options });
}

/** The ParseError that converting `raw` throws. */
function parseError(options: MultiParserOptions, raw: unknown): ParseError {
  try {
    parser(options).convertSync(raw as string);
  } catch (error) {
    expect(error).toBeInstanceOf(ParseError);
    return error as ParseError;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be refused`);
}

describe('MultiParser', () => {
  it("converts '' to null for every type, as Flow's MultiParser returns None (and white space alone for every type but string)", async () => {
    const options: MultiParserOptions[] = [
      { type: 'string' },
      { type: 'integer' },
      { type: 'float' },
      { type: 'iso' },
      { type: 'date', format: '%d/%m' },
      { type: 'time' },
      { type: 'datetime', format: '%d/%m/%Y %H:%M', defaultTimezone: 'Europe/Oslo' },
    ];
    for (const option of options) {
      expect(parser(option).convertSync(''), option.type).toBeNull();
      await expect(parser(option).convert(''), option.type).resolves.toBeNull();
      if (option.type !== 'string') expect(parser(option).convertSync(' \n'), option.type).toBeNull();
    }
    // A dictionary is not fetched for nothing: this source does not exist.
    await expect(parser({ type: 'dictionary', source: 'http://127.0.0.1:9/none' }).convert('')).resolves.toBeNull();
  });

  describe('string', () => {
    it('returns the text as given, white space and all, and is the default type', async () => {
      const strings = new MultiParser();
      expect(strings.type).toBe('string');
      await expect(strings.convert('  Hello, world \n')).resolves.toBe('  Hello, world \n');
      expect(strings.convertSync(' ')).toBe(' ');
    });

    it('refuses a value that is not text', () => {
      expect(parseError({}, 42).message).toBe('cannot parse 42 as string: expected text, found number');
    });
  });

  describe('integer', () => {
    it('returns a number for a whole number, ignoring surrounding white space', () => {
      const integers = parser({ type: 'integer' });
      expect(integers.convertSync(' 42\n')).toBe(42);
      expect(integers.convertSync('-7')).toBe(-7);
      expect(integers.convertSync('+0012')).toBe(12);
      expect(Object.is(integers.convertSync('-0'), 0)).toBe(true);
      expect(integers.convertSync('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    });

    it('refuses fractions, words and integers a number cannot hold exactly', () => {
      const error = parseError({ type: 'integer' }, '4.2');
      expect(error).toMatchObject({ code: 'ERR_PARSE', type: 'integer', format: undefined, value: '4.2' });
      expect(error.message).toBe('cannot parse "4.2" as integer: expected a whole number such as 42 or -7');
      expect(parseError({ type: 'integer' }, 'forty').message).toBe(
        'cannot parse "forty" as integer: expected a whole number such as 42 or -7',
      );
      expect(parseError({ type: 'integer' }, '9007199254740993').message).toBe(
        'cannot parse "9007199254740993" as integer: it is beyond ±9007199254740991, so a number cannot hold it exactly',
      );
    });
  });

  describe('float', () => {
    it('returns a number for decimals and exponents', () => {
      const floats = parser({ type: 'float' });
      expect(floats.convertSync('3.14')).toBe(3.14);
      expect(floats.convertSync('-.5')).toBe(-0.5);
      expect(floats.convertSync('1e6')).toBe(1_000_000);
      expect(floats.convertSync('2.')).toBe(2);
      expect(floats.convertSync(' 7 ')).toBe(7);
    });

    it('refuses infinity, NaN, overflow and decimal commas', () => {
      expect(parseError({ type: 'float' }, 'inf').message).toBe(
        'cannot parse "inf" as float: expected a finite number; JSON cannot carry infinity or NaN',
      );
      expect(parseError({ type: 'float' }, 'NaN').message).toBe(
        'cannot parse "NaN" as float: expected a finite number; JSON cannot carry infinity or NaN',
      );
      expect(parseError({ type: 'float' }, '1e400').message).toBe(
        'cannot parse "1e400" as float: it is beyond the range of a double (±1.8e308)',
      );
      expect(parseError({ type: 'float' }, '1,5').message).toBe(
        'cannot parse "1,5" as float: expected a decimal number such as 3.14, -0.5 or 1e6',
      );
    });
  });

  describe('iso', () => {
    it('returns the instant in UTC, keeping an offset the value carries', () => {
      const iso = parser({ type: 'iso', defaultTimezone: 'Europe/Oslo' });
      expect(iso.convertSync('2024-12-04T15:07:09+01:00')).toBe('2024-12-04T14:07:09Z');
      expect(iso.convertSync('2024-12-04T14:07:09Z')).toBe('2024-12-04T14:07:09Z');
      expect(iso.convertSync('2024-12-04T15:07:09.25-05:00')).toBe('2024-12-04T20:07:09.250Z');
    });

    it('reads a value without an offset in the default timezone, with summer time', () => {
      const iso = parser({ type: 'iso', defaultTimezone: 'Europe/Oslo' });
      expect(iso.convertSync('2024-12-04T15:07:09')).toBe('2024-12-04T14:07:09Z');
      expect(iso.convertSync('2024-07-04T15:07:09')).toBe('2024-07-04T13:07:09Z');
      expect(iso.convertSync('2024-12-04')).toBe('2024-12-03T23:00:00Z');
      expect(parser({ type: 'iso' }).convertSync('2024-12-04T15:07')).toBe('2024-12-04T15:07:00Z');
    });

    it('takes a space between date and time, as the seed did', () => {
      expect(parser({ type: 'iso', defaultTimezone: 'Asia/Tokyo' }).convertSync('2024-12-04 15:07:09')).toBe('2024-12-04T06:07:09Z');
    });

    it('refuses text that is not ISO 8601, saying why when luxon knows', () => {
      expect(parseError({ type: 'iso' }, '04/12/2024').message).toBe(
        'cannot parse "04/12/2024" as iso: expected ISO 8601 such as 2024-12-04T15:07:09+01:00, 2024-12-04T14:07:09Z or 2024-12-04',
      );
      expect(parseError({ type: 'iso' }, '2024-13-04').message).toMatch(
        / \(you specified 13 \(of type number\) as a month, which is invalid\)$/,
      );
    });
  });

  describe('date', () => {
    it('converts the seed example %d/%m with the year of now, where strptime would say 1900', async () => {
      const dates = parser({ type: 'date', format: '%d/%m' });
      await expect(dates.convert('4/12')).resolves.toBe('2025-12-04');
      expect(dates.convertSync('04/12')).toBe('2025-12-04');
    });

    it('takes the year of now in the default timezone', () => {
      const newYearsEve = Date.UTC(2025, 11, 31, 12, 0);
      expect(
        new MultiParser({ type: 'date', format: '%d/%m', now: () => newYearsEve, defaultTimezone: 'Pacific/Kiritimati' }).convertSync(
          '1/1',
        ),
      ).toBe('2026-01-01');
      expect(new MultiParser({ type: 'date', format: '%d/%m', now: () => newYearsEve }).convertSync('1/1')).toBe('2025-01-01');
    });

    it('returns the date as written, whatever the time and zone', () => {
      expect(parser({ type: 'date' }).convertSync('2024-02-29')).toBe('2024-02-29');
      expect(
        parser({ type: 'date', format: '%d %B %Y %H:%M%z', defaultTimezone: 'Asia/Tokyo' }).convertSync('4 December 2024 23:30-0500'),
      ).toBe('2024-12-04');
      expect(parser({ type: 'date', format: '%A %d %b %y' }).convertSync('wednesday 04 DEC 24')).toBe('2024-12-04');
    });

    it('refuses a date that does not exist, or a weekday that does not fit it', () => {
      const error = parseError({ type: 'date', format: '%d/%m/%Y' }, '31/02/2024');
      expect(error).toMatchObject({ type: 'date', format: '%d/%m/%Y', value: '31/02/2024' });
      expect(error.message).toBe('cannot parse "31/02/2024" as date with format "%d/%m/%Y": you specified 31 as a day, which is invalid');
      expect(parseError({ type: 'date', format: '%a %d/%m/%Y' }, 'Tue 04/12/2024').message).toBe(
        'cannot parse "Tue 04/12/2024" as date with format "%a %d/%m/%Y": Tuesday does not fall on 2024-12-04, a Wednesday',
      );
    });

    it('refuses text that does not match, with an example of what would', () => {
      expect(parseError({ type: 'date', format: '%d/%m/%Y' }, '2024-12-04').message).toBe(
        'cannot parse "2024-12-04" as date with format "%d/%m/%Y": it does not match the format (expected "%d/%m/%Y", e.g. "04/12/2024")',
      );
    });
  });

  describe('time', () => {
    it('returns HH:mm:ss, with milliseconds when the format has %f', () => {
      expect(parser({ type: 'time' }).convertSync('9:05:07')).toBe('09:05:07');
      expect(parser({ type: 'time', format: '%I:%M %p' }).convertSync('12:30 am')).toBe('00:30:00');
      expect(parser({ type: 'time', format: '%I:%M %p' }).convertSync('12:30 PM')).toBe('12:30:00');
      expect(parser({ type: 'time', format: '%H:%M:%S.%f' }).convertSync('10:05:07.123456')).toBe('10:05:07.123');
    });

    it('takes 1 to 6 digits for %f, as strptime does, and refuses 7', () => {
      const fractions = parser({ type: 'time', format: '%H:%M:%S.%f' });
      const read = ['1', '12', '123', '1234', '12345', '123456', '000001'].map((digits) => fractions.convertSync(`10:05:07.${digits}`));
      expect(read).toEqual([
        '10:05:07.100',
        '10:05:07.120',
        '10:05:07.123',
        '10:05:07.123',
        '10:05:07.123',
        '10:05:07.123',
        '10:05:07.000',
      ]);
      expect(parser({ type: 'datetime', format: '%Y-%m-%dT%H:%M:%S.%fZ' }).convertSync('2024-12-04T15:07:09.1234Z')).toBe(
        '2024-12-04T15:07:09.123Z',
      );
      expect(parseError({ type: 'time', format: '%H:%M:%S.%f' }, '10:05:07.1234567').message).toBe(
        'cannot parse "10:05:07.1234567" as time with format "%H:%M:%S.%f": %f takes 1 to 6 digits of a second\'s fraction, as strptime does; found 7 (1234567)',
      );
      expect(parseError({ type: 'time', format: '%H:%M:%S.%f' }, '10:05:07.').message).toMatch(/does not match the format/);
    });

    it('refuses an hour out of range', () => {
      expect(parseError({ type: 'time' }, '24:00:00').message).toBe(
        'cannot parse "24:00:00" as time with format "%H:%M:%S": hour 24 is out of range (0-23)',
      );
      expect(parseError({ type: 'time' }, '23:60:00').message).toMatch(/you specified 60 as a minute, which is invalid/);
    });
  });

  describe('datetime', () => {
    it('reads the seed formats in the default timezone and returns UTC', () => {
      const oslo = { type: 'datetime', defaultTimezone: 'Europe/Oslo' } as const;
      expect(parser({ ...oslo, format: '%d/%m/%Y %H:%M:%S' }).convertSync('04/12/2024 15:07:09')).toBe('2024-12-04T14:07:09Z');
      expect(parser({ ...oslo, format: '%d/%m/%Y %H:%M:%S' }).convertSync('4/7/2024 15:07:09')).toBe('2024-07-04T13:07:09Z');
      expect(parser({ type: 'datetime' }).convertSync('2024-12-04T15:07:09')).toBe('2024-12-04T15:07:09Z');
    });

    it('takes %z as +HHMM, +HH:MM or Z, over the default timezone', () => {
      const offsets = parser({ type: 'datetime', format: '%Y-%m-%dT%H:%M:%S%z', defaultTimezone: 'America/New_York' });
      expect(offsets.convertSync('2024-12-04T15:07:09+0100')).toBe('2024-12-04T14:07:09Z');
      expect(offsets.convertSync('2024-12-04T15:07:09+01:00')).toBe('2024-12-04T14:07:09Z');
      expect(offsets.convertSync('2024-12-04T15:07:09-0530')).toBe('2024-12-04T20:37:09Z');
      expect(offsets.convertSync('2024-12-04T15:07:09Z')).toBe('2024-12-04T15:07:09Z');
    });

    it('takes %Z as an IANA zone name over the default timezone, and refuses an unknown one', () => {
      const zoned = parser({ type: 'datetime', format: '%d %b %Y %I:%M %p %Z', defaultTimezone: 'Asia/Tokyo' });
      expect(zoned.convertSync('04 Dec 2024 3:07 pm America/New_York')).toBe('2024-12-04T20:07:00Z');
      expect(zoned.convertSync('04 Dec 2024 3:07 PM UTC')).toBe('2024-12-04T15:07:00Z');
      expect(parseError({ type: 'datetime', format: '%Y %Z' }, '2024 Mars/Base').message).toBe(
        'cannot parse "2024 Mars/Base" as datetime with format "%Y %Z": "Mars/Base" is not a known IANA time zone',
      );
    });

    it('maps %y the way Python does: 69-99 to the 1900s, 00-68 to the 2000s', () => {
      const years = parser({ type: 'datetime', format: '%y-%m-%d' });
      expect(years.convertSync('68-01-01')).toBe('2068-01-01T00:00:00Z');
      expect(years.convertSync('69-01-01')).toBe('1969-01-01T00:00:00Z');
      expect(years.convertSync('24-12-04')).toBe('2024-12-04T00:00:00Z');
    });

    it('takes the date of now for a format without one', () => {
      // 2025-06-01T00:00Z is still 31 May in New York.
      expect(parser({ type: 'datetime', format: '%H:%M', defaultTimezone: 'America/New_York' }).convertSync('10:00')).toBe(
        '2025-05-31T14:00:00Z',
      );
    });

    it('reads %j, %f and literal text', () => {
      expect(parser({ type: 'datetime', format: '%Y-%j %H:%M:%S.%f' }).convertSync('2024-060 10:00:00.5')).toBe('2024-02-29T10:00:00.500Z');
      expect(parser({ type: 'datetime', format: "%d.%m.%Y at %H o'clock" }).convertSync("4.12.2024 AT 15 O'CLOCK")).toBe(
        '2024-12-04T15:00:00Z',
      );
    });

    it('lets any run of white space match any run of white space, as strptime does', () => {
      expect(parser({ type: 'datetime', format: '%Y-%m-%d %H:%M' }).convertSync(' 2024-12-04 \t  15:07\n')).toBe('2024-12-04T15:07:00Z');
    });

    it('reads a wall time that occurs twice as the earlier instant (Python fold=0)', () => {
      // New York fell back from 02:00 EDT to 01:00 EST on 3 November 2024.
      const newYork = parser({ type: 'datetime', format: '%Y-%m-%d %H:%M', defaultTimezone: 'America/New_York' });
      expect(newYork.convertSync('2024-11-03 01:30')).toBe('2024-11-03T05:30:00Z');
      expect(parser({ type: 'iso', defaultTimezone: 'America/New_York' }).convertSync('2024-11-03T01:30')).toBe('2024-11-03T05:30:00Z');
    });

    it('moves a wall time skipped by summer time forward by the gap', () => {
      // New York sprang forward from 02:00 EST to 03:00 EDT on 10 March 2024: 02:30 is 03:30 EDT.
      const newYork = parser({ type: 'datetime', format: '%Y-%m-%d %H:%M', defaultTimezone: 'America/New_York' });
      expect(newYork.convertSync('2024-03-10 02:30')).toBe('2024-03-10T07:30:00Z');
      expect(newYork.convertSync('2024-03-10 03:30')).toBe('2024-03-10T07:30:00Z');
      expect(newYork.convertSync('2024-03-10 01:59')).toBe('2024-03-10T06:59:00Z');
    });
  });

  describe('options', () => {
    it('fills in the format of date, time and datetime', () => {
      expect(parser({ type: 'date' }).format).toBe('%Y-%m-%d');
      expect(parser({ type: 'time' }).format).toBe('%H:%M:%S');
      expect(parser({ type: 'datetime' }).format).toBe('%Y-%m-%dT%H:%M:%S');
      expect(parser({ type: 'integer' }).format).toBeUndefined();
      expect(parser({}).defaultTimezone).toBe('UTC');
    });

    it('refuses an unknown type, with a hint', () => {
      expect(() => parser({ type: 'dat' as MultiParserType })).toThrow(
        expect.objectContaining({ name: 'OptionError', code: 'ERR_INVALID_ARGUMENT' }),
      );
      expect(() => parser({ type: 'dat' as MultiParserType })).toThrow(
        'MultiParser: type is "dat"; expected one of string, integer, float, iso, date, time, datetime, dictionary (did you mean "date"?)',
      );
    });

    it('refuses a bad format, naming the directive', () => {
      expect(() => parser({ type: 'datetime', format: '%d/%m/%Q' })).toThrow(FlowdError);
      expect(() => parser({ type: 'datetime', format: '%d/%m/%Q' })).toThrow(
        /^MultiParser: strftime format "%d\/%m\/%Q": %Q at position 6 is not a strptime directive/,
      );
      expect(() => parser({ type: 'integer', format: '%d' })).toThrow(
        'MultiParser: format "%d" applies to date, time and datetime, not to integer',
      );
    });

    it('refuses an unknown zone', () => {
      expect(() => parser({ type: 'datetime', defaultTimezone: 'Europe/Atlantis' })).toThrow(
        'MultiParser: default timezone "Europe/Atlantis" is not a known IANA time zone; expected a name such as Europe/Stockholm, UTC or GMT',
      );
    });

    it('requires an http(s) source for dictionary, and only for dictionary', () => {
      expect(() => parser({ type: 'dictionary' })).toThrow(
        'MultiParser: type dictionary needs a source: the URL of an Atom or JSON dictionary',
      );
      expect(() => parser({ type: 'dictionary', source: 'ftp://user:secret@example.com/terms' })).toThrow(
        'MultiParser: source "ftp://example.com/terms" is not an http or https URL',
      );
      expect(() => parser({ type: 'string', source: 'http://example.com/terms' })).toThrow(
        'MultiParser: source applies to dictionary, not to string',
      );
      expect(() => parser({ type: 'dictionary', source: 'http://example.com/terms' }).convertSync('x')).toThrow(/use convert\(\)/);
    });
  });
});

describe('utcIso', () => {
  it('writes whole seconds without a fraction, and milliseconds otherwise', () => {
    expect(utcIso(Date.UTC(2024, 11, 4, 14, 7, 9))).toBe('2024-12-04T14:07:09Z');
    expect(utcIso(Date.UTC(2024, 11, 4, 14, 7, 9, 5))).toBe('2024-12-04T14:07:09.005Z');
  });
});

describe('compileMultiParserSettings', () => {
  const reader = (values: Record<string, RawValue>) =>
    new SectionReader(new Map(Object.entries(values)), { file: 'import.ini', section: 'Field:aired' });

  it('reads type, format, default timezone and source, with their defaults', () => {
    expect(compileMultiParserSettings(reader({}))).toEqual({
      type: 'string',
      format: undefined,
      defaultTimezone: 'UTC',
      source: undefined,
    });
    expect(
      compileMultiParserSettings(reader({ type: 'datetime', format: '%d/%m/%Y %H:%M', 'default timezone': 'Europe/Stockholm' })),
    ).toEqual({
      type: 'datetime',
      format: '%d/%m/%Y %H:%M',
      defaultTimezone: 'Europe/Stockholm',
      source: undefined,
    });
    expect(compileMultiParserSettings(reader({ type: 'date' })).format).toBe('%Y-%m-%d');
  });

  it('names the key of a bad value in a ConfigError', () => {
    expectConfigError(() => compileMultiParserSettings(reader({ type: 'datetime', format: '%d %Q' })), {
      file: 'import.ini',
      section: 'Field:aired',
      key: 'format',
      says: ['%Q at position 3 is not a strptime directive'],
    });
    expectConfigError(() => compileMultiParserSettings(reader({ type: 'datetime', 'default timezone': 'Mars' })), {
      key: 'default timezone',
      says: ['"Mars" is not a known IANA time zone'],
    });
    expectConfigError(() => compileMultiParserSettings(reader({ type: 'dictionary' })), { key: 'source', says: ['needs a source'] });
    expectConfigError(() => compileMultiParserSettings(reader({ type: 'datum' })), {
      key: 'type',
      says: ['expected one of string, integer'],
    });
  });

  it('refuses a default timezone on a type that never reads it, rather than accepting it without effect', () => {
    expectConfigError(() => compileMultiParserSettings(reader({ type: 'integer', 'default timezone': 'Europe/Oslo' })), {
      key: 'default timezone',
      says: ['applies to iso, date, time, datetime, not to integer'],
    });
    expectConfigError(() => compileMultiParserSettings(reader({ 'default timezone': 'UTC' })), { says: ['not to string'] });
    expect(compileMultiParserSettings(reader({ type: 'iso', 'default timezone': 'Europe/Oslo' })).defaultTimezone).toBe('Europe/Oslo');
  });

  it('leaves other keys of the section to its owner', () => {
    const section = reader({ xpath: '/asset/aired', type: 'integer' });
    compileMultiParserSettings(section);
    section.string('xpath');
    expect(() => section.finish()).not.toThrow();
  });
});
