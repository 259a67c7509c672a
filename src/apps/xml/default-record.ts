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
import type * as SaxesModule from 'saxes';
import type { SaxesAttributeNS, SaxesOptions, SaxesParser, SaxesTagNS } from 'saxes';
import { FlowdError } from '../../kernel/errors.js';
import { lazy } from '../../kernel/lazy.js';
import { indexOfNonXmlChar } from '../../kernel/xml-chars.js';
import { checkXmlText, DEFAULT_XML_MAX_DEPTH, type XmlLimits } from './document.js';
import { checkMediaName, setField, UNSAFE_NAMES, type RecordData } from './record-data.js';
export type { RecordData } from './record-data.js';

/** The value types of `<field type="...">`. */
export const DEFAULT_RECORD_TYPES = ['string', 'number', 'boolean', 'null', 'json'] as const;

const saxes = lazy<typeof SaxesModule>('saxes');

// Strict XML 1.0 whatever the declaration says (1.1 would allow more control characters), namespaces resolved.
const PARSER_OPTIONS = { xmlns: true, position: true, forceXMLVersion: true, defaultXMLVersion: '1.0' } as const satisfies SaxesOptions;
type Parser = SaxesParser<typeof PARSER_OPTIONS>;

function fail(where: string, problem: string, cause?: unknown): never {
  throw new FlowdError('ERR_XML', `${where}: ${problem}`, cause === undefined ? undefined : { cause });
}

function isNamespaceDeclaration(name: string): boolean {
  return name === 'xmlns' || name.startsWith('xmlns:');
}

/** Thrown inside the parser's callbacks, so it stops at once; carries the finished message. */
class Stop extends Error {}

/** A well-formedness error of saxes, in the words readXmlDocument uses: `not well-formed XML at line 2, column 17: ...`. */
function describeParserError(parser: Parser, text: string, error: Error, lastClosed: string): string {
  // saxes starts its message with "line:column: " and ends it with a full stop.
  let message = error.message.replace(/^\d+:\d+: /, '').replace(/\.$/, '');
  if (message === 'unexpected close tag') {
    const closing = /^<\/([^\s>]*)/.exec(text.slice(text.lastIndexOf('</', parser.position)))?.[1];
    message = `tag mismatch: </${closing ?? '?'}> where </${lastClosed}> was expected`;
  }
  return `not well-formed XML at line ${parser.line}, column ${parser.column}: ${message}`;
}

/** The state of one read: where the reader is in the record, and the first error found in it. */
interface ReadState {
  record: RecordData;
  seenMedia: Set<string>;
  depth: number;
  /** The <field> being read: its name, type, line and text so far. */
  field: { name: string; type: string; line: number; text: string } | undefined;
  /** The line where the text now being read began: where the last markup ended. */
  textLine: number;
  /** The first problem with the record (not with the XML); reported once the whole text is known well-formed. */
  problem: string | undefined;
}

/** The element's attributes (qualified name -> value), refusing any not in `allowed`. */
function attributesOf(tag: SaxesTagNS, allowed: readonly string[], line: number): Map<string, string> {
  const found = new Map<string, string>();
  for (const attribute of Object.values<SaxesAttributeNS>(tag.attributes)) {
    if (isNamespaceDeclaration(attribute.name)) continue;
    if (!allowed.includes(attribute.name)) {
      throw new Stop(
        `<${tag.name}> has an unexpected attribute "${attribute.name}" (line ${line}); expected ${allowed.map((a) => `"${a}"`).join(' or ') || 'none'}`,
      );
    }
    found.set(attribute.name, attribute.value);
  }
  return found;
}

function fieldValue(name: string, type: string, text: string, at: string): unknown {
  switch (type) {
    case 'string':
      return text;
    case 'number': {
      const trimmed = text.trim();
      if (!/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(trimmed) || !Number.isFinite(Number(trimmed))) {
        throw new Stop(`field "${name}" is ${JSON.stringify(text)} ${at}; expected a finite number such as 42, -0.5 or 1e6`);
      }
      return Number(trimmed);
    }
    case 'boolean': {
      const trimmed = text.trim();
      if (trimmed !== 'true' && trimmed !== 'false')
        throw new Stop(`field "${name}" is ${JSON.stringify(text)} ${at}; expected true or false`);
      return trimmed === 'true';
    }
    case 'null':
      if (text.trim() !== '') throw new Stop(`field "${name}" has type null but contains ${JSON.stringify(text)} ${at}; expected it empty`);
      return null;
    case 'json':
      try {
        return JSON.parse(text) as unknown;
      } catch (error) {
        throw new Stop(`field "${name}" is not JSON ${at}: ${(error as Error).message}`);
      }
    default:
      throw new Stop(`field "${name}" has type "${type}" ${at}; expected one of ${DEFAULT_RECORD_TYPES.join(', ')}`);
  }
}

