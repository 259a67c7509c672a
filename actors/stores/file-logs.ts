import { open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StoreError } from '../../src/kernel/errors.js';
import type { AppendConditions, AppendOutcome } from './backend.js';

/** What this process knows of a log file: its complete lines' bytes, their count, the highest fence among them, and the file it read. */
interface LogState {
  bytes: number;
  length: number;
  fence: number;
  /** The file's identity and last change when this process last read or wrote it: another file, or another change, is read again. */
  stamp: string;
}

const stampOf = (info: { ino: number; size: number; mtimeMs: number }) => `${info.ino}:${info.size}:${info.mtimeMs}`;

/**
 * The file backend's logs: one JSON-lines file per log
 * (`<name>.log`, each line `{"f":fence,"v":value}`), appended in place and
 * fsynced. A line cut short by a crash (no newline at the end) is not part
 * of the log, and the next append writes over it. What the file holds is
 * cached with its inode, size and mtime: an append, or a read of what
 * follows what this process knows, reads the file again only when another
 * process changed it, so their cost does not grow with the log.
 */
export class FileLogs {
  private readonly known = new Map<string, LogState>();

  constructor(
    private readonly namespace: string,
    /** Runs `task` holding the log file's lock (the backend's per-key lock). */
    private readonly locked: <T>(lockKey: string, file: string, task: (check: () => void) => Promise<T>) => Promise<T>,
    private readonly fileFor: (key: string) => string,
  ) {}

  append(key: string, jsons: readonly string[], { ifLength, fence }: AppendConditions): Promise<AppendOutcome> {
    const file = this.fileFor(key);
    return this.locked(`\u0000log:${key}`, file, async (check) => {
      const state = await this.state(key, file);
      if (fence !== undefined && fence < state.fence) return { kind: 'fenced', fence: state.fence };
      if (ifLength !== undefined && ifLength !== state.length) return { kind: 'conflict', length: state.length };
      const highest = Math.max(state.fence, fence ?? 0);
      const text = jsons.map((json) => `{"f":${highest},"v":${json}}\n`).join('');
      check();
      try {
        const handle = await open(file, 'a+');
        try {
          // A line a crash cut short is dropped, so the new ones start on a line of their own.
          if ((await handle.stat()).size !== state.bytes) await handle.truncate(state.bytes);
          await handle.appendFile(text, 'utf8');
          await handle.datasync();
        } finally {
          await handle.close();
        }
        if (state.length === 0) await syncFolder(dirname(file));
      } catch (error) {
        this.known.delete(key);
        throw new StoreError(
          'ERR_STORE',
          `Store "${this.namespace}" could not append to log ${JSON.stringify(key)} in ${file}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      const bytes = state.bytes + Buffer.byteLength(text);
      const info = await stat(file).catch(() => undefined);
      const next = { bytes, length: state.length + jsons.length, fence: highest, stamp: info ? stampOf(info) : '' };
      this.known.set(key, next);
      return { kind: 'appended', length: next.length };
    });
  }

  async read(key: string, from: number): Promise<unknown[]> {
    const file = this.fileFor(key);
    // Nothing past what this process wrote or read last, and the file unchanged since: nothing to read.
    const known = this.known.get(key);
    if (known && from >= known.length) {
      const info = await stat(file).catch(() => undefined);
      if (info && stampOf(info) === known.stamp) return [];
    }
    const text = await this.readText(key, file);
    return text === undefined ? [] : this.parse(key, file, text).values.slice(from);
  }

  /** The log's state: the cached one while the file's size is what this process left, else read from the file. */
  private async state(key: string, file: string): Promise<LogState> {
    const cached = this.known.get(key);
    const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw this.unreadable(key, file, error);
    });
    if (!info || info.size === 0) return { bytes: 0, length: 0, fence: 0, stamp: '' };
    if (cached && cached.stamp === stampOf(info)) return cached;
    const text = (await this.readText(key, file)) ?? '';
    const { values, fence, bytes } = this.parse(key, file, text);
    const state = { bytes, length: values.length, fence, stamp: stampOf(info) };
    this.known.set(key, state);
    return state;
  }

  private async readText(key: string, file: string): Promise<string | undefined> {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
      throw this.unreadable(key, file, error);
    }
  }

  /** The complete lines' values, the highest fence and their bytes; a last line with no newline is not counted. */
  private parse(key: string, file: string, text: string): { values: unknown[]; fence: number; bytes: number } {
    const end = text.lastIndexOf('\n') + 1;
    const values: unknown[] = [];
    let fence = 0;
    const lines = text.slice(0, end).split('\n');
    lines.pop();
    lines.forEach((line, index) => {
      let entry: { f?: unknown; v?: unknown };
      try {
        entry = JSON.parse(line) as { f?: unknown; v?: unknown };
      } catch (error) {
        throw this.corrupt(key, file, index, `it is not JSON: ${(error as Error).message}`);
      }
      if (!entry || typeof entry !== 'object' || typeof entry.f !== 'number' || !('v' in entry))
        throw this.corrupt(key, file, index, 'expected {"f": fence, "v": value}');
      fence = Math.max(fence, entry.f);
      values.push(entry.v);
    });
    return { values, fence, bytes: Buffer.byteLength(text.slice(0, end)) };
  }

  private corrupt(key: string, file: string, index: number, problem: string): StoreError {
    return new StoreError(
      'ERR_STORE',
      `Store "${this.namespace}": line ${index + 1} of ${file} (log ${JSON.stringify(key)}) is corrupt (${problem}); move the file aside to reset the log`,
    );
  }

  private unreadable(key: string, file: string, error: unknown): StoreError {
    return new StoreError(
      'ERR_STORE',
      `Store "${this.namespace}" cannot read log ${JSON.stringify(key)} from ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Makes a new file's name durable: fsync of its folder (a no-op where folders cannot be opened for it). */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}
