import { createHash } from 'node:crypto';

/** Encoded names longer than this are shortened with a hash. */
const MAX_ENCODED = 120;

/**
 * The file name (without `.json`) that holds a store key. Lower-case
 * letters, digits, `_` and `-` stay; every other UTF-8 byte becomes `~xx`
 * in lower-case hex (so no `/`, no `..`, no leading dot, no `.` that could
 * meet a `.lock` or `.tmp` suffix, and no upper case: `Asset` and `asset`
 * get different files on a case-insensitive file system too). Names
 * longer than 120 characters keep their first 60 and add `~~` and the
 * key's SHA-256; the record holds the whole key, which is checked on every
 * read. Injective: `~` always starts an escape.
 * @example fileNameFor('Asset/42') // '~41sset~2f42'
 */
export function fileNameFor(key: string): string {
  let name = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const isSafe = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x5f || byte === 0x2d;
    name += isSafe ? String.fromCharCode(byte) : `~${byte.toString(16).padStart(2, '0')}`;
  }
  if (name.length <= MAX_ENCODED) return name;
  // Cut before a partial escape, so the readable part stays readable.
  const head = name.slice(0, 60).replace(/~[0-9a-f]?$/, '');
  return `${head}~~${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}
