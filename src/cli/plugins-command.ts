import path from 'node:path';
import type { Logger } from 'pino';
import type { Store } from '../../actors/stores/store-api.js';
import { cursorKey, readCursor, type CursorRecord, type Deactivation } from '../../actors/sources/event-log-cursors.js';
import { reactivationKey, type ReactivationRequest } from '../../actors/sources/event-log-reactivation.js';
import type { EventLogReader } from '../../actors/sources/event-log-reader.js';
import { holdReaderFile } from '../../actors/sources/reader-file.js';
import type { CompiledSource } from '../../actors/sources/source-kind.js';
import { createAppServices, type AppServices } from '../runtime/app-services.js';
import { ConfigError, CursorError, PluginError, UsageError } from '../kernel/errors.js';
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
  const deactivated = record?.deactivated;
  // A cursor that was ahead of the log is checked again at a start when the file changed; a failure stays on record until it is retried.
  const onRecord = deactivated && (deactivated.code !== 'ERR_CURSOR' || plugin.mtimeMs <= deactivated.at) ? deactivated : undefined;
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
  // Deactivated on record by a failure: the daemon retries it when it starts, or at once with --reactivate.
  const retried = new Set<string>();
  for (const plugin of loaded) {
    const record = await readCursor(store, plugin.name);
    const listed = listing(plugin, record);
    plugins.push(listed);
    if (listed.state === 'deactivated' && record?.deactivated && record.deactivated.code !== 'ERR_CURSOR') retried.add(plugin.name);
  }
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
    if (p.error)
      lines.push(
        `${p.name} (${path.relative(process.cwd(), p.file) || p.file}): ${p.error}${retried.has(p.name) ? ` (retried when the daemon starts, or now: flowd plugins <app.ini> --reactivate ${p.name})` : ''}`,
      );
  }
  return lines.join('\n');
}

/** Where `--reset-cursor` puts a cursor: after the log's newest event, before its first, or before event `id`. */
export type CursorTarget = 'latest' | 'earliest' | number;

/** How long `--reset-cursor` waits for the reader lock a daemon may hold. */
const READER_WAIT_MS = 3000;

type EventLogInfo = NonNullable<CompiledSource['eventLog']>;

function eventLogOf(config: AppConfig, source: CompiledSource, option: string): EventLogInfo {
  if (!source.eventLog)
    throw new ConfigError(
      { file: config.file, section: 'Source', key: 'type' },
      `is ${source.type}; ${option} acts on a plugin of the event log an app with type = event-log reads`,
    );
  return source.eventLog;
}

/**
 * Takes the reader lock (and the reader file) as a daemon would, for `waitMs`
 * at most: undefined when a daemon holds it. Cursor writes carry `fence`.
 */
async function takeReaderLock(
  services: AppServices,
  eventLog: EventLogInfo,
  waitMs: number,
): Promise<{ fence: number; release: () => Promise<void> } | undefined> {
  const signal = AbortSignal.timeout(waitMs);
  let releaseFile: (() => Promise<void>) | undefined;
  try {
    if (eventLog.readerFile) releaseFile = await holdReaderFile(eventLog.readerFile, signal, () => {});
    const lock = await services.locks.lock(eventLog.lockKey, { signal });
    // In-process locks count their fences from this process's start, as the daemon's do: the clock keeps ours above theirs.
    const fence = services.lockBackend === 'local' ? Math.max(lock.fence, Date.now() * 1000) : lock.fence;
    return {
      fence,
      release: async () => {
        await lock.release().catch(() => undefined);
        await releaseFile?.().catch(() => undefined);
      },
    };
  } catch (error) {
    await releaseFile?.().catch(() => undefined);
    if (signal.aborted) return undefined;
    throw error;
  }
}

/**
 * `flowd plugins app.ini --reset-cursor NAME [--to latest|earliest|ID]`:
 * writes the plugin's cursor anew (no backlog, not deactivated), so that
 * it goes on after the log's newest event (`latest`), from its first
 * (`earliest`) or from event `ID`. It takes the reader lock first: a daemon
 * reading the log keeps cursors in memory and would write over the reset,
 * so one that holds it is named and the reset refused. Returns what it did.
 */
export function resetCursor(config: AppConfig, source: CompiledSource, name: string, to: CursorTarget): Promise<string> {
  const eventLog = eventLogOf(config, source, '--reset-cursor');
  return withLoadedPlugins(config, async (loaded, log) => {
    const services = createAppServices(config.services, config.app.name, log);
    let reader: EventLogReader | undefined;
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
      const held = await takeReaderLock(services, eventLog, READER_WAIT_MS);
      if (!held)
        throw new CursorError(
          `cannot reset the cursor of plugin "${name}": a daemon of app ${config.app.name} reads the event log (it holds the lock "${eventLog.lockKey}"${eventLog.readerFile ? ` or the file ${eventLog.readerFile}` : ''}) and keeps the cursors in memory; stop it, then reset`,
        );
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
        await services.store.put(key, { last, backlog: [] } satisfies CursorRecord, { fence: held.fence });
        await services.store.delete(reactivationKey(name), { fence: held.fence });
        const was = (before as { last?: unknown } | undefined)?.last;
        return `plugin "${name}": cursor "${key}" reset from ${before === undefined ? 'none' : typeof was === 'number' ? String(was) : JSON.stringify(before)} to ${last} (${to === 'latest' ? "the log's newest event" : to === 'earliest' ? 'before its first event' : `before event ${to}`}); it goes on after event ${last}, active again`;
      } finally {
        await held.release();
      }
    } finally {
      await reader?.close().catch(() => undefined);
      await services.close();
    }
  });
}

