import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cursorKey } from '../../actors/sources/event-log-cursors.js';
import { postgresLogReader } from '../../actors/sources/event-log-postgres.js';
import type { EventLogReader } from '../../actors/sources/event-log-reader.js';
import { openStore } from '../../actors/stores/store.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import { eventLogRuntime, storeFolder, stubHost } from '../helpers/event-log.js';
import { logSink } from '../helpers/log-sink.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { createEventsTable, dropTable, insertEvents, testPool, uniqueTable, type EventRow } from '../helpers/postgres.js';
import { POSTGRES_URL, REDIS_URL } from '../helpers/services.js';
import { dropPrefix, testPrefix } from '../fixtures/stores/spaces.js';

const cleanups = cleanupsAfterEach();
let db: pg.Pool;
beforeAll(() => {
  db = testPool(4);
});
afterAll(async () => {
  await db.end();
});

/** How long a test waits for what the runtime does next (a poll, a reload): generous, for a loaded machine. */
const WAIT = { timeout: 10_000, interval: 20 };

const TASK = 'Shotgun_Task_Change';
const VERSION = 'Shotgun_Version_New';
const SHOT = 'Shotgun_Shot_Change';

/** What a test's plugins saw, kept on a global under the test's own key (the plugin files are real modules). */
type Seen = Record<string, unknown[]>;
const seenRoot = (): Record<string, Seen> => ((globalThis as { __flowdSeen?: Record<string, Seen> }).__flowdSeen ??= {});

/** One callback of a generated plugin: it records each event id into `seen[into]`, or throws on events of type `failOn`. */
interface CallbackSpec {
  name: string;
  into: string;
  match?: Record<string, string[]>;
  failOn?: string;
}

/** A folder of real `.mjs` plugins for one test, and what they saw. */
async function pluginFolder() {
  const folder = await mkdtemp(path.join(tmpdir(), 'flowd-event-log-plugins-'));
  const key = randomBytes(6).toString('hex');
  const seen: Seen = (seenRoot()[key] = {});
  cleanups.push(async () => {
    delete seenRoot()[key];
    await rm(folder, { recursive: true, force: true });
  });
  let bump = 0;
  return {
    folder,
    ids: (into: string) => (seen[into] ?? []) as number[],
    loads: () => (seen.loads ?? []) as string[],
    /** Writes `<name>.mjs`, with an mtime later than any before (so the host sees every rewrite as a change). */
    async write(name: string, version: string, callbacks: CallbackSpec[]) {
      const lines = callbacks.map(
        ({ name: callback, into, match, failOn }) => `  reg.registerCallback(${JSON.stringify(callback)}, (event) => {
    ${failOn ? `if (event.type === ${JSON.stringify(failOn)}) throw new Error('cannot handle ' + event.type + ' ' + event.id);` : ''}
    (seen[${JSON.stringify(into)}] ??= []).push(event.id);
  }, ${JSON.stringify(match ? { match } : {})});`,
      );
      const text = `const seen = ((globalThis.__flowdSeen ??= {})[${JSON.stringify(key)}] ??= {});
export function registerCallbacks(reg) {
  (seen.loads ??= []).push(${JSON.stringify(`${name}:${version}`)});
${lines.join('\n')}
}
`;
      // Written aside (a hidden name the host ignores) and renamed into place, as an editor saves: the host sees one change.
      const aside = path.join(folder, `.${name}.mjs.tmp`);
      await writeFile(aside, text);
      const at = Date.now() / 1000 + ++bump;
      await utimes(aside, at, at);
      await rename(aside, path.join(folder, `${name}.mjs`));
    },
    remove: (name: string) => unlink(path.join(folder, `${name}.mjs`)),
  };
}

/** A fresh event table, dropped after the test. */
async function freshTable(): Promise<string> {
  const table = uniqueTable();
  await createEventsTable(db, table);
  cleanups.push(() => dropTable(db, table));
  return table;
}

/** A Redis store and lock prefix of the test's own (so other files' runtimes never share the reader lock), dropped after it. */
function redisServices(): { prefix: string; settings: Pick<RuntimeOptions, 'store' | 'lock'> } {
  const prefix = testPrefix();
  cleanups.push(() => dropPrefix(prefix));
  return {
    prefix,
    settings: { store: { backend: 'redis', url: REDIS_URL, prefix }, lock: { backend: 'redis', url: REDIS_URL, prefix: `${prefix}lock:` } },
  };
}

