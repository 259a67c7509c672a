import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import mittModule from 'mitt';
import type { Logger } from 'pino';
import { createActor, fromPromise, waitFor, type ActorRefFrom, type InspectionEvent } from 'xstate';
import {
  pluginChanged,
  pluginFailed,
  pluginMachine,
  pluginRemoved,
  type PluginErrorInfo,
  type PluginLoadInput,
  type PluginLoadOutput,
} from '../../machines/plugin.js';
import { FlowdError, PluginError } from '../../src/kernel/errors.js';
import type { WorkerContext } from '../workers/worker.js';
import { coalescedPass } from '../coalesced-pass.js';
import { loadPlugin } from './load.js';
import { PluginRunContext } from './plugin-context.js';
import { matchesEvent } from './match.js';
import type { LogEvent, PluginChange, PluginHost, PluginInfo, PluginRunReport, PluginState, RegisteredCallback } from './plugin-api.js';

// mitt's types describe a CommonJS default; under ESM the default export is the function itself.
const mitt = mittModule as unknown as typeof mittModule.default;

/** Options of createPluginHost (`[Plugins]`, compiled). */
export interface PluginHostOptions {
  /** The plugin folders (absolute), in order: for a name found in two, the first wins. */
  paths: string[];
  /** Watch the folders and reload, add and remove plugins as their files change. */
  reload: boolean;
  /** How often the folders are rescanned, whatever the watcher said (with `reload`). */
  rescanIntervalMs: number;
  log: Logger;
  /** How long a changed or new file must stay unchanged before it is loaded, so an editor's several writes make one load. @default 100 */
  debounceMs?: number;
  /** xstate's `inspect` observer for the plugin actors (the inspector's). @default none */
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /**
   * What is on record for a plugin found in a folder: `deactivated` keeps it
   * deactivated after its first load (its callbacks loaded, for listing)
   * until its file changes or it is reactivated. The event-log source does
   * not use it: a restart re-activates a plugin a callback deactivated, as
   * shotgunEvents does (its cursor record keeps why, and it decides). Throwing
   * makes start() reject (a record that cannot be read); for a plugin found
   * later, the plugin is skipped until the next scan.
   * @default every plugin starts active once loaded
   */
  initialState?: ((name: string, file: string, mtimeMs: number) => { deactivated?: PluginErrorInfo | undefined } | undefined) | undefined;
}

/** The plugin host plus the inspector's hook. */
export interface InspectablePluginHost extends PluginHost {
  /** Plugin actors report to this observer from now on (set it before start() so the inspector sees each actor from its creation). */
  inspect(observer: ((event: InspectionEvent) => void) | undefined): void;
}

type PluginActor = ActorRefFrom<typeof pluginMachine>;
interface FileStat {
  file: string;
  size: number;
  mtimeMs: number;
}
interface Entry {
  name: string;
  file: string;
  actor: PluginActor;
  /** The file as last seen and acted on (loaded, or told to reload). */
  seen: FileStat;
  /** Whether `plugin.added` was told (once its first load ended). */
  announced: boolean;
}
/** A new or changed file that must stay unchanged for `debounceMs` before it is acted on. */
interface Candidate extends FileStat {
  changedAt: number;
}

const PLUGIN_FILE = /\.(ts|mts|js|mjs)$/;
/** `*.ts, *.mts, *.js, *.mjs`, but not declarations, hidden or `_private` files, or tests. */
const isPluginFile = (name: string): boolean =>
  PLUGIN_FILE.test(name) && !/\.d\.m?ts$/.test(name) && !name.startsWith('.') && !name.startsWith('_') && !/\.test\./.test(name);

// Every load in the process gets its own module version, even across hosts on the same files (tests, a runtime restarted in place).
let loadSequence = 0;

/**
 * The plugins of an event-log app: one plugin actor (machines/plugin.ts)
 * per module file found directly in the `paths` folders. With `reload`,
 * `fs.watch` hints and a rescan every `rescanIntervalMs` (comparing mtime
 * and size) reload a changed file, add a new one and remove a deleted one.
 *
 * Listeners hear `plugin.added` once a plugin's first load has ended (so
 * `get(name)` gives its state and mtime), right before its first
 * `plugin.activated` or `plugin.deactivated`; then one of those after every
 * reload or deactivation; `plugin.removed` when its file is gone.
 * @example
 * const host = createPluginHost({ paths: ['/srv/app/plugins'], reload: true, rescanIntervalMs: 5000, log });
 * await host.start();
 * if (host.matches('notify', event)) await host.run('notify', event, ctx);
 */
