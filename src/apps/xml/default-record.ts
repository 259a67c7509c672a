/**
 * flowd's own record XML, `[Xml] format = default`:
 *
 * ```xml
 * <?xml version="1.0" encoding="UTF-8"?>
 * <record id="2024-0042">
 *   <field name="asset.title">Evening news</field>
 *   <field name="asset.duration" type="number">1800</field>
 *   <field name="asset.live" type="boolean">true</field>
 *   <field name="asset.tags" type="json">["news", "evening"]</field>
 *   <field name="asset.note" type="null"/>
 *   <media href="clip.mxf"/>
 * </record>
 * ```
 *
 * - `<record>` is the root, in no namespace. `id` is optional; when given it
 *   is trimmed and must not be empty.
 * - `<field name="...">`: one per field, each name once (`__proto__`,
 *   `constructor` and `prototype` are refused). The value is the text
 *   content: exactly as written for `type="string"` (the default), trimmed
 *   for the others: `number` (a finite JSON number), `boolean` (`true` or
 *   `false`), `null` (empty), `json` (any JSON value). CDATA is text.
 * - `<media href="clip.mxf"/>`: a media file the record names, a plain file
 *   name without a folder; in document order, each once.
 * - Comments, processing instructions and white space between elements are
 *   ignored; any other element, attribute or text is an error (ERR_XML
 *   naming the file), so a typo never passes silently.
 */
import type { Element, Node } from '@xmldom/xmldom';
import { FlowdError } from '../../kernel/errors.js';
import { readXmlDocument, type XmlLimits } from './document.js';
import { checkMediaName, setField, UNSAFE_NAMES, type RecordData } from './record-data.js';
export type { RecordData } from './record-data.js';

/** The value types of `<field type="...">`. */
export const DEFAULT_RECORD_TYPES = ['string', 'number', 'boolean', 'null', 'json'] as const;

const ELEMENT = 1;
const TEXT = 3;
const CDATA = 4;

function fail(where: string, problem: string, cause?: unknown): never {
  throw new FlowdError('ERR_XML', `${where}: ${problem}`, cause === undefined ? undefined : { cause });
}

function isNamespaceDeclaration(name: string): boolean {
  return name === 'xmlns' || name.startsWith('xmlns:');
}

/** The element's attributes as a null-prototype map, refusing any not in `allowed`. */
function attributesOf(element: Element, allowed: readonly string[], where: string): Map<string, string> {
  const found = new Map<string, string>();
  for (let i = 0; i < element.attributes.length; i++) {
    const attribute = element.attributes.item(i)!;
    if (isNamespaceDeclaration(attribute.name)) continue;
    if (!allowed.includes(attribute.name)) {
      fail(
        where,
        `<${element.tagName}> has an unexpected attribute "${attribute.name}" (line ${element.lineNumber ?? '?'}); expected ${allowed.map((a) => `"${a}"`).join(' or ') || 'none'}`,
      );
    }
    found.set(attribute.name, attribute.value);
  }
  return found;
}

function fieldValue(element: Element, where: string): { name: string; value: unknown } {
  const attributes = attributesOf(element, ['name', 'type'], where);
  const name = attributes.get('name');
  const at = `(line ${element.lineNumber ?? '?'})`;
  if (name === undefined || name === '') fail(where, `<field> has no name ${at}; expected <field name="asset.title">`);
  if (UNSAFE_NAMES.has(name)) fail(where, `field name "${name}" is not allowed ${at}`);
  for (let child = element.firstChild; child !== null; child = child.nextSibling) {
    if (child.nodeType === ELEMENT)
      fail(where, `field "${name}" contains an element <${(child as Element).tagName}> ${at}; expected text only`);
  }
  const text = element.textContent ?? '';
  const type = attributes.get('type') ?? 'string';
  switch (type) {
    case 'string':
      return { name, value: text };
    case 'number': {
      const trimmed = text.trim();
      if (!/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(trimmed) || !Number.isFinite(Number(trimmed))) {
        fail(where, `field "${name}" is ${JSON.stringify(text)} ${at}; expected a finite number such as 42, -0.5 or 1e6`);
      }
      return { name, value: Number(trimmed) };
    }
    case 'boolean': {
      const trimmed = text.trim();
      if (trimmed !== 'true' && trimmed !== 'false')
        fail(where, `field "${name}" is ${JSON.stringify(text)} ${at}; expected true or false`);
      return { name, value: trimmed === 'true' };
    }
    case 'null':
      if (text.trim() !== '') fail(where, `field "${name}" has type null but contains ${JSON.stringify(text)} ${at}; expected it empty`);
      return { name, value: null };
    case 'json':
      try {
        return { name, value: JSON.parse(text) as unknown };
      } catch (error) {
        return fail(where, `field "${name}" is not JSON ${at}: ${(error as Error).message}`, error);
      }
    default:
      return fail(where, `field "${name}" has type "${type}" ${at}; expected one of ${DEFAULT_RECORD_TYPES.join(', ')}`);
  }
}

