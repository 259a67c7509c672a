import { IANAZone } from 'luxon';
import type { Logger } from 'pino';
import type { SourceDriver } from '../actors/sources/driver.js';
import { intervalDriver, type IntervalOptions } from '../actors/sources/interval.js';
import { stdinDriver, type StdinOptions } from '../actors/sources/stdin.js';
import { parseTimeOfDay } from '../actors/sources/window.js';
import { formatDuration } from './config/duration.js';
import { hint, SectionReader, type RawValue } from './config/section-reader.js';
import { toIniKeys } from './config/flow-settings.js';
import { ConfigError } from './errors.js';

/** A source chosen by type and options (from `[Source]`, `static SOURCE` or code). */
export interface SourceSpec {
  type: string;
  options: Record<string, RawValue>;
}

/** A compiled source: what `flowd check` prints and how to make its driver. */
export interface CompiledSource {
  type: string;
  description: string;
  create(deps?: SourceDeps): SourceDriver;
}

/** What a source may use from the runtime. */
export interface SourceDeps {
  log?: Logger;
}

interface SourceKind {
  compile(reader: SectionReader): CompiledSource;
}

const formatTime = (s: number) =>
  [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60].map((n) => String(n).padStart(2, '0')).join(':');

const KINDS: Record<string, SourceKind> = {
  interval: {
    compile(reader: SectionReader) {
      const intervalMs = reader.duration('interval', 60_000, { minMs: 1 });
      const startText = reader.string('window start');
      const endText = reader.string('window end');
      const zone = reader.string('timezone', 'system');
      if (zone !== 'system' && !IANAZone.isValidZone(zone)) {
        reader.fail('timezone', `found "${zone}"; expected an IANA time zone such as Europe/Oslo or UTC`);
      }
      let window: IntervalOptions['window'];
      if (startText !== undefined || endText !== undefined) {
        if (startText === undefined) reader.fail('window start', 'is missing; a window needs both window start and window end');
        if (endText === undefined) reader.fail('window end', 'is missing; a window needs both window start and window end');
        const start = parseTimeOfDay(startText);
        const end = parseTimeOfDay(endText);
        if (start === undefined) reader.fail('window start', `found "${startText}"; expected HH[:MM[:SS]] such as 01:00`);
        if (end === undefined) reader.fail('window end', `found "${endText}"; expected HH[:MM[:SS]] such as 03:00`);
        if (start === end) reader.fail('window end', `found "${endText}", the same as window start; expected a different time`);
        window = { start, end, zone };
      }
      const options: IntervalOptions = { intervalMs, window };
      const description = window
        ? `interval every ${formatDuration(intervalMs)} between ${formatTime(window.start)} and ${formatTime(window.end)} (${zone})`
        : `interval every ${formatDuration(intervalMs)}`;
      return { type: 'interval', description, create: (deps = {}) => intervalDriver(options, Date, deps.log) };
    },
  },
  stdin: {
    compile(reader: SectionReader) {
      const mode = reader.choice('mode', ['once', 'lines'] as const, 'once');
      const payload = reader.choice('payload class', ['text', 'json', 'none'] as const, 'text');
      const options: StdinOptions = { mode, payloadClass: payload === 'json' ? 'json' : 'text' };
      return { type: 'stdin', description: `stdin (${mode}, ${options.payloadClass})`, create: () => stdinDriver(options) };
    },
  },
};

/** The source types flowd knows. */
export const sourceTypes = (): string[] => Object.keys(KINDS);

/**
 * Compiles a source's options by type; unknown types and keys are
 * ConfigErrors naming the file and key.
 */
export function compileSource(
  type: string,
  values: ReadonlyMap<string, RawValue>,
  where: { file?: string | undefined; section: string; lines?: ReadonlyMap<string, number> },
): CompiledSource {
  const kind = KINDS[type.trim().toLowerCase()];
  if (!kind) {
    throw new ConfigError(
      { file: where.file, section: where.section, key: 'type', line: where.lines?.get('type') },
      `found "${type}"; expected one of ${sourceTypes().join(', ')}${hint(type, sourceTypes())}`,
    );
  }
  const rest = new Map(values);
  rest.delete('type');
  const reader = new SectionReader(rest, where);
  const compiled = kind.compile(reader);
  reader.finish();
  return compiled;
}

/** Source specs for code that embeds flowd: `sources.interval({ interval: '10s' })`. */
export const sources = {
  /** Fires every interval, optionally inside a daily window. */
  interval: (options: { interval?: string | number; windowStart?: string; windowEnd?: string; timezone?: string } = {}): SourceSpec => ({
    type: 'interval',
    options: Object.fromEntries(toIniKeys(options)),
  }),
  /** Reads standard input, once or line by line. */
  stdin: (options: { mode?: 'once' | 'lines'; payloadClass?: 'text' | 'json' } = {}): SourceSpec => ({
    type: 'stdin',
    options: Object.fromEntries(toIniKeys(options)),
  }),
};
