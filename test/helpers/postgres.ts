import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { POSTGRES_URL } from './services.js';

/** A pool or a client of the test PostgreSQL. */
export type Db = pg.Pool | pg.ClientBase;

/** One event to insert; the id comes from the table's sequence. */
export interface EventRow {
  type: string;
  entity?: unknown;
  attributes?: unknown;
  /** @default now() */
  created_at?: Date | string;
  meta?: unknown;
}

/** A table name no other test uses: `flowd_events_<random>`. */
export function uniqueTable(): string {
  return `flowd_events_${randomBytes(5).toString('hex')}`;
}

/** A pool on the test database (`POSTGRES_URL`); end it after the tests. */
export function testPool(max = 4): pg.Pool {
  return new pg.Pool({ connectionString: POSTGRES_URL, max });
}

/**
 * Creates the event table docs/event-log.md describes (entity, attributes and meta
 * as jsonb), or with `columns: 'text'` as text columns holding text.
 */
export async function createEventsTable(db: Db, table: string, columns: 'jsonb' | 'text' = 'jsonb'): Promise<void> {
  await db.query(
    `CREATE TABLE ${table} (id bigserial PRIMARY KEY, type text NOT NULL, entity ${columns}, attributes ${columns}, created_at timestamptz NOT NULL DEFAULT clock_timestamp(), meta ${columns})`,
  );
}

/** Drops a store's table and its logs' table (`<table>$log`) when they exist. */
export async function dropStoreTable(db: Db, table: string): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${table}, "${table}$log"`);
}

/** Drops the table when it exists. */
export async function dropTable(db: Db, table: string): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${table}`);
}

/**
 * Inserts the rows in order, one statement each; returns their ids.
 * Values go in as JSON; with `columns: 'text'` a string goes in as it is.
 */
export async function insertEvents(db: Db, table: string, rows: EventRow[], columns: 'jsonb' | 'text' = 'jsonb'): Promise<number[]> {
  const ids: number[] = [];
  for (const row of rows) ids.push(await insertOne(db, table, row, columns));
  return ids;
}

async function insertOne(db: Db, table: string, row: EventRow, columns: 'jsonb' | 'text' = 'jsonb'): Promise<number> {
  const json = (value: unknown) =>
    value === undefined || value === null ? null : columns === 'text' && typeof value === 'string' ? value : JSON.stringify(value);
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${table} (type, entity, attributes, created_at, meta) VALUES ($1, $2, $3, coalesce($4::timestamptz, now()), $5) RETURNING id`,
    [row.type, json(row.entity), json(row.attributes), row.created_at ?? null, json(row.meta)],
  );
  return Number(rows[0]!.id);
}

/** Options of insertWithGaps. */
export interface GapsOptions {
  /** Transactions open at once. @default 4 */
  transactions?: number;
  /** Rows each transaction inserts, taking ids in turn with the others. @default 3 */
  rowsEach?: number;
  /** How many transactions roll back, leaving holes for good. @default 1 */
  rolledBack?: number;
  /** [0, 1), for the shuffle. @default Math.random */
  random?: () => number;
  /** Called after each commit with the ids it made visible, to read the table in between. */
  afterCommit?: (ids: number[]) => Promise<void> | void;
}

/** What insertWithGaps did. */
export interface GapsResult {
  /** The ids committed, ascending. */
  committed: number[];
  /** The ids rolled back (never to appear), ascending. */
  holes: number[];
  /** The ids of each commit, in commit order: never ascending by first id when two or more commit. */
  commitOrder: number[][];
}

/**
 * Inserts rows the way a busy event log gets them: several transactions
 * take ids in turn (the insert's default nextval), then commit in a
 * shuffled order (never ascending), so higher ids become visible before
 * lower ones; some roll back and leave permanent holes. Each transaction
 * has its own connection.
 */
export async function insertWithGaps(table: string, options: GapsOptions = {}): Promise<GapsResult> {
  const { transactions = 4, rowsEach = 3, rolledBack = 1, random = Math.random, afterCommit } = options;
  const clients = Array.from({ length: transactions }, () => new pg.Client(POSTGRES_URL));
  try {
    await Promise.all(clients.map((client) => client.connect()));
    await Promise.all(clients.map((client) => client.query('BEGIN')));
    const ids: number[][] = clients.map(() => []);
    for (let row = 0; row < rowsEach; row++) {
      for (const [t, client] of clients.entries()) ids[t]!.push(await insertOne(client, table, { type: 'gap', entity: { tx: t, row } }));
    }
    const order = shuffle([...clients.keys()], random);
    const aborted = order.slice(0, rolledBack);
    const committing = order.slice(rolledBack);
    if (committing.length > 1 && committing.every((t, i) => i === 0 || t > committing[i - 1]!)) committing.reverse();
    for (const t of aborted) await clients[t]!.query('ROLLBACK');
    const commitOrder: number[][] = [];
    for (const t of committing) {
      await clients[t]!.query('COMMIT');
      commitOrder.push(ids[t]!);
      await afterCommit?.(ids[t]!);
    }
    const ascending = (list: number[]) => list.sort((a, b) => a - b);
    return { committed: ascending(committing.flatMap((t) => ids[t]!)), holes: ascending(aborted.flatMap((t) => ids[t]!)), commitOrder };
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => {})));
  }
}

function shuffle<T>(list: T[], random: () => number): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}