/**
 * Reads flowd's own record XML (the format above) into a RecordData.
 * Throws FlowdError ERR_XML naming `where` when the text is not
 * well-formed (see readXmlDocument) or not a record.
 * @example
 * readDefaultRecord('<record id="42"><field name="asset.title">News</field><media href="a.mxf"/></record>', 'in/42.xml');
 * // { id: '42', fields: { 'asset.title': 'News' }, media: ['a.mxf'] }
 */
export function readDefaultRecord(text: string, where: string, limits?: XmlLimits): RecordData {
  const root = readXmlDocument(text, where, limits).documentElement!;
  if (root.namespaceURI !== null || root.tagName !== 'record') {
    fail(
      where,
      `the root element is <${root.tagName}>${root.namespaceURI === null ? '' : ` in namespace ${root.namespaceURI}`}; expected <record> in no namespace`,
    );
  }
  const record: RecordData = { fields: {}, media: [] };
  const id = attributesOf(root, ['id'], where).get('id');
  if (id !== undefined) {
    if (id.trim() === '') fail(where, '<record id=""> is empty; expected an id or no id attribute');
    record.id = id.trim();
  }
  const seenFields = new Set<string>();
  const seenMedia = new Set<string>();
  for (let child: Node | null = root.firstChild; child !== null; child = child.nextSibling) {
    if (child.nodeType === TEXT || child.nodeType === CDATA) {
      if ((child.nodeValue ?? '').trim() !== '')
        fail(
          where,
          `<record> contains text ${JSON.stringify(child.nodeValue)} (line ${child.lineNumber ?? '?'}); expected only <field> and <media>`,
        );
      continue;
    }
    if (child.nodeType !== ELEMENT) continue;
    const element = child as Element;
    if (element.namespaceURI === null && element.tagName === 'field') {
      const { name, value } = fieldValue(element, where);
      if (seenFields.has(name)) fail(where, `field "${name}" is given twice (line ${element.lineNumber ?? '?'})`);
      seenFields.add(name);
      setField(record.fields, name, value);
    } else if (element.namespaceURI === null && element.tagName === 'media') {
      const href = attributesOf(element, ['href'], where).get('href');
      if (href === undefined) fail(where, `<media> has no href (line ${element.lineNumber ?? '?'}); expected <media href="clip.mxf"/>`);
      const name = checkMediaName(href, where);
      if (!seenMedia.has(name)) record.media.push(name);
      seenMedia.add(name);
    } else {
      fail(where, `unexpected element <${element.tagName}> in <record> (line ${element.lineNumber ?? '?'}); expected <field> or <media>`);
    }
  }
  return record;
}

// Characters XML 1.0 cannot carry at all: most C0 controls, lone surrogates, U+FFFE and U+FFFF.
const UNREPRESENTABLE = /[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function escapeText(text: string): string {
  // &#13; survives the parser's line-ending normalization, a raw CR does not.
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

function escapeAttribute(text: string): string {
  // Raw tabs and line breaks in an attribute become spaces when it is read.
  return escapeText(text).replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;');
}

function writeField(name: string, value: unknown, where: string): string {
  const open = `<field name="${escapeAttribute(name)}"`;
  if (typeof value === 'string' && !UNREPRESENTABLE.test(value)) return `${open}>${escapeText(value)}</field>`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(where, `field "${name}" is ${value}; a record carries finite numbers only`);
    return `${open} type="number">${JSON.stringify(value)}</field>`;
  }
  if (typeof value === 'boolean') return `${open} type="boolean">${value}</field>`;
  if (value === null) return `${open} type="null"/>`;
  // JSON escapes whatever XML cannot carry, so any JSON value fits.
  const json = JSON.stringify(value);
  if (json === undefined) fail(where, `field "${name}" is ${typeof value}; a record carries JSON values only`);
  return `${open} type="json">${escapeText(json.replace(/[\u007f-\uffff]/g, (c) => (UNREPRESENTABLE.test(c) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)))}</field>`;
}

/**
 * Writes a record in flowd's own record XML; readDefaultRecord reads it
 * back to an equal record. Fields whose value is undefined are left out.
 * Throws FlowdError ERR_XML (naming `where`) for what the format cannot
 * carry: a name or id XML cannot hold, a function, infinity or NaN.
 */
export function writeDefaultRecord(record: RecordData, where = 'record'): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  if (record.id !== undefined && (record.id.trim() === '' || record.id.trim() !== record.id || UNREPRESENTABLE.test(record.id))) {
    fail(where, `id ${JSON.stringify(record.id)} cannot be written; expected non-empty text without surrounding white space`);
  }
  lines.push(record.id === undefined ? '<record>' : `<record id="${escapeAttribute(record.id)}">`);
  for (const [name, value] of Object.entries(record.fields)) {
    if (value === undefined) continue;
    if (name === '' || UNSAFE_NAMES.has(name) || UNREPRESENTABLE.test(name))
      fail(where, `field name ${JSON.stringify(name)} cannot be written`);
    lines.push(`  ${writeField(name, value, where)}`);
  }
  for (const media of record.media) {
    if (UNREPRESENTABLE.test(media)) fail(where, `media name ${JSON.stringify(media)} cannot be written`);
    lines.push(`  <media href="${escapeAttribute(checkMediaName(media, where))}"/>`);
  }
  lines.push('</record>', '');
  return lines.join('\n');
}
