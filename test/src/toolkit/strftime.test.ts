import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { quote, STRFTIME_DIRECTIVES, translateStrftime } from '../../../src/toolkit/strftime.js';

/** 2024-12-04 15:07:09.250 UTC, a Wednesday, day 339 of a leap year. */
const instant = DateTime.fromObject({ year: 2024, month: 12, day: 4, hour: 15, minute: 7, second: 9, millisecond: 250 }, { zone: 'utc' });
const strftime = (format: string, at = instant) => at.toFormat(translateStrftime(format).format, { locale: 'en-US' });
const strptime = (format: string, text: string) => {
  const [first] = translateStrftime(format).parse;
  return DateTime.fromFormat(text, first!.tokens, { zone: 'utc', locale: 'en-US' });
};

describe('translateStrftime', () => {
  it('formats every directive the way Python strftime writes it', () => {
    // Python: datetime(2024, 12, 4, 15, 7, 9, 250000).strftime(...)
    expect(strftime('%a %b %d %f %H %M %S %y %%')).toBe('Wed Dec 04 250000 15 07 09 24 %');
    expect(strftime('%Y-%j')).toBe('2024-339');
    expect(strftime('%A %B %I %p %Y')).toBe('Wednesday December 03 PM 2024');
    expect(strftime('%m')).toBe('12');
    expect(strftime('%d/%m/%Y %H:%M:%S')).toBe('04/12/2024 15:07:09');
    expect(strftime('%Y-%m-%dT%H:%M:%S%z', instant.setZone('Asia/Kolkata'))).toBe('2024-12-04T20:37:09+0530');
  });

  it('writes %Z as the IANA zone name, so what it writes parses back', () => {
    expect(strftime('%H:%M %Z', instant.setZone('Europe/Oslo'))).toBe('16:07 Europe/Oslo');
  });

  it('parses one or two digits where strptime does, as in the seed example %d/%m', () => {
    expect(translateStrftime('%d/%m').parse[0]!.tokens).toBe("d'/'M");
    expect(translateStrftime('%d/%m').format).toBe("dd'/'MM");
    expect(strptime('%d/%m/%Y', '4/12/2024').toISODate()).toBe('2024-12-04');
    expect(strptime('%d/%m/%Y', '04/12/2024').toISODate()).toBe('2024-12-04');
  });

  it('quotes literal text so that its letters are never luxon tokens, a quote included', () => {
    const { parse, format } = translateStrftime("%Y-%m-%dT%H o'clock");
    expect(parse[0]!.tokens).toBe("yyyy'-'M'-'d'T'H' o''''clock'");
    expect(format).toBe("yyyy'-'MM'-'dd'T'HH' o''''clock'");
    expect(strftime("%Y-%m-%dT%H o'clock")).toBe("2024-12-04T15 o'clock");
    expect(strptime("%Y-%m-%dT%H o'clock", "2024-12-04T15 o'clock").hour).toBe(15);
  });

  it('quotes text the way luxon reads it back', () => {
    for (const text of ["'", "''", "a'", "'a", "it's", 'yyyy MM dd', '%']) {
      expect(DateTime.fromMillis(0).toFormat(quote(text))).toBe(text);
    }
  });

  it('makes a run of white space one space for parsing, as strptime lets any white space match', () => {
    expect(translateStrftime('%d  \t%m').parse[0]!.tokens).toBe("d' 'M");
    expect(translateStrftime('%d  \t%m').format).toBe("dd'  \t'MM");
  });

  it("gives numbers run together their full width, so that none eats its neighbour's digits", () => {
    expect(translateStrftime('%y%m%d%H%M%S').parse[0]!.tokens).toBe('yyMMddHHmmss');
    expect(translateStrftime('%Y%j %H:%M').parse[0]!.tokens).toBe("yyyyooo' 'H':'m");
    expect(strptime('%y%m%d%H%M%S', '720101000000').toISO()).toBe('1972-01-01T00:00:00.000Z');
  });

  it('reads %% as a literal percent sign', () => {
    expect(translateStrftime('%d%%').parse[0]!.tokens).toBe("d'%'");
  });

  it('parses %z as +HHMM, +HH:MM or Z, in that order', () => {
    const { parse } = translateStrftime('%H%z');
    expect(parse).toEqual([
      { tokens: 'HZZZ', zulu: false },
      { tokens: 'HZZ', zulu: false },
      { tokens: "H'Z'", zulu: true },
    ]);
  });

  it('tells what it knows about the format', () => {
    expect([...translateStrftime('%d/%m %H:%M').fields].sort()).toEqual(['day', 'hour', 'minute', 'month']);
    expect(STRFTIME_DIRECTIVES).toContain('%z');
    expect(STRFTIME_DIRECTIVES).toContain('%%');
  });

  it('names an unsupported directive, its position and why', () => {
    expect(() => translateStrftime('%d/%m/%Q')).toThrow(
      'strftime format "%d/%m/%Q": %Q at position 6 is not a strptime directive (supported: %a %A %b %B %d %f %H %I %j %m %M %p %S %y %Y %z %Z %%)',
    );
    expect(() => translateStrftime('%c')).toThrow(/%c at position 0 depends on the locale; spell it out/);
    expect(() => translateStrftime('%Y-W%U')).toThrow(/%U at position 4 numbers weeks, which is not supported/);
    expect(() => translateStrftime('%-d')).toThrow(/%- at position 0 is not a strptime directive/);
    expect(() => translateStrftime('%d/%m')).not.toThrow();
  });

  it('refuses a lone %, an empty format, and a field set twice', () => {
    expect(() => translateStrftime('%d %')).toThrow(/ends with a lone % at position 4; write %% for a literal %/);
    expect(() => translateStrftime('')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => translateStrftime('')).toThrow(/is empty; expected directives such as %Y-%m-%d/);
    expect(() => translateStrftime('%b %m')).toThrow(/%m at position 3 sets the month again, already set by %b/);
    expect(() => translateStrftime('%H:%I')).toThrow(/%I at position 3 sets the hour again, already set by %H/);
  });

  it('refuses %p without %I, and %j with a month or day', () => {
    expect(() => translateStrftime('%H:%M %p')).toThrow(
      /%p \(AM\/PM\) needs %I \(hour on a 12-hour clock\); %H is already on a 24-hour clock/,
    );
    expect(() => translateStrftime('%M %p')).toThrow(/%p \(AM\/PM\) needs %I/);
    expect(() => translateStrftime('%Y %j %d')).toThrow(/%j \(day of the year\) cannot be combined with a month or a day of the month/);
    expect(() => translateStrftime('%I:%M %p')).not.toThrow();
  });
});
