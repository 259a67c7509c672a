/** The columns of a store's log table, for messages. */
export const LOG_COLUMNS = 'key bytea, seq bigint, value text, fence bigint';

/** What an append found: the log's length and highest fence before it, and how many entries it added (0: refused). */
export interface AppendRow {
  length: string;
  fence: string;
  added: string;
}

/** The SQL of a store's logs over one table: a row per entry. Each takes the key's UTF-8 bytes as $1. */
export interface LogStatements {
  /**
   * $1 key, $2 ifLength (NULL: none), $3 fence (NULL: none), $4 the entries
   * (text[]) → one AppendRow. Fails with a unique violation (23505) when
   * another append took the same places first.
   */
  append: string;
  /** $1 key, $2 from → value of each entry after the first $2, in order. */
  read: string;
  /** Creates the table when missing. */
  create: string;
  /** Fails with SQLSTATE 42703 when the table lacks a column the logs need. */
  checkColumns: string;
}

/**
 * The statements of a store's logs over `quoted` (a table name
 * quoteTableName made). An entry's `seq` counts from 1; each row carries
 * the highest fencing token the log had accepted when it was written, so
 * the last row holds the log's highest. An append is one statement: it
 * finds the last row through the primary key (its cost does not grow with
 * the log), checks the fence and the length, and inserts the entries after
 * it; two appends that race for the same places meet in the primary key.
 */
export function logStatements(quoted: string): LogStatements {
  return {
    append: `WITH last AS (SELECT seq, fence FROM ${quoted} WHERE key = $1 ORDER BY seq DESC LIMIT 1),
      found AS (SELECT COALESCE((SELECT seq FROM last), 0) AS length, COALESCE((SELECT fence FROM last), 0) AS fence),
      added AS (
        INSERT INTO ${quoted} (key, seq, value, fence)
        SELECT $1, f.length + x.ord, x.value, GREATEST(f.fence, COALESCE($3::bigint, 0))
        FROM found f, unnest($4::text[]) WITH ORDINALITY AS x(value, ord)
        WHERE ($3::bigint IS NULL OR $3::bigint >= f.fence) AND ($2::bigint IS NULL OR $2::bigint = f.length)
        RETURNING seq
      )
      SELECT f.length, f.fence, (SELECT count(*) FROM added) AS added FROM found f`,
    read: `SELECT value FROM ${quoted} WHERE key = $1 AND seq > $2 ORDER BY seq`,
    create: `CREATE TABLE IF NOT EXISTS ${quoted} (
        key bytea NOT NULL,
        seq bigint NOT NULL CHECK (seq >= 1),
        value text NOT NULL,
        fence bigint NOT NULL DEFAULT 0 CHECK (fence >= 0),
        PRIMARY KEY (key, seq)
      )`,
    checkColumns: `SELECT key, seq, value, fence FROM ${quoted} WHERE false`,
  };
}
