import type { Logger } from 'pino';
import type { SectionReader } from '../../src/kernel/section-reader.js';
import type { Locks } from '../locks/lock-api.js';
import type { PluginHost } from '../plugins/plugin-api.js';
import type { Store } from '../stores/store-api.js';
import type { SourceDriver } from './driver.js';
import type { EventLogReaderOptions } from './event-log-reader.js';

// The shape every source kind shares: its module (actors/sources/<kind>.ts) exports a SourceKind that
// compiles `[Source]` into a CompiledSource, beside its driver and the options `sources.<kind>()` takes.

/** A compiled source: what `flowd check` prints and how to make its driver. */
export interface CompiledSource {
  type: string;
  description: string;
  /** How a lost connection is retried (`reconnect delay`, `reconnect max delay`); sources without a connection have none. */
  reconnect?: { delayMs: number; maxDelayMs: number };
  create(deps?: SourceDeps): SourceDriver;
  /** An event-log source's log and reader lock, for `flowd plugins --reset-cursor`. */
  eventLog?: {
    reader: EventLogReaderOptions;
    lockKey: string;
    readerFile: string | undefined;
    /** How often the reader reads the log, and takes up reactivation requests (`flowd plugins --reactivate`). */
    fetchIntervalMs: number;
  };
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

/** One `[Source] type`: reads its keys (unknown ones are the registry's to report) and compiles them. */
export interface SourceKind {
  /** Reads the section's keys through `reader`, failing with a ConfigError that names the key. */
  compile(reader: SectionReader, app: SourceApp): CompiledSource;
}

/** A duration as code gives it: text such as `10s` or `1.5 min`, or milliseconds. */
export type DurationOption = string | number;

/** Whether a host is this machine only (`flowd check` flags any other as NOT loopback). */
export const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);
