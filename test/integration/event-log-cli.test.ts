import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileNameFor } from '../../actors/stores/file-names.js';
import { flowd, tempDir, untilRunning, type FlowdProcess } from '../helpers/cli.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { createEventsTable, dropTable, insertEvents, insertWithGaps, testPool, uniqueTable, type EventRow } from '../helpers/postgres.js';
import { POSTGRES_URL } from '../helpers/services.js';
import { dropPrefix, testPrefix } from '../fixtures/stores/spaces.js';

// The CLI as a user runs it, on the machine's PostgreSQL (and Redis for two daemons): each test has its own table and app folder.

const cleanups = cleanupsAfterEach();
let db: pg.Pool;
beforeAll(() => {
  db = testPool();
});
afterAll(async () => {
  await db.end();
});

type Match = Record<string, string[]>;
interface Row {
  id: number;
  type: string;
  attributes: string[];
}

/**
 * A plugin module that appends `"<id>\n"` to `<app>/<name>.txt` synchronously for each event
 * it gets, prints `<name> <id>`, then waits `delayMs` (a wider window for a kill before the cursor is written).
 */
const recorder = (name: string, match: Match | undefined, delayMs = 0) => `import { appendFileSync } from 'node:fs';
const out = new URL('../${name}.txt', import.meta.url);
export function registerCallbacks(reg) {
  reg.registerCallback('record', async (event) => {
    appendFileSync(out, event.id + '\\n');
    console.log('${name} ' + event.id);
    ${delayMs > 0 ? `await new Promise((resolve) => setTimeout(resolve, ${delayMs}));` : ''}
  }${match ? `, { match: ${JSON.stringify(match)} }` : ''});
}
`;

/** Status changes of tasks; new versions and the rows insertWithGaps makes (type `gap`). */
const STATUS: Match = { Shotgun_Task_Change: ['sg_status_list'] };
const VERSIONS: Match = { Shotgun_Version_New: ['*'], gap: ['*'] };
const wants = {
  status: (row: Row) => row.type === 'Shotgun_Task_Change' && row.attributes.includes('sg_status_list'),
  versions: (row: Row) => row.type === 'Shotgun_Version_New' || row.type === 'gap',
};

/** Event `n` of a test's log: one in five a new version, the rest task changes, half of them of the status. */
const eventRow = (n: number): EventRow =>
  n % 5 === 0
    ? { type: 'Shotgun_Version_New', entity: { type: 'Version', id: n }, attributes: [] }
    : {
        type: 'Shotgun_Task_Change',
        entity: { type: 'Task', id: n },
        attributes: [n % 2 === 0 ? 'sg_status_list' : 'description'],
        meta: { new_value: 'ip' },
      };
const rows = (from: number, count: number) => Array.from({ length: count }, (_, i) => eventRow(from + i));

/** A fresh events table, dropped after the test. */
async function newTable(): Promise<string> {
  const table = uniqueTable();
  await createEventsTable(db, table);
  cleanups.push(() => dropTable(db, table));
  return table;
}

/** The ids each plugin should get: every committed row it matches, ascending. */
async function expectedIds(table: string): Promise<Record<keyof typeof wants, number[]>> {
  const { rows: all } = await db.query<{ id: string; type: string; attributes: string[] | null }>(
    `SELECT id, type, attributes FROM ${table} ORDER BY id`,
  );
  const events = all.map((r) => ({ id: Number(r.id), type: r.type, attributes: r.attributes ?? [] }));
  return { status: events.filter(wants.status).map((e) => e.id), versions: events.filter(wants.versions).map((e) => e.id) };
}

