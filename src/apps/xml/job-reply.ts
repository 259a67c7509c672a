import type { RecordData } from './record-data.js';
import { setField } from './record-data.js';

/** Fields per part of a record as it crosses back from a parse thread: a part is parsed in a few milliseconds. */
export const FIELDS_PER_PART = 2000;

/**
 * A job's result as JSON texts, for the way back from a parse thread: a
 * record's fields in parts of FIELDS_PER_PART after the rest of it, so
 * the receiving thread can parse them a part at a time (decodeJobResult)
 * instead of one object of 100,000 keys at once; anything else (the
 * strings of an XPath job) as one text. JSON text, not the object: a
 * structured clone of an object with 100,000 keys takes far longer to
 * deserialize.
 */
export function encodeJobResult(result: RecordData | string[][]): string[] {
  if (Array.isArray(result)) return [JSON.stringify(result)];
  const { fields, ...rest } = result;
  const entries = Object.entries(fields);
  const parts = [JSON.stringify({ ...rest, fields: {} })];
  for (let i = 0; i < entries.length; i += FIELDS_PER_PART) parts.push(JSON.stringify(entries.slice(i, i + FIELDS_PER_PART)));
  return parts;
}

/**
 * The result encodeJobResult encoded, parsed a part at a time with a turn
 * of the event loop between parts, so a record of 300,000 fields never
 * holds the loop for more than a few milliseconds at once.
 */
export async function decodeJobResult(parts: readonly string[]): Promise<RecordData | string[][]> {
  const result = JSON.parse(parts[0]!) as RecordData | string[][];
  for (let i = 1; i < parts.length; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    const { fields } = result as RecordData;
    for (const [name, value] of JSON.parse(parts[i]!) as Array<[string, unknown]>) setField(fields, name, value);
  }
  return result;
}
