/**
 * XML 1.0's Char production, checked the same way on every XML path
 * (record XML, custom mappings, payloads, API bodies, dictionary feeds):
 * `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`.
 * A document that carries anything else, raw or as a character reference,
 * is not well-formed; the parsers flowd uses let some of it through.
 */

/** What XML allows, for messages. */
export const XML_CHAR_RANGES = '#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]';

/** True when the code point is an XML 1.0 Char. */
export function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

// A UTF-16 unit no XML text may hold: the C0 controls but tab, LF and CR, U+FFFE, U+FFFF, and a surrogate without its pair.
const RAW = /[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The index of the first UTF-16 unit of `text` that XML cannot carry even
 * escaped (a control character, U+FFFE, U+FFFF, a lone surrogate), or -1.
 * For text about to be written as XML.
 */
export function indexOfNonXmlChar(text: string): number {
  return text.search(RAW);
}

/** `U+0001`, for messages. */
export function codePointName(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Where an XML text breaks the Char production, and how. */
export interface XmlCharProblem {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 units. */
  column: number;
  /** Says what was found and what XML allows: `the character reference &#0; is U+0000, which XML does not allow; expected ...`. */
  message: string;
}

// Where markup in which `&#` is literal text (CDATA, a comment, a processing instruction) opens, or a character reference starts.
const OPENING = /<!\[CDATA\[|<!--|<\?|&#/g;
const CLOSING: Readonly<Record<string, string>> = { '<![CDATA[': ']]>', '<!--': '-->', '<?': '?>' };
// A character reference as far as it goes, from its `&#`.
const REFERENCE = /&#[^;<&"'\s]*;?/y;
const WELL_FORMED_REFERENCE = /^&#(?:x([0-9A-Fa-f]+)|([0-9]+));$/;

/** The problem of one `&#...` reference, or undefined when it names an XML Char. */
function referenceProblem(reference: string): string | undefined {
  const parts = WELL_FORMED_REFERENCE.exec(reference);
  if (parts === null) {
    const quoted = reference.length > 40 ? `${reference.slice(0, 40)}...` : reference;
    return `the character reference ${quoted} is malformed; expected &#decimal; or &#xhex; naming a character in ${XML_CHAR_RANGES}`;
  }
  const [, hex, decimal] = parts;
  const digits = (hex ?? decimal)!.replace(/^0+(?=.)/, '');
  const code = digits.length > 8 ? Number.POSITIVE_INFINITY : Number.parseInt(digits, hex === undefined ? 10 : 16);
  if (isXmlChar(code)) return undefined;
  const found = Number.isFinite(code) ? codePointName(code) : 'a number past U+10FFFF';
  return `the character reference ${reference} is ${found}, which XML does not allow; expected a character in ${XML_CHAR_RANGES}`;
}

function rawProblem(text: string, index: number): string {
  const unit = text.charCodeAt(index);
  const what = unit >= 0xd800 && unit <= 0xdfff ? `a lone surrogate ${codePointName(unit)}` : `the character ${codePointName(unit)}`;
  return `${what} is not allowed in XML (not even escaped); expected characters in ${XML_CHAR_RANGES}`;
}

function at(text: string, index: number, message: string): XmlCharProblem {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: index - lineStart + 1, message };
}

/**
 * The first place where XML text breaks the Char production, or undefined:
 * a raw character XML does not allow (anywhere, CDATA and comments
 * included), or a character reference outside CDATA, comments and
 * processing instructions that is malformed (`&#x;`, `&#-1;`) or names a
 * code point XML does not allow (`&#0;`, `&#xD800;`, `&#x110000;`).
 * @example
 * findXmlCharProblem('<a>\n&#0;</a>');
 * // { line: 2, column: 1, message: 'the character reference &#0; is U+0000, which XML does not allow; expected ...' }
 */
export function findXmlCharProblem(text: string): XmlCharProblem | undefined {
  const raw = text.search(RAW);
  // Linear, with indexOf for each closing: a lazy regex over unclosed `<!--` would be quadratic.
  const opening = new RegExp(OPENING);
  for (let found = text.includes('&#') ? opening.exec(text) : null; found !== null; found = opening.exec(text)) {
    // Past a raw problem, nothing found is the first.
    if (raw !== -1 && found.index > raw) break;
    const close = CLOSING[found[0]];
    if (close !== undefined) {
      const end = text.indexOf(close, opening.lastIndex);
      // Unclosed: the parser says so; nothing after it is a reference.
      if (end === -1) break;
      opening.lastIndex = end + close.length;
      continue;
    }
    REFERENCE.lastIndex = found.index;
    const reference = REFERENCE.exec(text)![0];
    const problem = referenceProblem(reference);
    if (problem !== undefined) return at(text, found.index, problem);
  }
  return raw === -1 ? undefined : at(text, raw, rawProblem(text, raw));
}
