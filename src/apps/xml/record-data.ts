import { FlowdError } from '../../kernel/errors.js';

/** What an XML file says about one record, whichever format it was read from. */
export interface RecordData {
  /** The record's id, when the file names one. */
  id?: string;
  /** Target field name (`asset.title`) -> value; a field without a value is left out. */
  fields: Record<string, unknown>;
  /** The file names of the media the record names, in document order, each once. */
  media: string[];
  /** `[Vdf] form`: set only by a custom mapping written as `[Vdf]` with a `form`. */
  form?: string;
}

/** Names that would reach an object's prototype if used as keys; refused as field names everywhere. */
export const UNSAFE_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Checks a media name from an XML file: a plain file name (no folder, no
 * `.` or `..`, no NUL), so a record can never point outside the folder it
 * is imported from. Returns the name trimmed.
 */
export function checkMediaName(name: string, where: string): string {
  const trimmed = name.trim();
  if (trimmed === '' || trimmed === '.' || trimmed === '..' || /[/\\\0]/.test(trimmed)) {
    throw new FlowdError(
      'ERR_XML',
      `${where}: media name ${JSON.stringify(name)} is not a plain file name; expected a name such as clip.mxf, without a folder`,
    );
  }
  return trimmed;
}

/** Sets an own property, whatever the name: never the prototype, never a setter. */
export function setField(fields: Record<string, unknown>, name: string, value: unknown): void {
  Object.defineProperty(fields, name, { value, enumerable: true, writable: true, configurable: true });
}
