import path from 'node:path';
import type { Logger } from 'pino';
import type { Store } from '../../actors/stores/store-api.js';
import { cursorKey, readCursor, type CursorRecord } from '../../actors/sources/event-log-cursors.js';
import type { EventLogReader } from '../../actors/sources/event-log-reader.js';
import { holdReaderFile } from '../../actors/sources/reader-file.js';
import type { CompiledSource } from '../../actors/sources/source-kind.js';
import { createAppServices } from '../runtime/app-services.js';
import { ConfigError, CursorError, UsageError } from '../kernel/errors.js';
import { hint } from '../kernel/section-reader.js';
import type { MatchFilter, PluginInfo } from '../../actors/plugins/plugin-api.js';
import { createPluginHost } from '../../actors/plugins/host.js';
import { silentLogger, withAppStore } from '../runtime/app-store.js';
import type { AppConfig } from '../config/app-config.js';

/** One plugin as `flowd plugins` shows it. */
export interface PluginListing {
  name: string;
  file: string;
  /** What the daemon would do with it now: a plugin deactivated on record whose file has not changed since stays deactivated. */
  state: string;
  error: string | undefined;
  /** The last event id done, or undefined when it has no cursor yet. */
  cursor: number | undefined;
  backlog: number;
  callbacks: Array<{ name: string; match: MatchFilter | undefined; stopOnError: boolean }>;
}

const describeMatch = (match: MatchFilter | undefined) =>
  match === undefined
    ? 'every event'
    : Object.entries(match)
        .map(([type, attributes]) => `${type}: ${attributes.join(' ')}`)
        .join('; ');

function listing(plugin: PluginInfo, record: CursorRecord | undefined): PluginListing {
  const onRecord = record?.deactivated && plugin.mtimeMs <= record.deactivated.at ? record.deactivated : undefined;
  return {
    name: plugin.name,
    file: plugin.file,
    state: onRecord ? 'deactivated' : plugin.state,
    error: onRecord ? `${onRecord.code}: ${onRecord.message}` : plugin.error ? `${plugin.error.code}: ${plugin.error.message}` : undefined,
    cursor: record?.last,
    backlog: record?.backlog.reduce((n, [from, to]) => n + (to - from + 1), 0) ?? 0,
    callbacks: plugin.callbacks.map(({ name, match, stopOnError }) => ({ name, match, stopOnError })),
  };
}

/**
 * Loads the app's plugins once, without watching or running them, hands
 * them to `use`, and lets them go (`flowd check` and `flowd plugins`).
 */
export async function withLoadedPlugins<T>(config: AppConfig, use: (plugins: PluginInfo[], log: Logger) => Promise<T> | T): Promise<T> {
  const log = silentLogger(config);
  const host = createPluginHost({ ...config.plugins!, reload: false, log });
  try {
    await host.start();
    return await use(host.list(), log);
  } finally {
    await host.close();
  }
}

/**
 * `flowd plugins app.ini`: loads the app's plugins (without running them)
 * and reads their cursors from the app's store. Returns a table, or JSON.
 */
export function listPlugins(config: AppConfig, json: boolean): Promise<string> {
  return withLoadedPlugins(config, (loaded, log) => withAppStore(config, (store) => render(config, loaded, store, json), log));
}

