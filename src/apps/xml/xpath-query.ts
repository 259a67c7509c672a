import type * as XmldomModule from '@xmldom/xmldom';
import type { Document, Node as XmlNode } from '@xmldom/xmldom';
import type xpath from 'xpath';
import { lazy, once } from '../../kernel/lazy.js';

const xpathModule = lazy<typeof xpath>('xpath');

/** An XPath 1.0 expression, checked, with the namespaces it resolves prefixes with. */
export interface CompiledXPath {
  /** The expression as written. */
  readonly source: string;
  /** Evaluates it against a document (xpath's `useNamespaces` select). */
  readonly select: xpath.XPathSelect;
}

// Evaluating against a document with nothing in it finds syntax errors, unknown functions and variables.
const empty = once(
  () => new (lazy<typeof XmldomModule>('@xmldom/xmldom')().DOMImplementation)().createDocument(null, '') as unknown as Node,
);

/** The namespace prefixes an XPath uses (`dc:title`, `dc:*`), string literals and axes (`child::`) aside. */
export function prefixesIn(source: string): string[] {
  const code = source.replace(/'[^']*'|"[^"]*"/g, '""');
  const prefixes = new Set<string>();
  for (const match of code.matchAll(/(?<![\w.:-])([A-Za-z_][\w.-]*):(?=[A-Za-z_*])/g)) prefixes.add(match[1]!);
  return [...prefixes];
}

/**
 * Checks an XPath 1.0 expression and binds it to `namespaces` (prefix ->
 * URI); `fail` is called with the problem (it throws a ConfigError naming
 * the INI key): a syntax error, an unknown function or variable, a prefix
 * not in `[Namespaces]`.
 */
export function compileXPath(
  source: string,
  namespaces: Readonly<Record<string, string>>,
  fail: (problem: string) => never,
): CompiledXPath {
  const select = xpathModule().useNamespaces({ ...namespaces });
  try {
    select(source, empty());
  } catch (error) {
    fail(`${JSON.stringify(source)} is not a valid XPath 1.0 expression: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const prefix of prefixesIn(source)) {
    if (!Object.hasOwn(namespaces, prefix)) {
      const known = Object.keys(namespaces);
      fail(
        `${JSON.stringify(source)} uses the namespace prefix "${prefix}", which [Namespaces] does not declare${known.length > 0 ? ` (it has ${known.join(', ')})` : ''}`,
      );
    }
  }
  return { source, select };
}

const ELEMENT = 1;
const ATTRIBUTE = 2;
const DOCUMENT = 9;
const FRAGMENT = 11;

/** XPath's string value of a node. */
function stringValue(node: XmlNode): string {
  if (node.nodeType === ELEMENT || node.nodeType === DOCUMENT || node.nodeType === FRAGMENT) {
    return node.nodeType === DOCUMENT ? ((node as Document).documentElement?.textContent ?? '') : (node.textContent ?? '');
  }
  if (node.nodeType === ATTRIBUTE) return (node as unknown as { value: string }).value;
  return node.nodeValue ?? '';
}

/** XPath's string of a number: no exponent for whole numbers, NaN and Infinity spelled out. */
function numberString(value: number): string {
  if (Object.is(value, -0)) return '0';
  return String(value);
}

/**
 * Evaluates a compiled XPath and returns the string values it finds: one
 * per node for a node-set (at most `limit`), one for a string, number or
 * boolean result, none for an empty node-set.
 */
export function nodeStrings(query: CompiledXPath, document: Document, limit = Number.POSITIVE_INFINITY): string[] {
  const result = query.select(query.source, document as unknown as Node);
  if (Array.isArray(result)) return result.slice(0, limit).map((node) => stringValue(node as unknown as XmlNode));
  if (typeof result === 'string') return [result];
  if (typeof result === 'number') return [numberString(result)];
  if (typeof result === 'boolean') return [String(result)];
  if (result === null || result === undefined) return [];
  return [stringValue(result as unknown as XmlNode)];
}
