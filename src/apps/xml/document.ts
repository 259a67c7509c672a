import type * as XmldomModule from '@xmldom/xmldom';
import type { Document } from '@xmldom/xmldom';
import { lazy, once } from '../../kernel/lazy.js';
import { FlowdError } from '../../kernel/errors.js';
import { findXmlCharProblem } from '../../kernel/xml-chars.js';

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

/**
 * What every XML reader of XmlImport checks before parsing: a text, at most
 * `maxBytes` bytes of UTF-8, without DOCTYPE or ENTITY declaration (so no
 * entity is ever expanded), and only characters XML allows, raw or as
 * character references (xmldom would put `&#0;` into the document as it
 * is). Throws FlowdError ERR_XML whose message starts with `where`.
 */
export function checkXmlText(text: string, where: string, limits: XmlLimits = {}): void {
  const { maxBytes = DEFAULT_XML_MAX_BYTES } = limits;
  if (typeof text !== 'string') fail(where, `expected XML text, found ${typeof text}`);
  // Never fewer UTF-8 bytes than UTF-16 units, so the cheap test comes first.
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) {
    fail(where, `the file is larger than the limit of ${maxBytes} bytes`);
  }
  if (DOCTYPE.test(text)) fail(where, 'a DOCTYPE is not allowed (DTDs and entity declarations are refused)');
  if (ENTITY.test(text)) fail(where, 'an ENTITY declaration is not allowed');
  const problem = findXmlCharProblem(text);
  if (problem !== undefined) fail(where, `not well-formed XML at line ${problem.line}, column ${problem.column}: ${problem.message}`);
}

/**
 * Parses XML text with @xmldom/xmldom, safely: checkXmlText first (size,
 * DOCTYPE, ENTITY, characters; an unknown `&name;` is then a parser
 * error), and elements nested over `maxDepth` are refused. Every parser error
 * and warning is an error here: FlowdError ERR_XML whose message starts
 * with `where` and quotes the parser, with line and column when known.
 * Nothing is printed to the console.
 * @example
 * const doc = readXmlDocument(await readFile(path, 'utf8'), path);
 * // FlowdError ERR_XML: "in/a.xml: not well-formed XML at line 3, column 5: Opening and ending tag mismatch: "b" != "a""
 */
export function readXmlDocument(text: string, where: string, limits: XmlLimits = {}): Document {
  const { maxDepth = DEFAULT_XML_MAX_DEPTH } = limits;
  checkXmlText(text, where, limits);
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
