import type * as XmldomModule from '@xmldom/xmldom';
import type { Document } from '@xmldom/xmldom';
import { lazy, once } from '../../kernel/lazy.js';
import { FlowdError } from '../../kernel/errors.js';

/** Limits of readXmlDocument. */
export interface XmlLimits {
  /** Refuses a text longer than this many bytes of UTF-8. @default 10485760 (10 MiB) */
  maxBytes?: number;
  /**
   * Refuses elements nested deeper than this. xmldom parses without
   * recursion, but XPath evaluation recurses, so a deep document would
   * exhaust the stack later.
   * @default 256
   */
  maxDepth?: number;
}

/** The default size cap: 10 MiB. */
export const DEFAULT_XML_MAX_BYTES = 10 * 1024 * 1024;

/** The default nesting cap. */
export const DEFAULT_XML_MAX_DEPTH = 256;

// A DTD is where entity bombs and external entities live; flowd's formats never need one.
const DOCTYPE = /<!DOCTYPE/i;
const ENTITY = /<!ENTITY/i;

interface Locator {
  lineNumber?: number;
  columnNumber?: number;
}

interface ParserProblem {
  level: string;
  message: string;
  line: number | undefined;
  column: number | undefined;
}

/** xmldom's DOM builder; only its constructor and the two element callbacks are used. */
type DomHandlerClass = new (options: unknown) => {
  locator?: Locator;
  startElement(...args: unknown[]): void;
  endElement(...args: unknown[]): void;
};

// xmldom exports no DOMHandler; a parser's `domHandler` is its default, and the `domHandler` option takes a subclass.
const xmldom = lazy<typeof XmldomModule>('@xmldom/xmldom');
const baseHandler = once(() => (new (xmldom().DOMParser)() as unknown as { domHandler: DomHandlerClass }).domHandler);

/** Counts nesting as xmldom builds the tree, and stops it past the cap. */
function depthLimitedHandler(maxDepth: number): DomHandlerClass {
  return class DepthLimitedHandler extends baseHandler() {
    private depth = 0;
    override startElement(...args: unknown[]): void {
      if (++this.depth > maxDepth) throw new RangeError(`elements are nested deeper than ${maxDepth} levels`);
      super.startElement(...args);
    }
    override endElement(...args: unknown[]): void {
      this.depth--;
      super.endElement(...args);
    }
  };
}

function describe(problem: ParserProblem): string {
  const at =
    problem.line !== undefined && problem.line > 0
      ? ` at line ${problem.line}${problem.column !== undefined ? `, column ${problem.column}` : ''}`
      : '';
  return `not well-formed XML${at}: ${problem.message}`;
}

function fail(where: string, problem: string, cause?: unknown): never {
  throw new FlowdError('ERR_XML', `${where}: ${problem}`, cause === undefined ? undefined : { cause });
}

// Markup whose `&#...;` is literal text (CDATA, comments, processing instructions), then a character reference.
const CHARACTER_REFERENCE = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|&#(?:x([0-9A-Fa-f]+)|([0-9]+));/g;

/** XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]. */
function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

/**
 * Refuses a character reference to a code point XML cannot carry (`&#0;`,
 * `&#xD800;`, `&#x110000;`), in text and attribute values alike: xmldom
 * would put it into the document as it is.
 */
function checkCharacterReferences(text: string, where: string): void {
  for (const match of text.matchAll(CHARACTER_REFERENCE)) {
    const [reference, hex, decimal] = match;
    if (hex === undefined && decimal === undefined) continue;
    const digits = (hex ?? decimal)!.replace(/^0+(?=.)/, '');
    const code = digits.length > 8 ? Number.POSITIVE_INFINITY : Number.parseInt(digits, hex === undefined ? 10 : 16);
    if (isXmlChar(code)) continue;
    const before = text.slice(0, match.index);
    const line = before.split('\n').length;
    const found = Number.isFinite(code) ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}` : 'a number past U+10FFFF';
    fail(
      where,
      `not well-formed XML at line ${line}, column ${match.index - before.lastIndexOf('\n')}: the character reference ${reference} is ${found}, which XML does not allow; expected a character in #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`,
    );
  }
}

/**
 * Parses XML text with @xmldom/xmldom, safely: a DOCTYPE or an ENTITY
 * declaration anywhere in the text is refused before parsing (so no entity
 * is ever expanded; an unknown `&name;` is a parser error), so is a text
 * over `maxBytes` or elements nested over `maxDepth`. Every parser error
 * and warning is an error here: FlowdError ERR_XML whose message starts
 * with `where` and quotes the parser, with line and column when known.
 * Nothing is printed to the console.
 * @example
 * const doc = readXmlDocument(await readFile(path, 'utf8'), path);
 * // FlowdError ERR_XML: "in/a.xml: not well-formed XML at line 3, column 5: Opening and ending tag mismatch: "b" != "a""
 */
export function readXmlDocument(text: string, where: string, limits: XmlLimits = {}): Document {
  const { maxBytes = DEFAULT_XML_MAX_BYTES, maxDepth = DEFAULT_XML_MAX_DEPTH } = limits;
  if (typeof text !== 'string') fail(where, `expected XML text, found ${typeof text}`);
  // Never fewer UTF-8 bytes than UTF-16 units, so the cheap test comes first.
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) {
    fail(where, `the file is larger than the limit of ${maxBytes} bytes`);
  }
  if (DOCTYPE.test(text)) fail(where, 'a DOCTYPE is not allowed (DTDs and entity declarations are refused)');
  if (ENTITY.test(text)) fail(where, 'an ENTITY declaration is not allowed');
  checkCharacterReferences(text, where);
  let problem: ParserProblem | undefined;
  const parser = new (xmldom().DOMParser)({
    locator: true,
    domHandler: depthLimitedHandler(maxDepth),
    onError(level, message, context) {
      const locator = (context as { locator?: Locator } | undefined)?.locator;
      // The first problem is the cause; later reports only echo it.
      problem ??= { level, message: String(message), line: locator?.lineNumber, column: locator?.columnNumber };
      // Throwing stops xmldom at once, warnings included.
      throw new Error(String(message));
    },
  });
  try {
    return parser.parseFromString(text, 'text/xml');
  } catch (error) {
    if (problem !== undefined) fail(where, describe(problem), error);
    // Not reported through onError (a bug in the parser, or the stack): still a typed error.
    fail(where, `not well-formed XML: ${error instanceof Error ? error.message : String(error)}`, error);
  }
}
