import type * as FastXmlParserModule from 'fast-xml-parser';
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lazy, once } from '../kernel/lazy.js';
import type { AppInfo, AppSections, WorkerContext } from '../../actors/workers/worker.js';
import { appSectionReader } from '../kernel/section-reader.js';
import { FlowdError } from '../kernel/errors.js';
import { codePointName, indexOfNonXmlChar } from '../kernel/xml-chars.js';
import { compileDestinationSettings, ftpTarget, uploadFiles, type DestinationSettings } from './ftp.js';
import { redact, type TransferAsset } from './transfer-data.js';
import { checkKnownSections } from './app-sections.js';
import { checkAppSection, TransferPlugin } from './transfer.js';

/** What XmlExport's `start()` resolves to after a successful export. */
export interface XmlExportResult {
  id: string;
  /** The destination URL, without its password. */
  destination: string;
  /** The names written at the destination: the media, then `<id>.xml`. */
  files: string[];
}

const builder = once(
  () =>
    new (lazy<typeof FastXmlParserModule>('fast-xml-parser')().XMLBuilder)({
      ignoreAttributes: false,
      attributeNamePrefix: '@_',
      format: true,
      suppressEmptyNode: true,
      processEntities: true,
    }),
);

function fieldTexts(name: string, value: unknown): string[] {
  if (value === undefined || value === null) return [''];
  if (Array.isArray(value)) return value.flatMap((item) => fieldTexts(name, item));
  if (value instanceof Date) return [value.toISOString()];
  if (typeof value === 'object') return [JSON.stringify(value)];
  return [String(value as string | number | boolean)];
}

/**
 * A record as flowd's record XML, the form XmlImport reads by default:
 * `<record id="..."><field name="asset.title">...</field>...<media href="clip.mxf"/></record>`.
 * Every text and attribute is escaped; there is no DOCTYPE. A list is one
 * `<field>` per item (the same name repeated), an object its JSON text.
 * @throws FlowdError ERR_TRANSFER for text XML cannot carry (control characters, U+FFFE, U+FFFF, lone surrogates)
 */
export function buildRecordXml(record: { id: string; fields: Readonly<Record<string, unknown>>; media: readonly string[] }): string {
  const check = (text: string, what: string) => {
    // Characters XML 1.0 cannot carry, even escaped: control characters, U+FFFE, U+FFFF, a lone surrogate.
    const at = indexOfNonXmlChar(text);
    if (at !== -1) {
      const unit = text.charCodeAt(at);
      const kind = unit >= 0xd800 && unit <= 0xdfff ? 'a lone surrogate' : unit < 0x20 ? 'a control character' : 'a character';
      throw new FlowdError('ERR_TRANSFER', `record "${record.id}": ${what} has ${kind} XML cannot carry (${codePointName(unit)})`);
    }
    return text;
  };
  check(record.id, 'the id');
  const field = Object.entries(record.fields).flatMap(([name, value]) =>
    fieldTexts(name, value).map((text) => ({ '@_name': check(name, `a field name "${name}"`), '#text': check(text, `field "${name}"`) })),
  );
  const media = record.media.map((href) => ({ '@_href': check(href, 'a media name') }));
  return builder().build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, record: { '@_id': record.id, field, media } }) as string;
}

/** The id as a file name: no folders, no hidden or special names. */
function fileNameFor(id: string): string {
  if (/[/\\\u0000-\u001F]/.test(id) || id.startsWith('.'))
    throw new FlowdError('ERR_TRANSFER', `record id "${id}" cannot name a file; expected no "/", "\\", control characters or leading "."`);
  return `${id}.xml`;
}

/**
 * Flow's XmlExport transfer plugin: writes the asset's record as
 * `<id>.xml` (see buildRecordXml) and copies its media next to it, to a
 * `file:///folder/` or `ftp://[user[:password]@]host[:port]/folder/`
 * destination. Each file is written as `name.part`, then renamed; the media
 * go first and the XML last, so whoever watches the destination for XML
 * finds the media complete. Progress: 0 at the start, 99 once the media are
 * there, 100 once the XML is. A media path is absolute, a file:// URL, or
 * relative to the data's `source` (a file:// folder) or else to the app's
 * folder. FTP credentials: the URL's, else the data's `settings`
 * (username, password), else `[Destination] username / password`.
 * Any problem fails the transfer step with a message (exit 0).
 * @example
 * [Flow]
 * class = xmlexport.XmlExport
 */
export class XmlExport extends TransferPlugin<XmlExportResult> {
  #destination: DestinationSettings | undefined;

