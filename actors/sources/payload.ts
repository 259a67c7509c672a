import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { ErrorInfo } from '../../machines/events.js';

/** How a source turns raw text into the worker's event: `[Source] payload class`. */
export type PayloadClass = 'text' | 'json' | 'xml';

export const PAYLOAD_CLASSES = ['text', 'json', 'xml'] as const;

// Entities stay as written (no expansion, no entity tables), attributes are kept as `@_name`.
const xmlParser = new XMLParser({
  processEntities: false,
  htmlEntities: false,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
});

/**
 * Parses a payload. Text that does not parse comes back as `error` (with the
 * raw text as the payload), so the event fails at once with a message naming
 * `where` and is dead-lettered rather than lost. XML is read with entities
 * off, and any DOCTYPE is refused before parsing.
 */
export function parsePayload(text: string, kind: PayloadClass, where: string): { payload: unknown; error?: ErrorInfo } {
  if (kind === 'text') return { payload: text };
  if (kind === 'json') {
    try {
      return { payload: JSON.parse(text) };
    } catch (error) {
      return { payload: text, error: { code: 'ERR_PAYLOAD', message: `${where} is not JSON: ${(error as Error).message}` } };
    }
  }
  if (/<!DOCTYPE/i.test(text)) {
    return { payload: text, error: { code: 'ERR_PAYLOAD', message: `${where} has a DOCTYPE; XML with a DOCTYPE is refused (entities are never expanded)` } };
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    return { payload: text, error: { code: 'ERR_PAYLOAD', message: `${where} is not well-formed XML (line ${line}, column ${col}): ${msg}` } };
  }
  return { payload: xmlParser.parse(text) as unknown };
}
