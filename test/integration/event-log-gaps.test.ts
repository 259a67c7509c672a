import { rm } from 'node:fs/promises';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../../actors/plugins/plugin-api.js';
import { postgresLogReader } from '../../actors/sources/event-log-postgres.js';
import type { EventLogReader } from '../../actors/sources/event-log-reader.js';
import { createAppServices } from '../../src/runtime/app-services.js';
import { eventLogRuntime, storeFolder, stubHost } from '../helpers/event-log.js';
import { logSink } from '../helpers/log-sink.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { createEventsTable, dropTable, insertEvents, testPool, uniqueTable } from '../helpers/postgres.js';
import { POSTGRES_URL, REDIS_URL } from '../helpers/services.js';
import { until } from '../helpers/wait.js';
import { dropPrefix, testPrefix } from '../fixtures/stores/spaces.js';

// Issue 21 point 7: with PostgreSQL, a gap holds later events only while a transaction that could fill it is open.

const cleanups = cleanupsAfterEach();
let db: pg.Pool;
beforeAll(() => {
  db = testPool(4);
});
afterAll(async () => {
  await db.end();
});

const TASK = 'Shotgun_Task_Change';
const VERSION = 'Shotgun_Version_New';

/** A seeded [0, 1) generator (mulberry32), so a failing shuffle can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function freshTable(): Promise<string> {
  const table = uniqueTable();
  await createEventsTable(db, table);
  cleanups.push(() => dropTable(db, table));
  return table;
}

/** A client of its own (one transaction at a time), ended after the test. */
async function client(): Promise<pg.Client> {
  const made = new pg.Client(POSTGRES_URL);
  await made.connect();
  cleanups.push(() => made.end().catch(() => undefined));
  return made;
}

/** Inserts `rows` events in the client's open transaction; returns their ids (the table's sequence, in the order drawn). */
async function insert(on: pg.Client, table: string, rows: number, salt: number): Promise<number[]> {
  const { rows: made } = await on.query<{ id: string }>(
    `INSERT INTO ${table} (type, entity, attributes)
     SELECT (ARRAY['${TASK}', '${VERSION}'])[1 + (g + $2) % 2], jsonb_build_object('type', 'Task', 'id', g), '["sg_status_list"]'::jsonb
     FROM generate_series(1, $1::int) AS g RETURNING id`,
    [rows, salt],
  );
  return made.map((row) => Number(row.id));
}

/**
 * The PostgreSQL reader, watched: each read (when it started, what it asked
 * after, the highest id it returned) and the lists of open writers.
 */
function watchedReader(table: string) {
  const reader = postgresLogReader({ kind: 'postgres', url: POSTGRES_URL, table, queryTimeoutMs: 10_000 });
  const watch = {
    reads: [] as Array<{ at: number; main: boolean }>,
    maxRead: 0,
    listsStarted: 0,
    listsDone: 0,
    /** The highest id read before a list of writers that has returned was asked for. */
    listedAfter: 0,
  };
  const watched: EventLogReader = {
    ...reader,
    read: async (after, limit, signal) => {
      // The source's main read asks after the highest id read so far; the others look again at gaps or a cursor's event.
      watch.reads.push({ at: performance.now(), main: after >= watch.maxRead });
      const events = await reader.read(after, limit, signal);
      watch.maxRead = Math.max(watch.maxRead, events.at(-1)?.id ?? 0);
      return events;
    },
    openWriters: async (signal) => {
      watch.listsStarted++;
      const readBefore = watch.maxRead;
      try {
        return await reader.openWriters!(signal);
      } finally {
        watch.listsDone++;
        watch.listedAfter = Math.max(watch.listedAfter, readBefore);
      }
    },
  };
  return { reader: watched, watch };
}