/** An element opens at `depth` (1 is the root), on `line`. */
function openElement(state: ReadState, tag: SaxesTagNS, line: number): void {
  const { record } = state;
  if (state.depth === 1) {
    if (tag.uri !== '' || tag.name !== 'record') {
      throw new Stop(
        `the root element is <${tag.name}>${tag.uri === '' ? '' : ` in namespace ${tag.uri}`}; expected <record> in no namespace`,
      );
    }
    const id = attributesOf(tag, ['id'], line).get('id');
    if (id !== undefined) {
      if (id.trim() === '') throw new Stop('<record id=""> is empty; expected an id or no id attribute');
      record.id = id.trim();
    }
  } else if (state.depth === 2) {
    if (tag.uri === '' && tag.name === 'field') {
      const attributes = attributesOf(tag, ['name', 'type'], line);
      const name = attributes.get('name');
      const at = `(line ${line})`;
      if (name === undefined || name === '') throw new Stop(`<field> has no name ${at}; expected <field name="asset.title">`);
      if (UNSAFE_NAMES.has(name)) throw new Stop(`field name "${name}" is not allowed ${at}`);
      state.field = { name, type: attributes.get('type') ?? 'string', line, text: '' };
    } else if (tag.uri === '' && tag.name === 'media') {
      const href = attributesOf(tag, ['href'], line).get('href');
      if (href === undefined) throw new Stop(`<media> has no href (line ${line}); expected <media href="clip.mxf"/>`);
      let name: string;
      try {
        name = checkMediaName(href, '');
      } catch (error) {
        // checkMediaName's message after its empty `where: `.
        throw new Stop((error as Error).message.replace(/^: /, ''));
      }
      if (!state.seenMedia.has(name)) record.media.push(name);
      state.seenMedia.add(name);
    } else {
      throw new Stop(`unexpected element <${tag.name}> in <record> (line ${line}); expected <field> or <media>`);
    }
  } else if (state.field !== undefined) {
    throw new Stop(`field "${state.field.name}" contains an element <${tag.name}> (line ${state.field.line}); expected text only`);
  }
}

function closeField(state: ReadState): void {
  const { name, type, line, text } = state.field!;
  state.field = undefined;
  const value = fieldValue(name, type, text, `(line ${line})`);
  if (Object.hasOwn(state.record.fields, name)) throw new Stop(`field "${name}" is given twice (line ${line})`);
  setField(state.record.fields, name, value);
}

/** Text or CDATA: part of a field's value, or white space between the record's elements. */
function addText(state: ReadState, text: string): void {
  if (state.field !== undefined && state.depth === 2) state.field.text += text;
  else if (state.depth === 1 && text.trim() !== '')
    throw new Stop(`<record> contains text ${JSON.stringify(text)} (line ${state.textLine}); expected only <field> and <media>`);
}

/**
 * Reads flowd's own record XML (the format above) into a RecordData, with
 * a streaming parser (saxes): the memory it takes is the text and the
 * record, never a tree of the document. The same safety as
 * readXmlDocument: no DOCTYPE, no ENTITY, no entity but the five XML ones,
 * no character XML does not allow (raw or as a reference), size and depth
 * limits. Throws FlowdError ERR_XML naming `where` when the text is not
 * well-formed (that first, with the line and column) or not a record
 * (naming the line).
 * @example
 * readDefaultRecord('<record id="42"><field name="asset.title">News</field><media href="a.mxf"/></record>', 'in/42.xml');
 * // { id: '42', fields: { 'asset.title': 'News' }, media: ['a.mxf'] }
 */
