/**
 * Translates Python strftime/strptime formats (the ones Flow INI files carry,
 * such as `%d/%m/%Y %H:%M:%S`) into luxon format tokens. MultiParser parses
 * with it; XML import's `[Field:NAME]` sections reuse it.
 *
 * Two translations come out of one format, because strptime and strftime
 * differ: strptime takes `4/12` for `%d/%m` (one or two digits), strftime
 * writes `04/12`. Literal text is quoted for luxon, so letters in it are
 * never taken for tokens.
 */

import { FlowdError } from '../kernel/errors.js';

/** What a directive sets; two directives of one format may not set the same thing. */
export type StrftimeField =
  'year' | 'month' | 'day' | 'ordinal' | 'weekday' | 'hour' | 'minute' | 'second' | 'fraction' | 'meridiem' | 'offset' | 'zone';

interface Directive {
  /** luxon tokens for parsing (lenient like strptime). */
  parse: string;
  /** luxon tokens for formatting (zero-padded like strftime). */
  format: string;
  field: StrftimeField;
  meaning: string;
  /** Whether it is digits. */
  numeric?: true;
  /** The fixed-width luxon token, used when another number follows or precedes with nothing between (%Y%m%d). */
  fixed?: string;
}

// %z is parsed as +HHMM here; the translation adds +HH:MM and Z variants.
const DIRECTIVES: Readonly<Record<string, Directive>> = {
  a: { parse: 'EEE', format: 'EEE', field: 'weekday', meaning: 'weekday, abbreviated (Mon)' },
  A: { parse: 'EEEE', format: 'EEEE', field: 'weekday', meaning: 'weekday (Monday)' },
  b: { parse: 'MMM', format: 'MMM', field: 'month', meaning: 'month, abbreviated (Jan)' },
  B: { parse: 'MMMM', format: 'MMMM', field: 'month', meaning: 'month (January)' },
  d: { parse: 'd', format: 'dd', field: 'day', meaning: 'day of the month (1-31)', numeric: true, fixed: 'dd' },
  f: {
    parse: 'u',
    format: "SSS'000'",
    field: 'fraction',
    meaning: 'fraction of a second, 1 to 6 digits (kept to the millisecond)',
    numeric: true,
  },
  H: { parse: 'H', format: 'HH', field: 'hour', meaning: 'hour, 24-hour clock (0-23)', numeric: true, fixed: 'HH' },
  I: { parse: 'h', format: 'hh', field: 'hour', meaning: 'hour, 12-hour clock (1-12)', numeric: true, fixed: 'hh' },
  j: { parse: 'o', format: 'ooo', field: 'ordinal', meaning: 'day of the year (1-366)', numeric: true, fixed: 'ooo' },
  m: { parse: 'M', format: 'MM', field: 'month', meaning: 'month (1-12)', numeric: true, fixed: 'MM' },
  M: { parse: 'm', format: 'mm', field: 'minute', meaning: 'minute (0-59)', numeric: true, fixed: 'mm' },
  p: { parse: 'a', format: 'a', field: 'meridiem', meaning: 'AM or PM' },
  S: { parse: 's', format: 'ss', field: 'second', meaning: 'second (0-59)', numeric: true, fixed: 'ss' },
  y: {
    parse: 'yy',
    format: 'yy',
    field: 'year',
    meaning: 'year without century (69-99 are 1969-1999, 00-68 are 2000-2068)',
    numeric: true,
  },
  Y: { parse: 'yyyy', format: 'yyyy', field: 'year', meaning: 'year, four digits', numeric: true },
  z: { parse: 'ZZZ', format: 'ZZZ', field: 'offset', meaning: 'UTC offset: +HHMM, +HH:MM or Z' },
  Z: { parse: 'z', format: 'z', field: 'zone', meaning: 'IANA time zone name (Europe/Oslo, UTC)' },
};

const UNSUPPORTED: Readonly<Record<string, string>> = {
  c: 'depends on the locale; spell it out, e.g. %a %b %d %H:%M:%S %Y',
  x: 'depends on the locale; spell it out, e.g. %m/%d/%y',
  X: 'depends on the locale; spell it out, e.g. %H:%M:%S',
  U: 'numbers weeks, which is not supported',
  W: 'numbers weeks, which is not supported',
  w: 'numbers weekdays, which is not supported; use %a or %A',
  u: 'numbers weekdays, which is not supported; use %a or %A',
  G: 'numbers weeks, which is not supported',
  V: 'numbers weeks, which is not supported',
};

/** The supported directives, `%%` included, for messages and documentation. */
export const STRFTIME_DIRECTIVES: readonly string[] = [...Object.keys(DIRECTIVES).map((letter) => `%${letter}`), '%%'];