/** A temp app folder: `app.ini` (an event-log source on `table`), `plugins/<name>.mjs` each. */
async function eventLogApp(options: {
  table: string;
  plugins: Record<string, string>;
  sections?: string;
  startFrom?: string;
  appName?: string;
}) {
  const tmp = await tempDir();
  cleanups.push(() => tmp.cleanup());
  await mkdir(path.join(tmp.dir, 'plugins'));
  for (const [name, text] of Object.entries(options.plugins)) await tmp.write(`plugins/${name}.mjs`, text);
  const appName = options.appName ?? 'events';
  const ini = await tmp.write(
    'app.ini',
    `[Flow]
app name = ${appName}
workers = 2

[Source]
type = event-log
url = ${POSTGRES_URL}
table = ${options.table}
start from = ${options.startFrom ?? 'earliest'}
fetch interval = 200ms
backlog timeout = 1s

${options.sections ?? ''}
[Plugins]
paths = ./plugins
`,
  );
  const lines = (name: string): number[] => {
    let text = '';
    try {
      text = readFileSync(path.join(tmp.dir, `${name}.txt`), 'utf8');
    } catch {
      // Not written yet.
    }
    return text.split('\n').filter(Boolean).map(Number);
  };
  return {
    dir: tmp.dir,
    ini,
    lines,
    storeFile: (plugin: string) => path.join(tmp.dir, '.flowd', appName, 'store', `${fileNameFor(`event-log/plugin/${plugin}`)}.json`),
  };
}

/** `untilRunning` with a minute's patience: a round of the SIGKILL test replays many events. */
const until = (p: FlowdProcess, what: string, done: () => boolean, timeout = 60_000) => untilRunning(p, what, done, timeout);

/** Every id of `expected` is in `seen`. */
const hasAll = (seen: number[], expected: number[]) => {
  const set = new Set(seen);
  return expected.every((id) => set.has(id));
};

/** How many times an id came right after itself; fails on any other step back. */
function repeatsOf(name: string, ids: number[]): number {
  let repeats = 0;
  for (let i = 1; i < ids.length; i++) {
    if (ids[i] === ids[i - 1]) repeats++;
    else expect(ids[i]!, `${name}: id ${ids[i]} came after ${ids[i - 1]} (position ${i})`).toBeGreaterThan(ids[i - 1]!);
  }
  return repeats;
}

const stop = async (p: FlowdProcess) => {
  p.child.kill('SIGTERM');
  return p.exit;
};
const kill = async (p: FlowdProcess) => {
  p.child.kill('SIGKILL');
  expect((await p.exit).signal).toBe('SIGKILL');
};
const printed = (p: FlowdProcess, plugin: string) =>
  [...p.stdout().matchAll(new RegExp(`^${plugin} (\\d+)$`, 'gm'))].map((m) => Number(m[1]));

