import { realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Denque from 'denque';
import picomatch from 'picomatch';
import type { Settlement } from '../../machines/events.js';
import type { Feed, SourceDriver } from './driver.js';
import { coalescedPass } from '../coalesced-pass.js';
import { Ledger } from './ledger.js';
import type { DurationOption, SourceApp, SourceKind } from './source-kind.js';
import type { SectionReader } from '../../src/kernel/section-reader.js';
import { FlowdError } from '../../src/kernel/errors.js';

/** `[Source] type = files`, compiled. */
export interface FilesOptions {
  /** The folder to watch (absolute). */
  location: string;
  recursive: boolean;
  /** A glob on the relative path (posix separators); undefined: every file. */
  pattern: string | undefined;
  /** Tail mode: a file is reported only once it has content. */
  skipEmptyFiles: boolean;
  /** How long size and mtime must stay unchanged before a file is reported. */
  settleTimeMs: number;
  /** How often the whole folder is rescanned, whatever the watcher said. */
  rescanIntervalMs: number;
  /** Files ending in one of these are never reported (partial downloads). */
  ignoreSuffixes: string[];
  moveDoneTo: string | undefined;
  moveFailedTo: string | undefined;
  /** Where the ledger of processed files is kept. */
  ledgerFile: string;
}

/** What the worker receives for each file. */
export interface FileEvent {
  kind: 'created' | 'updated' | 'deleted';
  /** Absolute path. */
  path: string;
  /** Relative to `location`, with `/` separators. */
  relativePath: string;
  size: number;
  /** ISO time of the last modification. */
  mtime: string;
}

interface Candidate {
  size: number;
  mtimeMs: number;
  /** When size and mtime were last seen to change. */
  changedAt: number;
}

interface InFlight {
  kind: FileEvent['kind'];
  size: number;
  mtimeMs: number;
}

type Log = { info(fields: object, message: string): void; warn(fields: object, message: string): void };

/**
 * Reports files dropped into a folder, once each is complete.
 *
 * `fs.watch` events are only hints that trigger a scan soon; a full rescan
 * every `rescan interval` reconciles, so a missed event is still seen. A
 * file is reported when its size and mtime have not changed for
 * `settle time`, so a slow writer gives one event after it finishes. A
 * ledger (path, size, mtime, outcome) in the app's state folder makes a
 * restart report only what was not processed. Paths are resolved and must
 * stay under `location`; a link that leads outside is skipped with a warning.
 */
export function filesDriver(options: FilesOptions, log: Log = { info: () => {}, warn: () => {} }): SourceDriver {
  const ledger = new Ledger(options.ledgerFile);
  const matches = options.pattern ? picomatch(options.pattern, { dot: true }) : () => true;
  const candidates = new Map<string, Candidate>();
  const ready = new Denque<string>();
  const inFlight = new Map<string, InFlight>();
  const warned = new Set<string>();
  let root = options.location;
  let excluded: string[] = [];
  let feed: Feed | undefined;
  let paused = false;
  let stopped = false;
  let watcher: FSWatcher | undefined;
  let rescanTimer: NodeJS.Timeout | undefined;
  let settleTimer: NodeJS.Timeout | undefined;
  let hintTimer: NodeJS.Timeout | undefined;
  const scanner = coalescedPass(scanOnce);

  const warnOnce = (key: string, message: string) => {
    if (warned.has(key)) return;
    warned.add(key);
    log.warn({ path: key }, message);
  };
  const inside = (real: string) => real === root || real.startsWith(root + path.sep);

  /** Every regular file under the folder, as relative path -> stats; links resolved and checked. */
  async function walk(dir: string, found: Map<string, { size: number; mtimeMs: number }>): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if (dir === root) throw error;
      return; // a subfolder that vanished mid-scan
    }
    for (const name of names) {
      const absolute = path.join(dir, name);
      const relative = path.relative(root, absolute).split(path.sep).join('/');
      let info;
      try {
        info = await lstat(absolute);
        if (info.isSymbolicLink()) {
          const target = await realpath(absolute);
          if (!inside(target)) {
            warnOnce(relative, `files: ${relative} is a link to ${target}, outside ${root}; skipped`);
            continue;
          }
          info = await stat(absolute);
        }
      } catch {
        continue; // gone between readdir and stat
      }
      if (info.isDirectory()) {
        if (options.recursive && !excluded.some((e) => absolute === e)) await walk(absolute, found);
        continue;
      }
      if (!info.isFile()) continue;
      if (options.ignoreSuffixes.some((suffix) => name.endsWith(suffix))) continue;
      if (!matches(relative)) continue;
      found.set(relative, { size: info.size, mtimeMs: info.mtimeMs });
    }
  }

  /** Compares the folder with what is known: new and changed files start settling, vanished ones are deletions. */
  async function scan(): Promise<void> {
    if (!(await scanner.run())) return;
    armSettle();
    drain();
  }

  /** One scan; false when the folder cannot be read or the source stopped. */
  async function scanOnce(): Promise<boolean> {
    const found = new Map<string, { size: number; mtimeMs: number }>();
    try {
      await walk(root, found);
    } catch (error) {
      feed?.lost({ code: 'ERR_SOURCE', message: `files: cannot read ${root}: ${(error as Error).message}`, retryable: true });
      return false;
    }
    const now = Date.now();
    for (const [relative, seen] of found) observe(relative, seen, now);
    for (const relative of candidates.keys()) if (!found.has(relative)) candidates.delete(relative);
    for (const relative of ledger.paths()) {
      if (!found.has(relative) && !inFlight.has(relative)) {
        const entry = ledger.get(relative)!;
        if (entry.outcome === 'deleted') continue;
        inFlight.set(relative, { kind: 'deleted', size: entry.size, mtimeMs: entry.mtimeMs });
        ready.push(relative);
      }
    }
    return !stopped;
  }

  function observe(relative: string, seen: { size: number; mtimeMs: number }, now: number): void {
    if (inFlight.has(relative)) return;
    const done = ledger.get(relative);
    if (done && done.size === seen.size && done.mtimeMs === seen.mtimeMs && done.outcome !== 'deleted') return;
    if (options.skipEmptyFiles && seen.size === 0) return;
    const known = candidates.get(relative);
    if (!known || known.size !== seen.size || known.mtimeMs !== seen.mtimeMs) {
      candidates.set(relative, { size: seen.size, mtimeMs: seen.mtimeMs, changedAt: now });
    }
  }

  /** Checks settling files again: unchanged for the settle time means ready. */
  async function settle(): Promise<void> {
    settleTimer = undefined;
    const now = Date.now();
    for (const [relative, candidate] of candidates) {
      if (now - candidate.changedAt < options.settleTimeMs) continue;
      let info;
      try {
        info = await stat(path.join(root, relative));
      } catch {
        candidates.delete(relative);
        continue;
      }
      if (info.size !== candidate.size || info.mtimeMs !== candidate.mtimeMs) {
        candidates.set(relative, { size: info.size, mtimeMs: info.mtimeMs, changedAt: Date.now() });
        continue;
      }
      candidates.delete(relative);
      const kind = ledger.get(relative) && ledger.get(relative)!.outcome !== 'deleted' ? 'updated' : 'created';
      inFlight.set(relative, { kind, size: info.size, mtimeMs: info.mtimeMs });
      ready.push(relative);
    }
    armSettle();
    drain();
  }

  function armSettle(): void {
    if (stopped || settleTimer || candidates.size === 0) return;
    let next = Infinity;
    const now = Date.now();
    for (const candidate of candidates.values()) next = Math.min(next, candidate.changedAt + options.settleTimeMs - now);
    settleTimer = setTimeout(() => void settle(), Math.max(10, next));
  }

  /** Hands ready files to the supervisor until paused. */
  function drain(): void {
    while (!paused && !stopped && feed && ready.length > 0) {
      const relative = ready.shift()!;
      const item = inFlight.get(relative);
      if (!item) continue;
      const event: FileEvent = {
        kind: item.kind,
        path: path.join(root, ...relative.split('/')),
        relativePath: relative,
        size: item.size,
        mtime: new Date(item.mtimeMs).toISOString(),
      };
      feed.deliver(event, { id: `${item.kind}:${relative}:${item.mtimeMs}`, meta: { relativePath: relative } });
    }
  }

  async function move(relative: string, toDir: string, error?: { code: string; message: string }): Promise<void> {
    const from = path.join(root, ...relative.split('/'));
    const to = path.join(toDir, ...relative.split('/'));
    await mkdir(path.dirname(to), { recursive: true });
    try {
      await rename(from, to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      await copyFile(from, to);
      await unlink(from);
    }
    if (error) {
      // Written whole under a hidden name, then renamed: whoever watches the folder never reads a half-written error.
      const errorFile = `${to}.error.txt`;
      const partial = path.join(path.dirname(errorFile), `.${path.basename(errorFile)}.${process.pid}.tmp`);
      await writeFile(partial, `${error.code}: ${error.message}\n`);
      await rename(partial, errorFile);
    }
  }

  function onSettled(settlement: Settlement): void {
    const relative = settlement.meta?.relativePath as string | undefined;
    if (relative === undefined) return;
    const item = inFlight.get(relative);
    if (!item) return;
    inFlight.delete(relative);
    if (settlement.outcome !== 'completed' && settlement.outcome !== 'failed') {
      // Not processed (expired, rejected, returned): the next scan finds it again.
      if (!stopped) requestScan(options.settleTimeMs);
      return;
    }
    if (item.kind === 'deleted') {
      ledger.delete(relative);
      return;
    }
    const target = settlement.outcome === 'completed' ? options.moveDoneTo : options.moveFailedTo;
    if (!target) {
      ledger.set(relative, { size: item.size, mtimeMs: item.mtimeMs, outcome: settlement.outcome });
      return;
    }
    // Moved away: it is no longer in the folder, so the ledger forgets it.
    ledger.set(relative, { size: item.size, mtimeMs: item.mtimeMs, outcome: 'moving' });
    move(relative, target, settlement.outcome === 'failed' ? settlement.error : undefined).then(
      () => ledger.delete(relative),
      (error: Error) => {
        ledger.set(relative, { size: item.size, mtimeMs: item.mtimeMs, outcome: settlement.outcome });
        log.warn({ path: relative, error: error.message }, `files: could not move ${relative} to ${target}: ${error.message}`);
      },
    );
  }

  function requestScan(delayMs: number): void {
    if (stopped || hintTimer) return;
    hintTimer = setTimeout(() => {
      hintTimer = undefined;
      void scan();
    }, delayMs);
  }

  return {
    type: 'files',
    async connect() {
      let info;
      try {
        root = await realpath(options.location);
        info = await stat(root);
      } catch {
        throw new FlowdError('ERR_SOURCE', `files: location ${options.location} does not exist; expected a folder to watch`);
      }
      if (!info.isDirectory()) throw new FlowdError('ERR_SOURCE', `files: location ${options.location} is not a folder`);
      excluded = await Promise.all(
        [options.moveDoneTo, options.moveFailedTo].filter((d): d is string => !!d).map((d) => realpath(d).catch(() => path.resolve(d))),
      );
      await ledger.load();
    },
    start(f) {
      feed = f;
      stopped = false;
      // A hint only needs to be quicker than the settle time: a busy folder is walked a few times a settle period, not per write.
      const hintDelay = Math.min(1000, Math.max(50, Math.floor(options.settleTimeMs / 4)));
      try {
        watcher = watch(root, { recursive: options.recursive }, () => requestScan(hintDelay));
        watcher.on('error', () => requestScan(hintDelay));
      } catch (error) {
        log.warn(
          { error: (error as Error).message },
          `files: cannot watch ${root}; relying on the rescan every ${options.rescanIntervalMs}ms`,
        );
      }
      rescanTimer = setInterval(() => void scan(), options.rescanIntervalMs);
      void scan();
    },
    stop() {
      stopped = true;
      watcher?.close();
      clearInterval(rescanTimer);
      clearTimeout(settleTimer);
      clearTimeout(hintTimer);
      feed = undefined;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      setImmediate(drain);
    },
    settle: onSettled,
    async disconnect() {
      await ledger.flush();
    },
  };
}