/** One way of parsing a format with luxon. */
export interface StrftimeParseFormat {
  /** luxon tokens for `DateTime.fromFormat` / `fromFormatExplain` (locale en-US). */
  tokens: string;
  /** True when this variant matched a literal `Z` for `%z`: the value is in UTC. */
  zulu: boolean;
}

/** A strftime format translated for luxon. */
export interface StrftimeTranslation {
  /** The format as given. */
  strftime: string;
  /**
   * luxon formats to try in turn when parsing. One, unless the format has
   * `%z`: then three, for `+0100`, `+01:00` and `Z`. A run of white space in
   * the format becomes one space; collapse runs of white space in the input
   * the same way (strptime lets any white space match any white space).
   */
  parse: readonly StrftimeParseFormat[];
  /** luxon tokens for `DateTime.toFormat` (locale en-US) that write what strftime would, except `%Z`, which writes the IANA name. */
  format: string;
  /** What the format sets. */
  fields: ReadonlySet<StrftimeField>;
}

/**
 * Translates a Python strftime format into luxon tokens. Throws a FlowdError (ERR_INVALID_ARGUMENT)
 * naming the directive and its position for an unsupported directive, a
 * lone `%`, two directives that set the same field (strptime refuses a
 * repeated directive; flowd also refuses `%b` with `%m`, or `%a` with `%A`),
 * `%p` without `%I`, or `%j` with a month or day.
 * @example
 * translateStrftime('%d/%m/%Y').parse[0].tokens  // "d'/'M'/'yyyy"
 * translateStrftime('%d/%m/%Y').format           // "dd'/'MM'/'yyyy"
 */
export function translateStrftime(strftime: string): StrftimeTranslation {
  const fail = (problem: string): never => {
    throw new FlowdError('ERR_INVALID_ARGUMENT', `strftime format "${strftime}": ${problem}`);
  };
  if (strftime === '') fail('is empty; expected directives such as %Y-%m-%d');
  const parse: Array<{ tokens: string; directive?: Directive }> = [];
  const format: string[] = [];
  const fields = new Map<StrftimeField, string>();
  let literal = '';
  const flush = () => {
    if (literal === '') return;
    format.push(quote(literal));
    parse.push({ tokens: quote(literal.replace(/\s+/g, ' ')) });
    literal = '';
  };
  for (let i = 0; i < strftime.length; i++) {
    const char = strftime[i]!;
    if (char !== '%') {
      literal += char;
      continue;
    }
    const letter = strftime[++i];
    if (letter === undefined) fail(`ends with a lone % at position ${i}; write %% for a literal %`);
    if (letter === '%') {
      literal += '%';
      continue;
    }
    const directive = DIRECTIVES[letter!];
    if (directive === undefined) {
      const why = UNSUPPORTED[letter!] ?? 'is not a strptime directive';
      fail(`%${letter} at position ${i - 1} ${why} (supported: ${STRFTIME_DIRECTIVES.join(' ')})`);
    }
    const { field } = directive!;
    const earlier = fields.get(field);
    if (earlier !== undefined) fail(`%${letter} at position ${i - 1} sets the ${field} again, already set by ${earlier}`);
    fields.set(field, `%${letter}`);
    flush();
    parse.push({ tokens: directive!.parse, directive: directive! });
    format.push(directive!.format);
  }
  flush();
  if (fields.has('meridiem') && fields.get('hour') !== '%I') {
    fail(`%p (AM/PM) needs %I (hour on a 12-hour clock)${fields.get('hour') === '%H' ? '; %H is already on a 24-hour clock' : ''}`);
  }
  if (fields.has('ordinal') && (fields.has('month') || fields.has('day'))) {
    fail('%j (day of the year) cannot be combined with a month or a day of the month');
  }
  // Numbers run together (%y%m%d) must each take their full width, or one would eat its neighbour's digits.
  const numeric = (index: number) => parse[index]?.directive?.numeric === true;
  const tokens = parse.map(({ tokens, directive }, index) =>
    directive?.fixed !== undefined && (numeric(index - 1) || numeric(index + 1)) ? directive.fixed : tokens,
  );
  const variants: StrftimeParseFormat[] = [{ tokens: tokens.join(''), zulu: false }];
  if (fields.has('offset')) {
    const withOffset = (offset: string) => tokens.map((piece) => (piece === 'ZZZ' ? offset : piece)).join('');
    variants.push({ tokens: withOffset('ZZ'), zulu: false }, { tokens: withOffset("'Z'"), zulu: true });
  }
  return { strftime, parse: variants, format: format.join(''), fields: new Set(fields.keys()) };
}

/** Quotes literal text for luxon: `'text'`, a quote written as `''`. */
export function quote(text: string): string {
  return text
    .split("'")
    .map((part) => (part === '' ? '' : `'${part}'`))
    .join("''");
}
