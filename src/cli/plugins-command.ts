import path from 'node:path';
import type { Logger } from 'pino';
import type { Store } from '../../actors/stores/store-api.js';
import { readCursor, type CursorRecord } from '../../actors/sources/event-log-cursors.js';
import type { MatchEvents, PluginInfo } from '../../actors/plugins/plugin-api.js';
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
  callbacks: Array<{ name: string; match: MatchEvents | undefined; stopOnError: boolean }>;
}

const describeMatch = (match: MatchEvents | undefined) =>
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
