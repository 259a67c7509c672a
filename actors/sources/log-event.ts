import { EventLogError, FlowdError } from '../../src/kernel/errors.js';
import type { LogEvent } from '../plugins/plugin-api.js';

/**
 * An event id as a number: a non-negative safe integer given as a number,
 * a bigint, or a string of digits (PostgreSQL's bigint arrives as one);
 * undefined for anything else.
 * @example parseId('12') // 12
 */
export function parseId(value: unknown): number | undefined {
  if (typeof value === 'string' && /^(0|[1-9][0-9]*)$/.test(value)) value = Number(value);
  if (typeof value === 'bigint') value = value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** A found value, short enough for a message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid date' : `the date ${value.toISOString()}`;
  let text: string;
  try {
    text = typeof value === 'bigint' ? `${value}` : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * One row of the event table or one item of the feed as a LogEvent: `id` a
 * positive safe integer (a number, or a bigint as a string); `type` a
 * non-empty string; `entity` any value (null when absent); `attributes` an
 * array of strings, one string (a single attribute) or absent (none);
 * `created_at` (or `createdAt`) a Date or a date string (one without an
 * offset is UTC, whatever the daemon's time zone), made ISO 8601 UTC,
 * undefined when absent; `meta` an object, null when absent.
 * Throws EventLogError ERR_EVENT_LOG naming `where` and the field otherwise.
 * @example toLogEvent({ id: '12', type: 'Shotgun_Task_Change', attributes: 'sg_status_list' }, 'feed item 1 of http://feed/')
 */
export function toLogEvent(raw: unknown, where: string): LogEvent {
  const wrong = (field: string, expected: string, found: unknown) =>
    new EventLogError('ERR_EVENT_LOG', `${where}: "${field}" must be ${expected}; found ${describeValue(found)}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EventLogError(
      'ERR_EVENT_LOG',
      `${where}: expected an event (an object with id, type, entity, attributes, created_at, meta); found ${describeValue(raw)}`,
    );
  }
  const record = raw as Record<string, unknown>;

  const id = parseId(record.id);
  if (id === undefined || id === 0) throw wrong('id', 'a positive integer (at most 2^53 - 1)', record.id);
  const { type } = record;
  if (typeof type !== 'string' || type === '') throw wrong('type', 'a non-empty string', type);
  return {
    id,
    type,
    entity: record.entity ?? null,
    attributes: attributesOf(record.attributes, wrong),
    createdAt: createdAtOf(record, wrong),
    meta: metaOf(record.meta, wrong),
  };
}

type Wrong = (field: string, expected: string, found: unknown) => EventLogError;

function attributesOf(value: unknown, wrong: Wrong): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((name) => typeof name === 'string')) return [...(value as string[])];
  throw wrong('attributes', 'an array of attribute names, one name, or null', value);
}

function createdAtOf(record: Record<string, unknown>, wrong: Wrong): string | undefined {
  const field = record.created_at !== undefined ? 'created_at' : 'createdAt';
  const value = record[field];
  if (value === null || value === undefined) return undefined;
  const date = value instanceof Date ? value : typeof value === 'string' ? new Date(asUtc(value)) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) throw wrong(field, 'a date (ISO 8601) or null', value);
  return date.toISOString();
}

/** A date and time without an offset (`2026-03-02 10:14:07`) read as UTC, not as the daemon's time zone; anything else as it is. */
function asUtc(text: string): string {
  const local = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$/.exec(text.trim());
  return local ? `${local[1]}T${local[2]}Z` : text;
}

function metaOf(value: unknown, wrong: Wrong): Record<string, unknown> | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) return value as Record<string, unknown>;
  throw wrong('meta', 'an object or null', value);
}

/** Throws RangeError unless `after` is an id (>= 0) and `limit` a positive integer. */
export function checkRange(after: number, limit: number): void {
  if (!Number.isSafeInteger(after) || after < 0)
    throw new FlowdError('ERR_INVALID_ARGUMENT', `after must be an event id (an integer >= 0); found ${after}`);
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new FlowdError('ERR_INVALID_ARGUMENT', `limit must be a positive integer; found ${limit}`);
}
