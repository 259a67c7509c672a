import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type lockfileModule from 'proper-lockfile';
import { lazy } from '../kernel/lazy.js';
import { deepEqual } from '../toolkit/client/body.js';
import { ConflictError, FlowdError } from '../kernel/errors.js';
import { moveFile } from './move-file.js';
import { checkMediaName, checkRecordId } from './record-names.js';
import type { AttachOptions, Target, TargetRecord, TargetWriteOptions, TargetWriteResult } from './target.js';
import { writeFileAtomic } from '../../actors/atomic-write.js';

const lockfile = lazy<typeof lockfileModule>('proper-lockfile');

/** A record as `<id>.json` holds it. */
interface StoredRecord extends TargetRecord {
  /** 1 on creation, +1 on every write; the ETag is `"<version>"`. */
  version: number;
  created: string;
  updated: string;
}

/**
 * `[Target] type = folder`: each record is `<folder>/<id>.json`
 * (`{ id, version, fields, media, created, updated }`, and `form` when a
 * write gave one), written atomically
 * (temp file, fsync, rename, fsync of the folder), so a reader sees the old
 * record or the new one, never half. Media is moved into `<folder>/<id>.media/`
 * under its own name (a separate folder: no media name can clash with a
 * record file). Writes to one record are serialised in the process and
 * across processes (proper-lockfile on `<id>.json.lock`).
 */
export class FolderTarget implements Target {
  readonly description: string;
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(readonly folder: string) {
    this.description = `folder ${folder}`;
  }

  /** The record's file. */
  fileFor(id: string): string {
    return path.join(this.folder, `${checkRecordId(id, this.description)}.json`);
  }

  /** The folder of the record's media. */
  mediaFolderFor(id: string): string {
    return path.join(this.folder, `${checkRecordId(id, this.description)}.media`);
  }

  async get(id: string): Promise<{ record: TargetRecord; etag: string } | undefined> {
    const stored = await this.#read(id);
    return stored && { record: view(stored), etag: `"${stored.version}"` };
  }

  async createOrUpdate(id: string, fields: Record<string, unknown>, options: TargetWriteOptions = {}): Promise<TargetWriteResult> {
    return this.#locked(id, async () => {
      const current = await this.#read(id);
      if (options.etag !== undefined && options.etag !== (current ? `"${current.version}"` : undefined)) {
        throw new ConflictError(
          `record "${id}" in ${this.description} changed: expected version ${options.etag}, found ${current ? `"${current.version}"` : 'no record'}`,
        );
      }
      const merged = { ...current?.fields, ...fields };
      const form = options.form ?? current?.form;
      if (current && deepEqual(current.fields, merged) && current.form === form)
        return { created: false, updated: false, unchanged: true, record: view(current) };
      const now = new Date().toISOString();
      const next: StoredRecord = {
        id,
        version: (current?.version ?? 0) + 1,
        ...(form !== undefined ? { form } : {}),
        fields: merged,
        media: current?.media ?? [],
        created: current?.created ?? now,
        updated: now,
      };
      await this.#write(id, next);
      return { created: !current, updated: !!current, unchanged: false, record: view(next) };
    });
  }

  async attachMedia(id: string, file: string, options: AttachOptions = {}): Promise<void> {
    const name = checkMediaName(options.name ?? path.basename(file), this.description);
    return this.#locked(id, async () => {
      const current = await this.#read(id);
      if (!current) throw new FlowdError('ERR_RECORD', `cannot attach ${name}: record "${id}" does not exist in ${this.description}`);
      if (current.media.includes(name))
        throw new FlowdError('ERR_RECORD', `cannot attach ${name}: record "${id}" in ${this.description} already has media of that name`);
      const folder = this.mediaFolderFor(id);
      await mkdir(folder, { recursive: true });
      await moveFile(file, path.join(folder, name));
      await this.#write(id, {
        ...current,
        version: current.version + 1,
        media: [...current.media, name],
        updated: new Date().toISOString(),
      });
    });
  }

  async hasMedia(id: string): Promise<boolean> {
    return ((await this.#read(id))?.media.length ?? 0) > 0;
  }

  async #read(id: string): Promise<StoredRecord | undefined> {
    const file = this.fileFor(id);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new FlowdError('ERR_RECORD', `cannot read record "${id}" from ${file}: ${(error as Error).message}`, { cause: error });
    }
    let value: Partial<StoredRecord>;
    try {
      value = JSON.parse(text) as Partial<StoredRecord>;
    } catch (error) {
      throw new FlowdError(
        'ERR_RECORD',
        `record file ${file} is not JSON: ${(error as Error).message}; expected { id, version, fields, media }`,
        { cause: error },
      );
    }
    if (
      !value ||
      typeof value !== 'object' ||
      typeof value.fields !== 'object' ||
      value.fields === null ||
      !Array.isArray(value.media) ||
      typeof value.version !== 'number'
    ) {
      throw new FlowdError('ERR_RECORD', `record file ${file} is not a record; expected { id, version, fields, media }`);
    }
    return {
      id,
      version: value.version,
      ...(typeof value.form === 'string' ? { form: value.form } : {}),
      fields: value.fields,
      media: value.media,
      created: value.created ?? '',
      updated: value.updated ?? '',
    };
  }

  /** Temp file, fsync, rename over `<id>.json`, fsync the folder (writeFileAtomic). */
  async #write(id: string, record: StoredRecord): Promise<void> {
    const file = this.fileFor(id);
    try {
      await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
    } catch (error) {
      throw new FlowdError('ERR_RECORD', `cannot write record "${id}" to ${file}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Runs `task` holding the record: first among this process's writers, then across processes. */
  #locked<T>(id: string, task: () => Promise<T>): Promise<T> {
    const file = this.fileFor(id);
    const previous = this.#chains.get(id) ?? Promise.resolve();
    const run = previous.then(async () => {
      await mkdir(this.folder, { recursive: true });
      let release: () => Promise<void>;
      try {
        release = await lockfile().lock(file, {
          realpath: false,
          retries: { retries: 200, minTimeout: 5, maxTimeout: 50, randomize: true },
        });
      } catch (error) {
        throw new FlowdError('ERR_RECORD', `cannot lock record "${id}" (${file}.lock): ${(error as Error).message}`, { cause: error });
      }
      try {
        return await task();
      } finally {
        await release().catch(() => {});
      }
    });
    const settled = run.catch(() => {});
    this.#chains.set(id, settled);
    void settled.then(() => {
      if (this.#chains.get(id) === settled) this.#chains.delete(id);
    });
    return run;
  }
}

function view(record: StoredRecord): TargetRecord {
  return { id: record.id, fields: record.fields, media: record.media, ...(record.form !== undefined ? { form: record.form } : {}) };
}