export function readDefaultRecord(text: string, where: string, limits: XmlLimits = {}): RecordData {
  const { maxDepth = DEFAULT_XML_MAX_DEPTH } = limits;
  checkXmlText(text, where, limits);
  const state: ReadState = {
    record: { fields: {}, media: [] },
    seenMedia: new Set(),
    depth: 0,
    field: undefined,
    textLine: 1,
    problem: undefined,
  };
  const parser: Parser = new (saxes().SaxesParser)(PARSER_OPTIONS);
  // A problem with the record is kept, and the rest of the text only checked: a document that is not XML says so first, as a DOM would.
  const checked = (step: () => void): void => {
    if (state.problem !== undefined) return;
    try {
      step();
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
      state.problem = error.message;
    }
  };
  let elementLine = 1;
  parser.on('opentagstart', () => {
    elementLine = parser.line;
    if (++state.depth > maxDepth) {
      throw new Stop(
        `not well-formed XML at line ${parser.line}, column ${parser.column}: elements are nested deeper than ${maxDepth} levels`,
      );
    }
  });
  parser.on('opentag', (tag) => {
    checked(() => openElement(state, tag, elementLine));
    state.textLine = parser.line;
  });
  // On a mismatched close tag, saxes closes the open element (so this names it) and then reports the mismatch.
  let lastClosed = '';
  parser.on('closetag', (tag) => {
    lastClosed = tag.name;
    if (state.field !== undefined && state.depth === 2) checked(() => closeField(state));
    state.depth--;
    state.textLine = parser.line;
  });
  parser.on('text', (chunk) => {
    checked(() => addText(state, chunk));
  });
  parser.on('cdata', (chunk) => {
    checked(() => addText(state, chunk));
    state.textLine = parser.line;
  });
  parser.on('comment', () => (state.textLine = parser.line));
  parser.on('processinginstruction', () => (state.textLine = parser.line));
  parser.on('error', (error) => {
    throw new Stop(describeParserError(parser, text, error, lastClosed));
  });
  try {
    parser.write(text).close();
  } catch (error) {
    if (error instanceof Stop) fail(where, error.message, error);
    // Not a saxes error (a bug in the parser, or the stack): still a typed error.
    fail(where, `not well-formed XML: ${error instanceof Error ? error.message : String(error)}`, error);
  }
  if (state.problem !== undefined) fail(where, state.problem);
  return state.record;
}

// Characters XML 1.0 cannot carry at all: most C0 controls, lone surrogates, U+FFFE and U+FFFF.
const unrepresentable = (text: string): boolean => indexOfNonXmlChar(text) !== -1;

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
  if (typeof value === 'string' && !unrepresentable(value)) return `${open}>${escapeText(value)}</field>`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(where, `field "${name}" is ${value}; a record carries finite numbers only`);
    return `${open} type="number">${JSON.stringify(value)}</field>`;
  }
  if (typeof value === 'boolean') return `${open} type="boolean">${value}</field>`;
  if (value === null) return `${open} type="null"/>`;
  // JSON escapes whatever XML cannot carry, so any JSON value fits.
  const json = JSON.stringify(value);
  if (json === undefined) fail(where, `field "${name}" is ${typeof value}; a record carries JSON values only`);
  return `${open} type="json">${escapeText(json.replace(/[\u007f-\uffff]/g, (c) => (unrepresentable(c) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)))}</field>`;
}

/**
 * Writes a record in flowd's own record XML; readDefaultRecord reads it
 * back to an equal record. Fields whose value is undefined are left out.
 * Throws FlowdError ERR_XML (naming `where`) for what the format cannot
 * carry: a name or id XML cannot hold, a function, infinity or NaN.
 */
export function writeDefaultRecord(record: RecordData, where = 'record'): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  if (record.id !== undefined && (record.id.trim() === '' || record.id.trim() !== record.id || unrepresentable(record.id))) {
    fail(where, `id ${JSON.stringify(record.id)} cannot be written; expected non-empty text without surrounding white space`);
  }
  lines.push(record.id === undefined ? '<record>' : `<record id="${escapeAttribute(record.id)}">`);
  for (const [name, value] of Object.entries(record.fields)) {
    if (value === undefined) continue;
    if (name === '' || UNSAFE_NAMES.has(name) || unrepresentable(name)) fail(where, `field name ${JSON.stringify(name)} cannot be written`);
    lines.push(`  ${writeField(name, value, where)}`);
  }
  for (const media of record.media) {
    if (unrepresentable(media)) fail(where, `media name ${JSON.stringify(media)} cannot be written`);
    lines.push(`  <media href="${escapeAttribute(checkMediaName(media, where))}"/>`);
  }
  lines.push('</record>', '');
  return lines.join('\n');
}
