import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { httpLogReader } from '../../actors/sources/event-log-http.js';
import { postgresLogReader } from '../../actors/sources/event-log-postgres.js';
import type { EventLogReader } from '../../actors/sources/event-log-reader.js';
import { EventLogError } from '../../src/kernel/errors.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { closedPort } from '../helpers/ports.js';
import { createEventsTable, dropTable, insertEvents, insertWithGaps, testPool, uniqueTable } from '../helpers/postgres.js';
import { POSTGRES_URL } from '../helpers/services.js';

const cleanups = cleanupsAfterEach();
const WITH_PASSWORD = POSTGRES_URL.replace('postgres@', 'postgres:s3cret@');

/** The EventLogError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<EventLogError> {
  const error = await promise.then(
    () => expect.fail('expected a rejection'),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(EventLogError);
  return error as EventLogError;
}

describe('the PostgreSQL event-log reader', () => {
  let db: pg.Pool;
  beforeAll(() => {
    db = testPool();
  });
  afterAll(async () => {
    await db.end();
  });

  /** A fresh table (dropped after the test) and a reader on it. */
  async function fixture(options: { url?: string; queryTimeoutMs?: number; columns?: 'jsonb' | 'text' } = {}) {
    const table = uniqueTable();
    await createEventsTable(db, table, options.columns);
    cleanups.push(() => dropTable(db, table));
    return { table, reader: open(table, options) };
  }

  function open(table: string, options: { url?: string; queryTimeoutMs?: number } = {}): EventLogReader {
    const reader = postgresLogReader({
      kind: 'postgres',
      url: options.url ?? POSTGRES_URL,
      table,
      queryTimeoutMs: options.queryTimeoutMs ?? 10_000,
    });
    cleanups.push(() => reader.close());
    return reader;
  }

  it('answers 0 for the latest and earliest ids of an empty table', async () => {
    const { reader } = await fixture();
    await reader.connect();
    expect([await reader.latestId(), await reader.earliestId(), await reader.read(0, 10)]).toEqual([0, 0, []]);
  });

  it('answers the highest id as the latest and the lowest minus one as the earliest', async () => {
    const { table, reader } = await fixture();
    const ids = await insertEvents(
      db,
      table,
      [1, 2, 3, 4, 5].map((n) => ({ type: `t${n}` })),
    );
    await db.query(`DELETE FROM ${table} WHERE id <= $1`, [ids[1]]);
    expect([await reader.latestId(), await reader.earliestId()]).toEqual([ids[4], ids[1]]);
  });

  it('reads at most limit events after an id, in id order', async () => {
    const { table, reader } = await fixture();
    const ids = await insertEvents(
      db,
      table,
      [1, 2, 3, 4, 5].map((n) => ({ type: `t${n}` })),
    );
    expect((await reader.read(0, 3)).map((event) => event.id)).toEqual(ids.slice(0, 3));
    expect((await reader.read(ids[2]!, 10)).map((event) => event.type)).toEqual(['t4', 't5']);
    expect(await reader.read(ids[4]!, 10)).toEqual([]);
  });

  it('normalises jsonb columns into a LogEvent', async () => {
    const { table, reader } = await fixture();
    const [id] = await insertEvents(db, table, [
      {
        type: 'Shotgun_Task_Change',
        entity: { type: 'Task', id: 7 },
        attributes: ['sg_status_list'],
        created_at: '2024-03-01T12:00:00+02:00',
        meta: { new_value: 'ip' },
      },
    ]);
    expect(await reader.read(0, 1)).toEqual([
      {
        id,
        type: 'Shotgun_Task_Change',
        entity: { type: 'Task', id: 7 },
        attributes: ['sg_status_list'],
        createdAt: '2024-03-01T10:00:00.000Z',
        meta: { new_value: 'ip' },
      },
    ]);
  });

  it('reads text columns: the entity as text, one attribute name, meta as JSON text', async () => {
    const { table, reader } = await fixture({ columns: 'text' });
    await insertEvents(
      db,
      table,
      [{ type: 'Shotgun_Task_Change', entity: 'Task/7', attributes: 'sg_status_list', meta: '{"new_value":"ip"}' }, { type: 'bare' }],
      'text',
    );
    const [first, second] = await reader.read(0, 10);
    expect(first).toMatchObject({ entity: 'Task/7', attributes: ['sg_status_list'], meta: { new_value: 'ip' } });
    expect(second).toMatchObject({ type: 'bare', entity: null, attributes: [], meta: null });
  });

  it('reads a timestamp without time zone as UTC whatever the time zone of the process, and warns at connect that it is not timestamptz', async () => {
    const table = uniqueTable();
    await db.query(
      `CREATE TABLE ${table} (id bigserial PRIMARY KEY, type text NOT NULL, entity jsonb, attributes jsonb, created_at timestamp NOT NULL, meta jsonb)`,
    );
    cleanups.push(() => dropTable(db, table));
    await db.query(`INSERT INTO ${table} (type, created_at) VALUES ('t', '2026-03-02 10:14:07.312456')`);
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    cleanups.push(() => {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    });
    const reader = open(table);
    const connected = await reader.connect();
    expect(connected?.warnings).toEqual([
      expect.stringContaining(`column created_at of table ${table} is timestamp without time zone, not timestamptz`),
    ]);
    expect((await reader.read(0, 1))[0]?.createdAt).toBe('2026-03-02T10:14:07.312Z');
  });

  it('does not warn at connect about a timestamptz created_at', async () => {
    const { reader } = await fixture();
    expect((await reader.connect())?.warnings ?? []).toEqual([]);
  });

  it('says why gaps cannot be closed on proof when the id sequence does not INCREMENT BY 1 (ids drawn in blocks)', async () => {
    const { table, reader } = await fixture();
    await db.query(`ALTER SEQUENCE ${table}_id_seq INCREMENT BY 50`);
    expect((await reader.idOrder!()).problem).toBe(
      `sequence public.${table}_id_seq of table ${table} has INCREMENT BY 50, so the ids may be drawn in blocks that the writer hands out itself (hi/lo), not one nextval each; expected INCREMENT BY 1 (ALTER SEQUENCE public.${table}_id_seq INCREMENT BY 1)`,
    );
  });

  it('refuses a row of the wrong shape, naming the table, the row id and the field', async () => {
    const { table, reader } = await fixture({ columns: 'text' });
    const [id] = await insertEvents(db, table, [{ type: 'ok', meta: 'not json' }], 'text');
    const error = await failure(reader.read(0, 10));
    expect(error.code).toBe('ERR_EVENT_LOG');
    expect(error.message).toContain(`table ${table}, row id ${id}: "meta" must be an object or null; found "not json"`);
  });

  it('reads ids committed out of order in id order, never showing a hole', async () => {
    const { table, reader } = await fixture();
    const seen: number[][] = [];
    const gaps = await insertWithGaps(table, {
      transactions: 4,
      rowsEach: 3,
      rolledBack: 1,
      afterCommit: async () => {
        seen.push((await reader.read(0, 100)).map((e) => e.id));
      },
    });
    expect(gaps.commitOrder.map((ids) => ids[0])).not.toEqual([...gaps.commitOrder.map((ids) => ids[0]!)].sort((a, b) => a - b));
    for (const [n, ids] of seen.entries())
      expect(ids).toEqual(
        gaps.commitOrder
          .slice(0, n + 1)
          .flat()
          .sort((a, b) => a - b),
      );
    const all = (await reader.read(0, 100)).map((e) => e.id);
    expect(all).toEqual(gaps.committed);
    expect(all.filter((id) => gaps.holes.includes(id))).toEqual([]);
    expect(await reader.latestId()).toBe(Math.max(...gaps.committed));
  });

  it('fails with ERR_EVENT_LOG naming the table and the columns it expects when the table does not exist', async () => {
    const table = uniqueTable();
    const error = await failure(open(table).connect());
    expect(error.code).toBe('ERR_EVENT_LOG');
    expect(error.message).toBe(
      `table ${table} does not exist in ${POSTGRES_URL}; expected a table with columns id, type, entity, attributes, created_at, meta (see docs/event-log.md)`,
    );
  });

  it('fails with ERR_EVENT_LOG naming the missing column', async () => {
    const table = uniqueTable();
    await db.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, type text)`);
    cleanups.push(() => dropTable(db, table));
    const error = await failure(open(table).connect());
    expect(error.code).toBe('ERR_EVENT_LOG');
    expect(error.message).toMatch(/column "entity" does not exist; expected a table with columns id, type/);
  });

  it('fails with ERR_EVENT_LOG for a database or a user that does not exist', async () => {
    const noDatabase = await failure(open('flowd_events', { url: POSTGRES_URL.replace(/\/test$/, '/flowd_no_such_db') }).latestId());
    expect([noDatabase.code, noDatabase.message]).toEqual([
      'ERR_EVENT_LOG',
      expect.stringMatching(/database "flowd_no_such_db" does not exist; expected the database named in url/),
    ]);
    const noUser = await failure(open('flowd_events', { url: POSTGRES_URL.replace('postgres@', 'flowd_nobody@') }).latestId());
    expect([noUser.code, noUser.message]).toEqual(['ERR_EVENT_LOG', expect.stringMatching(/refused the login: .*flowd_nobody/)]);
  });

  it('fails with ERR_EVENT_LOG_UNAVAILABLE on a closed port, without the password', async () => {
    const port = await closedPort();
    const error = await failure(open('flowd_events', { url: `postgres://postgres:s3cret@127.0.0.1:${port}/test` }).connect());
    expect(error.code).toBe('ERR_EVENT_LOG_UNAVAILABLE');
    expect(error.message).toBe(`cannot read postgres://postgres:***@127.0.0.1:${port}/test table flowd_events: connection refused`);
  });

  it('never shows the password of the URL', async () => {
    const { table, reader } = await fixture({ url: WITH_PASSWORD });
    await insertEvents(db, table, [{ type: '' }]);
    expect(reader.displayUrl).toBe('postgres://postgres:***@127.0.0.1:5432/test');
    const messages = [
      (await failure(reader.read(0, 1))).message,
      (await failure(open(uniqueTable(), { url: WITH_PASSWORD }).connect())).message,
    ];
    for (const message of messages) {
      expect(message).toContain('postgres:***@');
      expect(message).not.toContain('s3cret');
    }
  });

  it('fails with ERR_EVENT_LOG_UNAVAILABLE when a query outlives queryTimeoutMs', async () => {
    const { table, reader } = await fixture({ queryTimeoutMs: 300 });
    const locker = await db.connect();
    cleanups.push(() => locker.release());
    await locker.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    cleanups.push(() => locker.query('ROLLBACK'));
    const error = await failure(reader.read(0, 1));
    expect([error.code, error.message]).toEqual([
      'ERR_EVENT_LOG_UNAVAILABLE',
      expect.stringContaining(`table ${table}: canceling statement due to statement timeout`),
    ]);
  });

  /** Ends the server side of the reader's connections (the last query of each named the table). */
  const terminate = (table: string) =>
    db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'flowd' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
      [table],
    );

  it('survives the server ending an idle connection, and reads again', async () => {
    const { table, reader } = await fixture();
    await insertEvents(db, table, [{ type: 'a' }]);
    await reader.connect();
    const { rows } = await db.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = 'flowd' AND query LIKE '%' || $1 || '%'`,
      [table],
    );
    expect(rows).toHaveLength(1);
    await terminate(table);
    // Once the backend is gone its goodbye has reached the idle connection, which the pool then reports as an 'error' event.
    await vi.waitFor(async () =>
      expect((await db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [rows[0]!.pid])).rowCount).toBe(0),
    );
    await vi.waitFor(async () => expect((await reader.read(0, 10)).map((e) => e.type)).toEqual(['a']));
  });

  it('fails with ERR_EVENT_LOG_UNAVAILABLE when the server ends the connection during a query', async () => {
    const { table, reader } = await fixture();
    const locker = await db.connect();
    cleanups.push(() => locker.release());
    await locker.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    cleanups.push(() => locker.query('ROLLBACK'));
    const reading = failure(reader.read(0, 1));
    await vi.waitFor(async () => expect((await terminate(table)).rowCount).toBe(1));
    const error = await reading;
    expect([error.code, error.message]).toEqual([
      'ERR_EVENT_LOG_UNAVAILABLE',
      expect.stringMatching(new RegExp(`^cannot read ${POSTGRES_URL} table ${table}: .*`)),
    ]);
  });

  it("rejects with the signal's reason when aborted before or while waiting", async () => {
    const { table, reader } = await fixture();
    const reason = new Error('stopping');
    await expect(reader.latestId(AbortSignal.abort(reason))).rejects.toBe(reason);
    const locker = await db.connect();
    cleanups.push(() => locker.release());
    await locker.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    cleanups.push(() => locker.query('ROLLBACK'));
    const controller = new AbortController();
    const reading = reader.read(0, 1, controller.signal);
    controller.abort(reason);
    await expect(reading).rejects.toBe(reason);
  });

  it('refuses a table name that is not an identifier', () => {
    expect(() => open('events; DROP TABLE x')).toThrow(/expected an identifier or schema.identifier/);
    expect(() => open('public.flowd_events')).not.toThrow();
  });

  it('closes more than once', async () => {
    const { reader } = await fixture();
    await reader.connect();
    await reader.close();
    await expect(reader.close()).resolves.toBeUndefined();
  });
});

interface Item {
  id: number;
  type: string;
}

describe('the HTTP event-log reader', () => {
  /** A loopback server answering with `handle`; returns its base URL and the request URLs it saw. */
  async function serve(handle: (url: URL, req: IncomingMessage, res: ServerResponse) => void) {
    const requests: string[] = [];
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      requests.push(`${url.pathname}${url.search}`);
      handle(url, req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(resolve);
        }),
    );
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
  }

  const json = (res: ServerResponse, body: unknown, status = 200) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

  /** A feed of `items`: GET /feed?after=&limit= and GET /latest. */
  function feed(items: Item[], shape: 'array' | 'object' = 'array') {
    return (url: URL, _req: IncomingMessage, res: ServerResponse) => {
      if (url.pathname === '/latest') return json(res, { id: items.at(-1)?.id ?? 0 });
      const after = Number(url.searchParams.get('after'));
      const page = items.filter((item) => item.id > after).slice(0, Number(url.searchParams.get('limit')));
      json(res, shape === 'array' ? page : { events: page });
    };
  }

  const items = (count: number, from = 1): Item[] => Array.from({ length: count }, (_, i) => ({ id: from + i * 2, type: `t${i}` }));

  function open(url: string, options: { latestUrl?: string; timeoutMs?: number } = {}): EventLogReader {
    const reader = httpLogReader({ kind: 'http', url, latestUrl: options.latestUrl, timeoutMs: options.timeoutMs ?? 5000 });
    cleanups.push(() => reader.close());
    return reader;
  }

  it('reads at most n events after an id from a JSON array, filling {id} and {n}', async () => {
    const { base, requests } = await serve(feed(items(5)));
    const reader = open(`${base}/feed?after={id}&limit={n}`);
    await reader.connect();
    const events = await reader.read(3, 2);
    expect(events).toEqual([
      { id: 5, type: 't2', entity: null, attributes: [], createdAt: undefined, meta: null },
      { id: 7, type: 't3', entity: null, attributes: [], createdAt: undefined, meta: null },
    ]);
    expect(requests.at(-1)).toBe('/feed?after=3&limit=2');
  });

  it('reads the events of an { "events": [...] } answer', async () => {
    const { base } = await serve(feed(items(3), 'object'));
    expect((await open(`${base}/feed?after={id}&limit={n}`).read(0, 10)).map((e) => e.id)).toEqual([1, 3, 5]);
  });

  it('asks latestUrl for the latest id, as { "id": n } or n', async () => {
    const { base } = await serve((url, _req, res) => json(res, url.pathname === '/latest' ? { id: 41 } : 42));
    expect(await open(`${base}/feed?after={id}`, { latestUrl: `${base}/latest` }).latestId()).toBe(41);
    expect(await open(`${base}/feed?after={id}`, { latestUrl: `${base}/plain` }).latestId()).toBe(42);
  });

  it('refuses a latest answer that is not an id', async () => {
    const { base } = await serve((_url, _req, res) => json(res, { latest: 3 }));
    const error = await failure(open(`${base}/feed?after={id}`, { latestUrl: `${base}/latest` }).latestId());
    expect([error.code, error.message]).toEqual([
      'ERR_EVENT_LOG',
      `${base}/latest answered {"latest":3}; expected { "id": <the latest event id> } or that id`,
    ]);
  });

  it('walks the feed to its end for the latest id without latestUrl', async () => {
    const { base, requests } = await serve(feed(items(1203)));
    expect(await open(`${base}/feed?after={id}&limit={n}`).latestId()).toBe(1 + 1202 * 2);
    expect(requests).toEqual(['/feed?after=0&limit=500', '/feed?after=999&limit=500', '/feed?after=1999&limit=500']);
    const empty = await serve(feed([]));
    expect(await open(`${empty.base}/feed?after={id}&limit={n}`).latestId()).toBe(0);
  });

  it('answers the first id minus one as the earliest, and 0 for an empty feed', async () => {
    const { base } = await serve(feed(items(3, 10)));
    expect(await open(`${base}/feed?after={id}&limit={n}`).earliestId()).toBe(9);
    const empty = await serve(feed([]));
    expect(await open(`${empty.base}/feed?after={id}&limit={n}`).earliestId()).toBe(0);
  });

  it('fails with ERR_EVENT_LOG_UNAVAILABLE on a 5xx, a closed port and a timeout', async () => {
    const { base } = await serve((url, _req, res) => (url.pathname === '/slow' ? undefined : json(res, { error: 'down' }, 503)));
    const down = await failure(open(`${base}/feed?after={id}`).read(0, 1));
    expect([down.code, down.message]).toEqual([
      'ERR_EVENT_LOG_UNAVAILABLE',
      `cannot read the feed ${base}/feed?after=0: it answered HTTP 503`,
    ]);
    const port = await closedPort();
    const refused = await failure(open(`http://127.0.0.1:${port}/feed?after={id}`).read(0, 1));
    expect([refused.code, refused.message]).toEqual([
      'ERR_EVENT_LOG_UNAVAILABLE',
      `cannot read the feed http://127.0.0.1:${port}/feed?after=0: connection refused`,
    ]);
    const slow = await failure(open(`${base}/slow?after={id}`, { timeoutMs: 200 }).read(0, 1));
    expect([slow.code, slow.message]).toEqual([
      'ERR_EVENT_LOG_UNAVAILABLE',
      `cannot read the feed ${base}/slow?after=0: no answer within 200 ms`,
    ]);
  });

  it('fails with ERR_EVENT_LOG on a 404, text that is not JSON and an answer of the wrong shape', async () => {
    const { base } = await serve((url, _req, res) => {
      if (url.pathname === '/text') return res.writeHead(200).end('<html>hello</html>');
      if (url.pathname === '/shape') return json(res, { items: [] });
      json(res, { error: 'no' }, 404);
    });
    const cases = [
      [
        `${base}/missing?after={id}`,
        `${base}/missing?after=0 answered HTTP 404; expected HTTP 200 with a JSON array of events or { "events": [...] }`,
      ],
      [
        `${base}/text?after={id}`,
        `${base}/text?after=0 answered text that is not JSON ("<html>hello</html>"); expected a JSON array of events or { "events": [...] }`,
      ],
      [`${base}/shape?after={id}`, `${base}/shape?after=0 answered {"items":[]}; expected a JSON array of events or { "events": [...] }`],
    ];
    for (const [url, message] of cases) {
      const error = await failure(open(url!).read(0, 1));
      expect([error.code, error.message]).toEqual(['ERR_EVENT_LOG', message]);
    }
  });

  it('refuses ids that do not increase, or are not above the id asked after', async () => {
    const answers: Record<string, unknown> = {
      '/down': [
        { id: 5, type: 'a' },
        { id: 4, type: 'b' },
      ],
      '/old': [{ id: 2, type: 'a' }],
    };
    const { base } = await serve((url, _req, res) => json(res, answers[url.pathname]));
    const down = await failure(open(`${base}/down?after={id}`).read(0, 10));
    expect([down.code, down.message]).toEqual([
      'ERR_EVENT_LOG',
      `feed item 2 of ${base}/down?after=0 has id 4, not above 5; expected events after 0 in increasing id order`,
    ]);
    const old = await failure(open(`${base}/old?after={id}`).read(2, 10));
    expect(old.message).toBe(`feed item 1 of ${base}/old?after=2 has id 2, not above 2; expected events after 2 in increasing id order`);
  });

  it('refuses an item of the wrong shape, naming the item and the field', async () => {
    const { base } = await serve((_url, _req, res) => json(res, [{ id: 1, type: 'a' }, { id: 2 }]));
    const error = await failure(open(`${base}/feed?after={id}`).read(0, 10));
    expect([error.code, error.message]).toEqual([
      'ERR_EVENT_LOG',
      `feed item 2 of ${base}/feed?after=0: "type" must be a non-empty string; found nothing`,
    ]);
  });

  it('sends the credentials of the URL as Basic auth and never shows the password', async () => {
    const { base } = await serve((_url, req, res) =>
      req.headers.authorization === `Basic ${Buffer.from('flowd:s3cret').toString('base64')}`
        ? json(res, [{ id: 1, type: 'a' }])
        : json(res, {}, 401),
    );
    const url = base.replace('http://', 'http://flowd:s3cret@');
    const reader = open(`${url}/feed?after={id}`);
    expect((await reader.read(0, 1)).map((e) => e.id)).toEqual([1]);
    expect(reader.displayUrl).toBe(`${base.replace('http://', 'http://flowd:***@')}/feed?after={id}`);
    const error = await failure(open(`${base.replace('http://', 'http://flowd:wrong@')}/feed?after={id}`).read(0, 1));
    expect(error.message).toMatch(/^http:\/\/flowd:\*\*\*@127\.0\.0\.1:\d+\/feed\?after=0 answered HTTP 401/);
    expect(error.message).not.toContain('wrong');
  });

  it('refuses an answer larger than 64 MiB', async () => {
    const { base } = await serve((_url, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(65 * 1024 * 1024) });
      res.write('[');
    });
    const error = await failure(open(`${base}/feed?after={id}`).read(0, 1));
    expect([error.code, error.message]).toEqual([
      'ERR_EVENT_LOG',
      `${base}/feed?after=0 answered more than 67108864 bytes; expected at most that (ask for fewer events with {n})`,
    ]);
  });

  it("rejects with the signal's reason when aborted", async () => {
    const { base } = await serve(() => undefined);
    const reader = open(`${base}/feed?after={id}`);
    const reason = new Error('stopping');
    await expect(reader.read(0, 1, AbortSignal.abort(reason))).rejects.toBe(reason);
    const controller = new AbortController();
    const reading = reader.read(0, 1, controller.signal);
    controller.abort(reason);
    await expect(reading).rejects.toBe(reason);
  });

  it('refuses a feed URL without {id}', () => {
    expect(() => open('http://127.0.0.1/feed')).toThrow(/has no \{id\}/);
  });
});
