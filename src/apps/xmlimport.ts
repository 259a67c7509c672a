import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Flow, type AppInfo, type AppSections, type WorkerContext } from '../../actors/workers/worker.js';
import type { SectionReader } from '../kernel/section-reader.js';
import { FlowdError } from '../kernel/errors.js';
import { checkKnownSections } from './app-sections.js';
import { compileCustomMapping, type SectionLines } from './xml/custom-mapping.js';
import { readXmlOffThread } from './xml/parse-off-thread.js';
import type { RecordData } from './xml/record-data.js';
import { checkMediaName, checkRecordId } from './record-names.js';
import { sectionReader, targetFromConfig, targetSettingsOf, type Target } from './targets.js';

/** `[Xml]`, compiled. */
export interface XmlImportSettings {
  /** `format`: flowd's own record XML, or the `[Field:*]` / `[Transform]` / `[Mapping]` sections. @default 'default' */
  format: 'default' | 'custom';
}

/** What one event did. */
export type XmlImportResult =
  | {
      type: 'record';
      id: string;
      created: boolean;
      updated: boolean;
      /** The record already had media: only its metadata was updated. */
      occupied: boolean;
      /** Remembered media attached now. */
      attached: string[];
      /** Media the XML names that has not arrived yet. */
      waiting: string[];
    }
  | { type: 'media'; name: string; attachedTo: string | undefined; remembered: boolean }
  | { type: 'ignored'; reason: string };

/** A media file that came before the XML naming it: `media:<name>` in the store. */
interface PendingMedia {
  /** Its copy under `<state dir>/pending-media/`. */
  file: string;
  receivedAt: string;
}

/** The record an XML named a media file for: `record-for:<name>` in the store. */
interface MediaPointer {
  id: string;
}

const CUSTOM_ONLY = ['Namespaces', 'Transform', 'Transforms', 'Mapping', 'Vdf'];
const CUSTOM_SECTIONS = { app: 'xmlimport.XmlImport', sections: ['Target', 'Xml', ...CUSTOM_ONLY], prefixes: ['Field:'] };
const DEFAULT_SECTIONS = {
  app: 'xmlimport.XmlImport',
  sections: ['Target', 'Xml'],
  elsewhere: (section: string) =>
    CUSTOM_ONLY.includes(section) || section.startsWith('Field:')
      ? 'is read only with [Xml] format = custom; this app reads the default record XML (format = default)'
      : undefined,
};

// XML files are read whole; the XML reader refuses more than this too.
const MAX_XML_BYTES = 10 * 1024 * 1024;

/**
 * Compiles `[Xml]`: `format = default | custom`. `id` and `media` (XPaths)
 * belong to the custom format and are read by its mapping.
 */
export function compileXmlImportSettings(reader: SectionReader): XmlImportSettings {
  const format = reader.choice('format', ['default', 'custom'] as const, 'default');
  for (const key of ['id', 'media']) {
    if (format === 'default' && reader.has(key))
      reader.fail(key, 'is a setting of format = custom; the default format reads the id and the media from the record XML itself');
    reader.string(key);
  }
  reader.finish();
  return { format };
}

/**
 * The seed's XML + media importer (`[Flow] class = xmlimport.XmlImport`),
 * writing to a `[Target]` (a folder by default). Its source is the files
 * source (`[Source] location = ...`).
 *
 * - An XML file (`.xml`, or content starting with `<`) is read as a record
 *   and creates it (a placeholder, without media), or updates the record
 *   with that id. Without an id in the XML (or, with a custom mapping,
 *   Flow's `asset_id` field or transform), the id is the file's base name
 *   (`clip1.xml` -> `clip1`), so importing the same file again updates
 *   rather than duplicates. A custom mapping's `[Vdf] form` goes to the
 *   target with the fields, as Flow sent it with the metadata.
 * - Any other file is media. Media named by a record is attached to it;
 *   media not named yet is copied (hard-linked when it can be) to
 *   `<state dir>/pending-media/` and remembered in the store until an XML
 *   names it, which attaches it at once. The dropped file itself is left to
 *   the source (`move done to`).
 * - A record that already has media is no longer a placeholder: an XML
 *   updates only its metadata, and media arriving for it fails (ERR_RECORD).
 * - A malformed XML fails with the parser's message (ERR_XML), which the
 *   files source writes beside the file in `move failed to`. An empty XML
 *   file (0 bytes) is skipped with an info line, as Flow skipped it.
 *
 * @example
 * [Flow]
 * class = xmlimport.XmlImport
 * [Source]
 * location = inbox
 * move done to = done
 * move failed to = failed
 * [Target]
 * type = folder
 * folder = records
 */
