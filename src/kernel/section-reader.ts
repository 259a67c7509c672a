import { closest, distance } from 'fastest-levenshtein';
import { ConfigError, type ConfigLocation } from './errors.js';
import { formatDuration, parseDuration } from './duration.js';
import { MAX_TIMER_DELAY } from './timers.js';

/** The longest duration a setting can hold: a timer's (MAX_TIMER_DELAY). */
export const MAX_DURATION_MS = MAX_TIMER_DELAY;

/** A raw value: text from an INI file, or a value given in code. */
export type RawValue = string | number | boolean | undefined;

/**
 * Reads one section's raw values into typed, defaulted ones, and throws a
 * ConfigError naming the file, section, key, the value found and what was
 * expected. `finish()` rejects any key that was never read, with a
 * did-you-mean hint, so a typo never passes silently.
 */
export class SectionReader {
  private readonly known = new Set<string>();

  constructor(
    private readonly values: ReadonlyMap<string, RawValue>,
    private readonly where: { file?: string | undefined; section: string; lines?: ReadonlyMap<string, number> },
  ) {}

  /** Whether the section sets this key. */
  has(key: string): boolean {
    return this.values.get(key) !== undefined;
  }

  /** The location of a key, for errors raised after reading. */
  locate(key: string): ConfigLocation {
    return { file: this.where.file, section: this.where.section, key, line: this.where.lines?.get(key) };
  }

  /** Raises a ConfigError about a key. */
  fail(key: string, problem: string): never {
    throw new ConfigError(this.locate(key), problem);
  }

  private raw(key: string): RawValue {
    this.known.add(key);
    return this.values.get(key);
  }

  /** A string; empty text counts as unset. */
  string(key: string): string | undefined;
  string(key: string, fallback: string): string;
  string(key: string, fallback?: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined || value === '') return fallback;
    if (typeof value !== 'string') this.fail(key, `found ${JSON.stringify(value)}; expected text`);
    return value;
  }

  /** A whole number within bounds. */
  integer(key: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
    const value = this.raw(key);
    if (value === undefined || value === '') return fallback;
    const number = typeof value === 'number' ? value : /^[+-]?\d+$/.test(String(value).trim()) ? Number(value) : Number.NaN;
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
    if (!Number.isInteger(number) || number < min || number > max) {
      this.fail(key, `found "${value}"; expected a whole number${describeBounds(min, max)}`);
    }
    return number;
  }

  /** A duration in milliseconds: `30` (seconds), `250ms`, `30s`, `5m`, `1h`; a number given in code is milliseconds. */
  duration(key: string, fallbackMs: number, bounds: { minMs?: number } = {}): number {
    const value = this.raw(key);
    if (value === undefined || value === '') return fallbackMs;
    const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
    const minMs = bounds.minMs ?? 0;
    if (ms === undefined || !Number.isFinite(ms) || ms < minMs) {
      const floor = minMs > 0 ? ` of at least ${formatDuration(minMs)}` : '';
      this.fail(key, `found "${value}"; expected a duration${floor} such as 30, 30s, 250ms, 5m or 1h`);
    }
    // Every duration ends up in a timer, and timers cannot wait longer than 2^31-1 ms.
    if (ms > MAX_DURATION_MS)
      this.fail(key, `found "${value}"; expected a duration of at most ${formatDuration(MAX_DURATION_MS)} (about 24.8 days)`);
    return ms;
  }

  /** yes/no, true/false, on/off, 1/0 (configparser's booleans). */
  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined || value === '') return fallback;
    if (typeof value === 'boolean') return value;
    const text = String(value).trim().toLowerCase();
    if (['yes', 'true', 'on', '1'].includes(text)) return true;
    if (['no', 'false', 'off', '0'].includes(text)) return false;
    return this.fail(key, `found "${value}"; expected yes or no`);
  }

  /** One of a fixed set of words. */
  choice<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const value = this.raw(key);
    if (value === undefined || value === '') return fallback;
    const text = String(value).trim().toLowerCase();
    if (!(choices as readonly string[]).includes(text)) {
      this.fail(key, `found "${value}"; expected one of ${choices.join(', ')}${hint(text, choices)}`);
    }
    return text as T;
  }

  /** Rejects keys that nothing read, suggesting the nearest known key. */
  finish(): void {
    for (const [key, value] of this.values) {
      if (this.known.has(key) || value === undefined) continue;
      this.fail(key, `is not a setting of [${this.where.section}]${hint(key, [...this.known])}; known keys: ${[...this.known].join(', ')}`);
    }
  }
}

function describeBounds(min: number, max: number): string {
  if (min > Number.MIN_SAFE_INTEGER && max < Number.MAX_SAFE_INTEGER) return ` from ${min} to ${max}`;
  if (min > Number.MIN_SAFE_INTEGER) return ` of at least ${min}`;
  if (max < Number.MAX_SAFE_INTEGER) return ` of at most ${max}`;
  return '';
}

/** ` (did you mean "x"?)` when a known word is close to the one found. */
export function hint(found: string, known: readonly string[]): string {
  if (known.length === 0) return '';
  const nearest = closest(found, [...known]);
  // Only a plausible typo earns a hint.
  const plausible = distance(found, nearest) <= Math.max(2, Math.floor(nearest.length / 3));
  return plausible ? ` (did you mean "${nearest}"?)` : '';
}

/**
 * Expands `${NAME}` from the environment; `$$` is a literal `$`.
 * A variable that is not set is an error naming it.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv, where: ConfigLocation): string {
  return text.replace(/\$\$|\$\{([^}]*)\}/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    if (!name || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new ConfigError(where, `"${match}" is not a variable reference; expected \${NAME} with letters, digits and _`);
    }
    const value = env[name];
    if (value === undefined) throw new ConfigError(where, `uses \${${name}}, but the environment variable ${name} is not set`);
    return value;
  });
}

/**
 * A reader over one of the app's own sections (whose keys keep the case
 * they were written in) for settings, whose keys are case-insensitive as
 * configparser's: `XPath = ...` reads as `xpath`.
 */
export function appSectionReader(
  section: Readonly<Record<string, string>> | undefined,
  where: { file?: string | undefined; section: string; lines?: ReadonlyMap<string, number> },
): SectionReader {
  const values = new Map<string, RawValue>();
  const lines = new Map<string, number>();
  for (const [key, value] of Object.entries(section ?? {})) {
    values.set(key.toLowerCase(), value);
    const line = where.lines?.get(key);
    if (line !== undefined) lines.set(key.toLowerCase(), line);
  }
  return new SectionReader(values, { ...where, lines });
}
