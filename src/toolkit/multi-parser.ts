import { DateTime, FixedOffsetZone, type Zone } from 'luxon';
import { hint, type SectionReader } from '../kernel/section-reader.js';
import { normalizeTerm, redact } from './dictionary-feed.js';
import { sharedDictionaries, type DictionaryCache } from './dictionary.js';
import { FlowdError, ParseError } from '../kernel/errors.js';
import { translateStrftime, type StrftimeTranslation } from './strftime.js';
import { resolveWallTime, strptime, zoneNamed } from './strptime.js';

/** The types a MultiParser converts to, as the seed names them. */
export const MULTI_PARSER_TYPES = ['string', 'integer', 'float', 'iso', 'date', 'time', 'datetime', 'dictionary'] as const;

/** One of MULTI_PARSER_TYPES. */
export type MultiParserType = (typeof MULTI_PARSER_TYPES)[number];

/**
 * What `convert()` returns for each type: JSON values, ready for a VDF or
 * JSON payload, which carries dates as text anyway, so no Date or luxon
 * object leaks into a worker's data.
 * - `string`: the text as given (not trimmed).
 * - `integer`: a number; a fraction or a value beyond ±2^53-1 is refused.
 * - `float`: a finite number (`1.5`, `-.5`, `1e6`); infinity and NaN are refused (JSON cannot carry them).
 * - `iso`, `datetime`: the instant in UTC, ISO 8601 with `Z`: `2024-12-04T14:07:09Z`
 *   (`.250` when the milliseconds are not zero).
 * - `date`: `YYYY-MM-DD`, as written (no zone applies to a date).
 * - `time`: `HH:mm:ss` as written (`HH:mm:ss.SSS` when the format has `%f`).
 * - `dictionary`: the term's value in the dictionary.
 *
 * Every type converts `''` to `null`, as Flow's MultiParser returns None
 * (and, since white space around them is ignored, text that is only white
 * space for every type but `string`); a dictionary term the feed does not
 * have is `null` too.
 */
export interface MultiParserValues {
  string: string;
  integer: number;
  float: number;
  iso: string;
  date: string;
  time: string;
  datetime: string;
  dictionary: string;
}

/** Options of a MultiParser; the names are the seed's, in camelCase. */
export interface MultiParserOptions<T extends MultiParserType = MultiParserType> {
  /** @default 'string' */
  type?: T;
  /**
   * A Python strftime format for `date`, `time` and `datetime` (see
   * STRFTIME_DIRECTIVES); refused for other types.
   * @default '%Y-%m-%d' (date), '%H:%M:%S' (time), '%Y-%m-%dT%H:%M:%S' (datetime)
   */
  format?: string;
  /** The IANA zone of `datetime` and `iso` values that carry no offset, and of "today" for formats without a year. @default 'UTC' */
  defaultTimezone?: string;
  /** The URL of the dictionary (Atom or JSON, see DictionaryCache); required for `dictionary`, refused otherwise. */
  source?: string;
  /** Where dictionaries are fetched and cached. @default sharedDictionaries (5 minutes) */
  dictionaries?: DictionaryCache;
  /** The clock, in ms: a format without a year takes the year of now in the default timezone. @default Date.now */
  now?: () => number;
}

const DEFAULT_FORMATS: Readonly<Record<string, string>> = { date: '%Y-%m-%d', time: '%H:%M:%S', datetime: '%Y-%m-%dT%H:%M:%S' };

type Option = 'type' | 'format' | 'defaultTimezone' | 'source';

/** A bad option, and which. */
class OptionError extends FlowdError {
  constructor(
    readonly option: Option,
    readonly problem: string,
  ) {
    super('ERR_INVALID_ARGUMENT', `MultiParser: ${problem}`);
  }
}

interface Compiled {
  type: MultiParserType;
  format: string | undefined;
  translation: StrftimeTranslation | undefined;
  defaultTimezone: string;
  zone: Zone;
  source: string | undefined;
}

