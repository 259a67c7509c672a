import type { LogEvent } from '../plugins/plugin-api.js';

/**
 * What a cursor remembers of the last event its plugin passed: its id and
 * `created_at` as they were read. A log emptied (`TRUNCATE ... RESTART
 * IDENTITY`), recreated or restored while the daemon was stopped, then grown
 * past the cursor, has no event of that id or another one in its place: the
 * cursor no longer points into this log.
 */
export interface Fingerprint {
  id: number;
  /** ISO 8601 UTC, as the reader made it. */
  createdAt: string;
}

/** The fingerprint of an event; undefined for one without `created_at` (a feed that does not give it). */
export const fingerprintOf = (event: LogEvent | undefined): Fingerprint | undefined =>
  event?.createdAt === undefined ? undefined : { id: event.id, createdAt: event.createdAt };

/** True when `value` is a fingerprint as a cursor record holds it. */
export function isFingerprint(value: unknown): value is Fingerprint {
  const record = value as Partial<Fingerprint> | null;
  return (
    typeof record === 'object' &&
    record !== null &&
    typeof record.id === 'number' &&
    Number.isSafeInteger(record.id) &&
    record.id > 0 &&
    typeof record.createdAt === 'string'
  );
}

/**
 * Compares the event the log holds now at the fingerprint's id (the first
 * event read after `id - 1`) with the fingerprint: undefined when it is
 * there as it was; otherwise what the log holds, for a message.
 * @example fingerprintMismatch(undefined, { id: 5, createdAt: '2026-01-01T00:00:00.000Z' }) // 'is gone'
 */
export function fingerprintMismatch(event: LogEvent | undefined, fingerprint: Fingerprint): string | undefined {
  if (event?.id !== fingerprint.id) return 'is gone';
  // The same instant, however it is written (epoch ms: an offset or a precision of its own does not count).
  if (event.createdAt !== undefined && Date.parse(event.createdAt) === Date.parse(fingerprint.createdAt)) return undefined;
  return event.createdAt === undefined ? 'has no created_at' : `has created_at ${event.createdAt}`;
}
