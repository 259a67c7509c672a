import { DateTime, IANAZone, Settings, type Zone } from 'luxon';
import { ParseError } from '../kernel/errors.js';
import type { StrftimeTranslation } from './strftime.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
// Python maps %y 69-99 to 1969-1999 and 00-68 to 2000-2068.
const PYTHON_TWO_DIGIT_CUTOFF = 68;
const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** A value parsed with a strftime format. */
export interface ParsedTime {
  /** The fields as written (missing ones filled in), as a luxon DateTime in UTC, so no DST applies to them. */
  wall: DateTime<true>;
  /** The instant, in ms since the epoch: the wall time at the value's offset, or in its zone. */
  instant: number;
}

/** How to read a value. */
export interface StrptimeOptions {
  /** The zone of a value without `%z` or `%Z`, and of "today". */
  zone: Zone;
  /** The current time in ms: a format without a year takes the year of now in `zone`, one without any date takes the date. */
  now: number;
  /** The type named in a ParseError. @default 'datetime' */
  type?: string;
}

/**
 * Parses `text` with a translated strftime format, the way strptime would,
 * (`%f` taking 1 to 6 digits, as strptime does), with three differences: a format without a year takes the current year (strptime
 * takes 1900); one without any date takes today's date; a weekday must agree
 * with the date when the date is complete (strptime ignores it). White space
 * is trimmed, and runs of it match any run of it. Throws a ParseError naming
 * the type, the format and the value.
 */
export function strptime(text: string, translation: StrftimeTranslation, options: StrptimeOptions): ParsedTime {
  const type = options.type ?? 'datetime';
  const fail = (problem: string): never => {
    throw new ParseError(type, translation.strftime, text, problem);
  };
  const input = text.trim().replace(/\s+/g, ' ');
  const { fields } = translation;
  let match:
    { result: Record<string, number>; zone: Zone | undefined; offset: number | undefined; fraction: string | undefined } | undefined;
  for (const variant of translation.parse) {
    const explained = explain(input, variant.tokens, fields.has('year'));
    if (explained.rawMatches === null || explained.rawMatches === undefined) continue;
    const specific = (explained as { specificOffset?: number }).specificOffset;
    const fraction = (explained.matches as Record<string, unknown> | undefined)?.['u'];
    match = {
      result: { ...explained.result },
      zone: explained.zone ?? undefined,
      offset: variant.zulu ? 0 : specific,
      fraction: typeof fraction === 'string' ? fraction : undefined,
    };
    break;
  }
  if (match === undefined) return fail(`it does not match the format (expected ${describe(translation)})`);
  // luxon's fraction token takes up to 9 digits; strptime's %f takes 1 to 6.
  if (match.fraction !== undefined && match.fraction.length > 6)
    return fail(`%f takes 1 to 6 digits of a second's fraction, as strptime does; found ${match.fraction.length} (${match.fraction})`);
  const { result } = match;
  const today = DateTime.fromMillis(options.now, { zone: options.zone });
  const hasDate = fields.has('month') || fields.has('day') || fields.has('ordinal');
  if (!fields.has('year')) result.year = today.year;
  if (!fields.has('year') && !hasDate) Object.assign(result, { month: today.month, day: today.day });
  // A weekday is checked against a complete date only; alone it would pick a day of this week.
  if (!(fields.has('month') && fields.has('day')) && !fields.has('ordinal')) delete result.weekday;
  if (result.hour === 24) return fail('hour 24 is out of range (0-23)');
  const { weekday, ...date } = result;
  const wall = DateTime.fromObject(date, { zone: 'utc', locale: 'en-US' });
  if (!wall.isValid) return fail((wall.invalidExplanation ?? 'the date does not exist').replace(' (of type number)', ''));
  if (weekday !== undefined && weekday !== wall.weekday) {
    return fail(`${WEEKDAYS[weekday - 1]} does not fall on ${wall.toISODate()}, a ${WEEKDAYS[wall.weekday - 1]}`);
  }
  const local = wall.toMillis();
  if (match.offset !== undefined) return { wall, instant: local - match.offset * MINUTE };
  const zone = match.zone ?? options.zone;
  if (!zone.isValid) return fail(`"${zone.name}" is not a known IANA time zone`);
  return { wall, instant: resolveWallTime(local, zone) };
}

function explain(input: string, tokens: string, hasYear: boolean) {
  if (!hasYear) return DateTime.fromFormatExplain(input, tokens, { locale: 'en-US', numberingSystem: 'latn' });
  // luxon's two-digit year window is a global setting; the parse is synchronous, so nobody sees the change.
  const before = Settings.twoDigitCutoffYear;
  Settings.twoDigitCutoffYear = PYTHON_TWO_DIGIT_CUTOFF;
  try {
    return DateTime.fromFormatExplain(input, tokens, { locale: 'en-US', numberingSystem: 'latn' });
  } finally {
    Settings.twoDigitCutoffYear = before;
  }
}

function describe({ strftime, format }: StrftimeTranslation): string {
  const example = DateTime.fromMillis(Date.UTC(2024, 11, 4, 15, 7, 9, 250), { zone: 'Europe/Oslo' }).toFormat(format, { locale: 'en-US' });
  return `"${strftime}", e.g. "${example}"`;
}

/**
 * The instant at which a wall clock in `zone` reads `local` (the wall time's
 * fields as ms since the epoch, as if in UTC). A wall time that occurs twice
 * (clocks going back) is the earlier instant; one skipped (clocks going
 * forward) is moved forward by the gap, so 02:30 becomes 03:30 summer time.
 * That is Python's `fold=0` and Temporal's `compatible`; luxon's own answer
 * depends on the current date, so flowd does not use it.
 */
export function resolveWallTime(local: number, zone: Zone): number {
  const before = zone.offset(local - DAY);
  const after = zone.offset(local + DAY);
  const fits = [before, after]
    .map((offset) => local - offset * MINUTE)
    .filter((instant) => instant + zone.offset(instant) * MINUTE === local);
  if (fits.length > 0) return Math.min(...fits);
  return local - before * MINUTE;
}

/** A zone by IANA name (`Europe/Oslo`, `UTC`, `Etc/GMT-2`), or undefined when the name is unknown. */
export function zoneNamed(name: string): Zone | undefined {
  return IANAZone.isValidZone(name) ? IANAZone.create(name) : undefined;
}