async function render(config: AppConfig, loaded: PluginInfo[], store: Store, json: boolean): Promise<string> {
  const plugins: PluginListing[] = [];
  for (const plugin of loaded) plugins.push(listing(plugin, await readCursor(store, plugin.name)));
  if (json) return JSON.stringify({ app: config.app.name, plugins }, null, 2);
  if (plugins.length === 0) return `${config.app.name}: no plugins in ${config.plugins!.paths.join(', ')}`;
  const rows = [['PLUGIN', 'STATE', 'CURSOR', 'BACKLOG', 'CALLBACKS']];
  for (const p of plugins) {
    const callbacks =
      p.callbacks.map((c) => `${c.name} (${describeMatch(c.match)}${c.stopOnError ? '' : ', stopOnError false'})`).join(', ') || '(none)';
    rows.push([p.name, p.state, p.cursor === undefined ? 'none yet' : String(p.cursor), String(p.backlog), callbacks]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '));
  for (const p of plugins) {
    if (p.error) lines.push(`${p.name} (${path.relative(process.cwd(), p.file) || p.file}): ${p.error}`);
  }
  return lines.join('\n');
}

/** Where `--reset-cursor` puts a cursor: after the log's newest event, before its first, or before event `id`. */
export type CursorTarget = 'latest' | 'earliest' | number;

/** How long `--reset-cursor` waits for the reader lock a daemon may hold. */
const READER_WAIT_MS = 3000;

/**
 * `flowd plugins app.ini --reset-cursor NAME [--to latest|earliest|ID]`:
 * writes the plugin's cursor anew (no backlog, not deactivated), so that
 * it goes on after the log's newest event (`latest`), from its first
 * (`earliest`) or from event `ID`. It takes the reader lock first: a daemon
 * reading the log keeps cursors in memory and would write over the reset,
 * so one that holds it is named and the reset refused. Returns what it did.
 */
export function resetCursor(config: AppConfig, source: CompiledSource, name: string, to: CursorTarget): Promise<string> {
  const eventLog = source.eventLog;
  if (!eventLog)
    throw new ConfigError(
      { file: config.file, section: 'Source', key: 'type' },
      `is ${source.type}; --reset-cursor resets a cursor in the event log an app with type = event-log reads`,
    );
  return withLoadedPlugins(config, async (loaded, log) => {
    const services = createAppServices(config.services, config.app.name, log);
    let reader: EventLogReader | undefined;
    let releaseFile: (() => Promise<void>) | undefined;
    try {
      await services.open();
      const key = cursorKey(name);
      // Read as it is: a corrupt record is what a reset is for.
      const before: unknown = await services.store.get(key);
      const known = loaded.map((plugin) => plugin.name);
      if (!known.includes(name) && before === undefined)
        throw new UsageError(
          `--reset-cursor: no plugin "${name}" in ${config.plugins!.paths.join(', ')} and no cursor "${key}" in the store${hint(name, known)}; expected one of ${known.join(', ') || '(no plugins)'}`,
        );
      const busy = (error: unknown) =>
        new CursorError(
          `cannot reset the cursor of plugin "${name}": a daemon of app ${config.app.name} reads the event log (it holds the lock "${eventLog.lockKey}"${eventLog.readerFile ? ` or the file ${eventLog.readerFile}` : ''}) and keeps the cursors in memory; stop it, then reset`,
          { cause: error },
        );
      const signal = AbortSignal.timeout(READER_WAIT_MS);
      let lock;
      try {
        if (eventLog.readerFile) releaseFile = await holdReaderFile(eventLog.readerFile, signal, () => {});
        lock = await services.locks.lock(eventLog.lockKey, { signal });
      } catch (error) {
        if (signal.aborted) throw busy(error);
        throw error;
      }
      // In-process locks count their fences from this process's start, as the daemon's do: the clock keeps ours above theirs.
      const fence = services.lockBackend === 'local' ? Math.max(lock.fence, Date.now() * 1000) : lock.fence;
      try {
        let last: number;
        if (typeof to === 'number') last = to - 1;
        else {
          reader =
            eventLog.reader.kind === 'postgres'
              ? (await import('../../actors/sources/event-log-postgres.js')).postgresLogReader(eventLog.reader)
              : (await import('../../actors/sources/event-log-http.js')).httpLogReader(eventLog.reader);
          last = to === 'latest' ? await reader.latestId() : await reader.earliestId();
        }
        await services.store.put(key, { last, backlog: [] } satisfies CursorRecord, { fence });
        const was = (before as { last?: unknown } | undefined)?.last;
        return `plugin "${name}": cursor "${key}" reset from ${before === undefined ? 'none' : typeof was === 'number' ? String(was) : JSON.stringify(before)} to ${last} (${to === 'latest' ? "the log's newest event" : to === 'earliest' ? 'before its first event' : `before event ${to}`}); it goes on after event ${last}, active again`;
      } finally {
        await lock.release().catch(() => undefined);
      }
    } finally {
      await releaseFile?.().catch(() => undefined);
      await reader?.close().catch(() => undefined);
      await services.close();
    }
  });
}
