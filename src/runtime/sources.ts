import path from 'node:path';
import { eventLogSource, type EventLogSourceOptions } from '../../actors/sources/event-log.js';
import { filesSource, type FilesSourceOptions } from '../../actors/sources/files.js';
import { httpSource, type HttpSourceOptions } from '../../actors/sources/http.js';
import { intervalSource, type IntervalSourceOptions } from '../../actors/sources/interval.js';
import type { CompiledSource, SourceApp, SourceKind } from '../../actors/sources/source-kind.js';
import { stdinSource, type StdinSourceOptions } from '../../actors/sources/stdin.js';
import { stompSource, type StompSourceOptions } from '../../actors/sources/stomp.js';
import { hint, SectionReader, type RawValue } from '../kernel/section-reader.js';
import { toIniKeys } from '../config/flow-settings.js';
import { ConfigError } from '../kernel/errors.js';

export type { CompiledSource, SourceApp, SourceDeps } from '../../actors/sources/source-kind.js';

/** A source chosen by type and options (from `[Source]`, `static SOURCE` or code). */
export interface SourceSpec {
  type: string;
  options: Record<string, RawValue>;
}

/** Every source kind by its `[Source] type`; each lives in its own module under actors/sources/. */
const KINDS: Record<string, SourceKind> = {
  interval: intervalSource,
  files: filesSource,
  http: httpSource,
  stomp: stompSource,
  'event-log': eventLogSource,
  stdin: stdinSource,
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
  app: SourceApp = { dir: process.cwd(), stateDir: path.join(process.cwd(), '.flowd', 'flowd') },
): CompiledSource {
  const name = type.trim().toLowerCase();
  // An own key only: `constructor`, `toString` or `__proto__` name no source kind.
  const kind = Object.hasOwn(KINDS, name) ? KINDS[name] : undefined;
  if (!kind) {
    throw new ConfigError(
      { file: where.file, section: where.section, key: 'type', line: where.lines?.get('type') },
      `found "${type}"; expected one of ${sourceTypes().join(', ')}${hint(type, sourceTypes())}`,
    );
  }
  const rest = new Map(values);
  rest.delete('type');
  const reader = new SectionReader(rest, where);
  const compiled = kind.compile(reader, app);
  reader.finish();
  return compiled;
}

/** Source specs for code that embeds flowd: `sources.interval({ interval: '10s' })`. Each takes its kind's keys in camelCase. */
export const sources = {
  /** Fires every interval, optionally inside a daily window. */
  interval: (options: IntervalSourceOptions = {}): SourceSpec => ({
    type: 'interval',
    options: Object.fromEntries(toIniKeys({ ...options })),
  }),
  /** Reports files dropped into a folder, once each is complete. */
  files: (options: FilesSourceOptions): SourceSpec => ({ type: 'files', options: Object.fromEntries(toIniKeys({ ...options })) }),
  /** A web interface: each request is an event. */
  http: (options: HttpSourceOptions = {}): SourceSpec => ({ type: 'http', options: Object.fromEntries(toIniKeys({ ...options })) }),
  /** Consumes a STOMP destination (RabbitMQ, ActiveMQ, ...) with acknowledgements after the work. */
  stomp: (options: StompSourceOptions): SourceSpec => ({ type: 'stomp', options: Object.fromEntries(toIniKeys({ ...options })) }),
  /**
   * Reads an event log (a PostgreSQL table or an HTTP JSON feed) for the app's plugins:
   * `createRuntime({ source: sources.eventLog({ url }), plugins: { paths: ['./plugins'] } })`.
   */
  eventLog: (options: EventLogSourceOptions): SourceSpec => ({
    type: 'event-log',
    options: Object.fromEntries(
      toIniKeys({ ...options, startFrom: options.startFrom === undefined ? undefined : String(options.startFrom) }),
    ),
  }),
  /** Reads standard input, once or line by line. */
  stdin: (options: StdinSourceOptions = {}): SourceSpec => ({ type: 'stdin', options: Object.fromEntries(toIniKeys({ ...options })) }),
};
