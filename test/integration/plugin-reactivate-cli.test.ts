import { readFileSync } from 'node:fs';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cursorKey } from '../../actors/sources/event-log-cursors.js';
import { createAppServices } from '../../src/runtime/app-services.js';
import { flowd, flowdEnded, tempDir, untilRunning, type FlowdProcess } from '../helpers/cli.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { createEventsTable, dropTable, insertEvents, testPool, uniqueTable } from '../helpers/postgres.js';
import { POSTGRES_URL } from '../helpers/services.js';

// Issue 21, point 6, as an operator meets it: in shotgunEvents (092b48a) a plugin a crash deactivated is
// active again in a new daemon process (Plugin._active starts True) and replays the event it stopped on
// (its _lastEventId never passed it): a restart is how an operator retries. flowd does the same, and
// `flowd plugins app.ini --reactivate NAME` does it without a restart.

const cleanups = cleanupsAfterEach();
let db: pg.Pool;
beforeAll(() => {
  db = testPool();
});
afterAll(async () => {
  await db.end();
});

/** A command that ends: its exit code and what it printed. */
const cli = (args: string[]) => flowdEnded(args);

/** `fragile` fails on event 3 while the app folder holds a file `broken` (no change to the plugin file); `steady` takes everything. */
const FRAGILE = `import { appendFileSync, existsSync } from 'node:fs';
const out = new URL('../fragile.txt', import.meta.url);
const broken = new URL('../broken', import.meta.url);
export function registerCallbacks(reg) {
  reg.registerCallback('record', (event) => {
    if (event.id === 3 && existsSync(broken)) throw new Error('task 3 has no shot');
    appendFileSync(out, event.id + '\\n');
  });
}
`;
const STEADY = `import { appendFileSync } from 'node:fs';
const out = new URL('../steady.txt', import.meta.url);
export function registerCallbacks(reg) {
  reg.registerCallback('record', (event) => appendFileSync(out, event.id + '\\n'));
}
`;

/** An event-log app on its own table with events 1-5, the plugins above, and `broken` in place. */
async function brokenApp() {
  const table = uniqueTable();
  await createEventsTable(db, table);
  cleanups.push(() => dropTable(db, table));
  const tmp = await tempDir();
  cleanups.push(() => tmp.cleanup());
  await mkdir(path.join(tmp.dir, 'plugins'));
  await tmp.write('plugins/fragile.mjs', FRAGILE);
  await tmp.write('plugins/steady.mjs', STEADY);
  await tmp.write('broken', '');
  const ini = await tmp.write(
    'app.ini',
    `[Flow]\napp name = events\n\n[Source]\ntype = event-log\nurl = ${POSTGRES_URL}\ntable = ${table}\nstart from = earliest\nfetch interval = 100ms\n\n[Log]\nlevel = info\n\n[Plugins]\npaths = ./plugins\n`,
  );
  await insertEvents(
    db,
    table,
    [1, 2, 3, 4, 5].map((n) => ({ type: 'Shotgun_Task_Change', entity: { type: 'Task', id: n }, attributes: ['sg_status_list'] })),
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
  return {
    dir: tmp.dir,
    ini,
    ids,
    fix: () => unlink(path.join(tmp.dir, 'broken')),
    storeFolder: path.join(tmp.dir, '.flowd', 'events', 'store'),
  };
}

/** Runs the app until fragile is deactivated on event 3 and steady has all five events; returns the running daemon. */
async function runUntilDeactivated(app: Awaited<ReturnType<typeof brokenApp>>): Promise<FlowdProcess> {
  const daemon = flowd(['run', app.ini]);
  // Logs are JSON lines on stderr: quotes in a message come escaped.
  await daemon.waitFor('stderr', /event-log: plugin \\"fragile\\" is deactivated: .*task 3 has no shot/);
  await untilRunning(daemon, 'steady has events 1-5', () => app.ids('steady').length === 5);
  expect(app.ids('fragile')).toEqual([1, 2]);
  return daemon;
}

const stop = async (p: FlowdProcess) => {
  p.child.kill('SIGTERM');
  return p.exit;
};

/** The JSON log lines of a daemon that name `plugin`. */
const linesOf = (p: FlowdProcess, plugin: string) =>
  p
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.plugin === plugin);