export function createPluginHost(options: PluginHostOptions): InspectablePluginHost {
  const { log, reload, rescanIntervalMs } = options;
  const debounceMs = options.debounceMs ?? 100;
  const folders = options.paths.map((folder) => path.resolve(folder));
  const emitter = mitt<{ change: PluginChange }>();
  const plugins = new Map<string, Entry>();
  const candidates = new Map<string, Candidate>();
  const warned = new Set<string>();
  // Per plugin, the stopOnError callback that last threw, so deactivate() can name it.
  const failedCallbacks = new Map<string, { eventId: number; callback: string }>();
  const watchers: FSWatcher[] = [];
  let observer = options.inspect;
  let started: Promise<void> | undefined;
  let closed = false;
  let rescanTimer: NodeJS.Timeout | undefined;
  let hintTimer: NodeJS.Timeout | undefined;
  let settleTimer: NodeJS.Timeout | undefined;
  const scanner = coalescedPass(scanOnce);

  const logic = pluginMachine.provide({
    actors: {
      load: fromPromise<PluginLoadOutput, PluginLoadInput>(({ input }) =>
        loadPlugin(input.file, input.name, log.child({ plugin: input.name }), ++loadSequence),
      ),
    },
  });
  const inspect = (event: InspectionEvent) => observer?.(event);
  const warnOnce = (key: string, fields: object, message: string) => {
    if (warned.has(key)) return;
    warned.add(key);
    log.warn(fields, message);
  };
  const tell = (change: PluginChange) => {
    try {
      emitter.emit('change', change);
    } catch (error) {
      log.error(
        { err: error, change: change.type, plugin: change.name },
        `a plugin-change listener threw on ${change.type} of "${change.name}"`,
      );
    }
  };

  /** The winning plugin file of each name, folder order first, then file name order. */
  async function listPlugins(strict: boolean): Promise<Map<string, FileStat> | undefined> {
    const found = new Map<string, FileStat>();
    for (const folder of folders) {
      let names: string[];
      try {
        names = (await readdir(folder)).sort();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (strict)
          throw new FlowdError('ERR_PLUGIN_LOAD', `plugin folder ${folder} cannot be read: ${(error as Error).message}`, { cause: error });
        warnOnce(
          `read:${folder}`,
          { folder, error: (error as Error).message },
          `plugin folder ${folder} cannot be read (${code ?? (error as Error).message})`,
        );
        // A folder that is gone has no plugins left; any other error keeps things as they are until the next scan.
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        return undefined;
      }
      warned.delete(`read:${folder}`);
      for (const fileName of names.filter(isPluginFile)) {
        const file = path.join(folder, fileName);
        let info;
        try {
          info = await stat(file);
        } catch {
          continue; // gone between readdir and stat, or a broken link
        }
        if (!info.isFile()) continue;
        const name = fileName.slice(0, -path.extname(fileName).length);
        const first = found.get(name);
        if (first) {
          warnOnce(
            `duplicate:${file}`,
            { plugin: name, file: first.file, ignored: file },
            `plugin "${name}" is in both ${first.file} and ${file}; using ${first.file}`,
          );
          continue;
        }
        found.set(name, { file, size: info.size, mtimeMs: info.mtimeMs });
      }
    }
    return found;
  }

  function add(name: string, seen: FileStat): Entry {
    const deactivated = options.initialState?.(name, seen.file, seen.mtimeMs)?.deactivated;
    const actor = createActor(logic, { id: `plugin:${name}`, input: { name, file: seen.file, deactivated }, inspect });
    const entry: Entry = { name, file: seen.file, actor, seen, announced: false };
    // `plugin.added` once the first load ended, so a listener finds the plugin's state and mtime; its first fact follows.
    const announce = () => {
      if (entry.announced) return;
      entry.announced = true;
      tell({ type: 'plugin.added', name });
    };
    actor.on('plugin.activated', () => {
      announce();
      tell({ type: 'plugin.activated', name });
    });
    actor.on('plugin.deactivated', ({ error }) => {
      announce();
      tell({ type: 'plugin.deactivated', name, error });
    });
    actor.on('plugin.removed', () => tell({ type: 'plugin.removed', name }));
    plugins.set(name, entry);
    log.info({ plugin: name, file: seen.file }, `plugin "${name}" found at ${seen.file}`);
    actor.start();
    return entry;
  }

  function remove(entry: Entry): void {
    plugins.delete(entry.name);
    failedCallbacks.delete(entry.name);
    log.info({ plugin: entry.name, file: entry.file }, `plugin "${entry.name}" removed (${entry.file} is gone)`);
    entry.actor.send(pluginRemoved());
    entry.actor.stop();
  }

  /** Compares the folders with the plugins: removals at once, new and changed files once they settle. */
  async function scan(): Promise<void> {
    if (await scanner.run()) armSettle();
  }

  /** One scan; false once the host is closed. */
  async function scanOnce(): Promise<boolean> {
    const found = await listPlugins(false);
    if (!found || closed) return false;
    for (const entry of [...plugins.values()]) if (found.get(entry.name)?.file !== entry.file) remove(entry);
    const now = Date.now();
    for (const [name, seen] of found) {
      const known = plugins.get(name)?.seen;
      const waiting = candidates.get(name);
      if (known && sameStat(known, seen)) candidates.delete(name);
      else if (!waiting || !sameStat(waiting, seen)) candidates.set(name, { ...seen, changedAt: now });
    }
    for (const name of candidates.keys()) if (!found.has(name)) candidates.delete(name);
    return !closed;
  }

  /** Acts on the files that stayed unchanged for `debounceMs`: a changed plugin reloads, a new one is added. */
  async function settle(): Promise<void> {
    settleTimer = undefined;
    for (const [name, candidate] of [...candidates]) {
      if (closed) return;
      if (Date.now() - candidate.changedAt < debounceMs) continue;
      let info;
      try {
        info = await stat(candidate.file);
      } catch {
        candidates.delete(name); // gone: the next scan removes it
        continue;
      }
      // A scan meanwhile replaced or dropped it: that one counts.
      if (closed || candidates.get(name) !== candidate) continue;
      const seen = { file: candidate.file, size: info.size, mtimeMs: info.mtimeMs };
      if (!sameStat(seen, candidate)) {
        candidates.set(name, { ...seen, changedAt: Date.now() });
        continue;
      }
      candidates.delete(name);
      const entry = plugins.get(name);
      if (entry?.file === seen.file) {
        entry.seen = seen;
        log.info({ plugin: name, file: seen.file }, `plugin "${name}" changed (${seen.file}); reloading`);
        entry.actor.send(pluginChanged());
      } else if (!entry) {
        try {
          add(name, seen);
        } catch (error) {
          log.error(
            { plugin: name, file: seen.file, err: error },
            `plugin "${name}" (${seen.file}) not added: its initial state could not be read: ${(error as Error).message}`,
          );
        }
      }
    }
    armSettle();
  }

  function armSettle(): void {
    if (closed || settleTimer || candidates.size === 0) return;
    let next = Infinity;
    const now = Date.now();
    for (const candidate of candidates.values()) next = Math.min(next, candidate.changedAt + debounceMs - now);
    settleTimer = setTimeout(settleLater, Math.max(5, next));
  }

  function requestScan(): void {
    if (closed || hintTimer) return;
    hintTimer = setTimeout(
      () => {
        hintTimer = undefined;
        rescan();
      },
      Math.max(10, Math.floor(debounceMs / 2)),
    );
  }

  function startWatching(): void {
    for (const folder of folders) {
      try {
        const watcher = watch(folder, () => requestScan());
        watcher.on('error', () => requestScan());
        watchers.push(watcher);
      } catch (error) {
        log.warn(
          { folder, error: (error as Error).message },
          `cannot watch plugin folder ${folder}; relying on the rescan every ${rescanIntervalMs}ms`,
        );
      }
    }
    rescanTimer = setInterval(rescan, rescanIntervalMs);
  }

  const snapshotOf = (name: string) => plugins.get(name)?.actor.getSnapshot();
  // Scans and settles run on timers: anything they throw is logged, never an unhandled rejection.
  const background = (work: () => Promise<void>) => () =>
    void work().catch((error: unknown) =>
      log.error({ err: error }, `plugin host: watching the plugin folders failed: ${(error as Error).message}`),
    );
  const rescan = background(scan);
  const settleLater = background(settle);

  function infoOf(entry: Entry): PluginInfo {
    const { value, context } = entry.actor.getSnapshot();
    return {
      name: entry.name,
      file: entry.file,
      state: value as PluginState,
      callbacks: context.callbacks.map((callback) => ({
        name: callback.name,
        match: (callback as RegisteredCallback).match,
        stopOnError: callback.stopOnError,
      })),
      error: context.error,
      mtimeMs: context.mtimeMs,
      emails: context.emails,
    };
  }

  return {
    start() {
      return (started ??= (async () => {
        for (const folder of folders) {
          const info = await stat(folder).catch(() => undefined);
          if (!info?.isDirectory())
            throw new FlowdError(
              'ERR_PLUGIN_LOAD',
              `plugin folder ${folder} ${info ? 'is not a folder' : 'does not exist'}; expected a folder of plugin modules ([Plugins] paths)`,
            );
        }
        const found = (await listPlugins(true))!;
        if (closed) return;
        for (const [name, seen] of found) add(name, seen);
        if (reload) startWatching();
        const loaded = (actor: PluginActor) => waitFor(actor, (snapshot) => snapshot.value !== 'loading').then(() => undefined);
        // close() during start stops the actors unloaded: start() then ends quietly.
        await Promise.all(
          [...plugins.values()].map(({ actor }) => loaded(actor).catch((error: unknown) => (closed ? undefined : Promise.reject(error)))),
        );
      })());
    },
    list() {
      return [...plugins.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(infoOf);
    },
    get(name) {
      const entry = plugins.get(name);
      return entry ? infoOf(entry) : undefined;
    },
    matches(name, event) {
      const snapshot = snapshotOf(name);
      if (snapshot?.value !== 'active') return false;
      return (snapshot.context.callbacks as RegisteredCallback[]).some((callback) => matchesEvent(callback.match, event));
    },
    async run(name: string, event: LogEvent, ctx: WorkerContext): Promise<PluginRunReport> {
      const snapshot = snapshotOf(name);
      // While reloading, the last load's callbacks go on: a reload never fails an event.
      if (snapshot?.value !== 'active' && !(snapshot?.value === 'reloading' && snapshot.context.callbacks.length > 0)) {
        const state = snapshot ? String(snapshot.value) : 'not a known plugin';
        throw new PluginError(
          'ERR_PLUGIN',
          name,
          `plugin "${name}" cannot run event ${event.id}: it is ${state}; expected an active plugin`,
          { eventId: event.id },
        );
      }
      // This load's callbacks for the whole event: a reload meanwhile applies from the next event.
      const callbacks = snapshot.context.callbacks as RegisteredCallback[];
      const report: PluginRunReport = { ran: [], failed: [] };
      for (const registered of callbacks) {
        ctx.signal.throwIfAborted();
        if (!matchesEvent(registered.match, event)) continue;
        try {
          await registered.callback(event, new PluginRunContext(ctx, name, registered.name), registered.args);
        } catch (error) {
          // Stopped by shutdown or the execution timeout: not the plugin's fault, so never a deactivation.
          ctx.signal.throwIfAborted();
          const cause = error instanceof Error ? error.message : String(error);
          const message = `plugin "${name}" callback "${registered.name}" failed on event ${event.id}: ${cause}`;
          if (registered.stopOnError) {
            failedCallbacks.set(name, { eventId: event.id, callback: registered.name });
            throw new PluginError('ERR_PLUGIN', name, message, { cause: error, callback: registered.name, eventId: event.id });
          }
          const code = (error as { code?: unknown } | null)?.code;
          report.failed.push({ callback: registered.name, code: typeof code === 'string' ? code : 'ERR_PLUGIN', message: cause });
          ctx.log.error(
            { plugin: name, callback: registered.name, eventId: event.id, err: error },
            `${message} (stopOnError is false: going on)`,
          );
        } finally {
          report.ran.push(registered.name);
        }
      }
      return report;
    },
    reactivate(name) {
      const entry = plugins.get(name);
      if (entry?.actor.getSnapshot().value !== 'deactivated') return false;
      log.info({ plugin: name, file: entry.file }, `plugin "${name}" is reactivated; loading ${entry.file} again`);
      entry.actor.send(pluginChanged());
      return true;
    },
    deactivate(name, error) {
      const entry = plugins.get(name);
      if (!entry) return void log.warn({ plugin: name }, `cannot deactivate plugin "${name}": no such plugin`);
      // The failure reaches the caller as { code, message } (a settlement): the callback's name is the host's to add.
      const failed = failedCallbacks.get(name);
      failedCallbacks.delete(name);
      const callback = error.callback ?? (failed && failed.eventId === error.eventId ? failed.callback : undefined);
      entry.actor.send(pluginFailed(callback === undefined ? error : { ...error, callback }));
    },
    onChange(listener) {
      emitter.on('change', listener);
      return () => emitter.off('change', listener);
    },
    inspect(next) {
      observer = next;
    },
    async close() {
      closed = true;
      for (const watcher of watchers.splice(0)) watcher.close();
      clearInterval(rescanTimer);
      clearTimeout(hintTimer);
      clearTimeout(settleTimer);
      candidates.clear();
      await scanner.current?.catch(() => undefined);
      for (const entry of plugins.values()) entry.actor.stop();
      plugins.clear();
      emitter.all.clear();
    },
  };
}

const sameStat = (a: FileStat, b: FileStat) => a.file === b.file && a.size === b.size && a.mtimeMs === b.mtimeMs;