describe('flowd run with an event-log source', () => {
  it('gives each plugin every matching event in id order through 20 SIGKILLs, repeating only the event in flight at a kill', async () => {
    const began = Date.now();
    const table = await newTable();
    for (const from of [1, 501, 1001, 1501]) {
      await insertEvents(db, table, rows(from, 500));
      // Transactions that commit out of order, one rolling back: holes for good.
      await insertWithGaps(table);
    }
    const expected = await expectedIds(table);
    const app = await eventLogApp({ table, plugins: { status: recorder('status', STATUS), versions: recorder('versions', VERSIONS) } });
    const total = () => app.lines('status').length + app.lines('versions').length;
    const everything = expected.status.length + expected.versions.length;
    const rounds: number[] = [];
    for (let round = 1; round <= 20; round++) {
      const start = Date.now();
      const target = Math.min(everything, total() + 10 + Math.floor(Math.random() * 40));
      const run = flowd(['run', app.ini]);
      await until(run, `round ${round}: the plugin files reach ${target} lines`, () => total() >= target);
      await kill(run);
      rounds.push(Date.now() - start);
    }
    expect(total()).toBeLessThan(everything);
    const last = flowd(['run', app.ini]);
    await until(
      last,
      'every matching event is in both files',
      () => hasAll(app.lines('status'), expected.status) && hasAll(app.lines('versions'), expected.versions),
      120_000,
    );
    expect((await stop(last)).code).toBe(0);
    const repeats: Record<string, number> = {};
    for (const name of ['status', 'versions'] as const) {
      const ids = app.lines(name);
      expect(new Set(ids), `${name}: the ids it got`).toEqual(new Set(expected[name]));
      repeats[name] = repeatsOf(name, ids);
      expect(repeats[name]).toBeLessThanOrEqual(20);
    }
    console.info(
      `event-log SIGKILL test: ${expected.status.length} + ${expected.versions.length} events, 20 kills, repeats ${JSON.stringify(repeats)}, rounds ${Math.min(...rounds)}-${Math.max(...rounds)}ms (${rounds.filter((ms) => ms > 5000).length} over 5s: a cursor's store lock left by the kill goes stale after 10s), ${((Date.now() - began) / 1000).toFixed(1)}s in all`,
    );
  }, 360_000);

  it('goes on after a restart under another time zone from a created_at column without time zone, and warns that it is not timestamptz', async () => {
    const table = uniqueTable();
    await db.query(
      `CREATE TABLE ${table} (id bigserial PRIMARY KEY, type text NOT NULL, entity jsonb, attributes jsonb, created_at timestamp NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'UTC'), meta jsonb)`,
    );
    cleanups.push(() => dropTable(db, table));
    const insert = (count: number) =>
      db.query(`INSERT INTO ${table} (type, attributes) SELECT 'Shotgun_Task_Change', '["sg_status_list"]' FROM generate_series(1, $1)`, [
        count,
      ]);
    await insert(3);
    const app = await eventLogApp({ table, plugins: { status: recorder('status', STATUS) } });
    const first = flowd(['run', app.ini, '--log-level', 'info'], { env: { TZ: 'UTC' } });
    await until(first, 'status has the 3 events', () => app.lines('status').length === 3);
    expect((await stop(first)).code).toBe(0);
    await insert(2);
    const second = flowd(['run', app.ini, '--log-level', 'info'], { env: { TZ: 'Europe/Stockholm' } });
    await until(second, 'status has the 5 events', () => app.lines('status').length === 5);
    expect((await stop(second)).code).toBe(0);
    expect(second.stderr()).not.toContain('ERR_CURSOR');
    expect(app.lines('status')).toEqual((await expectedIds(table)).status);
    expect(first.stderr()).toContain(`column created_at of table ${table} is timestamp without time zone, not timestamptz`);
  });

  it('has one reader of two daemons: the second waits, takes over after the first is killed and goes on from its cursors', async () => {
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    const table = await newTable();
    await insertEvents(db, table, rows(1, 20));
    const app = await eventLogApp({
      table,
      appName: `two-${randomBytes(4).toString('hex')}`,
      plugins: { status: recorder('status', STATUS, 5), versions: recorder('versions', VERSIONS, 5) },
      sections: `[Store]\nbackend = redis\nurl = redis://127.0.0.1:6379\nprefix = ${prefix}\n\n[Lock]\nlease = 2s\nprefix = ${prefix}lock:\n`,
    });
    const caughtUp = async (p: FlowdProcess, what: string) => {
      const expected = await expectedIds(table);
      await until(p, what, () => hasAll(app.lines('status'), expected.status) && hasAll(app.lines('versions'), expected.versions));
    };
    const a = flowd(['run', app.ini, '--log-level', 'info']);
    await caughtUp(a, 'A has the first 20 events');
    const b = flowd(['run', app.ini, '--log-level', 'info']);
    await b.waitFor(
      'stderr',
      /another daemon is the reader of postgres:\/\/postgres@127\.0\.0\.1:5432\/test; waiting to take over \(lock \\"event-log\/reader\\"\)/,
    );
    await insertEvents(db, table, rows(21, 20));
    await caughtUp(a, 'A has the next 20 events');
    expect(b.stdout()).toBe('');
    expect(b.stderr()).not.toMatch(/event-log: reading/);

    // Enough that A cannot finish either plugin's share (5 ms an event each, 400 versions and 800 status changes)
    // between being seen into them and its kill, even on a loaded machine: B must have some of each to go on with.
    await insertEvents(db, table, rows(41, 2000));
    const before = app.lines('status').length + app.lines('versions').length;
    await until(a, 'A is into the 2,000 new events', () => app.lines('status').length + app.lines('versions').length >= before + 30);
    expect(b.stdout()).toBe('');
    await kill(a);
    const killedAt = Date.now();
    await b.waitFor('stderr', /event-log: reading postgres:/);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(8000);
    await caughtUp(b, 'B has the rest');
    expect((await stop(b)).code).toBe(0);

    const expected = await expectedIds(table);
    const repeats: Record<string, number> = {};
    for (const name of ['status', 'versions'] as const) {
      const ids = app.lines(name);
      expect(new Set(ids), `${name}: the ids it got`).toEqual(new Set(expected[name]));
      repeats[name] = repeatsOf(name, ids);
      // At most the event in flight when A died.
      expect(repeats[name]).toBeLessThanOrEqual(1);
      const [byA, byB] = [printed(a, name), printed(b, name)];
      expect(byA.length).toBeGreaterThan(0);
      expect(byB.length).toBeGreaterThan(0);
      // B went on where A stopped: its first event is A's last (in flight at the kill) or the next one A would have had.
      expect(byB[0]!).toBeGreaterThanOrEqual(byA.at(-1)!);
      expect(expected[name].filter((id) => id > byA.at(-1)! && id < byB[0]!)).toEqual([]);
    }
    console.info(`event-log two daemons: B took over ${takeoverMs}ms after A was killed (lease 2s); repeats ${JSON.stringify(repeats)}`);
  }, 90_000);

  // Fails today: [Lock] backend = local (the default with the file store) is a lock inside one process, so both daemons read.
  it('has one reader of two daemons on one machine with the default file store', async () => {
    const table = await newTable();
    await insertEvents(db, table, rows(1, 20));
    const app = await eventLogApp({
      table,
      plugins: { status: recorder('status', STATUS, 5), versions: recorder('versions', VERSIONS, 5) },
    });
    const a = flowd(['run', app.ini, '--log-level', 'info']);
    await until(a, 'A has the first 20 events', () => app.lines('status').length === 8);
    const b = flowd(['run', app.ini, '--log-level', 'info']);
    await b.waitFor('stderr', /another daemon is the reader|event-log: reading/);
    await insertEvents(db, table, rows(21, 100));
    const expected = await expectedIds(table);
    await until(
      a,
      'every event is done',
      () => hasAll(app.lines('status'), expected.status) && hasAll(app.lines('versions'), expected.versions),
    );
    for (const p of [a, b]) expect((await stop(p)).code).toBe(0);
    expect(b.stderr()).toMatch(/another daemon is the reader/);
    expect(b.stdout()).toBe('');
    expect({ status: app.lines('status'), versions: app.lines('versions') }).toEqual(expected);
  });
});

