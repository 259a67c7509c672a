import { statSync } from 'node:fs';
import path from 'node:path';
import bytes from 'bytes';
import { IANAZone } from 'luxon';
import pino, { type Logger } from 'pino';
import type { SourceDriver } from '../../actors/sources/driver.js';
import { intervalDriver, type IntervalOptions } from '../../actors/sources/interval.js';
import { stdinDriver, type StdinOptions } from '../../actors/sources/stdin.js';
import { filesDriver, type FilesOptions } from '../../actors/sources/files.js';
import { httpDriver, type HttpOptions } from '../../actors/sources/http.js';
import { stompDriver, type StompOptions } from '../../actors/sources/stomp.js';
import { defaultDeadLetter, defaultPrefetch, parseStompUrl, type StompEndpoint } from '../../actors/sources/stomp-url.js';
import { parseTimeOfDay } from '../../actors/sources/window.js';
import { PAYLOAD_CLASSES } from '../../actors/sources/payload.js';
import { eventLogDriver, type EventLogOptions } from '../../actors/sources/event-log.js';
import type { EventLogReaderOptions } from '../../actors/sources/event-log-reader.js';
import type { Locks } from '../../actors/locks/lock-api.js';
import type { PluginHost } from '../../actors/plugins/plugin-api.js';
import type { Store } from '../../actors/stores/store-api.js';
import { displayUrl } from '../../actors/display-url.js';
import { formatDuration } from '../kernel/duration.js';
import { hint, SectionReader, type RawValue } from '../kernel/section-reader.js';
import { toIniKeys } from '../config/flow-settings.js';
import { ConfigError } from '../kernel/errors.js';

/** A source chosen by type and options (from `[Source]`, `static SOURCE` or code). */
export interface SourceSpec {
  type: string;
  options: Record<string, RawValue>;
}

/** A compiled source: what `flowd check` prints and how to make its driver. */
export interface CompiledSource {
  type: string;
  description: string;
  /** How a lost connection is retried (`reconnect delay`, `reconnect max delay`); sources without a connection have none. */
  reconnect?: { delayMs: number; maxDelayMs: number };
  create(deps?: SourceDeps): SourceDriver;
}

/** What a source may use from the runtime. */
export interface SourceDeps {
  log?: Logger;
  /** `[Flow] workers`, for defaults that follow it (a stomp source's prefetch). */
  workers?: number;
  /** The app's store and locks, and the reader lock's lease (an event-log source keeps cursors there). */
  services?: { store: Store; locks: Locks; leaseMs: number; lockBackend?: 'local' | 'redis' };
  /** The app's plugins (`[Plugins]`): an event-log source hands events to them. */
  plugins?: PluginHost;
}

/** Where the app lives: relative paths resolve against `dir`; state goes under `stateDir`. */
export interface SourceApp {
  dir: string;
  stateDir: string;
  /** `[Flow] workers`, for defaults that follow it (shown by `flowd check`). */
  workers?: number;
}