function compile(options: MultiParserOptions): Compiled {
  const { type = 'string', defaultTimezone = 'UTC', source } = options;
  if (!(MULTI_PARSER_TYPES as readonly string[]).includes(type)) {
    throw new OptionError(
      'type',
      `type is "${type}"; expected one of ${MULTI_PARSER_TYPES.join(', ')}${hint(String(type), MULTI_PARSER_TYPES)}`,
    );
  }
  const format = options.format ?? DEFAULT_FORMATS[type];
  let translation: StrftimeTranslation | undefined;
  if (format !== undefined) {
    if (DEFAULT_FORMATS[type] === undefined)
      throw new OptionError('format', `format "${format}" applies to date, time and datetime, not to ${type}`);
    try {
      translation = translateStrftime(format);
    } catch (error) {
      throw new OptionError('format', (error as Error).message);
    }
  }
  const zone = zoneNamed(defaultTimezone);
  if (zone === undefined) {
    throw new OptionError(
      'defaultTimezone',
      `default timezone "${defaultTimezone}" is not a known IANA time zone; expected a name such as Europe/Stockholm, UTC or GMT`,
    );
  }
  if (type === 'dictionary') {
    if (source === undefined || source === '')
      throw new OptionError('source', 'type dictionary needs a source: the URL of an Atom or JSON dictionary');
    if (!isHttpUrl(source)) throw new OptionError('source', `source "${redact(source)}" is not an http or https URL`);
  } else if (source !== undefined) {
    throw new OptionError('source', `source applies to dictionary, not to ${type}`);
  }
  return { type, format, translation, defaultTimezone, zone, source };
}

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}

/**
 * Converts raw text (an XML field, a header) into a typed value for a VDF or
 * JSON payload: the seed's `flow.data.MultiParser`. Options are checked at
 * construction (a FlowdError, ERR_INVALID_ARGUMENT, names the option); a value that does not
 * convert is a ParseError naming the type, the format and the value.
 * Leading and trailing white space is ignored for every type but `string`.
 * @example
 * const day = new MultiParser({ type: 'date', format: '%d/%m' });
 * await day.convert('4/12');                         // '2025-12-04' in 2025 (the year of now)
 * const at = new MultiParser({ type: 'datetime', format: '%d/%m/%Y %H:%M', defaultTimezone: 'Europe/Oslo' });
 * at.convertSync('04/12/2024 15:07');                // '2024-12-04T14:07:00Z'
 */
export class MultiParser<T extends MultiParserType = 'string'> {
  /** The type values are converted to. */
  readonly type: T;
  /** The strftime format, its default filled in; undefined for types without one. */
  readonly format: string | undefined;
  /** The IANA zone of values without an offset. */
  readonly defaultTimezone: string;
  /** The dictionary's URL. */
  readonly source: string | undefined;
  private readonly translation: StrftimeTranslation | undefined;
  private readonly zone: Zone;
  private readonly dictionaries: DictionaryCache;
  private readonly now: () => number;

  constructor(options: MultiParserOptions<T> = {}) {
    const compiled = compile(options);
    this.type = compiled.type as T;
    this.format = compiled.format;
    this.defaultTimezone = compiled.defaultTimezone;
    this.source = compiled.source;
    this.translation = compiled.translation;
    this.zone = compiled.zone;
    this.dictionaries = options.dictionaries ?? sharedDictionaries;
    this.now = options.now ?? Date.now;
  }

  /**
   * Converts one value; a `dictionary` lookup may fetch its source (HttpError when that fails). `signal` stops waiting for it.
   * `''` is `null`, and so is a term the dictionary does not have: Flow stored None and logged it, so `onMissingTerm`
   * hears of it (the XML import warns, naming the field).
   */
  async convert(
    raw: string,
    options: { signal?: AbortSignal; onMissingTerm?: (term: string, source: string) => void } = {},
  ): Promise<MultiParserValues[T] | null> {
    if (this.type !== 'dictionary') return this.convertSync(raw);
    const term = this.text(raw);
    if (term === null) return null;
    const value = await this.dictionaries.lookup(this.source!, term, options.signal);
    if (value !== undefined) return value as MultiParserValues[T];
    options.onMissingTerm?.(normalizeTerm(term), redact(this.source!));
    return null;
  }

  /** Converts one value without waiting: every type but `dictionary` (ERR_INVALID_STATE). `''` is `null`. */
  convertSync(raw: string): MultiParserValues[T] | null {
    if (this.type === 'dictionary')
      throw new FlowdError('ERR_INVALID_STATE', 'MultiParser: a dictionary lookup may need to fetch its source; use convert()');
    if (this.type === 'string') {
      if (typeof raw !== 'string') this.fail(raw, `expected text, found ${typeof raw}`);
      return raw === '' ? null : (raw as MultiParserValues[T]);
    }
    const text = this.text(raw);
    return text === null ? null : (this.convertText(text, raw) as MultiParserValues[T]);
  }

  private convertText(text: string, raw: string): string | number {
    switch (this.type) {
      case 'integer':
        return this.integer(text, raw);
      case 'float':
        return this.float(text, raw);
      case 'iso':
        return utcIso(this.iso(text, raw));
      case 'date':
        return this.parse(raw).wall.toISODate();
      case 'time':
        return this.parse(raw).wall.toFormat(this.translation!.fields.has('fraction') ? 'HH:mm:ss.SSS' : 'HH:mm:ss');
      default:
        return utcIso(this.parse(raw).instant);
    }
  }