describe('a plugin a failed callback deactivated', () => {
  it('is active again after a restart and replays the event it stopped on; the crash is logged with the plugin, event id and error', async () => {
    const app = await brokenApp();
    const first = await runUntilDeactivated(app);
    expect((await stop(first)).code).toBe(0);
    expect(linesOf(first, 'fragile')).toContainEqual(
      expect.objectContaining({
        level: 50,
        event: 3,
        error: expect.objectContaining({ code: 'ERR_PLUGIN', message: expect.stringContaining('task 3 has no shot') as string }) as object,
      }),
    );

    const listed = await cli(['plugins', app.ini]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^fragile +deactivated +2 /m);
    expect(listed.stdout).toMatch(
      /^fragile \(\S*fragile\.mjs\): ERR_PLUGIN: .*task 3 has no shot \(retried when the daemon starts, or now: flowd plugins <app.ini> --reactivate fragile\)$/m,
    );

    await app.fix();
    const second = flowd(['run', app.ini]);
    await untilRunning(second, 'fragile has events 1-5', () => app.ids('fragile').length === 5);
    expect(app.ids('fragile')).toEqual([1, 2, 3, 4, 5]);
    expect(linesOf(second, 'fragile')).toContainEqual(
      expect.objectContaining({
        level: 40,
        eventId: 3,
        error: expect.objectContaining({ code: 'ERR_PLUGIN', message: expect.stringContaining('task 3 has no shot') as string }) as object,
        msg: expect.stringMatching(
          /^event-log: plugin "fragile" was deactivated when it failed on event 3 \(ERR_PLUGIN: .*task 3 has no shot\); this start re-activates it: it goes on after event 2, retrying event 3$/,
        ) as string,
      }),
    );
    expect((await stop(second)).code).toBe(0);
    expect(app.ids('steady')).toEqual([1, 2, 3, 4, 5]);
    const after = await cli(['plugins', app.ini]);
    expect(after.stdout).toMatch(/^fragile +active +5 /m);
  }, 60_000);

  it('is retried by flowd plugins --reactivate in the running daemon, from the event it stopped on, without a restart', async () => {
    const app = await brokenApp();
    const daemon = await runUntilDeactivated(app);

    const unknown = await cli(['plugins', app.ini, '--reactivate', 'fragil']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('flowd: --reactivate: no plugin "fragil" in');
    expect(unknown.stderr).toContain('(did you mean "fragile"?)');
    const notDeactivated = await cli(['plugins', app.ini, '--reactivate', 'steady']);
    expect(notDeactivated.code, notDeactivated.stderr).toBe(0);
    expect(notDeactivated.stdout).toMatch(/^plugin "steady" is not deactivated \(its cursor is at event [45]\); nothing to do$/m);

    await app.fix();
    const reactivated = await cli(['plugins', app.ini, '--reactivate', 'fragile']);
    expect(reactivated.code, reactivated.stderr).toBe(0);
    expect(reactivated.stdout).toMatch(
      /^plugin "fragile": reactivated by the running daemon of app events \(it failed on event 3 \(ERR_PLUGIN: .*task 3 has no shot\)\); it goes on after event 2, retrying event 3$/m,
    );
    await untilRunning(daemon, 'fragile has events 1-5', () => app.ids('fragile').length === 5);
    expect(app.ids('fragile')).toEqual([1, 2, 3, 4, 5]);
    expect(daemon.stderr()).toContain('reactivated on request (flowd plugins --reactivate): it goes on after event 2, retrying event 3');
    // The same daemon, never restarted: it stops only now, when told.
    expect((await stop(daemon)).code).toBe(0);
    expect(daemon.stderr()).not.toContain('this start re-activates it');
  }, 60_000);

  it('has its deactivation cleared by --reactivate with no daemon running, and refuses a plugin that does not load or a cursor ahead of the log', async () => {
    const app = await brokenApp();
    expect((await stop(await runUntilDeactivated(app))).code).toBe(0);

    const cleared = await cli(['plugins', app.ini, '--reactivate', 'fragile']);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stdout).toMatch(
      /^plugin "fragile": deactivation cleared \(it failed on event 3 \(ERR_PLUGIN: .*\)\); no daemon reads the log now: when one starts, it goes on after event 2, retrying event 3$/m,
    );
    const listed = await cli(['plugins', app.ini]);
    expect(listed.stdout).toMatch(/^fragile +active +2 /m);

    // A cursor that was ahead of the log takes --reset-cursor: going on from it would skip events.
    const services = createAppServices(
      { store: { backend: 'file', folder: app.storeFolder }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
      'events',
      pino({ level: 'silent' }),
    );
    try {
      // The record keeps its fingerprint, so the next start still catches a log started again past the cursor.
      expect(await services.store.get(cursorKey('fragile'))).toEqual({
        last: 2,
        backlog: [],
        fingerprint: { id: 2, createdAt: expect.any(String) as string },
      });
      await services.store.put(cursorKey('fragile'), {
        last: 9,
        backlog: [],
        deactivated: { at: Date.now(), code: 'ERR_CURSOR', message: 'the cursor is at event 9, but the newest event is 5' },
      });
    } finally {
      await services.close();
    }
    const ahead = await cli(['plugins', app.ini, '--reactivate', 'fragile']);
    expect(ahead.code).toBe(1);
    expect(ahead.stderr).toMatch(
      /^flowd: cannot reactivate plugin "fragile": its cursor was ahead of the log, .*reset it instead: flowd plugins <app.ini> --reset-cursor fragile/,
    );

    await writeFile(path.join(app.dir, 'plugins/fragile.mjs'), 'export function registerCallbacks(reg) {');
    const broken = await cli(['plugins', app.ini, '--reactivate', 'fragile']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(
      /^flowd: cannot reactivate plugin "fragile": it does not load: plugin "fragile" could not be loaded from /,
    );
  }, 60_000);
});