export class XmlImport extends Flow<unknown, XmlImportResult> {
  /** The files source; `[Source] location` says where. */
  static override SOURCE = 'files';
  #target!: Target;
  #read!: (text: string, where: string, ctx: WorkerContext) => Promise<RecordData>;
  #pendingDir!: string;

  /** The target records and media go to (after configure()). */
  get target(): Target {
    return this.#target;
  }

  /**
   * Compiles `[Target]`, `[Xml]` and a custom mapping without starting
   * anything: ConfigError naming `file` on a problem. For `flowd check`.
   */
  static checkConfig(config: AppSections, app: AppInfo, file?: string, lines?: SectionLines): void {
    targetSettingsOf(config, app, file);
    const { format } = compileXmlImportSettings(sectionReader(config, 'Xml', file));
    checkKnownSections(config, format === 'custom' ? CUSTOM_SECTIONS : DEFAULT_SECTIONS, file);
    if (format === 'custom') compileCustomMapping(config, file ?? `app "${app.name}"`, lines);
  }

  override configure(): void {
    this.#target = targetFromConfig(this).target;
    const settings = compileXmlImportSettings(sectionReader(this.config, 'Xml'));
    if (settings.format === 'custom') {
      const mapping = compileCustomMapping(this.config, `app "${this.app.name}"`);
      this.#read = (text, where, ctx) => mapping.read(text, where, { signal: ctx.signal, log: ctx.log, fileName: where });
    } else {
      this.#read = (text, where, ctx) => readXmlOffThread(text, where, { kind: 'default' }, { signal: ctx.signal });
    }
    this.#pendingDir = path.join(this.app.stateDir, 'pending-media');
    this.log.info(`xmlimport: ${settings.format} XML into ${this.#target.description}`);
  }

  async start(event: unknown, ctx: WorkerContext): Promise<XmlImportResult> {
    const file = fileOf(event);
    if (file.kind === 'deleted') return { type: 'ignored', reason: `${file.name} was deleted` };
    return (await isXml(file.path)) ? this.#importRecord(file, ctx) : this.#importMedia(file, ctx);
  }

