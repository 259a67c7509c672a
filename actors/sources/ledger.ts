import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { FlowdError } from '../../src/kernel/errors.js';

/** What the ledger remembers of a file it reported. */
export interface LedgerEntry {
  size: number;
  mtimeMs: number;
  outcome: string;
}

/** A ledger file that could not be read: the app stops rather than start over. */
export class LedgerError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SOURCE', message, options);
  }
}

/**
 * The files source's memory of what it processed: relative path -> size,
 * mtime and outcome. Kept in one JSON file written atomically (temp file,
 * fsync, rename), so a crash mid-write leaves the previous version whole.
 * Writes are coalesced: while one is in flight, later changes wait for the
 * next, so ten thousand outcomes cost a handful of writes, not ten thousand.
 */
export class Ledger {
  private entries = new Map<string, LedgerEntry>();
  private dirty = false;
  private writing: Promise<void> | undefined;
  private failure: Error | undefined;

  constructor(readonly file: string) {}

  /** Reads the ledger; a missing file is an empty ledger, a corrupt one a LedgerError naming it. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new LedgerError(`the files ledger ${this.file} cannot be read: ${(error as Error).message}`, { cause: error });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new LedgerError(
        `the files ledger ${this.file} is corrupt (${(error as Error).message}); it was left as it is: repair or remove it to reprocess every file`,
        { cause: error },
      );
    }
    const files = (data as { files?: unknown })?.files;
    if (!files || typeof files !== 'object' || Array.isArray(files)) {
      throw new LedgerError(
        `the files ledger ${this.file} is corrupt: expected { "files": { ... } }; it was left as it is: repair or remove it to reprocess every file`,
      );
    }
    for (const [relative, entry] of Object.entries(files as Record<string, unknown>)) {
      const e = entry as Partial<LedgerEntry> | null;
      if (!e || typeof e.size !== 'number' || typeof e.mtimeMs !== 'number' || typeof e.outcome !== 'string') {
        throw new LedgerError(`the files ledger ${this.file} is corrupt at "${relative}": expected { size, mtimeMs, outcome }`);
      }
      this.entries.set(relative, { size: e.size, mtimeMs: e.mtimeMs, outcome: e.outcome });
    }
  }

  get(relative: string): LedgerEntry | undefined {
    return this.entries.get(relative);
  }

  /** The relative paths it remembers. */
  paths(): IterableIterator<string> {
    return this.entries.keys();
  }

  set(relative: string, entry: LedgerEntry): void {
    this.entries.set(relative, entry);
    this.schedule();
  }

  delete(relative: string): void {
    if (this.entries.delete(relative)) this.schedule();
  }

  /** Resolves once everything changed so far is on disk; rejects if a write failed. */
  async flush(): Promise<void> {
    while (this.writing || this.dirty) {
      if (!this.writing) this.schedule();
      await this.writing;
    }
    if (this.failure) throw this.failure;
  }

  private schedule(): void {
    this.dirty = true;
    if (this.writing) return;
    this.writing = (async () => {
      while (this.dirty) {
        this.dirty = false;
        try {
          await this.write();
          this.failure = undefined;
        } catch (error) {
          this.failure = error as Error;
        }
      }
      this.writing = undefined;
    })();
  }

  private async write(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(JSON.stringify({ version: 1, files: Object.fromEntries(this.entries) }));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.file);
  }
}
