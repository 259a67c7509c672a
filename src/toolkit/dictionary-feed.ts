import type * as FastXmlParserModule from 'fast-xml-parser';
import { lazy, once } from '../kernel/lazy.js';
import { ParseError } from '../kernel/errors.js';
import { findXmlCharProblem } from '../kernel/xml-chars.js';

const fxp = lazy<typeof FastXmlParserModule>('fast-xml-parser');

// How a dictionary page reads: an Atom feed or JSON, into a map of terms to values.
const xml = once(
  () =>
    new (fxp().XMLParser)({
      ignoreAttributes: false,
      attributeNamePrefix: '@_',
      removeNSPrefix: true,
      processEntities: false,
      parseTagValue: false,
      parseAttributeValue: false,
      ignoreDeclaration: true,
      ignorePiTags: true,
      isArray: (name) => name === 'entry' || name === 'link',
    }),
);

/**
 * Reads one dictionary page (Atom or JSON, by content type, else by its
 * first character) into `terms` and returns the URL of the next Atom page.
 * A DOCTYPE is refused and entities are never expanded (only the five XML
 * escapes and character references are decoded); so are characters XML
 * does not allow, raw or as references. Throws a ParseError naming
 * the URL and what was wrong.
 */
export function readDictionary(text: string, contentType: string | undefined, url: string, terms: Map<string, string>): string | undefined {
  const fail = (problem: string): never => {
    throw new ParseError('dictionary feed', undefined, redact(url), problem);
  };
  const type = contentType?.toLowerCase() ?? '';
  const start = text.trimStart()[0];
  const json = type.includes('json') || (!type.includes('xml') && (start === '[' || start === '{'));
  if (json) {
    readJson(text, terms, fail);
    return undefined;
  }
  if (start !== '<')
    fail(`expected an Atom feed or JSON, found ${contentType ?? 'no content type'} starting ${JSON.stringify(text.slice(0, 40))}`);
  if (/<!DOCTYPE/i.test(text))
    fail('it declares a DOCTYPE, which flowd refuses (entities could expand without bound); serve the feed without one');
  // fast-xml-parser lets characters XML does not allow through, raw and as references.
  const bad = findXmlCharProblem(text);
  if (bad !== undefined) fail(`it is not well-formed XML: ${bad.message} (line ${bad.line})`);
  const valid = fxp().XMLValidator.validate(text);
  if (valid !== true) fail(`it is not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const document = xml().parse(text) as Record<string, unknown>;
  const feed = document.feed as { entry?: unknown[]; link?: unknown[] } | undefined;
  if (feed === undefined || typeof feed !== 'object') {
    return fail(`expected an Atom <feed>, found <${Object.keys(document).find((key) => !key.startsWith('?')) ?? 'nothing'}>`);
  }
  for (const [index, entry] of (feed.entry ?? []).entries()) {
    const { title, id, link } = entry as { title?: unknown; id?: unknown; link?: unknown[] };
    const term = textOf(title);
    if (term === undefined || normalizeTerm(term) === '') fail(`entry ${index + 1} has no <title> text`);
    const value = textOf(id) ?? hrefOf(link);
    if (value === undefined || value === '') fail(`entry ${index + 1} ("${term}") has neither <id> nor <link href>`);
    addTerm(terms, term!, value!);
  }
  const next = hrefOf(feed.link, 'next');
  return next === undefined ? undefined : new URL(next, url).toString();
}

function readJson(text: string, terms: Map<string, string>, fail: (problem: string) => never): void {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    fail(`it is not valid JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(data)) {
    for (const [index, item] of data.entries()) {
      const { term, value } = (item ?? {}) as { term?: unknown; value?: unknown };
      if (typeof term !== 'string' || typeof value !== 'string') {
        fail(`item ${index} is ${JSON.stringify(item)?.slice(0, 80)}; expected { "term": "...", "value": "..." }`);
      }
      addTerm(terms, term as string, value as string);
    }
  } else if (data !== null && typeof data === 'object') {
    for (const [term, value] of Object.entries(data)) {
      if (typeof value !== 'string') fail(`"${term}" maps to ${JSON.stringify(value)}; expected a string`);
      addTerm(terms, term, value as string);
    }
  } else {
    fail(`found ${JSON.stringify(data)}; expected an array of { "term", "value" } or an object of "term": "value"`);
  }
}

function addTerm(terms: Map<string, string>, term: string, value: string): void {
  const key = normalizeTerm(term);
  if (!terms.has(key)) terms.set(key, value);
}

/** How terms are compared: trimmed, runs of white space made one space, case kept. */
export function normalizeTerm(term: string): string {
  return term.trim().replace(/\s+/g, ' ');
}

function textOf(node: unknown): string | undefined {
  if (Array.isArray(node)) return textOf(node[0]);
  if (typeof node === 'string') return decodeXml(node.trim());
  if (node !== null && typeof node === 'object' && typeof (node as { '#text'?: unknown })['#text'] === 'string') {
    return decodeXml((node as { '#text': string })['#text'].trim());
  }
  return undefined;
}

function hrefOf(links: unknown[] | undefined, rel?: string): string | undefined {
  for (const link of links ?? []) {
    const { '@_href': href, '@_rel': linkRel } = (link ?? {}) as { '@_href'?: unknown; '@_rel'?: unknown };
    if (typeof href !== 'string') continue;
    if (rel === undefined ? linkRel !== 'next' && linkRel !== 'previous' : linkRel === rel) return decodeXml(href);
  }
  return undefined;
}

const NAMED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes the five XML escapes and character references; nothing else is ever expanded. */
function decodeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (match, name: string) => {
    if (name[0] !== '#') return NAMED[name.toLowerCase()] ?? match;
    const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : match;
  });
}

/** A URL without its credentials, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}
