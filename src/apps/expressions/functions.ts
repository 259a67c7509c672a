/**
 * The functions a mapping expression may call. The table is frozen and has
 * no prototype, so only these names resolve; everything else is refused when
 * the expression is compiled.
 */
import { DateTime } from 'luxon';
import { translateStrftime } from '../../toolkit/strftime.js';
import { FORBIDDEN_KEYS, checkListLength, checkTextLength, describe, isPlainObject, readOwn, refuse, toText, type Data } from './values.js';

/** One callable function. */
export interface ExpressionFunction {
  /** How it is called, for messages and documentation. */
  readonly signature: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  /** Checks arguments written as literals when the expression is compiled; returns a problem or undefined. */
  readonly checkLiterals?: (literals: ReadonlyArray<Data | undefined>) => string | undefined;
  readonly call: (args: readonly Data[]) => Data;
}

function text(value: Data | undefined, name: string, position: number): string {
  if (typeof value !== 'string')
    refuse(`${name}() takes text as argument ${position}; found ${value === undefined ? 'nothing' : describe(value)}`);
  return value;
}

function integer(value: Data | undefined, name: string, position: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    refuse(`${name}() takes a whole number as argument ${position}; found ${value === undefined ? 'nothing' : describe(value)}`);
  }
  return value;
}

/** Python's slice bound: negatives count from the end, then clamped. */
function sliceBound(index: number, length: number): number {
  return index < 0 ? Math.max(0, length + index) : Math.min(index, length);
}