/** A plugin with two callbacks, the first failing on task 3 (stopOnError), the second tolerant. */
const FRAGILE = `export function registerCallbacks(reg) {
  reg.registerCallback('every', (event) => {
    if (event.entity.id === 3) throw new Error('task 3 has no shot');
  });
  reg.registerCallback('tolerant', () => {}, { match: { Shotgun_Task_Change: ['*'] }, stopOnError: false });
}
`;
const BROKEN = `export function registerCallbacks(reg) {\n  reg.registerCallback('oops', (event) => {\n`;

describe('flowd plugins and flowd check for an event-log app', () => {
  it('lists each plugin with its callbacks, state and cursor after a run: a failed callback and a syntax error show deactivated', async () => {
    const table = await newTable();
    const ids = await insertEvents(
      db,
      table,
      [1, 2, 3, 4, 5].map((n) => ({ type: 'Shotgun_Task_Change', entity: { type: 'Task', id: n }, attributes: ['sg_status_list'] })),
    );
    const app = await eventLogApp({ table, plugins: { status: recorder('status', STATUS), fragile: FRAGILE, broken: BROKEN } });
    const run = flowd(['run', app.ini, '--log-level', 'info']);
    // Logs are JSON lines on stderr: quotes in a message come escaped.
    await run.waitFor('stderr', /event-log: plugin \\"fragile\\" is deactivated: .*task 3 has no shot/);
    await until(run, 'status has the 5 events', () => app.lines('status').length === 5);
    expect((await stop(run)).code).toBe(0);

    const table_ = flowd(['plugins', app.ini]);
    expect((await table_.exit).code).toBe(0);
    const out = table_.stdout();
    expect(out).toMatch(/^PLUGIN\s+STATE\s+CURSOR\s+BACKLOG\s+CALLBACKS$/m);
    expect(out).toMatch(new RegExp(`^status\\s+active\\s+${ids[4]}\\s+0\\s+record \\(Shotgun_Task_Change: sg_status_list\\)$`, 'm'));
    expect(out).toMatch(
      new RegExp(
        `^fragile\\s+deactivated\\s+${ids[1]}\\s+0\\s+every \\(every event\\), tolerant \\(Shotgun_Task_Change: \\*, stopOnError false\\)$`,
        'm',
      ),
    );
    expect(out).toMatch(/^broken\s+deactivated\s+\S+\s+0\s+\(none\)$/m);
    expect(out).toMatch(/^fragile \(\S*plugins\/fragile\.mjs\): ERR_PLUGIN: .*task 3 has no shot/m);
    expect(out).toMatch(
      /^broken \(\S*plugins\/broken\.mjs\): ERR_PLUGIN_LOAD: plugin "broken" could not be loaded from \S+broken\.mjs: importing it failed/m,
    );

    const json = flowd(['plugins', app.ini, '--json']);
    expect((await json.exit).code).toBe(0);
    const listed = JSON.parse(json.stdout()) as { app: string; plugins: Array<Record<string, unknown>> };
    expect(listed.app).toBe('events');
    expect(listed.plugins.map((p) => p.name)).toEqual(['broken', 'fragile', 'status']);
    expect(listed.plugins[0]).toMatchObject({
      state: 'deactivated',
      error: expect.stringMatching(/^ERR_PLUGIN_LOAD: /),
      callbacks: [],
      file: path.join(app.dir, 'plugins/broken.mjs'),
    });
    expect(listed.plugins[1]).toMatchObject({
      state: 'deactivated',
      cursor: ids[1],
      backlog: 0,
      error: expect.stringMatching(/^ERR_PLUGIN: .*task 3 has no shot/),
      callbacks: [
        { name: 'every', stopOnError: true },
        { name: 'tolerant', match: { Shotgun_Task_Change: ['*'] }, stopOnError: false },
      ],
    });
    expect(listed.plugins[2]).toEqual({
      name: 'status',
      file: path.join(app.dir, 'plugins/status.mjs'),
      state: 'active',
      cursor: ids[4],
      backlog: 0,
      callbacks: [{ name: 'record', match: STATUS, stopOnError: true }],
    });
  });

  it('flowd check exits 2 naming a plugin file that cannot be loaded, and 0 naming the plugins of a good app', async () => {
    const table = await newTable();
    const bad = await eventLogApp({ table, plugins: { status: recorder('status', STATUS), broken: BROKEN } });
    const failing = flowd(['check', bad.ini]);
    expect((await failing.exit).code).toBe(2);
    expect(failing.stderr()).toContain(path.join(bad.dir, 'plugins/broken.mjs'));
    expect(failing.stderr()).toMatch(/plugin "broken" cannot be loaded/);

    const good = await eventLogApp({ table, plugins: { status: recorder('status', STATUS), versions: recorder('versions', VERSIONS) } });
    const passing = flowd(['check', good.ini]);
    expect((await passing.exit).code).toBe(0);
    expect(passing.stdout()).toMatch(
      /^events: ok: plugins status \(1 callback\(s\)\), versions \(1 callback\(s\)\) from \S+plugins, source event-log postgres:\/\/postgres@127\.0\.0\.1:5432\/test table flowd_events_\w+ \(start from earliest/,
    );
  });
});

describe('flowd with bad event-log input', () => {
  it("exits 1 naming the cursor when a plugin's cursor file holds garbage, and does not start over", async () => {
    const table = await newTable();
    await insertEvents(db, table, rows(1, 10));
    const app = await eventLogApp({ table, plugins: { status: recorder('status', STATUS), versions: recorder('versions', VERSIONS) } });
    const expected = await expectedIds(table);
    const first = flowd(['run', app.ini]);
    await until(
      first,
      'both plugins have the 10 events',
      () => hasAll(app.lines('status'), expected.status) && hasAll(app.lines('versions'), expected.versions),
    );
    expect((await stop(first)).code).toBe(0);
    const seen = { status: app.lines('status'), versions: app.lines('versions') };

    await writeFile(app.storeFile('versions'), 'garbage, not a record');
    await insertEvents(db, table, rows(11, 10));
    const second = flowd(['run', app.ini]);
    expect((await second.exit).code).toBe(1);
    expect(second.stderr()).toMatch(/the cursor "event-log\/plugin\/versions" cannot be read: .*is corrupt/);
    // Neither plugin went on, nor started over; the record is left for a person to repair.
    expect({ status: app.lines('status'), versions: app.lines('versions') }).toEqual(seen);
    expect(await readFile(app.storeFile('versions'), 'utf8')).toBe('garbage, not a record');
  });

  it('exits 1 naming the cursor when its record holds a value that is not a cursor', async () => {
    const table = await newTable();
    await insertEvents(db, table, rows(1, 4));
    const app = await eventLogApp({ table, plugins: { status: recorder('status', STATUS) } });
    const first = flowd(['run', app.ini]);
    await until(first, 'status has its 2 events', () => app.lines('status').length === 2);
    expect((await stop(first)).code).toBe(0);
    const record = JSON.parse(await readFile(app.storeFile('status'), 'utf8')) as { value: { last: unknown } };
    record.value.last = 'soon';
    await writeFile(app.storeFile('status'), JSON.stringify(record));
    const second = flowd(['run', app.ini]);
    expect((await second.exit).code).toBe(1);
    expect(second.stderr()).toMatch(
      /the cursor "event-log\/plugin\/status" in the store is corrupt: expected "last" to be a whole number of at least 0, found "soon"/,
    );
    expect(app.lines('status')).toHaveLength(2);
  });

  it('exits 1 naming the table when it does not exist', async () => {
    const table = uniqueTable();
    const app = await eventLogApp({ table, plugins: { status: recorder('status', STATUS) } });
    const run = flowd(['run', app.ini]);
    expect((await run.exit).code).toBe(1);
    expect(run.stderr()).toContain(`table ${table} does not exist in postgres://postgres@127.0.0.1:5432/test`);
  });

  it('flowd check exits 2 for type = event-log without [Plugins], naming the section', async () => {
    const tmp = await tempDir();
    cleanups.push(() => tmp.cleanup());
    const ini = await tmp.write('app.ini', `[Flow]\napp name = events\n\n[Source]\ntype = event-log\nurl = ${POSTGRES_URL}\n`);
    const check = flowd(['check', ini]);
    expect((await check.exit).code).toBe(2);
    expect(check.stderr()).toContain(ini);
    expect(check.stderr()).toMatch(
      /\[Plugins\].*is missing; \[Source\] type = event-log hands its events to plugins: expected \[Plugins\] paths = \.\/plugins/,
    );
  });

  it('flowd check exits 2 for a bad start from, naming the key', async () => {
    const app = await eventLogApp({ table: 'flowd_events', plugins: { status: recorder('status', STATUS) }, startFrom: 'yesterday' });
    const check = flowd(['check', app.ini]);
    expect((await check.exit).code).toBe(2);
    expect(check.stderr()).toContain(app.ini);
    expect(check.stderr()).toMatch(/\[Source\] "start from".*found "yesterday"; expected latest, earliest or an event id/);
  });
});
