import { readXml } from '../../../actors/sources/payload.js';
import type { RequestBody } from '../../kernel/api-client.js';

export type { RequestBody } from '../../kernel/api-client.js';

/** A request body ready to send again on a retry. */
export interface EncodedBody {
  data: string | Uint8Array;
  contentType: string;
}

/** Encodes a request body; `contentType` (when given) wins over the guess. */
export function encodeBody(body: RequestBody | undefined, contentType: string | undefined): EncodedBody | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string')
    return {
      data: body,
      contentType: contentType ?? (/^\s*</.test(body) ? 'application/xml; charset=utf-8' : 'text/plain; charset=utf-8'),
    };
  if (body instanceof Uint8Array) return { data: body, contentType: contentType ?? 'application/octet-stream' };
  return { data: JSON.stringify(body), contentType: contentType ?? 'application/json' };
}

/** A response body, decoded by its content type. */
export interface DecodedBody {
  /** JSON: the parsed value; XML: fast-xml-parser's object; text: the string; anything else: the bytes; empty: undefined. */
  body: unknown;
  /** The raw text, for XML and text responses (and JSON); undefined for bytes and empty bodies. */
  text: string | undefined;
}

/** The media type without parameters, lower case: `application/atom+xml`. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function isJson(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

function isXml(type: string): boolean {
  return type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml');
}

/**
 * Decodes a response by its content type. Returns `problem` instead of
 * throwing when JSON or XML does not parse, or XML has a DOCTYPE (refused:
 * entities are never expanded); the caller turns it into an HttpError.
 */
export function decodeBody(bytes: Uint8Array, contentType: string | undefined): DecodedBody & { problem?: string } {
  if (bytes.byteLength === 0) return { body: undefined, text: undefined };
  const type = mediaType(contentType);
  const textual = isJson(type) || isXml(type) || type.startsWith('text/') || /charset=/i.test(contentType ?? '');
  if (!textual) return { body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), text: undefined };
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (isJson(type)) {
    try {
      return { body: JSON.parse(text) as unknown, text };
    } catch (error) {
      return { body: text, text, problem: `the ${type} body is not JSON: ${(error as Error).message}` };
    }
  }
  if (isXml(type)) {
    const xml = readXml(text);
    return 'problem' in xml ? { body: text, text, problem: `the ${type} body ${xml.problem}` } : { body: xml.value, text };
  }
  return { body: text, text };
}

/** The start of a body for an error message, on one line. */
export function excerpt(text: string | undefined, max = 200): string {
  if (!text) return '';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

/**
 * Deep equality of JSON-like values: objects compare by their own keys in
 * any order, arrays in order, bytes by content, everything else with ===.
 * A key set to undefined counts as absent, as in JSON.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, i) => deepEqual(item, other[i]));
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  }
  const left = definedKeys(a as Record<string, unknown>);
  const right = definedKeys(b as Record<string, unknown>);
  if (left.length !== right.length) return false;
  return left.every((key) => Object.hasOwn(b, key) && deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

function definedKeys(value: Record<string, unknown>): string[] {
  return Object.keys(value).filter((key) => value[key] !== undefined);
}
