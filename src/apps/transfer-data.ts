import { readXml } from '../../actors/sources/payload.js';
import { FlowdError } from '../kernel/errors.js';

/**
 * The asset (record) a transfer is about. In JSON:
 * `{ "id": "2011", "title": "Evening news", "fields": { "asset.title": "Evening news" }, "media": ["clip.mxf"] }`.
 */
export interface TransferAsset {
  id: string;
  /** `title`, else the field `asset.title`, else the field `title`. @default undefined */
  title?: string;
  /** The record's fields by name. @default {} */
  fields: Record<string, unknown>;
  /** The media files the record names: paths or file:// URLs. @default [] */
  media: string[];
}

/**
 * The plugin data from the transfer subsystem, validated. JSON:
 *
 * ```json
 * { "source": "file:///media/in/", "destination": "ftp://ftp.example.com/incoming/",
 *   "step": "http://vizone.example.com/api/transfer/step/42",
 *   "settings": { "username": "export", "password": "..." },
 *   "asset": { "id": "2011", "fields": { "asset.title": "Evening news" }, "media": ["clip.mxf"] } }
 * ```
 *
 * XML (the same, with the record's fields and media as in flowd's record XML):
 *
 * ```xml
 * <transfer>
 *   <source>file:///media/in/</source>
 *   <destination>ftp://ftp.example.com/incoming/</destination>
 *   <step>http://vizone.example.com/api/transfer/step/42</step>
 *   <settings><setting name="username">export</setting></settings>
 *   <asset id="2011"><field name="asset.title">Evening news</field><media href="clip.mxf"/></asset>
 * </transfer>
 * ```
 */
export interface TransferData {
  asset?: TransferAsset;
  /** An absolute URL. */
  source?: string;
  /** An absolute URL. */
  destination?: string;
  /** The transfer step's http(s) URL: progress and status are PUT there. @default undefined (JSON lines on stdout) */
  step?: string;
  /** Plugin settings (Flow's VDF payload: username, password, ...). @default {} */
  settings: Record<string, string>;
  /** Which form the data came in. */
  format: 'json' | 'xml';
}

/** What `use()` insists on. */
export interface UseOptions {
  /** @default true */
  requireAsset?: boolean;
  /** @default true */
  requireSource?: boolean;
  /** @default true */
  requireDestination?: boolean;
}

const fail = (where: string, problem: string): never => {
  throw new FlowdError('ERR_TRANSFER', `${where} ${problem}`);
};

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const list = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** The XML reader leaves entities as written; the five predefined ones and character references are safe to decode. */
function decodeXmlText(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (match, name: string) => {
    if (name.startsWith('#')) {
      const code = name[1] === 'x' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : match;
    }
    return ENTITIES[name] ?? match;
  });
}

/** The text of a parsed XML element (a string, or an object with `#text`). */
function xmlText(node: unknown): string | undefined {
  if (node === undefined) return undefined;
  if (typeof node === 'string') return decodeXmlText(node);
  if (isObject(node)) return typeof node['#text'] === 'string' ? decodeXmlText(node['#text']) : '';
  return String(node as string | number);
}

const attribute = (node: unknown, name: string): string | undefined =>
  isObject(node) && typeof node[`@_${name}`] === 'string' ? decodeXmlText(node[`@_${name}`] as string) : undefined;

/** The fast-xml-parser object of a `<transfer>` document, as the JSON form. */
function fromXml(root: unknown, where: string): Record<string, unknown> {
  if (!isObject(root)) return fail(where, 'has an empty <transfer> element; expected <source>, <destination>, <asset>, ...');
  const json: Record<string, unknown> = {};
  for (const key of ['source', 'destination', 'step'] as const) {
    if (Array.isArray(root[key])) fail(where, `has more than one <${key}>; expected one`);
    if (root[key] !== undefined) json[key] = xmlText(root[key])?.trim();
  }
  const settings: Record<string, string> = {};
  for (const group of list(root.settings)) {
    for (const setting of list(isObject(group) ? group.setting : undefined)) {
      const name = attribute(setting, 'name');
      if (name === undefined) fail(where, 'has a <setting> without a name attribute; expected <setting name="username">...</setting>');
      settings[name!] = xmlText(setting) ?? '';
    }
  }
  json.settings = settings;
  if (Array.isArray(root.asset)) fail(where, 'has more than one <asset>; expected one');
  if (root.asset !== undefined) {
    const asset = root.asset;
    const fields: Record<string, unknown> = {};
    for (const field of list(isObject(asset) ? asset.field : undefined)) {
      const name = attribute(field, 'name');
      if (name === undefined) fail(where, 'has an asset <field> without a name attribute; expected <field name="asset.title">...</field>');
      const value = xmlText(field) ?? '';
      // A repeated field is a list, as in the record XML.
      fields[name!] = name! in fields ? [...list(fields[name!]), value] : value;
    }
    const media = list(isObject(asset) ? asset.media : undefined).map((m) => {
      const href = attribute(m, 'href');
      return href === undefined ? fail(where, 'has an asset <media> without an href attribute; expected <media href="clip.mxf"/>') : href;
    });
    json.asset = { id: attribute(asset, 'id'), title: attribute(asset, 'title'), fields, media };
  }
  return json;
}