  /** The value trimmed, or null when nothing is left (Flow's None for ''). */
  private text(raw: unknown): string | null {
    if (typeof raw !== 'string') this.fail(raw, `expected text, found ${typeof raw}`);
    const text = (raw as string).trim();
    return text === '' ? null : text;
  }

  private integer(text: string, raw: string): number {
    if (!/^[+-]?\d+$/.test(text)) this.fail(raw, 'expected a whole number such as 42 or -7');
    const number = Number(text);
    if (!Number.isSafeInteger(number)) this.fail(raw, `it is beyond ±${Number.MAX_SAFE_INTEGER}, so a number cannot hold it exactly`);
    return number === 0 ? 0 : number;
  }

  private float(text: string, raw: string): number {
    if (/^[+-]?(?:inf|infinity|nan)$/i.test(text)) this.fail(raw, 'expected a finite number; JSON cannot carry infinity or NaN');
    if (!/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i.test(text)) this.fail(raw, 'expected a decimal number such as 3.14, -0.5 or 1e6');
    const number = Number(text);
    if (!Number.isFinite(number)) this.fail(raw, 'it is beyond the range of a double (±1.8e308)');
    return number === 0 ? 0 : number;
  }

  private iso(text: string, raw: string): number {
    // The iso8601 module the seed used takes a space between date and time; luxon wants a T.
    const iso = text.replace(/^([+-]?\d{4,6}-\d\d-\d\d) +(?=\d)/, '$1T');
    const utc = DateTime.fromISO(iso, { zone: 'utc' });
    if (!utc.isValid) {
      const why = utc.invalidReason === 'unparsable' ? '' : ` (${utc.invalidExplanation ?? utc.invalidReason})`;
      this.fail(raw, `expected ISO 8601 such as 2024-12-04T15:07:09+01:00, 2024-12-04T14:07:09Z or 2024-12-04${why}`);
    }
    // A value that carries its offset is the same instant whatever zone it is read in.
    if (DateTime.fromISO(iso, { zone: FixedOffsetZone.instance(60) }).toMillis() === utc.toMillis()) return utc.toMillis();
    return resolveWallTime(utc.toMillis(), this.zone);
  }

  private parse(raw: string) {
    return strptime(raw, this.translation!, { zone: this.zone, now: this.now(), type: this.type });
  }

  private fail(raw: unknown, problem: string): never {
    throw new ParseError(this.type, this.format, raw, problem);
  }
}

/** An instant as ISO 8601 in UTC: `2024-12-04T14:07:09Z`, `.250` when the milliseconds are not zero. */
export function utcIso(instant: number): string {
  return new Date(instant).toISOString().replace('.000Z', 'Z');
}

/** A `[Field:NAME]`-style section's MultiParser keys, compiled: the options for `new MultiParser(settings)`. */
export interface MultiParserSettings {
  type: MultiParserType;
  /** The strftime format, defaulted for date, time and datetime. */
  format: string | undefined;
  defaultTimezone: string;
  source: string | undefined;
}

/** The types `default timezone` applies to: values without an offset, and "today" for formats without a year. */
const ZONED_TYPES: readonly MultiParserType[] = ['iso', 'date', 'time', 'datetime'];

const KEYS: Readonly<Record<Option, string>> = { type: 'type', format: 'format', defaultTimezone: 'default timezone', source: 'source' };

/**
 * Reads `type`, `format`, `default timezone` and `source` from a section
 * (XML import's `[Field:NAME]`) and checks them as MultiParser would; a
 * ConfigError names the key. It does not call `reader.finish()`: the
 * section has other keys (`xpath`).
 */
export function compileMultiParserSettings(reader: SectionReader): MultiParserSettings {
  const options = {
    type: reader.choice('type', MULTI_PARSER_TYPES, 'string'),
    format: reader.string('format'),
    defaultTimezone: reader.string('default timezone', 'UTC'),
    source: reader.string('source'),
  };
  // A zone a string, number or dictionary never reads would be accepted without effect.
  if (reader.has('default timezone') && !ZONED_TYPES.includes(options.type))
    reader.fail('default timezone', `applies to ${ZONED_TYPES.join(', ')}, not to ${options.type}`);
  try {
    const { type, format, defaultTimezone, source } = compile(options);
    return { type, format, defaultTimezone, source };
  } catch (error) {
    if (error instanceof OptionError) reader.fail(KEYS[error.option], error.problem);
    throw error;
  }
}