function occurrences(haystack: string, needle: string): number {
  if (needle === '') return haystack.length + 1;
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

function zoneProblem(zone: string): string | undefined {
  return DateTime.fromMillis(0, { zone }).isValid
    ? undefined
    : `formatDate() time zone "${zone}" is not known; expected an IANA name such as Europe/Oslo, or UTC`;
}

function formatProblem(format: string): string | undefined {
  try {
    translateStrftime(format);
    return undefined;
  } catch (error) {
    return `formatDate() ${(error as Error).message}`;
  }
}

function toDateTime(value: Data | undefined): DateTime {
  if (typeof value === 'number') {
    const date = Number.isFinite(value) ? DateTime.fromMillis(value, { zone: 'utc' }) : undefined;
    if (date?.isValid !== true)
      refuse(
        `formatDate() takes milliseconds since 1970 from -8.64e15 to 8.64e15, or ISO 8601 text, as argument 1; found ${describe(value)}`,
      );
    return date;
  }
  if (typeof value !== 'string') {
    refuse(
      `formatDate() takes milliseconds since 1970 or ISO 8601 text as argument 1; found ${value === undefined ? 'nothing' : describe(value)}`,
    );
  }
  // An offset in the text is kept; text without one is UTC.
  const parsed = DateTime.fromISO(value, { zone: 'utc', setZone: true });
  if (!parsed.isValid)
    refuse(
      `formatDate() cannot read ${describe(value)} as an ISO 8601 date: ${parsed.invalidExplanation ?? parsed.invalidReason ?? 'invalid'}`,
    );
  return parsed;
}

/** Reads `key` of a plain object: the whole key first (flat `asset.title` keys), then its dotted path. */
function get(object: Data | undefined, key: string, fallback: Data): Data {
  if (!isPlainObject(object)) refuse(`get() takes an object as argument 1; found ${object === undefined ? 'nothing' : describe(object)}`);
  const whole = readOwn(object, key, `"${key}"`);
  if (whole !== undefined) return whole;
  let current: Data = object;
  for (const segment of key.split('.')) {
    if (FORBIDDEN_KEYS.has(segment)) refuse(`get() may not read "${segment}"`);
    if (!isPlainObject(current)) return fallback;
    const next = readOwn(current, segment, `"${segment}" of "${key}"`);
    if (next === undefined) return fallback;
    current = next;
  }
  return current;
}

const table: Record<string, ExpressionFunction> = {
  upper: { signature: 'upper(text)', minArgs: 1, maxArgs: 1, call: ([s]) => text(s, 'upper', 1).toUpperCase() },
  lower: { signature: 'lower(text)', minArgs: 1, maxArgs: 1, call: ([s]) => text(s, 'lower', 1).toLowerCase() },
  trim: { signature: 'trim(text)', minArgs: 1, maxArgs: 1, call: ([s]) => text(s, 'trim', 1).trim() },
  substring: {
    signature: 'substring(text, start, end?)',
    minArgs: 2,
    maxArgs: 3,
    call: ([s, start, end]) => {
      // Python slicing over code points: s[start:end], negatives from the end.
      const chars = Array.from(text(s, 'substring', 1));
      const from = sliceBound(integer(start, 'substring', 2), chars.length);
      const to = end === undefined ? chars.length : sliceBound(integer(end, 'substring', 3), chars.length);
      return from >= to ? '' : chars.slice(from, to).join('');
    },
  },
  replace: {
    signature: 'replace(text, find, with)',
    minArgs: 3,
    maxArgs: 3,
    call: ([s, find, replacement]) => {
      const haystack = text(s, 'replace', 1);
      const needle = text(find, 'replace', 2);
      const by = text(replacement, 'replace', 3);
      checkTextLength(haystack.length + occurrences(haystack, needle) * (by.length - needle.length), 'replace()');
      // A function replacement keeps `$&` and friends literal.
      return haystack.replaceAll(needle, () => by);
    },
  },
  concat: {
    signature: 'concat(value, ...)',
    minArgs: 0,
    maxArgs: 64,
    call: (args) => {
      const parts = args.map((arg, index) => toText(arg, `concat() argument ${index + 1}`));
      checkTextLength(
        parts.reduce((sum, part) => sum + part.length, 0),
        'concat()',
      );
      return parts.join('');
    },
  },
  join: {
    signature: 'join(list, separator)',
    minArgs: 2,
    maxArgs: 2,
    call: ([list, separator]) => {
      if (!Array.isArray(list))
        refuse(`join() takes a list as argument 1; found ${list === undefined ? 'nothing' : describe(list as Data)}`);
      const sep = text(separator, 'join', 2);
      const parts = (list as readonly Data[]).map((item, index) => toText(item, `join() item ${index + 1}`));
      checkTextLength(parts.reduce((sum, part) => sum + part.length, 0) + Math.max(0, parts.length - 1) * sep.length, 'join()');
      return parts.join(sep);
    },
  },
  split: {
    signature: 'split(text, separator?)',
    minArgs: 1,
    maxArgs: 2,
    checkLiterals: ([, sep]) => (sep === '' ? 'split() separator is empty; leave it out to split on white space' : undefined),
    call: ([s, separator]) => {
      const haystack = text(s, 'split', 1);
      if (separator === undefined) {
        // Python's str.split(): runs of white space, no empty pieces.
        const trimmed = haystack.trim();
        if (trimmed === '') return [];
        const pieces = trimmed.split(/\s+/);
        checkListLength(pieces.length, 'split()');
        return pieces;
      }
      const sep = text(separator, 'split', 2);
      if (sep === '') refuse('split() separator is empty; leave it out to split on white space');
      checkListLength(occurrences(haystack, sep) + 1, 'split()');
      return haystack.split(sep);
    },
  },
  formatDate: {
    signature: 'formatDate(value, strftimeFormat, zone?)',
    minArgs: 2,
    maxArgs: 3,
    checkLiterals: ([, format, zone]) =>
      (typeof format === 'string' ? formatProblem(format) : undefined) ?? (typeof zone === 'string' ? zoneProblem(zone) : undefined),
    call: ([value, format, zone]) => {
      let date = toDateTime(value);
      const strftime = text(format, 'formatDate', 2);
      const problem = formatProblem(strftime);
      if (problem !== undefined) refuse(problem);
      if (zone !== undefined) {
        const name = text(zone, 'formatDate', 3);
        const zoneIssue = zoneProblem(name);
        if (zoneIssue !== undefined) refuse(zoneIssue);
        date = date.setZone(name);
      }
      // luxon writes "Invalid DateTime" for a date it cannot represent; that text must never reach a record.
      if (!date.isValid)
        refuse(
          `formatDate() cannot represent ${describe(value as Data)}${zone === undefined ? '' : ` in time zone "${String(zone)}"`}: ${date.invalidExplanation ?? date.invalidReason ?? 'out of range'}`,
        );
      return date.toFormat(translateStrftime(strftime).format, { locale: 'en-US' });
    },
  },
  get: {
    signature: "get(object, 'dotted.key', default?)",
    minArgs: 2,
    maxArgs: 3,
    call: ([object, key, fallback]) => get(object, text(key, 'get', 2), fallback ?? null),
  },
};

/**
 * The documented functions, by name, in a frozen table without a prototype
 * (`toString`, `constructor` and friends do not resolve).
 */
export const EXPRESSION_FUNCTIONS: Readonly<Record<string, ExpressionFunction>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, ExpressionFunction>, table),
);

/** The function names, for messages. */
export const EXPRESSION_FUNCTION_NAMES: readonly string[] = Object.freeze(Object.keys(table));