/** How long `--reactivate` tries for the reader lock: a daemon that reads the log holds it, and is asked instead. */
const REACTIVATE_LOCK_WAIT_MS = 1000;
/** How often `--reactivate` looks whether the running daemon took its request up. */
const REACTIVATE_POLL_MS = 100;

/** ` on event 7 (ERR_PLUGIN: ...)`. */
const failure = (deactivated: Deactivation) =>
  `${deactivated.eventId === undefined ? '' : ` on event ${deactivated.eventId}`} (${deactivated.code}: ${deactivated.message})`;
const retrying = (last: number, deactivated: Deactivation) =>
  `it goes on after event ${last}${deactivated.eventId === undefined ? '' : `, retrying event ${deactivated.eventId}`}`;

/**
 * `flowd plugins app.ini --reactivate NAME`: retries a plugin a callback
 * deactivated, as a restart does, without one. With no daemon reading the
 * log it clears the deactivation in the plugin's cursor record (the next
 * start would too). While a daemon reads it (it holds the reader lock and
 * alone writes the cursors) it leaves a request in the store, which the
 * daemon takes up at its next read of the log (within `fetch interval`),
 * loading the plugin again; it waits for that, up to two fetch intervals
 * and 5s. Either way the plugin goes on after its cursor, so the event it
 * failed on comes again.
 *
 * Throws UsageError (exit 2) for an unknown plugin; CursorError (exit 1) for
 * a corrupt cursor or one that was ahead of the log (that takes
 * `--reset-cursor`); PluginError (exit 1) for a plugin that does not load,
 * one that failed again at once, or a daemon that did not take the request
 * up in time (the request stays, for its next read or start).
 * @param waitMs how long to wait for a running daemon @default two fetch intervals + 5s
 */
export function reactivatePlugin(config: AppConfig, source: CompiledSource, name: string, waitMs?: number): Promise<string> {
  const eventLog = eventLogOf(config, source, '--reactivate');
  return withLoadedPlugins(config, async (loaded, log) => {
    const plugin = loaded.find((candidate) => candidate.name === name);
    if (!plugin) {
      const known = loaded.map((candidate) => candidate.name);
      throw new UsageError(
        `--reactivate: no plugin "${name}" in ${config.plugins!.paths.join(', ')}${hint(name, known)}; expected one of ${known.join(', ') || '(no plugins)'}`,
      );
    }
    if (plugin.error?.code === 'ERR_PLUGIN_LOAD')
      throw new PluginError(
        'ERR_PLUGIN_LOAD',
        name,
        `cannot reactivate plugin "${name}": it does not load: ${plugin.error.message}; fix ${plugin.file}: a running daemon loads it again when the file changes`,
      );
    const services = createAppServices(config.services, config.app.name, log);
    try {
      await services.open();
      const record = await readCursor(services.store, name);
      const deactivated = record?.deactivated;
      if (!record || !deactivated)
        return `plugin "${name}" is not deactivated (${record ? `its cursor is at event ${record.last}` : 'it has no cursor yet'}); nothing to do`;
      if (deactivated.code === 'ERR_CURSOR')
        throw new CursorError(
          `cannot reactivate plugin "${name}": its cursor was ahead of the log, and going on from it would skip events (${deactivated.message}); reset it instead: flowd plugins <app.ini> --reset-cursor ${name} [--to latest|earliest|<id>]`,
        );
      const held = await takeReaderLock(services, eventLog, REACTIVATE_LOCK_WAIT_MS);
      if (held) {
        try {
          // Read again under the lock: a daemon may have written it meanwhile, before it stopped.
          const current = await readCursor(services.store, name);
          if (!current?.deactivated)
            return `plugin "${name}" is not deactivated (its cursor is at event ${current?.last ?? record.last}); nothing to do`;
          // Keeps the fingerprint: the next start still checks that the log holds the event the plugin last passed.
          const { deactivated: _cleared, ...kept } = current;
          await services.store.put(cursorKey(name), kept satisfies CursorRecord, { fence: held.fence });
          await services.store.delete(reactivationKey(name), { fence: held.fence });
          return `plugin "${name}": deactivation cleared (it failed${failure(current.deactivated)}); no daemon reads the log now: when one starts, ${retrying(current.last, current.deactivated)}`;
        } finally {
          await held.release();
        }
      }
      const key = reactivationKey(name);
      await services.store.put(key, { deactivatedAt: deactivated.at, requestedAt: Date.now() } satisfies ReactivationRequest);
      const deadline = Date.now() + (waitMs ?? 2 * eventLog.fetchIntervalMs + 5000);
      for (;;) {
        const now = await readCursor(services.store, name);
        const pending = (await services.store.get(key)) !== undefined;
        if (now?.deactivated?.at !== deactivated.at) {
          // The daemon took it up (or the file changed meanwhile): the deactivation it was for is gone.
          if (pending) await services.store.delete(key).catch(() => undefined);
          if (now?.deactivated)
            throw new PluginError(
              'ERR_PLUGIN',
              name,
              `plugin "${name}" was reactivated by the running daemon and is deactivated again: it failed${failure(now.deactivated)}`,
            );
          return `plugin "${name}": reactivated by the running daemon of app ${config.app.name} (it failed${failure(deactivated)}); ${retrying(record.last, deactivated)}`;
        }
        if (Date.now() >= deadline)
          throw new PluginError(
            'ERR_PLUGIN',
            name,
            `asked the daemon of app ${config.app.name} that reads the event log (it holds the lock "${eventLog.lockKey}") to reactivate plugin "${name}", but it has not done so yet; the request stays in the store and is taken up at its next read of the log or its next start`,
          );
        await new Promise((resolve) => setTimeout(resolve, REACTIVATE_POLL_MS));
      }
    } finally {
      await services.close();
    }
  });
}
