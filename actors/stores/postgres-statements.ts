import type { WriteConditions } from './backend.js';

/** The columns of a store table, for messages. */
export const STORE_COLUMNS = 'key bytea, value text, version bigint, fence bigint';

/** A key's row as a write or remove found it (locked), and the version it left (`changed`; null when it changed nothing). */
export interface CurrentRow {
  present: boolean;
  version: string;
  fence: string;
  changed: string | null;
}

/** The SQL of a store over one table. Each takes the key's UTF-8 bytes as $1. */
export interface StoreStatements {
  /** $1 key → value, version of a live row. */
  read: string;
  /** $1 key, $2 JSON, $3 ifVersion, $4 fence (NULL: none) → one CurrentRow, or none when the key has no row. */
  write: string;
  /** $1 key, $2 JSON, $3 fence → the version (1) when it inserted, none when the key has a row. */
  insert: string;
  /** $1 key, $2 ifVersion, $3 fence (NULL: none) → one CurrentRow, or none when the key has no row. */
  remove: string;
  /** $1 key, $2 fence → a row when it inserted a tombstone at version 0, none when the key has a row. */
  tombstone: string;
  /** Creates the table when missing (run under the advisory lock below). */
  create: string;
  /** Fails with SQLSTATE 42703 when the table lacks a column the store needs. */
  checkColumns: string;
}

/**
 * The store's statements over `quoted` (a table name quoteTableName made).
 * A write or remove is one statement on a key that has a row: a CTE locks
 * the row (FOR UPDATE reads its newest version, whatever the statement's
 * snapshot), an UPDATE applies it when the fence (first) and the version
 * allow, and the row as found comes back, to say why not.
 */
export function storeStatements(quoted: string): StoreStatements {
  const locked = `current_row AS (SELECT value IS NOT NULL AS present, version, fence FROM ${quoted} WHERE key = $1 FOR UPDATE)`;
  const found = 'SELECT c.present, c.version, c.fence, (SELECT version FROM changed) AS changed FROM current_row c';
  return {
    read: `SELECT value, version FROM ${quoted} WHERE key = $1 AND value IS NOT NULL`,
    write: `WITH ${locked}, changed AS (
        UPDATE ${quoted} AS r SET value = $2, version = c.version + 1, fence = GREATEST(c.fence, COALESCE($4::bigint, 0))
        FROM current_row c
        WHERE r.key = $1 AND ${allowed('$3', '$4')}
        RETURNING r.version
      ) ${found}`,
    insert: `INSERT INTO ${quoted} (key, value, version, fence) VALUES ($1, $2, 1, $3) ON CONFLICT (key) DO NOTHING RETURNING version`,
    // The value goes; the version and the highest fence stay. A row with no value changes only for a newer fence.
    remove: `WITH ${locked}, changed AS (
        UPDATE ${quoted} AS r SET value = NULL, fence = GREATEST(c.fence, COALESCE($3::bigint, 0))
        FROM current_row c
        WHERE r.key = $1 AND ${allowed('$2', '$3')} AND (c.present OR COALESCE($3::bigint, 0) > c.fence)
        RETURNING r.version
      ) ${found}`,
    tombstone: `INSERT INTO ${quoted} (key, value, version, fence) VALUES ($1, NULL, 0, $2) ON CONFLICT (key) DO NOTHING RETURNING version`,
    create: `CREATE TABLE IF NOT EXISTS ${quoted} (
        key bytea PRIMARY KEY,
        value text,
        version bigint NOT NULL CHECK (version >= 0),
        fence bigint NOT NULL DEFAULT 0 CHECK (fence >= 0)
      )`,
    checkColumns: `SELECT key, value, version, fence FROM ${quoted} WHERE false`,
  };
}

/** The conditions of a write or remove on the row found `c`, given the parameters holding ifVersion and fence (NULL: none). */
function allowed(ifVersion: string, fence: string): string {
  return `(${fence}::bigint IS NULL OR ${fence}::bigint >= c.fence)
    AND (${ifVersion}::bigint IS NULL OR ${ifVersion}::bigint = CASE WHEN c.present THEN c.version ELSE 0 END)`;
}

/** Why the row found refuses the operation: an older fencing token (checked first), or another version than expected. */
export function refusal(
  current: CurrentRow,
  { ifVersion, fence }: WriteConditions,
): { kind: 'fenced'; fence: number } | { kind: 'conflict'; version: number } | undefined {
  const accepted = Number(current.fence);
  if (fence !== undefined && fence < accepted) return { kind: 'fenced', fence: accepted };
  const live = current.present ? Number(current.version) : 0;
  if (ifVersion !== undefined && ifVersion !== live) return { kind: 'conflict', version: live };
  return undefined;
}