/** `sources.files({ ... })`: the `[Source] type = files` keys, in camelCase. */
export interface FilesSourceOptions {
  /** The folder to watch, relative to the app's folder. */
  location: string;
  /** Watch subfolders too. @default false */
  recursive?: boolean;
  /** A glob on the relative path, such as `*.xml`; unset: every file. */
  pattern?: string;
  /** Report a file only once it has content. @default false */
  skipEmptyFiles?: boolean;
  /** How long size and mtime must stay unchanged before a file is reported. @default '1s' */
  settleTime?: DurationOption;
  /** How often the whole folder is rescanned. @default '30s' */
  rescanInterval?: DurationOption;
  /** Suffixes never reported, separated by spaces. @default '.part .tmp .crdownload' */
  ignoreSuffixes?: string;
  /** Where a file whose work completed is moved; unset: it stays. */
  moveDoneTo?: string;
  /** Where a file whose work failed is moved; unset: it stays. */
  moveFailedTo?: string;
}

/** `file` with every symlink resolved; for a path not there yet, its nearest existing folder's real path joined with the rest. */
function realPath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    const parent = path.dirname(file);
    return parent === file ? file : path.join(realPath(parent), path.basename(file));
  }
}

/** `[Source] type = files`: reads its keys and makes its driver. */
export const filesSource: SourceKind = {
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
    // A file moved back where the source watches would be reported again, for ever.
    for (const [key, target] of [
      ['move done to', options.moveDoneTo],
      ['move failed to', options.moveFailedTo],
    ] as const) {
      if (target === undefined) continue;
      // Compared as real paths: a symlink to the location is the location.
      const inside = path.relative(realPath(location), realPath(target));
      if (inside === '')
        reader.fail(key, `found "${reader.string(key)}", which is the location itself; expected a folder the source does not watch`);
      if (options.recursive && inside !== '..' && !inside.startsWith(`..${path.sep}`) && !path.isAbsolute(inside))
        reader.fail(
          key,
          `found "${reader.string(key)}", which is inside the location and recursive = yes watches it; expected a folder the source does not watch`,
        );
    }
    const description = `files in ${location}${options.recursive ? ' (recursive)' : ''}${options.pattern ? ` matching ${options.pattern}` : ''}`;
    return { type: 'files', description, create: (deps = {}) => filesDriver(options, deps.log) };
  },
};