  async #importRecord(file: DroppedFile, ctx: WorkerContext): Promise<XmlImportResult> {
    const text = await readXmlText(file.path, file.name);
    if (text === '') {
      // As Flow: an empty XML file (often one still being written) is no record and no failure.
      ctx.log.info(`${file.name}: skipping empty XML file`);
      return { type: 'ignored', reason: `${file.name} is empty` };
    }
    // Over 64 KiB, parsed in a worker thread that the execution timeout's abort terminates.
    const data = await this.#read(text, file.name, ctx);
    const id = checkRecordId(data.id ?? path.basename(file.name, path.extname(file.name)), file.name);
    const form = data.form === undefined ? {} : { form: data.form };
    const names = [...new Set(data.media.map((name) => checkMediaName(lastSegment(name), file.name)))];
    const signal = ctx.signal;
    const { occupied, write } = await ctx.withLock(recordLock(id), async () => {
      const existing = await this.#target.get(id, { signal });
      const write = await this.#target.createOrUpdate(id, data.fields, { signal, ...form });
      return { occupied: (existing?.record.media.length ?? 0) > 0, write };
    });
    const result = {
      type: 'record' as const,
      id,
      created: write.created,
      updated: write.updated,
      occupied,
      attached: [] as string[],
      waiting: [] as string[],
    };
    if (occupied) {
      ctx.log.info({ id }, `${file.name}: record "${id}" already has media; its metadata was ${write.updated ? 'updated' : 'unchanged'}`);
      return result;
    }
    for (const name of names) {
      await ctx.withLock(mediaLock(name), async () => {
        await ctx.store.put<MediaPointer>(pointerKey(name), { id });
        const pending = await ctx.store.get<PendingMedia>(mediaKey(name));
        if (!pending) return void result.waiting.push(name);
        const attached = await ctx.withLock(recordLock(id), async () => {
          const current = await this.#target.get(id, { signal });
          if (current?.record.media.includes(name)) return true; // attached before a crash, not yet forgotten
          if ((current?.record.media.length ?? 0) > 0) return false;
          await this.#target.attachMedia(id, pending.file, { name, signal });
          return true;
        });
        if (!attached) {
          ctx.log.warn({ id, media: name }, `${file.name}: record "${id}" got other media meanwhile; ${name} stays remembered`);
          return;
        }
        await ctx.store.delete(mediaKey(name));
        result.attached.push(name);
      });
    }
    ctx.log.info(
      { id, attached: result.attached, waiting: result.waiting },
      `${file.name}: record "${id}" ${write.created ? 'created' : write.updated ? 'updated' : 'unchanged'}`,
    );
    return result;
  }

  async #importMedia(file: DroppedFile, ctx: WorkerContext): Promise<XmlImportResult> {
    const name = checkMediaName(file.name, file.name);
    const signal = ctx.signal;
    return ctx.withLock(mediaLock(name), async () => {
      const pointer = await ctx.store.get<MediaPointer>(pointerKey(name));
      if (pointer) {
        const { id } = pointer;
        const attached = await ctx.withLock(recordLock(id), async () => {
          const current = await this.#target.get(id, { signal });
          if (!current) return false;
          if (current.record.media.length > 0) {
            throw new FlowdError(
              'ERR_RECORD',
              `${name}: record "${id}" in ${this.#target.description} already has media (${current.record.media.join(', ')}), so it is no longer a placeholder; ${name} was not attached`,
            );
          }
          const staged = await this.#stage(file.path, name);
          try {
            await this.#target.attachMedia(id, staged, { name, signal });
          } catch (error) {
            await unlink(staged).catch(() => {});
            throw error;
          }
          return true;
        });
        if (attached) {
          ctx.log.info({ id, media: name }, `${name}: attached to record "${id}"`);
          return { type: 'media', name, attachedTo: id, remembered: false };
        }
        ctx.log.warn({ id, media: name }, `${name}: record "${id}" named it but no longer exists; remembering the media`);
      }
      const staged = await this.#stage(file.path, name);
      const previous = await ctx.store.get<PendingMedia>(mediaKey(name));
      await ctx.store.put<PendingMedia>(mediaKey(name), { file: staged, receivedAt: new Date().toISOString() });
      if (previous) await unlink(previous.file).catch(() => {});
      ctx.log.info({ media: name }, `${name}: no record names it yet; remembered until an XML does`);
      return { type: 'media', name, attachedTo: undefined, remembered: true };
    });
  }

  /** A copy of the dropped file that the source may move or delete: a hard link, else a copy. */
  async #stage(from: string, name: string): Promise<string> {
    await mkdir(this.#pendingDir, { recursive: true });
    const to = path.join(this.#pendingDir, `${randomBytes(6).toString('hex')}-${name}`);
    try {
      await link(from, to);
    } catch {
      await copyFile(from, to);
    }
    return to;
  }
}

interface DroppedFile {
  path: string;
  name: string;
  kind: string | undefined;
}

function fileOf(event: unknown): DroppedFile {
  const candidate = event as { path?: unknown; kind?: unknown } | null;
  if (!candidate || typeof candidate !== 'object' || typeof candidate.path !== 'string') {
    throw new FlowdError(
      'ERR_PAYLOAD',
      `xmlimport: expected a file event { path } from the files source; found ${JSON.stringify(event)?.slice(0, 120)}`,
    );
  }
  return {
    path: candidate.path,
    name: path.basename(candidate.path),
    kind: typeof candidate.kind === 'string' ? candidate.kind : undefined,
  };
}

/** `.xml`, or content that starts with `<` (after a BOM and white space). */
export async function isXml(file: string): Promise<boolean> {
  if (/\.xml$/i.test(file)) return true;
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(256), 0, 256, 0);
    return /^(\uFEFF)?\s*</.test(buffer.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await handle.close();
  }
}

async function readXmlText(file: string, name: string): Promise<string> {
  const { size } = await stat(file);
  if (size > MAX_XML_BYTES)
    throw new FlowdError('ERR_XML', `${name} is ${size} bytes; XML files are read up to ${MAX_XML_BYTES} bytes (10 MiB)`);
  return readFile(file, 'utf8');
}

/** `media/clip.mxf` or `file:///in/clip.mxf` -> `clip.mxf`: media is matched by file name. */
function lastSegment(name: string): string {
  return name.trim().split(/[\\/]/).pop() ?? '';
}

const mediaKey = (name: string) => `media:${name}`;
const pointerKey = (name: string) => `record-for:${name}`;
const mediaLock = (name: string) => `xmlimport:media:${name}`;
const recordLock = (id: string) => `xmlimport:record:${id}`;
