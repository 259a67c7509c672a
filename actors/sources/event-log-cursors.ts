import type { Store } from '../stores/store-api.js';
import { CursorError } from '../../src/kernel/errors.js';
import type { BacklogRange } from './event-log-window.js';
import { isFingerprint, type Fingerprint } from './event-log-fingerprint.js';

/** Why a plugin was deactivated, as its cursor record keeps it. */
export interface Deactivation {
  /** When (ms since the epoch): a plugin file not changed since stays deactivated after a restart. */
  at: number;
  code: string;
  message: string;
  eventId?: number;
  callback?: string;
}

/** What the store keeps for each plugin (the seed's last event id and backlog). */
export interface CursorRecord {
  /** Every id up to this one is done for the plugin: processed, not matching, or given up. */
  last: number;
  /** Gaps after `last` still awaited, each `[from, to, deadline]`. */
  backlog: BacklogRange[];
  deactivated?: Deactivation;
  /** The last event passed (id at most `last`) as it was read: checked against the log at start-up. Absent in older records. */
  fingerprint?: Fingerprint;
}

/** The store key of a plugin's cursor. */
export const cursorKey = (plugin: string): string => `event-log/plugin/${plugin}`;

const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** Checks a stored value is a cursor record; a CursorError names the key and what is wrong. */
export function checkCursor(value: unknown, key: string): CursorRecord {
  const fail = (problem: string): never => {
    throw new CursorError(
      `the cursor "${key}" in the store is corrupt: ${problem}; the daemon stops rather than skip or repeat events: repair or delete the record (deleting it starts the plugin from [Source] start from)`,
    );
  };
  if (!value || typeof value !== 'object' || Array.isArray(value))
    fail(`expected an object { last, backlog }, found ${JSON.stringify(value)}`);
  const record = value as Record<string, unknown>;
  if (!isId(record.last)) fail(`expected "last" to be a whole number of at least 0, found ${JSON.stringify(record.last)}`);
  const backlog = record.backlog ?? [];
  if (!Array.isArray(backlog)) fail(`expected "backlog" to be a list of [from, to, deadline], found ${JSON.stringify(backlog)}`);
  for (const range of backlog as unknown[]) {
    if (
      !Array.isArray(range) ||
      range.length !== 3 ||
      !range.every((n) => typeof n === 'number' && Number.isFinite(n)) ||
      range[0] > range[1]
    ) {
      fail(`expected each backlog entry to be [from, to, deadline] with from <= to, found ${JSON.stringify(range)}`);
    }
  }
  const result: CursorRecord = { last: record.last as number, backlog: backlog as BacklogRange[] };
  const deactivated = record.deactivated as Partial<Deactivation> | undefined;
  if (deactivated !== undefined) {
    if (
      !deactivated ||
      typeof deactivated.at !== 'number' ||
      typeof deactivated.code !== 'string' ||
      typeof deactivated.message !== 'string'
    ) {
      fail(`expected "deactivated" to be { at, code, message }, found ${JSON.stringify(deactivated)}`);
    }
    result.deactivated = deactivated as Deactivation;
  }
  if (record.fingerprint !== undefined) {
    if (!isFingerprint(record.fingerprint) || record.fingerprint.id > result.last)
      fail(`expected "fingerprint" to be { id, createdAt } with id at most "last", found ${JSON.stringify(record.fingerprint)}`);
    result.fingerprint = record.fingerprint as Fingerprint;
  }
  return result;
}

/** Reads a plugin's cursor: undefined when it has none; CursorError when it cannot be read or is corrupt (a store that is down rethrows as is, to be retried). */
export async function readCursor(store: Store, plugin: string): Promise<CursorRecord | undefined> {
  const key = cursorKey(plugin);
  let value: unknown;
  try {
    value = await store.get(key);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_STORE')
      throw new CursorError(`the cursor "${key}" cannot be read: ${(error as Error).message}`, { cause: error });
    throw error;
  }
  return value === undefined ? undefined : checkCursor(value, key);
}