/** Text, JSON or XML (or an already parsed value) to the JSON form. */
function toJsonForm(input: unknown, where: string): { value: Record<string, unknown>; format: 'json' | 'xml' } {
  let value = input;
  if (Buffer.isBuffer(value)) value = value.toString('utf8');
  if (typeof value === 'string') {
    const text = value.trim();
    if (text === '') return fail(where, 'is empty; expected JSON ({"source": ..., "destination": ...}) or XML (<transfer>...</transfer>)');
    if (text.startsWith('<')) {
      const xml = readXml(text);
      if ('problem' in xml) return fail(where, xml.problem);
      const roots = isObject(xml.value) ? Object.keys(xml.value).filter((k) => !k.startsWith('?')) : [];
      if (roots.length !== 1 || roots[0] !== 'transfer')
        return fail(where, `has the root element <${roots.join('>, <')}>; expected <transfer>`);
      value = xml.value;
    } else {
      try {
        value = JSON.parse(text) as unknown;
      } catch (error) {
        return fail(where, `is neither XML nor JSON: ${(error as Error).message}`);
      }
    }
  }
  if (!isObject(value))
    return fail(where, `is ${Array.isArray(value) ? 'a list' : typeof value}; expected an object with source, destination, asset, ...`);
  const keys = Object.keys(value).filter((k) => !k.startsWith('?'));
  // A parsed <transfer> document (a source with `payload class = xml`, or the text above).
  if (keys.length === 1 && keys[0] === 'transfer') return { value: fromXml(value.transfer, where), format: 'xml' };
  return { value, format: 'json' };
}

function url(value: unknown, key: string, where: string, schemes?: string[]): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') return fail(where, `has a "${key}" that is ${typeof value}; expected a URL`);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return fail(
      where,
      `has "${key}" = "${redact(value)}", which is not an absolute URL; expected e.g. ftp://host/folder/ or file:///folder/`,
    );
  }
  if (schemes && !schemes.includes(parsed.protocol))
    fail(where, `has "${key}" = "${redact(value)}"; expected a ${schemes.join(' or ')} URL`);
  return value;
}

/** A URL for messages: any password replaced. */
export function redact(text: string): string {
  try {
    const parsed = new URL(text);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return text.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@');
  }
}

function readAsset(value: unknown, where: string): TransferAsset | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return fail(where, `has an "asset" that is ${typeof value}; expected an object with id, fields and media`);
  const id = typeof value.id === 'number' ? String(value.id) : value.id;
  if (typeof id !== 'string' || id.trim() === '') fail(where, 'has an asset without an "id"; expected e.g. "asset": { "id": "2011", ... }');
  const fields = value.fields ?? {};
  if (!isObject(fields)) fail(where, `has asset "${String(id)}" with "fields" that are not an object; expected { "asset.title": ... }`);
  const media = list(value.media).map((m) =>
    typeof m === 'string' && m !== ''
      ? m
      : fail(where, `has asset "${String(id)}" with a media entry that is not a path: ${JSON.stringify(m)}`),
  );
  const f = fields as Record<string, unknown>;
  const title = [value.title, f['asset.title'], f.title].find((t): t is string => typeof t === 'string');
  return { id: id as string, ...(title !== undefined ? { title } : {}), fields: f, media };
}

/**
 * Reads and checks plugin data: JSON or XML text (or a parsed value). A
 * missing required part, a malformed URL or a bad asset is a FlowdError
 * ERR_TRANSFER naming what is missing and what was expected.
 */
export function readTransferData(input: unknown, options: UseOptions = {}, where = 'the transfer data'): TransferData {
  const { value, format } = toJsonForm(input, where);
  const data: TransferData = { settings: {}, format };
  const asset = readAsset(value.asset, where);
  if (asset) data.asset = asset;
  const source = url(value.source, 'source', where);
  if (source !== undefined) data.source = source;
  const destination = url(value.destination, 'destination', where);
  if (destination !== undefined) data.destination = destination;
  const step = url(value.step, 'step', where, ['http:', 'https:']);
  if (step !== undefined) data.step = step;
  if (value.settings !== undefined) {
    if (!isObject(value.settings)) fail(where, 'has "settings" that are not an object; expected { "username": ..., "password": ... }');
    for (const [key, setting] of Object.entries(value.settings as Record<string, unknown>)) {
      if (typeof setting === 'object' && setting !== null) fail(where, `has setting "${key}" that is not text`);
      data.settings[key] = String(setting as string);
    }
  }
  const missing = [
    options.requireAsset !== false && !data.asset ? 'an "asset" with an id' : undefined,
    options.requireSource !== false && data.source === undefined ? 'a "source" URL' : undefined,
    options.requireDestination !== false && data.destination === undefined ? 'a "destination" URL' : undefined,
  ].filter((m): m is string => m !== undefined);
  if (missing.length > 0) {
    const parts = (['asset', 'source', 'destination'] as const).filter(
      (part) => options[`require${part[0]!.toUpperCase()}${part.slice(1)}` as keyof UseOptions] !== false,
    );
    const expected =
      format === 'xml'
        ? parts.map((p) => (p === 'asset' ? '<asset id="...">' : `<${p}>`)).join(', ') + ' in <transfer>'
        : parts.map((p) => `"${p}"`).join(', ');
    fail(where, `is missing ${missing.join(', ')}; expected ${expected} (use() requires them unless told otherwise)`);
  }
  return data;
}