/** Reads a plugin's cursor record the way the runtime stored it (a second store on the same prefix). */
async function cursorOf(prefix: string, plugin: string): Promise<unknown> {
  const opened = openStore({ backend: 'redis', url: REDIS_URL, namespace: 'events', prefix });
  try {
    return await opened.store.get(cursorKey(plugin));
  } finally {
    await opened.close();
  }
}

/** Starts a plugin runtime and stops it after the test. */
async function started(options: RuntimeOptions): Promise<Runtime> {
  // A state folder of its own: the reader file in it is not shared with another run of these tests on this machine.
  const dir = await mkdtemp(path.join(tmpdir(), 'flowd-event-log-app-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const runtime = createRuntime({ app: { name: 'events', dir }, ...options });
  cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
  await runtime.start();
  return runtime;
}

/** A cursor record at `last` whose fingerprint is that event (read from PostgreSQL, so it has a created_at). */
const cursorAt = (last: number, backlog: unknown[] = []) => ({
  last,
  backlog,
  fingerprint: { id: last, createdAt: expect.any(String) as string },
});
const sourceStats = (runtime: Runtime) => runtime.snapshot().source.stats ?? {};
const task = (attributes = ['sg_status_list']): EventRow => ({ type: TASK, entity: { type: 'Task', id: 1 }, attributes });
const version = (): EventRow => ({ type: VERSION, entity: { type: 'Version', id: 2 }, attributes: ['code'] });

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

describe('the event-log source over a real PostgreSQL table and real plugin files', () => {
  it('hands 100,000 events committed out of order, with holes, to every matching callback once per plugin, in id order', async () => {
    const TOTAL = 100_000;
    const TRANSACTIONS = 4;
    const seed = Number(process.env.FLOWD_EVENT_LOG_SEED ?? Date.now() % 1_000_000);
    const random = seeded(seed);
    const table = await freshTable();
    const services = redisServices();
    const plugins = await pluginFolder();
    await plugins.write('everything', 'v1', [{ name: 'all', into: 'everything', match: { '*': ['*'] } }]);
    await plugins.write('statuses', 'v1', [{ name: 'status', into: 'statuses', match: { [TASK]: ['sg_status_list'] } }]);
    // '*' beside a type: as in shotgunEvents' canProcess, the '*' entry alone decides (any event whose attributes hold code).
    await plugins.write('versions', 'v1', [{ name: 'code', into: 'versions', match: { [VERSION]: ['*'], '*': ['code'] } }]);
    const clients = Array.from({ length: TRANSACTIONS }, () => new pg.Client(POSTGRES_URL));
    cleanups.push(() => Promise.all(clients.map((client) => client.end().catch(() => undefined))));
    await Promise.all(clients.map((client) => client.connect()));
    const insert = (client: pg.Client, rows: number, salt: number) =>
      client
        .query<{ id: string }>(
          `INSERT INTO ${table} (type, entity, attributes)
         SELECT (ARRAY['${TASK}', '${VERSION}', '${SHOT}'])[1 + (g + $2) % 3], jsonb_build_object('type', 'Task', 'id', g + $2),
           CASE (g * 7 + $2) % 4 WHEN 0 THEN '["sg_status_list"]'::jsonb WHEN 1 THEN '["code", "sg_status_list"]'::jsonb WHEN 2 THEN '["description"]'::jsonb ELSE '[]'::jsonb END
         FROM generate_series(1, $1::int) AS g RETURNING id`,
          [rows, salt],
        )
        .then(({ rows: made }) => made.map((row) => Number(row.id)));
    // The first rows go in before the start, so `start from = earliest` finds them; the rest while it reads.
    await insert(clients[0]!, 100, 0);
    let committed = 100;
    const rolledBack: number[] = [];
    let heldAtGap = 0;
    const everything = () => plugins.ids('everything');
    const sink = logSink('warn');
    const began = performance.now();
    const runtime = await started({
      source: sources.eventLog({ url: POSTGRES_URL, table, startFrom: 'earliest', fetchInterval: '100ms', backlogTimeout: '2s' }),
      plugins: { paths: [plugins.folder] },
      workers: 4,
      logger: sink.logger,
      ...services.settings,
    });

    /**
     * One round: each connection opens a transaction and inserts two batches
     * (the connections at once, so their ids interleave), then they commit in a
     * shuffled order that is never ascending. `hold` commits the higher
     * transactions, then the lowest, and keeps one in between open until the
     * plugins are seen held at its first id; `rollback` rolls one transaction
     * back, leaving holes for good.
     */
    async function round(number: number, rows: number, options: { hold?: boolean; rollback?: boolean } = {}) {
      const sizes = Array.from(
        { length: TRANSACTIONS * 2 },
        (_, i) => Math.floor(rows / (TRANSACTIONS * 2)) + (i < rows % (TRANSACTIONS * 2) ? 1 : 0),
      );
      await Promise.all(clients.map((client) => client.query('BEGIN')));
      const ids: number[][] = clients.map(() => []);
      for (const half of [0, 1]) {
        await Promise.all(
          clients.map(async (client, t) => {
            const size = sizes[half * TRANSACTIONS + t]!;
            if (size > 0) ids[t]!.push(...(await insert(client, size, number * 8 + half * TRANSACTIONS + t)));
          }),
        );
      }
      const lowest = (t: number) => Math.min(...ids[t]!);
      let order = [...clients.keys()].filter((t) => ids[t]!.length > 0);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      if (order.every((t, i) => i === 0 || lowest(t) > lowest(order[i - 1]!))) order.reverse();
      // Never the transaction with the highest id: its holes then lie between committed events, where they are gaps at once.
      const top = order.reduce((a, b) => (Math.max(...ids[a]!) > Math.max(...ids[b]!) ? a : b));
      const abortable = order.filter((t) => t !== top);
      const aborted = options.rollback ? abortable[Math.floor(random() * abortable.length)] : undefined;
      // A hold round commits the higher transactions, then the lowest, and keeps one in between open.
      const low = order.reduce((a, b) => (lowest(a) < lowest(b) ? a : b));
      const others = order.filter((t) => t !== low);
      const middle = others[Math.floor(random() * others.length)]!;
      if (options.hold) order = [...others.filter((t) => t !== middle), low, middle];
      for (const t of order) {
        if (options.hold && t === middle) {
          // The lowest transaction committed after the higher ones: once its events reached the plugin, the read that
          // brought them brought the higher ones too, and the plugin must stop at the open transaction's first id.
          const below = Math.max(
            ...order
              .filter((u) => u !== middle)
              .flatMap((u) => ids[u]!)
              .filter((id) => id < lowest(middle)),
          );
          await vi.waitFor(() => expect(everything().at(-1)).toBeGreaterThanOrEqual(below), { timeout: 1500, interval: 5 });
          expect(everything().at(-1)).toBeLessThan(lowest(middle));
          heldAtGap++;
        }
        if (t === aborted) {
          await clients[t]!.query('ROLLBACK');
          rolledBack.push(...ids[t]!);
        } else {
          await clients[t]!.query('COMMIT');
          committed += ids[t]!.length;
        }
      }
    }

    let number = 0;
    const rollbackRounds = new Set([7, 41, 77]);
    while (committed < TOTAL) {
      number++;
      const hold = number % 6 === 0 && TOTAL - committed >= 24;
      // Keep the writers near the reader, so the gaps are seen open and fill later (a hold round waits for it to catch up).
      const lag = hold ? 0 : 1000;
      await vi.waitFor(() => expect(everything().length).toBeGreaterThanOrEqual(committed - lag), { timeout: 60_000, interval: 10 });
      const rows = hold ? 24 : Math.min(1000, TOTAL - committed);
      await round(number, rows, { hold, rollback: rollbackRounds.has(number) });
    }
    const inserted = performance.now();

    const { rows } = await db.query<{ id: string; type: string; attributes: string[] }>(
      `SELECT id, type, attributes FROM ${table} ORDER BY id`,
    );
    const all = rows.map((row) => ({ id: Number(row.id), type: row.type, attributes: row.attributes }));
    expect(all).toHaveLength(TOTAL);
    const expected = {
      everything: all.map((e) => e.id),
      statuses: all.filter((e) => e.type === TASK && e.attributes.includes('sg_status_list')).map((e) => e.id),
      versions: all.filter((e) => e.attributes.includes('code')).map((e) => e.id),
    };
    for (const [name, ids] of Object.entries(expected)) {
      await vi.waitFor(() => expect(plugins.ids(name).length).toBeGreaterThanOrEqual(ids.length), { timeout: 120_000, interval: 50 });
    }
    const finished = performance.now();
    for (const [name, ids] of Object.entries(expected)) expect(plugins.ids(name), name).toEqual(ids);
    const seconds = (finished - began) / 1000;
    const deliveries = Object.values(expected).reduce((n, ids) => n + ids.length, 0);
    console.log(
      `event-log: ${TOTAL} events (seed ${seed}, ${number} rounds, ${heldAtGap} held at a gap, ${rolledBack.length} rolled back) reached 3 plugins (${deliveries} deliveries) in ${seconds.toFixed(1)}s: ${Math.round(TOTAL / seconds)} events/s, ${Math.round(deliveries / seconds)} deliveries/s; the inserts ended at ${((inserted - began) / 1000).toFixed(1)}s`,
    );

    expect(heldAtGap).toBeGreaterThan(10);
    expect(rolledBack.length).toBeGreaterThan(0);
    const committedIds = new Set(expected.everything);
    expect(rolledBack.filter((id) => committedIds.has(id))).toEqual([]);
    // The holes were closed as rolled back (a transaction still open when its hole was seen may run past the 2 s
    // timeout on a loaded machine: then it is given up, and said so); no gap given up held a committed id, and no
    // event came after its gap was given up.
    expect(sourceStats(runtime).gapsClosed).toBeGreaterThan(0);
    const givenUp = sink.lines
      .filter((line) => line.msg.includes('never appeared within the backlog timeout'))
      .map((line) => [line.from as number, line.to as number] as const);
    expect(givenUp.filter(([from, to]) => expected.everything.some((id) => from <= id && id <= to))).toEqual([]);
    expect(sink.messages().filter((msg) => msg.includes('appeared after it was given up'))).toEqual([]);
    await runtime.stop();
    const last = expected.everything.at(-1)!;
    for (const name of Object.keys(expected)) expect(await cursorOf(services.prefix, name)).toEqual(cursorAt(last));
  }, 240_000);

  it('deactivates a plugin whose callback throws, keeps its cursor before that event, and resumes there once its file is fixed', async () => {
    const table = await freshTable();
    const services = redisServices();
    const plugins = await pluginFolder();
    await plugins.write('steady', 'v1', [{ name: 'record', into: 'steady' }]);
    await plugins.write('fragile', 'v1', [{ name: 'record', into: 'fragile', failOn: SHOT }]);
    const first = await insertEvents(db, table, [
      task(),
      version(),
      task(),
      { type: SHOT, attributes: ['sg_status_list'] },
      version(),
      task(),
    ]);
    const failing = first[3]!;
    const runtime = await started({
      source: sources.eventLog({ url: POSTGRES_URL, table, startFrom: 'earliest', fetchInterval: '100ms' }),
      plugins: { paths: [plugins.folder], rescanInterval: '200ms' },
      workers: 3,
      ...services.settings,
    });
    await vi.waitFor(
      async () =>
        expect(await cursorOf(services.prefix, 'fragile')).toMatchObject({
          last: failing - 1,
          deactivated: {
            code: 'ERR_PLUGIN',
            eventId: failing,
            message: `plugin "fragile" callback "record" failed on event ${failing}: cannot handle ${SHOT} ${failing}`,
          },
        }),
      WAIT,
    );
    expect(plugins.ids('fragile')).toEqual(first.slice(0, 3));
    // The others go on to the end, past the failing event and through events written after it.
    const more = await insertEvents(db, table, [task(), version()]);
    await vi.waitFor(() => expect(plugins.ids('steady')).toEqual([...first, ...more]), WAIT);
    expect(plugins.ids('fragile')).toEqual(first.slice(0, 3));
    expect(await cursorOf(services.prefix, 'fragile')).toMatchObject({ last: failing - 1 });
    expect(sourceStats(runtime)).toMatchObject({ deactivations: 1 });

    await plugins.write('fragile', 'v2', [{ name: 'record', into: 'fragile' }]);
    await vi.waitFor(() => expect(plugins.ids('fragile')).toEqual([...first, ...more]), WAIT);
    const later = await insertEvents(db, table, [version(), task()]);
    await vi.waitFor(() => expect(plugins.ids('fragile')).toEqual([...first, ...more, ...later]), WAIT);
    await vi.waitFor(() => expect(plugins.ids('steady')).toEqual([...first, ...more, ...later]), WAIT);
    expect([...plugins.loads()].sort()).toEqual(['fragile:v1', 'fragile:v2', 'steady:v1']);
    await vi.waitFor(async () => expect(await cursorOf(services.prefix, 'fragile')).toEqual(cursorAt(later.at(-1)!)), WAIT);
  });

  it('applies a changed plugin file to later events, adds a new file as a plugin and removes a deleted one, while it runs', async () => {
    const table = await freshTable();
    const services = redisServices();
    const plugins = await pluginFolder();
    await plugins.write('alpha', 'v1', [{ name: 'any', into: 'alpha.v1' }]);
    const first = await insertEvents(db, table, [task(), version(), task(), version()]);
    const runtime = await started({
      source: sources.eventLog({ url: POSTGRES_URL, table, startFrom: 'earliest', fetchInterval: '100ms' }),
      plugins: { paths: [plugins.folder], rescanInterval: '200ms' },
      workers: 3,
      ...services.settings,
    });
    await vi.waitFor(() => expect(plugins.ids('alpha.v1')).toEqual(first), WAIT);

    await plugins.write('alpha', 'v2', [{ name: 'versions', into: 'alpha.v2', match: { [VERSION]: ['*'] } }]);
    await vi.waitFor(() => expect(plugins.loads()).toContain('alpha:v2'), WAIT);
    const second = await insertEvents(db, table, [task(), version(), task(), version()]);
    await vi.waitFor(() => expect(plugins.ids('alpha.v2')).toEqual([second[1], second[3]]), WAIT);
    expect(plugins.ids('alpha.v1')).toEqual(first);

    // A new file is a new plugin; with start from = earliest it starts at the log's first event.
    await plugins.write('beta', 'v1', [{ name: 'any', into: 'beta' }]);
    await vi.waitFor(() => expect(sourceStats(runtime).plugins).toBe(2), WAIT);
    await vi.waitFor(() => expect(plugins.ids('beta')).toEqual([...first, ...second]), WAIT);

    await plugins.remove('alpha');
    await vi.waitFor(() => expect(sourceStats(runtime).plugins).toBe(1), WAIT);
    const third = await insertEvents(db, table, [version(), task(), version()]);
    await vi.waitFor(() => expect(plugins.ids('beta')).toEqual([...first, ...second, ...third]), WAIT);
    expect(plugins.ids('alpha.v2')).toEqual([second[1], second[3]]);
    expect(plugins.loads()).toEqual(['alpha:v1', 'alpha:v2', 'beta:v1']);
    // The removed plugin's cursor stays where it stopped, for a file that comes back.
    expect(await cursorOf(services.prefix, 'alpha')).toEqual(cursorAt(second.at(-1)!));
  });

  it('holds a plugin at the id of a transaction left open until the backlog timeout passes on an injected clock, then goes on and says so', async () => {
    const table = await freshTable();
    const before = await insertEvents(db, table, [task(), version()]);
    // The transaction that drew the id stays open: the timeout is the only way past it.
    const left = new pg.Client(POSTGRES_URL);
    await left.connect();
    cleanups.push(() => left.end());
    await left.query('BEGIN');
    const { rows } = await left.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence($1, 'id')) AS id`, [table]);
    const hole = Number(rows[0]!.id);
    const after = await insertEvents(db, table, [task(), version()]);
    const reader = postgresLogReader({ kind: 'postgres', url: POSTGRES_URL, table, queryTimeoutMs: 10_000 });
    let reads = 0;
    const counting: EventLogReader = { ...reader, read: (...args) => ((reads += 1), reader.read(...args)) };
    let now = 1_000_000;
    const seen: number[] = [];
    const sink = logSink('info');
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const { runtime, services } = eventLogRuntime({
      reader: counting,
      host: stubHost({ p: { run: (e) => void seen.push(e.id) } }),
      folder,
      now: () => now,
      logger: sink.logger,
      source: { backlogTimeoutMs: 60_000 },
    });
    cleanups.push(() => services.close());
    cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
    await runtime.start();
    await vi.waitFor(() => expect(seen).toEqual(before), WAIT);
    await vi.waitFor(
      async () => expect(await services.store.get(cursorKey('p'))).toEqual(cursorAt(before[1]!, [[hole, hole, 1_060_000]])),
      WAIT,
    );
    now += 59_999;
    const readsThen = reads;
    await vi.waitFor(() => expect(reads).toBeGreaterThan(readsThen + 2), WAIT);
    expect(seen).toEqual(before);
    now += 1;
    await vi.waitFor(() => expect(seen).toEqual([...before, ...after]), WAIT);
    expect(sink.messages()).toContain(
      `event-log: event id ${hole} never appeared within the backlog timeout; given up (plugins go on past it)`,
    );
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('p'))).toEqual(cursorAt(after[1]!)), WAIT);
  });

  it('hands the event of a transaction that commits after its gap was given up to the plugin that went past it, out of order', async () => {
    const table = await freshTable();
    const before = await insertEvents(db, table, [task()]);
    const left = new pg.Client(POSTGRES_URL);
    await left.connect();
    cleanups.push(() => left.end());
    await left.query('BEGIN');
    const { rows } = await left.query<{ id: string }>(
      `INSERT INTO ${table} (type, attributes) VALUES ($1, '["sg_status_list"]') RETURNING id`,
      [TASK],
    );
    const hole = Number(rows[0]!.id);
    const after = await insertEvents(db, table, [task()]);
    const reader = postgresLogReader({ kind: 'postgres', url: POSTGRES_URL, table, queryTimeoutMs: 10_000 });
    let now = 1_000_000;
    const seen: number[] = [];
    const sink = logSink('info');
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const { runtime, services } = eventLogRuntime({
      reader,
      host: stubHost({ p: { run: (e) => void seen.push(e.id) } }),
      folder,
      now: () => now,
      logger: sink.logger,
      source: { backlogTimeoutMs: 1000 },
    });
    cleanups.push(() => services.close());
    cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
    await runtime.start();
    await vi.waitFor(() => expect(seen).toEqual(before), WAIT);
    now += 1000;
    await vi.waitFor(() => expect(seen).toEqual([...before, ...after]), WAIT);
    await left.query('COMMIT');
    now += 3000;
    await vi.waitFor(() => expect(seen).toEqual([...before, ...after, hole]), WAIT);
    expect(sink.messages()).toContain(
      `event-log: event ${hole} appeared after it was given up; handed to "p" out of order (the plugins not past it yet get it in order)`,
    );
    expect(runtime.snapshot().source.stats).toMatchObject({ lateEvents: 1 });
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('p'))).toEqual(cursorAt(after[0]!)), WAIT);
  });

  it("holds a plugin at an open transaction's id even behind an event whose created_at is its own transaction's start, long ago", async () => {
    const table = await freshTable();
    const [first] = await insertEvents(db, table, [task()]);
    const open = new pg.Client(POSTGRES_URL);
    await open.connect();
    cleanups.push(() => open.end());
    await open.query('BEGIN');
    const { rows } = await open.query<{ id: string }>(
      `INSERT INTO ${table} (type, attributes) VALUES ($1, '["sg_status_list"]') RETURNING id`,
      [TASK],
    );
    const pending = Number(rows[0]!.id);
    // What created_at DEFAULT now() holds for a transaction that began two minutes before its insert.
    const [behind] = await insertEvents(db, table, [{ ...task(), created_at: new Date(Date.now() - 120_000) }]);
    const reader = postgresLogReader({ kind: 'postgres', url: POSTGRES_URL, table, queryTimeoutMs: 10_000 });
    let reads = 0;
    const counting: EventLogReader = { ...reader, read: (...args) => ((reads += 1), reader.read(...args)) };
    const seen: number[] = [];
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const { runtime, services } = eventLogRuntime({
      reader: counting,
      host: stubHost({ p: { run: (e) => void seen.push(e.id) } }),
      folder,
      source: { backlogTimeoutMs: 60_000 },
    });
    cleanups.push(() => services.close());
    cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
    await runtime.start();
    await vi.waitFor(() => expect(reads).toBeGreaterThan(5), WAIT);
    expect(seen).toEqual([first]);
    await open.query('COMMIT');
    await vi.waitFor(() => expect(seen).toEqual([first, pending, behind]), WAIT);
  });

  it('closes a hole left by a rolled-back transaction at once, without waiting for the backlog timeout', async () => {
    const table = await freshTable();
    const before = await insertEvents(db, table, [task()]);
    const rolled = new pg.Client(POSTGRES_URL);
    await rolled.connect();
    cleanups.push(() => rolled.end());
    await rolled.query('BEGIN');
    const { rows } = await rolled.query<{ id: string }>(`INSERT INTO ${table} (type) VALUES ($1) RETURNING id`, [TASK]);
    const after = await insertEvents(db, table, [version()]);
    await rolled.query('ROLLBACK');
    const seen: number[] = [];
    const sink = logSink('debug');
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const { runtime, services } = eventLogRuntime({
      reader: postgresLogReader({ kind: 'postgres', url: POSTGRES_URL, table, queryTimeoutMs: 10_000 }),
      host: stubHost({ p: { run: (e) => void seen.push(e.id) } }),
      folder,
      logger: sink.logger,
      // An injected clock that never moves: only the proof can pass the hole.
      now: () => 1_000_000,
      source: { backlogTimeoutMs: 60_000 },
    });
    cleanups.push(() => services.close());
    cleanups.push(() => (runtime.actor?.getSnapshot().status === 'active' ? runtime.stop() : undefined));
    await runtime.start();
    await vi.waitFor(() => expect(seen).toEqual([...before, ...after]), WAIT);
    const hole = Number(rows[0]!.id);
    expect(sink.messages()).toContain(
      `event-log: event id ${hole} will never appear (no transaction that could write it is open: it rolled back); plugins go on past it`,
    );
    expect(runtime.snapshot().source.stats).toMatchObject({ gapsClosed: 1, gapsGivenUp: 0 });
  });

  it('reads an HTTP feed from its latest id and hands on its events, one written later and one filling a gap later, in order', async () => {
    type Item = { id: number; type: string; entity: unknown; attributes: string[]; created_at: string };
    const item = (id: number, type = TASK, attributes = ['sg_status_list']): Item => ({
      id,
      type,
      entity: { type: 'Task', id },
      attributes,
      created_at: new Date().toISOString(),
    });
    const feed: Item[] = [item(1), item(2, VERSION, ['code']), item(3)];
    const served: Array<{ after: number; ids: number[] }> = [];
    let latestAsked = 0;
    const server: Server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const send = (status: number, body: unknown) =>
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (url.pathname === '/latest') {
        latestAsked++;
        return send(200, { id: Math.max(0, ...feed.map((e) => e.id)) });
      }
      if (url.pathname !== '/events') return send(404, { error: `no ${url.pathname}` });
      const after = Number(url.searchParams.get('after'));
      const page = feed
        .filter((e) => e.id > after)
        .sort((a, b) => a.id - b.id)
        .slice(0, Number(url.searchParams.get('limit')));
      served.push({ after, ids: page.map((e) => e.id) });
      send(200, page);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      return closed;
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const plugins = await pluginFolder();
    await plugins.write('all', 'v1', [{ name: 'any', into: 'all' }]);
    await plugins.write('statuses', 'v1', [{ name: 'status', into: 'statuses', match: { [TASK]: ['sg_status_list'] } }]);
    const folder = storeFolder();
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    await started({
      source: sources.eventLog({
        url: `${base}/events?after={id}&limit={n}`,
        latestUrl: `${base}/latest`,
        startFrom: 'latest',
        fetchInterval: '50ms',
        backlogTimeout: '30s',
      }),
      plugins: { paths: [plugins.folder] },
      store: { backend: 'file', folder },
      app: { name: 'feed', dir: folder },
    });
    await vi.waitFor(() => expect(latestAsked).toBe(1), WAIT);
    feed.push(item(5), item(6, VERSION, ['code']));
    // The reader got 5 and 6 without 4 and has looked again for 4: the plugins wait there.
    await vi.waitFor(
      () => expect(served.filter((read) => read.after === 3 && read.ids.includes(5)).length).toBeGreaterThanOrEqual(2),
      WAIT,
    );
    expect([plugins.ids('all'), plugins.ids('statuses')]).toEqual([[], []]);
    feed.push(item(4));
    await vi.waitFor(() => expect(plugins.ids('all')).toEqual([4, 5, 6]), WAIT);
    feed.push(item(7));
    await vi.waitFor(() => expect(plugins.ids('all')).toEqual([4, 5, 6, 7]), WAIT);
    await vi.waitFor(() => expect(plugins.ids('statuses')).toEqual([4, 5, 7]), WAIT);
  });
});