describe('gaps in a PostgreSQL event log', () => {
  it('closes a rolled-back id within a poll, holds later events only while a transaction that could fill the gap is open, and keeps id order', async () => {
    const seed = Number(process.env.FLOWD_EVENT_LOG_SEED ?? Date.now() % 1_000_000);
    const random = seeded(seed);
    const table = await freshTable();
    const { reader, watch } = watchedReader(table);
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const services = createAppServices(
      { store: { backend: 'redis', url: REDIS_URL, prefix }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
      'events',
      pino({ level: 'silent' }),
    );
    cleanups.push(() => services.close());
    const seen: Record<string, number[]> = { all: [], tasks: [], versions: [] };
    const deliveredAt = new Map<number, number>();
    const host = stubHost({
      all: {
        run: (event: LogEvent) => {
          seen.all!.push(event.id);
          deliveredAt.set(event.id, performance.now());
        },
      },
      tasks: { wants: (event) => event.type === TASK, run: (event) => void seen.tasks!.push(event.id) },
      versions: { wants: (event) => event.type === VERSION, run: (event) => void seen.versions!.push(event.id) },
    });
    const sink = logSink('debug');
    const FETCH_MS = 200;
    const { runtime } = eventLogRuntime({
      reader,
      host,
      folder,
      services,
      logger: sink.logger,
      // The timeout never passes here: every gap must close on what PostgreSQL says about its transactions.
      source: { fetchIntervalMs: FETCH_MS, maxBatchSize: 500, backlogTimeoutMs: 600_000, startFrom: 'earliest' },
    });
    cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
    await runtime.start();
    // start() does not wait for the source: "earliest" is the table's lowest id minus one when a plugin's cursor is made,
    // so a commit before that (round 1's first) would start the plugins past the lower ids of commits after it.
    await until(() => runtime.snapshot().source.state === 'running', { what: "the source to have made the plugins' cursors" });
    expect(sink.messages().filter((msg) => msg.includes('has no cursor; it starts after event 0'))).toHaveLength(3);

    const SHORT = 6;
    const ROUNDS = 25;
    const ROWS = 10;
    const shorts = await Promise.all(Array.from({ length: SHORT }, () => client()));
    const longs = await Promise.all(Array.from({ length: 5 }, () => client()));
    /** Every transaction: its ids, when its COMMIT or ROLLBACK returned (undefined while open), and whether it committed. */
    const transactions: Array<{ ids: number[]; endedAt?: number; committed?: boolean }> = [];
    const open = new Map<pg.Client, { ids: number[]; endedAt?: number; committed?: boolean }>();
    const end = async (on: pg.Client, commit: boolean) => {
      await on.query(commit ? 'COMMIT' : 'ROLLBACK');
      const transaction = open.get(on)!;
      Object.assign(transaction, { endedAt: performance.now(), committed: commit });
      open.delete(on);
    };
    const committedIds = () => transactions.filter((t) => t.committed).flatMap((t) => t.ids);
    /** Every committed id below the lowest id of a transaction still open has reached plugin "all". */
    const caughtUp = () => {
      const lowestOpen = Math.min(...[...open.values()].flatMap((t) => t.ids));
      const due = committedIds().filter((id) => id < lowestOpen);
      return until(() => due.every((id) => deliveredAt.has(id)), {
        timeout: 15_000,
        interval: 5,
        what: `plugin "all" to have the ${due.length} events due`,
      });
    };
    const longRounds = [3, 8, 13, 18, 23];
    let rolledBack = 0;

    for (let round = 1; round <= ROUNDS; round++) {
      if (longRounds.includes(round)) {
        // A long transaction begins once the source has read every id committed so far and asked for the writers after:
        // it holds its own id, and later ones wait behind it, but not the gaps it cannot fill.
        const max = Math.max(0, ...committedIds());
        await until(() => watch.listedAfter >= max, { interval: 5, what: `a list of writers after the source read up to ${max}` });
        const on = longs[longRounds.indexOf(round)]!;
        await on.query('BEGIN');
        const transaction = { ids: [] as number[] };
        transactions.push(transaction);
        open.set(on, transaction);
        transaction.ids.push(...(await insert(on, table, 1, round)));
      }
      await Promise.all(shorts.map((on) => on.query('BEGIN')));
      const mine = shorts.map((on) => {
        const transaction = { ids: [] as number[] };
        transactions.push(transaction);
        open.set(on, transaction);
        return transaction;
      });
      // Two halves, all clients at once: their ids interleave.
      for (const half of [0, 1])
        await Promise.all(
          shorts.map(async (on, t) => mine[t]!.ids.push(...(await insert(on, table, ROWS / 2, round * 100 + half * 10 + t)))),
        );
      const order = shorts.map((_, t) => t);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      // Two of the six roll back: 50 over the 25 rounds, their ids among committed ones.
      const aborting = new Set(order.slice(0, 2));
      for (const t of order) await end(shorts[t]!, !aborting.has(t));
      rolledBack += aborting.size;
      await caughtUp();
    }
    // The long transactions commit late, not in id order; each commit lets the events behind it go.
    const longOrder = [2, 0, 4, 1, 3];
    for (const index of longOrder) {
      await end(longs[index]!, true);
      await caughtUp();
    }

    const { rows } = await db.query<{ id: string; type: string }>(`SELECT id, type FROM ${table} ORDER BY id`);
    const all = rows.map((row) => ({ id: Number(row.id), type: row.type }));
    expect(all).toHaveLength(ROUNDS * (SHORT - 2) * ROWS + 5);
    expect(rolledBack).toBe(50);
    expect(seen.all).toEqual(all.map((e) => e.id));
    await until(() => seen.tasks!.length + seen.versions!.length === all.length, { what: 'plugins tasks and versions' });
    expect(seen.tasks).toEqual(all.filter((e) => e.type === TASK).map((e) => e.id));
    expect(seen.versions).toEqual(all.filter((e) => e.type === VERSION).map((e) => e.id));

    // How long each event waited on something other than the plugin itself: from when it could first go (the last
    // transaction holding an id at or below it ended, committed or rolled back, and the plugin was done with the event
    // before it) to its delivery, counted in the source's main reads that began in between. The read that finds it
    // may be one; a gap before it may take one more poll, while a transaction listed with it ends. Never the timeout.
    const ended = transactions.map((t) => ({ low: Math.min(...t.ids), endedAt: t.endedAt! }));
    const waits = all.map(({ id }, index) => {
      const ready = Math.max(
        ...ended.filter((t) => t.low <= id).map((t) => t.endedAt),
        index > 0 ? deliveredAt.get(all[index - 1]!.id)! : 0,
      );
      const delivered = deliveredAt.get(id)!;
      return { id, polls: watch.reads.filter((read) => read.main && read.at > ready && read.at < delivered).length };
    });
    const histogram = waits.reduce<Record<number, number>>((counts, w) => ({ ...counts, [w.polls]: (counts[w.polls] ?? 0) + 1 }), {});
    const worst = Math.max(...waits.map((w) => w.polls));
    const longIds = transactions
      .slice(0)
      .filter((t) => t.ids.length === 1)
      .flatMap((t) => t.ids);
    console.log(
      `event-log gaps (seed ${seed}): ${all.length} events, ${rolledBack} rolled-back transactions, 5 long ones (ids ${longIds.join(', ')}); ${runtime.snapshot().source.stats?.gapsClosed} gaps closed; worst wait ${worst} main read(s) of ${FETCH_MS} ms; events by main reads waited: ${JSON.stringify(histogram)}`,
    );
    expect(waits.filter((w) => w.polls > 2)).toEqual([]);
    // Each late commit reached the plugin after its transaction ended, and not before every id below it.
    for (const long of transactions.filter((t) => t.ids.length === 1)) {
      const id = long.ids[0]!;
      expect(deliveredAt.get(id)!).toBeGreaterThan(long.endedAt!);
      expect(all.filter((e) => e.id < id).every((e) => deliveredAt.get(e.id)! <= deliveredAt.get(id)!)).toBe(true);
    }
    expect(runtime.snapshot().source.stats).toMatchObject({ gapsGivenUp: 0, lateEvents: 0 });
    expect(runtime.snapshot().source.stats?.gapsClosed).toBeGreaterThanOrEqual(25);
    expect(sink.lines.filter((line) => line.level >= 40).map((line) => line.msg)).toEqual([]);
  }, 120_000);

  it('holds a plugin at the id of a transaction left open (even one that drew it and wrote nothing yet) until it commits', async () => {
    const table = await freshTable();
    const [first] = await insertEvents(db, table, [{ type: TASK }]);
    const holder = await client();
    await holder.query('BEGIN');
    // nextval gives this transaction no xid: no snapshot lists it, pg_locks does.
    const { rows } = await holder.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence($1, 'id')) AS id`, [table]);
    const held = Number(rows[0]!.id);
    const [after] = await insertEvents(db, table, [{ type: TASK }]);
    const { reader, watch } = watchedReader(table);
    const seen: number[] = [];
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const { runtime, services } = eventLogRuntime({
      reader,
      host: stubHost({ p: { run: (e) => void seen.push(e.id) } }),
      folder,
      source: { fetchIntervalMs: 20, backlogTimeoutMs: 600_000 },
    });
    cleanups.push(() => services.close());
    cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
    await runtime.start();
    await until(() => watch.listsDone > 5, { what: 'five lists of writers' });
    expect(seen).toEqual([first]);
    await holder.query(`INSERT INTO ${table} (id, type) VALUES ($1, $2)`, [held, VERSION]);
    await holder.query('COMMIT');
    await until(() => seen.length === 3, { what: 'the held event and the one after it' });
    expect(seen).toEqual([first, held, after]);
    expect(runtime.snapshot().source.stats).toMatchObject({ gapsClosed: 0, gapsGivenUp: 0 });
  });

  it('warns, naming the sequence, that gaps wait for the backlog timeout when the id sequence has CACHE above 1', async () => {
    const table = await freshTable();
    const { rows } = await db.query<{ name: string }>(`SELECT pg_get_serial_sequence($1, 'id') AS name`, [table]);
    const sequence = rows[0]!.name;
    await db.query(`ALTER SEQUENCE ${sequence} CACHE 20`);
    const sink = logSink('warn');
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const { reader, watch } = watchedReader(table);
    const { runtime, services } = eventLogRuntime({
      reader,
      host: stubHost({ p: { run: () => undefined } }),
      folder,
      logger: sink.logger,
      source: { fetchIntervalMs: 20, backlogTimeoutMs: 60_000 },
    });
    cleanups.push(() => services.close());
    cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
    await runtime.start();
    await until(() => sink.lines.length > 0, { interval: 5, what: 'the warning' });
    expect(sink.messages()).toContain(
      `event-log: sequence ${sequence} of table ${table} has CACHE 20, so each connection hands out ids from its own block, not in order; expected CACHE 1 (ALTER SEQUENCE ${sequence} CACHE 1). flowd cannot prove that a gap in the ids will never fill, so a gap (a rolled-back transaction) holds every plugin for the backlog timeout (1m) instead of until the transactions that could fill it end (see docs/event-log.md#gaps)`,
    );
    await insertEvents(db, table, [{ type: TASK }]);
    await until(() => watch.reads.length > 3, { what: 'a few polls' });
    expect(watch.listsStarted).toBe(0);
  });

  it('checks the id order as a user that may read only the table, in a database holding a schema that user may not use', async () => {
    const table = await freshTable();
    const role = `${table}_reader`;
    const schema = `${table}_private`;
    // A new schema grants nothing to PUBLIC: the role may not use it.
    await db.query(`CREATE SCHEMA ${schema}; CREATE SEQUENCE ${schema}.other`);
    cleanups.push(() => db.query(`DROP SCHEMA ${schema} CASCADE`));
    await db.query(`CREATE ROLE ${role} NOLOGIN; GRANT SELECT ON ${table} TO ${role}`);
    cleanups.push(() => db.query(`REVOKE ALL ON ${table} FROM ${role}; DROP ROLE ${role}`));
    const reader = postgresLogReader({
      kind: 'postgres',
      url: `${POSTGRES_URL}?options=${encodeURIComponent(`-c role=${role}`)}`,
      table,
      queryTimeoutMs: 10_000,
    });
    cleanups.push(() => reader.close());
    await reader.connect();
    await expect(reader.idOrder!()).resolves.toEqual({ sequence: `public.${table}_id_seq`, problem: undefined });
  });

  it('warns that gaps wait for the backlog timeout when the ids are not drawn from the sequence (a logical replica, ids given by the writer)', async () => {
    const table = await freshTable();
    await db.query(`INSERT INTO ${table} (id, type) VALUES (50, $1)`, [TASK]);
    const sink = logSink('warn');
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const { reader, watch } = watchedReader(table);
    const { runtime, services } = eventLogRuntime({ reader, host: stubHost({ p: { run: () => undefined } }), folder, logger: sink.logger });
    cleanups.push(() => services.close());
    cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
    await runtime.start();
    await until(() => sink.lines.length > 0, { interval: 5, what: 'the warning' });
    expect(sink.messages()[0]).toMatch(
      new RegExp(
        `^event-log: the highest id of table ${table} is 50, but its sequence public\\.${table}_id_seq has handed out none; expected the ids to be drawn from it \\(a logical replica, or ids given by the writer\\?\\)\\. flowd cannot prove`,
      ),
    );
    await until(() => watch.reads.length > 3, { what: 'a few polls' });
    expect(watch.listsStarted).toBe(0);
  });
});