interface SourceKind {
  compile(reader: SectionReader, app: SourceApp): CompiledSource;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

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
  files: {
    compile(reader: SectionReader, app: SourceApp) {
      const locationText = reader.string('location');
      if (locationText === undefined) reader.fail('location', 'is missing; expected the folder to watch');
      const location = path.resolve(app.dir, locationText);
      let isFolder = false;
      try {
        isFolder = statSync(location).isDirectory();
      } catch {
        reader.fail('location', `found "${locationText}", but ${location} does not exist; expected a folder to watch`);
      }
      if (!isFolder) reader.fail('location', `found "${locationText}", but ${location} is not a folder`);
      const folder = (key: string) => {
        const text = reader.string(key);
        return text === undefined ? undefined : path.resolve(app.dir, text);
      };
      const options: FilesOptions = {
        location,
        recursive: reader.boolean('recursive', false),
        pattern: reader.string('pattern'),
        skipEmptyFiles: reader.boolean('skip empty files', false),
        settleTimeMs: reader.duration('settle time', 1000),
        rescanIntervalMs: reader.duration('rescan interval', 30_000, { minMs: 100 }),
        ignoreSuffixes: reader.string('ignore suffixes', '.part .tmp .crdownload').split(/\s+/).filter(Boolean),
        moveDoneTo: folder('move done to'),
        moveFailedTo: folder('move failed to'),
        ledgerFile: path.join(app.stateDir, 'files-ledger.json'),
      };
      const description = `files in ${location}${options.recursive ? ' (recursive)' : ''}${options.pattern ? ` matching ${options.pattern}` : ''}`;
      return { type: 'files', description, create: (deps = {}) => filesDriver(options, deps.log) };
    },
  },
  http: {
    compile(reader: SectionReader) {
      const host = reader.string('interface', '127.0.0.1');
      const port = reader.integer('port', 8080, { min: 0, max: 65535 });
      const prefixText = reader.string('path', '/');
      if (!prefixText.startsWith('/')) reader.fail('path', `found "${prefixText}"; expected a path starting with /`);
      const sizeText = reader.string('max body size', '1MB');
      const maxBodySize = bytes.parse(sizeText);
      if (maxBodySize === null || !Number.isFinite(maxBodySize) || maxBodySize < 0)
        reader.fail('max body size', `found "${sizeText}"; expected a size such as 1MB, 512kB or 1048576`);
      const options: HttpOptions = {
        interface: host,
        port,
        path: prefixText.replace(/\/+$/, ''),
        reply: reader.choice('reply', ['sync', 'async'] as const, 'sync'),
        maxBodySize,
        retryAfterS: Math.max(1, Math.round(reader.duration('retry after', 1000) / 1000)),
        keepResults: reader.integer('keep results', 10_000, { min: 1 }),
      };
      const where = `http://${host.includes(':') ? `[${host}]` : host}:${port}${options.path}/`;
      return {
        type: 'http',
        description: `http on ${where} (reply ${options.reply})${isLoopback(host) ? '' : ', NOT loopback'}`,
        create: (deps = {}) => httpDriver(options, deps.log),
      };
    },
  },
  stomp: {
    compile(reader: SectionReader, app: SourceApp) {
      const urlText = reader.string('stomp url');
      if (urlText === undefined) reader.fail('stomp url', 'is missing; expected stomp://[user:pass@]host[:port]/queue/name');
      let endpoint: StompEndpoint;
      try {
        endpoint = parseStompUrl(urlText);
      } catch (error) {
        reader.fail('stomp url', (error as Error).message);
      }
      const login = reader.string('login');
      const passcode = reader.string('passcode');
      if (login !== undefined && endpoint.login !== undefined)
        reader.fail('login', `is set, and the stomp url ${endpoint.displayUrl} names a user too; expected one of them`);
      if (passcode !== undefined && endpoint.passcode !== undefined)
        reader.fail('passcode', `is set, and the stomp url ${endpoint.displayUrl} has a password too; expected one of them`);
      const deadLetter = reader.string('dead letter', defaultDeadLetter(endpoint.destination));
      // Only a plain queue is safe: the broker creates it, and a topic or exchange with nothing bound would drop the copy after its RECEIPT.
      if (!/^\/queue\/.+/.test(deadLetter))
        reader.fail(
          'dead letter',
          `found "${deadLetter}"; expected a queue such as /queue/assets.dlq (a topic or exchange with nothing bound would lose the message)`,
        );
      if (deadLetter === endpoint.destination)
        reader.fail(
          'dead letter',
          `found "${deadLetter}", the source's own destination; expected another queue, or failed messages would come back for ever`,
        );
      const delayMs = reader.duration('reconnect delay', 1000, { minMs: 1 });
      const maxDelayMs = reader.duration('reconnect max delay', Math.max(30_000, delayMs));
      if (maxDelayMs < delayMs)
        reader.fail('reconnect max delay', `found ${maxDelayMs}ms; expected at least the reconnect delay (${delayMs}ms)`);
      // 0 is the "unset" sentinel: the default follows [Flow] workers, known only when the runtime is built.
      const prefetchValue = reader.integer('prefetch', 0, { min: 1, max: 65_535 });
      const options: StompOptions = {
        ...endpoint,
        login: login ?? endpoint.login,
        passcode: passcode ?? endpoint.passcode,
        virtualHost: reader.string('virtual host'),
        heartbeatMs: reader.duration('heartbeat', 10_000),
        prefetch: prefetchValue === 0 ? undefined : prefetchValue,
        payloadClass: reader.choice('payload class', PAYLOAD_CLASSES, 'text'),
        deadLetter,
        connectTimeoutMs: reader.duration('connect timeout', 10_000, { minMs: 1 }),
        receiptTimeoutMs: reader.duration('receipt timeout', 30_000, { minMs: 1 }),
      };
      const prefetchText =
        options.prefetch !== undefined
          ? String(options.prefetch)
          : app.workers !== undefined
            ? String(defaultPrefetch(app.workers))
            : 'workers + allowance';
      return {
        type: 'stomp',
        description: `stomp ${endpoint.displayUrl} (prefetch ${prefetchText}, payload ${options.payloadClass}, dead letter ${deadLetter})${isLoopback(endpoint.host) ? '' : ', NOT loopback'}`,
        reconnect: { delayMs, maxDelayMs },
        create: (deps = {}) => stompDriver(options, { log: deps.log, workers: deps.workers }),
      };
    },
  },
  'event-log': {
    compile(reader: SectionReader, app: SourceApp) {
      const url = reader.string('url');
      if (url === undefined)
        reader.fail(
          'url',
          'is missing; expected postgres://user@host:5432/database or an HTTP feed such as http://host/events?after={id}&limit={n}',
        );
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        reader.fail(
          'url',
          `found "${displayUrl(url)}"; expected postgres://user@host:5432/database or http://host/events?after={id}&limit={n}`,
        );
      }
      const queryTimeoutMs = reader.duration('query timeout', 30_000, { minMs: 1 });
      let readerOptions: EventLogReaderOptions;
      if (parsed.protocol === 'postgres:' || parsed.protocol === 'postgresql:') {
        const table = reader.string('table', 'flowd_events');
        if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(table))
          reader.fail('table', `found "${table}"; expected a table name such as flowd_events or events.log (letters, digits and _)`);
        if (reader.has('latest url')) reader.fail('latest url', 'is only read for an HTTP feed; the url is a PostgreSQL one');
        readerOptions = { kind: 'postgres', url, table, queryTimeoutMs };
      } else if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
        if (!url.includes('{id}'))
          reader.fail(
            'url',
            `found "${displayUrl(url)}"; expected {id} where the feed takes the last id seen, e.g. http://host/events?after={id}&limit={n}`,
          );
        if (reader.has('table')) reader.fail('table', 'is only read for a PostgreSQL url; the url is an HTTP feed');
        const latestUrl = reader.string('latest url');
        if (latestUrl !== undefined && !/^https?:\/\//.test(latestUrl))
          reader.fail(
            'latest url',
            `found "${displayUrl(latestUrl)}"; expected an http:// or https:// URL answering { "id": <latest id> }`,
          );
        readerOptions = { kind: 'http', url, latestUrl, timeoutMs: queryTimeoutMs };
      } else {
        reader.fail('url', `found "${displayUrl(url)}"; expected postgres://, postgresql://, http:// or https://`);
      }
      const startText = reader.string('start from', 'latest').trim().toLowerCase();
      let startFrom: EventLogOptions['startFrom'];
      if (startText === 'latest' || startText === 'earliest') startFrom = startText;
      else if (/^\d+$/.test(startText) && Number(startText) >= 1 && Number.isSafeInteger(Number(startText))) startFrom = Number(startText);
      else reader.fail('start from', `found "${startText}"; expected latest, earliest or an event id (a whole number of at least 1)`);
      const delayMs = reader.duration('reconnect delay', 1000, { minMs: 1 });
      const maxDelayMs = reader.duration('reconnect max delay', Math.max(30_000, delayMs));
      if (maxDelayMs < delayMs)
        reader.fail('reconnect max delay', `found ${maxDelayMs}ms; expected at least the reconnect delay (${delayMs}ms)`);
      const options: EventLogOptions = {
        reader: readerOptions,
        fetchIntervalMs: reader.duration('fetch interval', 5000, { minMs: 1 }),
        maxBatchSize: reader.integer('max batch size', 500, { min: 1, max: 100_000 }),
        backlogTimeoutMs: reader.duration('backlog timeout', 300_000),
        startFrom,
        lockKey: 'event-log/reader',
        readerFile: path.join(app.stateDir, 'event-log.reader'),
      };
      const host = parsed.hostname.replace(/^\[|\]$/g, '');
      return {
        type: 'event-log',
        description: `event-log ${displayUrl(url)}${readerOptions.kind === 'postgres' ? ` table ${readerOptions.table}` : ''} (start from ${startText}, fetch interval ${formatDuration(options.fetchIntervalMs)}, max batch size ${options.maxBatchSize}, backlog timeout ${formatDuration(options.backlogTimeoutMs)})${isLoopback(host) ? '' : ', NOT loopback'}`,
        reconnect: { delayMs, maxDelayMs },
        create: (deps = {}) => {
          if (!deps.plugins || !deps.services)
            throw new ConfigError(
              { section: 'Source', key: 'type' },
              'is event-log, which hands events to plugins: the app needs a [Plugins] section (paths = ./plugins)',
            );
          return eventLogDriver(options, {
            log: deps.log ?? pino({ level: 'silent' }),
            store: deps.services.store,
            locks: deps.services.locks,
            leaseMs: deps.services.leaseMs,
            plugins: deps.plugins,
            clockFence: deps.services.lockBackend !== 'redis',
          });
        },
      };
    },
  },
  stdin: {
    compile(reader: SectionReader) {
      const mode = reader.choice('mode', ['once', 'lines'] as const, 'once');
      const payload = reader.choice('payload class', [...PAYLOAD_CLASSES, 'none'] as const, 'text');
      const options: StdinOptions = { mode, payloadClass: payload === 'none' ? 'text' : payload };
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
  app: SourceApp = { dir: process.cwd(), stateDir: path.join(process.cwd(), '.flowd', 'flowd') },
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
  const compiled = kind.compile(reader, app);
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
  /** Reports files dropped into a folder, once each is complete. */
  files: (options: {
    location: string;
    recursive?: boolean;
    pattern?: string;
    skipEmptyFiles?: boolean;
    settleTime?: string | number;
    rescanInterval?: string | number;
    ignoreSuffixes?: string;
    moveDoneTo?: string;
    moveFailedTo?: string;
  }): SourceSpec => ({ type: 'files', options: Object.fromEntries(toIniKeys(options)) }),
  /** A web interface: each request is an event. */
  http: (
    options: {
      interface?: string;
      port?: number;
      path?: string;
      reply?: 'sync' | 'async';
      maxBodySize?: string;
      retryAfter?: string | number;
      keepResults?: number;
    } = {},
  ): SourceSpec => ({
    type: 'http',
    options: Object.fromEntries(toIniKeys(options)),
  }),
  /** Consumes a STOMP destination (RabbitMQ, ActiveMQ, ...) with acknowledgements after the work. */
  stomp: (options: {
    stompUrl: string;
    login?: string;
    passcode?: string;
    virtualHost?: string;
    heartbeat?: string | number;
    prefetch?: number;
    payloadClass?: 'text' | 'json' | 'xml';
    deadLetter?: string;
    connectTimeout?: string | number;
    receiptTimeout?: string | number;
    reconnectDelay?: string | number;
    reconnectMaxDelay?: string | number;
  }): SourceSpec => ({ type: 'stomp', options: Object.fromEntries(toIniKeys(options)) }),
  /**
   * Reads an event log (a PostgreSQL table or an HTTP JSON feed) for the app's plugins:
   * `createRuntime({ source: sources.eventLog({ url }), plugins: { paths: ['./plugins'] } })`.
   */
  eventLog: (options: {
    url: string;
    table?: string;
    latestUrl?: string;
    fetchInterval?: string | number;
    maxBatchSize?: number;
    backlogTimeout?: string | number;
    startFrom?: 'latest' | 'earliest' | number;
    queryTimeout?: string | number;
    reconnectDelay?: string | number;
    reconnectMaxDelay?: string | number;
  }): SourceSpec => ({
    type: 'event-log',
    options: Object.fromEntries(
      toIniKeys({ ...options, startFrom: options.startFrom === undefined ? undefined : String(options.startFrom) }),
    ),
  }),
  /** Reads standard input, once or line by line. */
  stdin: (options: { mode?: 'once' | 'lines'; payloadClass?: 'text' | 'json' | 'xml' } = {}): SourceSpec => ({
    type: 'stdin',
    options: Object.fromEntries(toIniKeys(options)),
  }),
};
