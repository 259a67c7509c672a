import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cursorKey } from '../../actors/sources/event-log-cursors.js';
import { createAppServices } from '../../src/runtime/app-services.js';
import { runKey } from '../../src/workflows/engine.js';
import { flowd, flowdEnded, ROOT, tempDir, untilRunning, type FlowdProcess } from '../helpers/cli.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { createEventsTable, dropTable, insertEvents, testPool, uniqueTable } from '../helpers/postgres.js';
import { POSTGRES_URL } from '../helpers/services.js';

// Issue 20, point 3, as a user meets it: state in the store that no longer fits (an event log emptied
// under a plugin's cursor, a run record of the wrong shape) is named, never skipped or shown as a stack.

const cleanups = cleanupsAfterEach();
let db: pg.Pool;
beforeAll(() => {
  db = testPool();
});
afterAll(async () => {
  await db.end();
});

/** A command that ends: its exit code and what it printed. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => flowdEnded(args, { env });

/** The app's file store, opened by the test to read or spoil a record. */
async function withStore<T>(folder: string, use: (store: ReturnType<typeof createAppServices>['store']) => Promise<T>): Promise<T> {
  const services = createAppServices(
    { store: { backend: 'file', folder }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
    'test',
    pino({ level: 'silent' }),
  );
  try {
    return await use(services.store);
  } finally {
    await services.close();
  }
}

const recorder = (name: string) => `import { appendFileSync } from 'node:fs';
const out = new URL('../${name}.txt', import.meta.url);
export function registerCallbacks(reg) {
  reg.registerCallback('record', (event) => appendFileSync(out, event.id + '\\n'));
}
`;

/** An event-log app on its own table, with plugins `a` and `b` that note each id they get in `<name>.txt`. */
async function eventLogApp() {
  const table = uniqueTable();
  await createEventsTable(db, table);
  cleanups.push(() => dropTable(db, table));
  const tmp = await tempDir();
  cleanups.push(() => tmp.cleanup());
  await mkdir(path.join(tmp.dir, 'plugins'));
  for (const name of ['a', 'b']) await tmp.write(`plugins/${name}.mjs`, recorder(name));
  const ini = await tmp.write(
    'app.ini',
    `[Flow]\napp name = events\n\n[Source]\ntype = event-log\nurl = ${POSTGRES_URL}\ntable = ${table}\nstart from = earliest\nfetch interval = 100ms\n\n[Log]\nlevel = info\n\n[Plugins]\npaths = ./plugins\n`,
  );
  const ids = (name: string): number[] => {
    try {
      return readFileSync(path.join(tmp.dir, `${name}.txt`), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  };
  const event = (n: number) => ({ type: 'Shotgun_Task_Change', entity: { type: 'Task', id: n }, attributes: ['sg_status_list'] });
  return {
    table,
    ini,
    ids,
    storeFolder: path.join(tmp.dir, '.flowd', 'events', 'store'),
    insert: (count: number) =>
      insertEvents(
        db,
        table,
        Array.from({ length: count }, (_, i) => event(i + 1)),
      ),
  };
}

const stop = async (p: FlowdProcess) => {
  p.child.kill('SIGTERM');
  return p.exit;
};

describe('a plugin cursor ahead of the event log', () => {
  it('deactivates the plugin with ERR_CURSOR naming both ids at start-up, the other plugins go on, and --reset-cursor puts it back', async () => {
    const app = await eventLogApp();
    await app.insert(5);
    const first = flowd(['run', app.ini]);
    await untilRunning(first, 'both plugins have events 1-5', () => app.ids('a').length === 5 && app.ids('b').length === 5);
    expect((await stop(first)).code).toBe(0);

    // The table emptied with its ids started again: a's cursor (5) is ahead of the log; b starts afresh.
    await db.query(`TRUNCATE ${app.table} RESTART IDENTITY`);
    await app.insert(3);
    await withStore(app.storeFolder, (store) => store.delete(cursorKey('b')));
    const second = flowd(['run', app.ini]);
    await second.waitFor('stderr', /ERR_CURSOR/);
    await untilRunning(second, 'b has the new events 1-3', () => app.ids('b').length === 8);
    expect(app.ids('b')).toEqual([1, 2, 3, 4, 5, 1, 2, 3]);
    expect(second.stderr()).toContain(
      'the cursor \\"event-log/plugin/a\\" of plugin \\"a\\" is at event 5, but the newest event in postgres://postgres@127.0.0.1:5432/test',
    );
    expect(second.stderr()).toContain(`table ${app.table} is 3 (the log was emptied, recreated or restored?); expected at most 3`);
    expect(second.stderr()).toContain('flowd plugins <app.ini> --reset-cursor a [--to latest|earliest|<id>]');

    // While it runs, the reset is refused: the daemon holds the cursors.
    const busy = await cli(['plugins', app.ini, '--reset-cursor', 'a']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/^flowd: cannot reset the cursor of plugin "a": a daemon of app events reads the event log/);
    expect((await stop(second)).code).toBe(0);
    expect(app.ids('a')).toEqual([1, 2, 3, 4, 5]);

    const listed = await cli(['plugins', app.ini]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^a +deactivated +5 /m);
    expect(listed.stdout).toContain('ERR_CURSOR: the cursor "event-log/plugin/a" of plugin "a" is at event 5');

    const unknown = await cli(['plugins', app.ini, '--reset-cursor', 'c']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('flowd: --reset-cursor: no plugin "c" in');
    const badTo = await cli(['plugins', app.ini, '--reset-cursor', 'a', '--to', 'lates']);
    expect(badTo.code).toBe(2);
    expect(badTo.stderr).toContain(
      'flowd: --to: found "lates"; expected latest, earliest or an event id (a whole number of at least 1) (did you mean "latest"?)',
    );

    const reset = await cli(['plugins', app.ini, '--reset-cursor', 'a', '--to', 'earliest']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('plugin "a": cursor "event-log/plugin/a" reset from 5 to 0');
    const third = flowd(['run', app.ini]);
    await untilRunning(third, 'a has the new events 1-3', () => app.ids('a').length === 8);
    expect((await stop(third)).code).toBe(0);
    expect(app.ids('a')).toEqual([1, 2, 3, 4, 5, 1, 2, 3]);
    expect(third.stderr()).not.toContain('ERR_CURSOR');
  }, 60_000);

  it('deactivates a plugin when the log is emptied under a running daemon, rather than wait silently past the new events', async () => {
    const app = await eventLogApp();
    await app.insert(4);
    const daemon = flowd(['run', app.ini]);
    await untilRunning(daemon, 'both plugins have events 1-4', () => app.ids('a').length === 4 && app.ids('b').length === 4);
    await db.query(`TRUNCATE ${app.table} RESTART IDENTITY`);
    await app.insert(2);
    await daemon.waitFor('stderr', /plugin \\"b\\" is at event 4, but the newest event in postgres:/);
    await daemon.waitFor('stderr', /plugin \\"a\\" is at event 4, but the newest event in postgres:/);
    expect((await stop(daemon)).code).toBe(0);
    const listed = await cli(['plugins', app.ini, '--json']);
    const plugins = (JSON.parse(listed.stdout) as { plugins: Array<{ name: string; state: string; error: string }> }).plugins;
    expect(plugins.map((p) => [p.name, p.state, p.error.slice(0, 11)])).toEqual([
      ['a', 'deactivated', 'ERR_CURSOR:'],
      ['b', 'deactivated', 'ERR_CURSOR:'],
    ]);
    const reset = await cli(['plugins', app.ini, '--reset-cursor', 'b', '--to', '2']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('reset from 4 to 1 (before event 2)');
    const again = flowd(['run', app.ini]);
    await untilRunning(again, 'b has event 2 of the new log', () => app.ids('b').length === 5);
    expect((await stop(again)).code).toBe(0);
    expect(app.ids('b')).toEqual([1, 2, 3, 4, 2]);
    expect(app.ids('a')).toEqual([1, 2, 3, 4]);
  }, 60_000);

  it('deactivates a plugin whose last event is gone or another one after the log was emptied and grew past its cursor while stopped', async () => {
    const app = await eventLogApp();
    await app.insert(5);
    const first = flowd(['run', app.ini]);
    await untilRunning(first, 'both plugins have events 1-5', () => app.ids('a').length === 5 && app.ids('b').length === 5);
    expect((await stop(first)).code).toBe(0);
    const { rows } = await db.query<{ created_at: Date }>(`SELECT created_at FROM ${app.table} WHERE id = 5`);
    const was = rows[0]!.created_at.toISOString();
    const fingerprint = await withStore(app.storeFolder, (store) => store.get(cursorKey('a')));
    expect(fingerprint).toEqual({ last: 5, backlog: [], fingerprint: { id: 5, createdAt: was } });
    // b's record is one written before cursors kept a fingerprint: it loads, and gains one on its next write.
    await withStore(app.storeFolder, (store) => store.put(cursorKey('b'), { last: 5, backlog: [] }));

    // Emptied with its ids started again, and grown past the cursors (5) before the daemon starts: not ahead, but not the same log.
    await db.query(`TRUNCATE ${app.table} RESTART IDENTITY`);
    await app.insert(8);
    const { rows: now } = await db.query<{ created_at: Date }>(`SELECT created_at FROM ${app.table} WHERE id = 5`);
    const second = flowd(['run', app.ini]);
    await second.waitFor('stderr', /ERR_CURSOR/);
    await untilRunning(second, 'b has events 6-8 of the new log', () => app.ids('b').length === 8);
    expect(second.stderr()).toContain(
      `the cursor \\"event-log/plugin/a\\" of plugin \\"a\\" is at event 5, and event 5 had created_at ${was} when it passed it, but event 5 in postgres://postgres@127.0.0.1:5432/test table ${app.table} now has created_at ${now[0]!.created_at.toISOString()} (the log was emptied, recreated or restored?); expected event 5 with created_at ${was}: the plugin would skip every new event up to 5.`,
    );
    expect(second.stderr()).toContain('flowd plugins <app.ini> --reset-cursor a [--to latest|earliest|<id>]');
    expect(second.stderr()).not.toContain('plugin \\"b\\" is at event');
    expect((await stop(second)).code).toBe(0);
    expect(app.ids('a')).toEqual([1, 2, 3, 4, 5]);
    expect(app.ids('b')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await withStore(app.storeFolder, (store) => store.get(cursorKey('b')))).toMatchObject({ last: 8, fingerprint: { id: 8 } });

    // Emptied again and grown past a's cursor with event 5 gone (deleted): the same error, "is gone".
    const reset = await cli(['plugins', app.ini, '--reset-cursor', 'a', '--to', 'latest']);
    expect(reset.code, reset.stderr).toBe(0);
    const third = flowd(['run', app.ini]);
    await app.insert(1);
    await untilRunning(third, 'a has event 9', () => app.ids('a').length === 6);
    expect((await stop(third)).code).toBe(0);
    expect(app.ids('a')).toEqual([1, 2, 3, 4, 5, 9]);
    await db.query(`TRUNCATE ${app.table} RESTART IDENTITY`);
    await app.insert(10);
    await db.query(`DELETE FROM ${app.table} WHERE id = 9`);
    const fourth = flowd(['run', app.ini]);
    for (const name of ['a', 'b'])
      await fourth.waitFor(
        'stderr',
        new RegExp(
          `plugin \\\\"${name}\\\\" is at event 9, and event 9 had created_at \\S+ when it passed it, but event 9 in postgres:\\S+ table \\w+ now is gone`,
        ),
      );
    expect((await stop(fourth)).code).toBe(0);
    expect(app.ids('a')).toEqual([1, 2, 3, 4, 5, 9]);
    expect(app.ids('b')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }, 60_000);
});

describe('flowd workflow status on a corrupt run record', () => {
  it.each([
    ['a string', 'oops', 'expected an object { runId, workflow, state, history }, found a string "oops"'],
    [
      'a record whose history is not a list',
      { runId: 'x', workflow: { name: 'TwoRounds', version: 1 }, state: 'running', history: 'lost' },
      'expected "history" to be a list of events starting with workflow.started, found a string "lost"',
    ],
    [
      'a record whose history is not events',
      { runId: 'x', workflow: { name: 'TwoRounds', version: 1 }, state: 'running', history: [42] },
      'expected history[0] to be an event { type, at, ... }, found a number 42',
    ],
  ])('exits 1 naming the key, what was found and what was expected, without a stack: %s', async (_, value, expected) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'flowd-bad-run-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const env = { WORKFLOW_CLI_STATE: path.join(dir, 'state') };
    const ini = path.join(ROOT, 'test/fixtures/workflow-cli/app.ini');
    const started = await cli(['workflow', 'start', ini, 'TwoRounds', '--input', '1'], env);
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    await withStore(path.join(dir, 'state', 'store'), (store) => store.put(runKey(runId), value));
    const status = await cli(['workflow', 'status', ini, runId], env);
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(
      `flowd: the run record "workflow/run/${runId}" in the store is corrupt: ${expected}; repair or delete the record (flowd writes it; see docs/workflows.md)\n`,
    );
  });
});
