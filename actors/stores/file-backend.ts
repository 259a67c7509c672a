import { constants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type lockfileModule from 'proper-lockfile';
import { lazy } from '../../src/kernel/lazy.js';
import { StoreError } from '../../src/kernel/errors.js';
import { untilAborted } from '../../src/kernel/ping.js';
import { pause } from '../../src/kernel/retry-on-conflict.js';
import type {
  AppendConditions,
  AppendOutcome,
  BackendRecord,
  RemoveOutcome,
  StoreBackend,
  WriteConditions,
  WriteOutcome,
} from './backend.js';
import { fileNameFor } from './file-names.js';
import { FileLogs } from './file-logs.js';
import { KeyedQueue } from './keyed-queue.js';
import { writeFileAtomic } from '../atomic-write.js';

const lockfile = lazy<typeof lockfileModule>('proper-lockfile');

/** Options of the embedded file backend. */
export interface FileBackendOptions {
  /** The folder that holds one file per key (created when missing). */
  folder: string;
  /** The store's namespace (the app name), for messages. */
  namespace: string;
  /**
   * How old a key's lock must be before another process takes it over: the
   * lock of a process that crashed mid-write blocks writers of that key for
   * this long. proper-lockfile refuses less than 2000. @default 10000
   */
  lockStaleMs?: number;
  /** How long a write waits for a key's lock before it fails with ERR_STORE. @default 10000 */
  lockWaitMs?: number;
  /** Temp files left by a crashed writer are removed at open once they are this old. @default 60000 */
  tempMaxAgeMs?: number;
}

/** What a key's file holds; a deleted key keeps a tombstone so its version keeps counting up. */
interface FileRecord {
  key: string;
  version: number;
  /** The highest fencing token accepted (0: none). */
  fence: number;
  deleted?: true;
  value?: unknown;
}

/**
 * The embedded backend: one JSON file per key under a folder, shared
 * safely by several processes on one machine.
 *
 * - Each write goes to a temp file that is fsynced, renamed over the key's
 *   file, and the folder fsynced: a reader or a crash sees the old record
 *   or the new one, never a torn one.
 * - Compare-and-set runs under a per-key cross-process lock (proper-lockfile,
 *   `<file>.lock`); reads take no lock.
 * - A deleted key leaves a tombstone of a few dozen bytes holding its last
 *   version and fencing token, so a writer holding a version from before
 *   the delete still conflicts (no ABA) and a lapsed lock holder is still
 *   fenced.
 * - A corrupt file is a StoreError ERR_STORE naming the file; writes to
 *   that key fail too until it is moved aside. A file holding another key's
 *   record is an ERR_STORE too, saying which key it belongs to.
 */
export class FileBackend implements StoreBackend {
  readonly kind = 'file';
  readonly where: string;
  private readonly folder: string;
  private readonly namespace: string;
  private readonly lockStaleMs: number;
  private readonly lockWaitMs: number;
  private readonly tempMaxAgeMs: number;
  private readonly local = new KeyedQueue();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly logs: FileLogs;

  constructor(options: FileBackendOptions) {
    this.folder = options.folder;
    this.where = options.folder;
    this.namespace = options.namespace;
    this.lockStaleMs = Math.max(2000, options.lockStaleMs ?? 10_000);
    this.lockWaitMs = options.lockWaitMs ?? 10_000;
    this.tempMaxAgeMs = options.tempMaxAgeMs ?? 60_000;
    this.logs = new FileLogs(
      this.namespace,
      (lockKey, file, task) => this.lockedAt(lockKey, file, (check) => task(check)),
      (key) => join(this.folder, `${fileNameFor(key)}.log`),
    );
  }

  /** Logs: a JSON-lines file each, `<name>.log` beside the records (FileLogs). */
  append(key: string, jsons: readonly string[], conditions: AppendConditions): Promise<AppendOutcome> {
    return this.logs.append(key, jsons, conditions);
  }

  readLog(key: string, from: number): Promise<unknown[]> {
    return this.logs.read(key, from);
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.folder, { recursive: true });
    } catch (error) {
      throw new StoreError('ERR_STORE', `Store "${this.namespace}" cannot create its folder ${this.folder}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    await this.removeStaleTemps();
  }

  /** The path of the file that holds `key`. */
  fileFor(key: string): string {
    return join(this.folder, `${fileNameFor(key)}.json`);
  }

  async read(key: string): Promise<BackendRecord | undefined> {
    const record = await this.readRecord(key, this.fileFor(key));
    return record && !record.deleted ? { value: record.value, version: record.version } : undefined;
  }

  write(key: string, json: string, { ifVersion, fence }: WriteConditions): Promise<WriteOutcome> {
    return this.locked(key, async (file, check) => {
      const current = await this.readRecord(key, file);
      const refused = refusal(current, { ifVersion, fence });
      if (refused) return refused;
      const accepted = current?.fence ?? 0;
      const version = (current?.version ?? 0) + 1;
      const head = `{"key":${JSON.stringify(key)},"version":${version},"fence":${Math.max(accepted, fence ?? 0)}`;
      await this.replace(key, file, `${head},"value":${json}}\n`, check);
      return { kind: 'written', version };
    });
  }

  remove(key: string, { ifVersion, fence }: WriteConditions): Promise<RemoveOutcome> {
    return this.locked(key, async (file, check) => {
      const current = await this.readRecord(key, file);
      const refused = refusal(current, { ifVersion, fence });
      if (refused) return refused;
      const accepted = current?.fence ?? 0;
      const highest = Math.max(accepted, fence ?? 0);
      const absent = !current || current.deleted;
      // Nothing to remove: write only to remember a newer token, so its predecessors stay fenced.
      if (absent && highest === accepted) return { kind: 'absent' };
      const tombstone = { key, version: current?.version ?? 0, fence: highest, deleted: true };
      await this.replace(key, file, `${JSON.stringify(tombstone)}\n`, check);
      return { kind: absent ? 'absent' : 'removed' };
    });
  }

  /** The folder is there, and this process may read, write and list it: what every operation needs. */
  async ping(signal?: AbortSignal): Promise<void> {
    try {
      await untilAborted(access(this.folder, constants.R_OK | constants.W_OK | constants.X_OK), signal);
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      throw new StoreError(
        'ERR_STORE_UNAVAILABLE',
        `Store "${this.namespace}" cannot use its folder ${this.folder}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  async close(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Runs `task` holding the key's lock: first among this process's writers, then across processes. */
  private locked<T>(key: string, task: (file: string, check: () => void) => Promise<T>): Promise<T> {
    const file = this.fileFor(key);
    return this.lockedAt(key, file, (check) => task(file, check));
  }

  /** Runs `task` holding `file`'s lock, queued behind this process's other tasks on `key` (a log's: NUL + `log:` + its name). */
  private lockedAt<T>(key: string, file: string, task: (check: () => void) => Promise<T>): Promise<T> {
    const work = this.local.run(key, async () => {
      let compromised: Error | undefined;
      const release = await this.acquire(key, file, (error) => (compromised = error));
      try {
        // Called just before the rename: a lock lost meanwhile must not overwrite its taker.
        return await task(() => {
          if (compromised)
            throw new StoreError(
              'ERR_STORE',
              `Store "${this.namespace}" lost the lock on key ${JSON.stringify(key)} (${file}.lock) before writing: ${compromised.message}`,
              { cause: compromised },
            );
        });
      } finally {
        await release().catch(() => {});
      }
    });
    this.inFlight.add(work);
    void work.then(
      () => this.inFlight.delete(work),
      () => this.inFlight.delete(work),
    );
    return work;
  }

  private async acquire(key: string, file: string, onCompromised: (error: Error) => void): Promise<() => Promise<void>> {
    const deadline = Date.now() + this.lockWaitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await lockfile().lock(file, { realpath: false, stale: this.lockStaleMs, retries: 0, onCompromised });
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'ELOCKED') {
          throw new StoreError(
            'ERR_STORE',
            `Store "${this.namespace}" cannot lock key ${JSON.stringify(key)} (${file}.lock): ${(error as Error).message}`,
            { cause: error },
          );
        }
        if (Date.now() >= deadline) {
          throw new StoreError(
            'ERR_STORE',
            `Store "${this.namespace}" waited ${this.lockWaitMs}ms for the lock on key ${JSON.stringify(key)} (${file}.lock); another process holds it`,
            { cause: error },
          );
        }
        // Jittered and growing, so processes polling one lock drift apart.
        await pause(Math.floor(Math.random() * Math.min(50, 2 + attempt * 2)) + 1);
      }
    }
  }

  /** Temp file, fsync, rename over the key's file, fsync the folder (writeFileAtomic). */
  private async replace(key: string, file: string, text: string, check: () => void): Promise<void> {
    try {
      await writeFileAtomic(file, text, { beforeRename: check });
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(
        'ERR_STORE',
        `Store "${this.namespace}" could not write key ${JSON.stringify(key)} to ${file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  private async readRecord(key: string, file: string): Promise<FileRecord | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
      throw new StoreError(
        'ERR_STORE',
        `Store "${this.namespace}" cannot read key ${JSON.stringify(key)} from ${file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const corrupt = (problem: string, cause?: unknown): never => {
      throw new StoreError(
        'ERR_STORE',
        `Store "${this.namespace}": the file ${file} for key ${JSON.stringify(key)} is corrupt (${problem}); move it aside to reset the key`,
        { cause },
      );
    };
    let record: Partial<FileRecord>;
    try {
      record = JSON.parse(text) as Partial<FileRecord>;
    } catch (error) {
      return corrupt(text.length === 0 ? 'it is empty' : `it is not JSON: ${(error as Error).message}`, error);
    }
    if (!record || typeof record !== 'object' || Array.isArray(record)) return corrupt('expected a JSON object');
    if (typeof record.key !== 'string' || record.key === '')
      return corrupt(`expected the key as a non-empty string, found ${JSON.stringify(record.key)}`);
    if (record.key !== key) {
      // Another key's record, not a damaged one: moving it aside would lose that key.
      const home = this.fileFor(record.key);
      const hint = home !== file ? `; it was copied or renamed there (or named by an older flowd), and its own file is ${home}` : '';
      throw new StoreError(
        'ERR_STORE',
        `Store "${this.namespace}": the file ${file} belongs to key ${JSON.stringify(record.key)}, not to key ${JSON.stringify(key)}${hint}`,
      );
    }
    // A tombstone of a key that was never written (it only remembers a fencing token) is at version 0.
    const lowest = record.deleted === true ? 0 : 1;
    if (!Number.isSafeInteger(record.version) || record.version! < lowest)
      return corrupt(`expected a version of at least ${lowest}, found ${JSON.stringify(record.version)}`);
    if (typeof record.fence !== 'number' || !(record.fence >= 0))
      return corrupt(`expected a fencing token of at least 0, found ${JSON.stringify(record.fence)}`);
    if (record.deleted !== true && !('value' in record)) return corrupt('it has no value');
    return record as FileRecord;
  }

  /** Removes temp files that a writer killed mid-write left behind (old enough that no writer still owns them). */
  private async removeStaleTemps(): Promise<void> {
    const cutoff = Date.now() - this.tempMaxAgeMs;
    for (const name of await readdir(this.folder).catch(() => [] as string[])) {
      if (!name.endsWith('.tmp')) continue;
      const path = join(this.folder, name);
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs < cutoff) await unlink(path).catch(() => {});
    }
  }
}

/** Why a write or remove may not go ahead: an older fencing token (checked first), or another version than expected. */
function refusal(
  current: FileRecord | undefined,
  { ifVersion, fence }: WriteConditions,
): { kind: 'fenced'; fence: number } | { kind: 'conflict'; version: number } | undefined {
  const accepted = current?.fence ?? 0;
  if (fence !== undefined && fence < accepted) return { kind: 'fenced', fence: accepted };
  const live = current && !current.deleted ? current.version : 0;
  if (ifVersion !== undefined && ifVersion !== live) return { kind: 'conflict', version: live };
  return undefined;
}
