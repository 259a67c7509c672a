import type * as FastXmlParserModule from 'fast-xml-parser';
import { lazy, once } from '../../src/kernel/lazy.js';
import { findXmlCharProblem } from '../../src/kernel/xml-chars.js';
import { hint, type SectionReader } from '../../src/kernel/section-reader.js';

const fxp = lazy<typeof FastXmlParserModule>('fast-xml-parser');
import type { ErrorInfo } from '../../machines/events.js';

/** How a source turns raw text into the worker's event: `[Source] payload class`. */
export type PayloadClass = 'text' | 'json' | 'xml';

export const PAYLOAD_CLASSES = ['text', 'json', 'xml'] as const;

/**
 * Flow's `payload class` names (Python classes) that flowd takes, and how
 * each reads: `None` is the text as it came, and Viz One's transfer plugin
 * data is the text `TransferPlugin.use()` reads (JSON or XML).
 */
export const FLOW_PAYLOAD_CLASSES: Readonly<Record<string, PayloadClass>> = {
  None: 'text',
  'vizone.payload.transfer.PluginData': 'text',
};

/**
 * Reads `[Source] payload class`: `text`, `json` or `xml` (any case), or one
 * of Flow's names (FLOW_PAYLOAD_CLASSES, as written there). A ConfigError
 * names the key otherwise. @default 'text'
 */
export function compilePayloadClass(reader: SectionReader): PayloadClass {
  const value = reader.string('payload class');
  if (value === undefined) return 'text';
  const text = value.trim();
  const own = PAYLOAD_CLASSES.find((kind) => kind === text.toLowerCase());
  if (own) return own;
  const flow = Object.entries(FLOW_PAYLOAD_CLASSES).find(([name]) => name.toLowerCase() === text.toLowerCase());
  if (flow) return flow[1];
  const known = [...PAYLOAD_CLASSES, ...Object.keys(FLOW_PAYLOAD_CLASSES)];
  return reader.fail(
    'payload class',
    `found "${value}"; expected text, json or xml, or one of Flow's names: None (text), vizone.payload.transfer.PluginData (a transfer plugin's data, as text)${hint(text, known)}`,
  );
}

// Entities stay as written (no expansion, no entity tables), attributes are kept as `@_name`.
const xmlParser = once(
  () =>
    new (fxp().XMLParser)({
      processEntities: false,
      htmlEntities: false,
      ignoreAttributes: false,
      attributeNamePrefix: '@_',
      parseTagValue: false,
      parseAttributeValue: false,
    }),
);

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
  const xml = readXml(text);
  return 'problem' in xml ? { payload: text, error: { code: 'ERR_PAYLOAD', message: `${where} ${xml.problem}` } } : { payload: xml.value };
}

/**
 * Reads XML the one safe way flowd reads it: any DOCTYPE refused before
 * parsing, entities never expanded, characters XML does not allow (raw or
 * as character references) refused, attributes as `@_name`. A problem comes
 * back as text to follow the thing's name ("has a DOCTYPE; ...").
 */
export function readXml(text: string): { value: unknown } | { problem: string } {
  if (/<!DOCTYPE/i.test(text)) return { problem: 'has a DOCTYPE; XML with a DOCTYPE is refused (entities are never expanded)' };
  // fast-xml-parser lets characters XML does not allow through, raw and as references.
  const bad = findXmlCharProblem(text);
  if (bad !== undefined) return { problem: `is not well-formed XML (line ${bad.line}, column ${bad.column}): ${bad.message}` };
  const valid = fxp().XMLValidator.validate(text);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    return { problem: `is not well-formed XML (line ${line}, column ${col}): ${msg}` };
  }
  return { value: xmlParser().parse(text) as unknown };
}