  /** Compiles `[Transfer]` and `[Destination]` without starting anything: a ConfigError naming the file, line and key. For `flowd check`. */
  static override checkConfig(
    config: AppSections,
    app: AppInfo,
    file?: string,
    lines?: ReadonlyMap<string, ReadonlyMap<string, number>>,
  ): void {
    super.checkConfig(config, app, file, lines);
    checkAppSection(config, 'Destination', compileDestinationSettings, file, lines);
    checkKnownSections(config, { app: 'xmlexport.XmlExport', sections: ['Transfer', 'Destination'] }, file);
  }

  /** Reads `[Destination]` (username, password, timeout) at start-up. */
  override configure(): void {
    this.#destination = this.#destinationSettings();
  }

  async start(event: unknown, ctx: WorkerContext): Promise<XmlExportResult> {
    const data = this.use(event, { requireSource: false });
    const asset = data.asset!;
    const destination = data.destination!;
    await this.updateProgress(0);
    const settings = (this.#destination ??= this.#destinationSettings());
    try {
      const url = new URL(destination);
      if (url.protocol !== 'file:' && url.protocol !== 'ftp:') {
        throw new FlowdError('ERR_TRANSFER', `destination ${redact(destination)} is not supported; expected a file:// or ftp:// URL`);
      }
      const xmlName = fileNameFor(asset.id);
      const media = await this.#localMedia(asset, data.source);
      if (media.some((m) => m.name === xmlName))
        throw new FlowdError(
          'ERR_TRANSFER',
          `asset ${asset.id} has a media file called "${xmlName}", the name of its XML; expected another name`,
        );
      const xml = buildRecordXml({ id: asset.id, fields: asset.fields, media: media.map((m) => m.name) });
      if (url.protocol === 'file:') {
        const dir = fileURLToPath(url);
        await mkdir(dir, { recursive: true });
        for (const file of media) await place(path.join(dir, file.name), (part) => copyFile(file.path, part));
        await this.updateProgress(99);
        await place(path.join(dir, xmlName), (part) => writeFile(part, xml));
      } else {
        const credentials = {
          username: data.settings.username ?? settings.username,
          password: data.settings.password ?? settings.password,
        };
        const target = ftpTarget(destination, credentials, settings.timeoutMs);
        // One connection: the media, 99, then the XML.
        const files = [...media.map((m) => ({ name: m.name, from: m.path })), { name: xmlName, from: Buffer.from(xml) }];
        const lastMedia = media.at(-1)?.name;
        if (lastMedia === undefined) await this.updateProgress(99);
        await uploadFiles(target, files, {
          signal: ctx.signal,
          uploaded: (name) => (name === lastMedia ? this.updateProgress(99) : undefined),
        });
      }
      await this.updateProgress(100);
      this.log.info({ id: asset.id, destination: redact(destination) }, `exported ${asset.id} with ${media.length} media file(s)`);
      return { id: asset.id, destination: redact(destination), files: [...media.map((m) => m.name), xmlName] };
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      const password = data.settings.password ?? settings.password;
      const message = (error as Error).message;
      this.fail(
        `XML export of ${asset.id} to ${redact(destination)} failed: ${password && password.length >= 3 ? message.split(password).join('***') : message}`,
      );
    }
  }

  #destinationSettings(): DestinationSettings {
    const reader = appSectionReader(this.config?.Destination, { section: 'Destination' });
    const settings = compileDestinationSettings(reader);
    reader.finish();
    return settings;
  }

  /** The media as local files, each checked to exist, with the name it gets at the destination. */
  async #localMedia(asset: TransferAsset, source: string | undefined): Promise<Array<{ path: string; name: string }>> {
    const base = source?.startsWith('file:') ? fileURLToPath(source) : (this.app?.dir ?? process.cwd());
    const seen = new Set<string>();
    const files: Array<{ path: string; name: string }> = [];
    for (const entry of asset.media) {
      let file: string;
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
        if (!entry.startsWith('file:'))
          throw new FlowdError('ERR_TRANSFER', `media "${redact(entry)}" is not a local file; expected a path or a file:// URL`);
        file = fileURLToPath(entry);
      } else {
        file = path.resolve(base, entry);
      }
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile())
        throw new FlowdError(
          'ERR_TRANSFER',
          `media "${entry}" of asset ${asset.id} ${info ? 'is not a file' : `does not exist (looked at ${file})`}`,
        );
      const name = path.basename(file);
      if (seen.has(name))
        throw new FlowdError(
          'ERR_TRANSFER',
          `asset ${asset.id} names two media files called "${name}"; expected distinct names at the destination`,
        );
      seen.add(name);
      files.push({ path: file, name });
    }
    return files;
  }
}

/** Writes through `name.part`, then renames it into place. */
async function place(target: string, write: (part: string) => Promise<void>): Promise<void> {
  const part = `${target}.part`;
  try {
    await write(part);
    await rename(part, target);
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
}
