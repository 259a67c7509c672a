import { describe, expect, it, vi } from 'vitest';
import type { LogEvent } from '../../actors/plugins/plugin-api.js';
import { checkCursor, cursorKey } from '../../actors/sources/event-log-cursors.js';
import { reactivationKey } from '../../actors/sources/event-log-reactivation.js';
import { EventLogError, StoreError } from '../../src/kernel/errors.js';
import { eventLogRuntime, logEvent, memoryLog, storeFolder, stubHost } from '../helpers/event-log.js';
import { logSink } from '../helpers/log-sink.js';
import { cleanupsAfterEach } from '../helpers/once.js';

const cleanups = cleanupsAfterEach();

/** Starts a runtime and registers its stop and its services' close as cleanups. */
async function started(options: Parameters<typeof eventLogRuntime>[0]) {
  const made = eventLogRuntime(options);
  cleanups.push(() => made.services.close());
  cleanups.push(() => (made.runtime.actor?.getSnapshot().status === 'active' ? made.runtime.stop() : undefined));
  await made.runtime.start();
  return made;
}

const ids = (events: LogEvent[]) => events.map((e) => e.id);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('the event-log source', () => {
  it('hands each plugin its matching events in id order and keeps its cursor in the store', async () => {
    const log = memoryLog(range(1, 120).map((id) => logEvent(id, id % 3 === 0 ? 'Shotgun_Version_New' : 'Shotgun_Task_Change')));
    const all: LogEvent[] = [];
    const versions: LogEvent[] = [];
    const host = stubHost({
      all: { run: (e) => void all.push(e) },
      versions: { wants: (e) => e.type === 'Shotgun_Version_New', run: (e) => void versions.push(e) },
    });
    const folder = storeFolder();
    const { runtime, services } = await started({ reader: log, host, folder });
    await vi.waitFor(() => expect(all).toHaveLength(120), { timeout: 10_000 });
    await vi.waitFor(() => expect(versions).toHaveLength(40));
    expect(ids(all)).toEqual(range(1, 120));
    expect(ids(versions)).toEqual(range(1, 120).filter((id) => id % 3 === 0));
    await runtime.stop();
    expect(await services.store.get(cursorKey('all'))).toMatchObject({ last: 120, backlog: [] });
    expect(await services.store.get(cursorKey('versions'))).toMatchObject({ last: 120 });
  });

  it("goes on after a restart from each plugin's cursor, without repeating an event", async () => {
    const log = memoryLog(range(1, 10).map((id) => logEvent(id)));
    const seen: number[] = [];
    const folder = storeFolder();
    const first = await started({ reader: log, host: stubHost({ p: { run: (e) => void seen.push(e.id) } }), folder });
    await vi.waitFor(() => expect(seen).toHaveLength(10));
    await first.runtime.stop();
    log.events.push(...range(11, 15).map((id) => logEvent(id)));
    await started({ reader: log, host: stubHost({ p: { run: (e) => void seen.push(e.id) } }), folder });
    await vi.waitFor(() => expect(seen).toHaveLength(15));
    expect(seen).toEqual(range(1, 15));
  });

  it('keeps the last event passed as a fingerprint and, after a restart, deactivates a plugin whose event of that id was written anew', async () => {
    const at = (id: number, day: number) => ({ ...logEvent(id), createdAt: `2026-01-0${day}T00:00:${String(id).padStart(2, '0')}.000Z` });
    const log = memoryLog(range(1, 6).map((id) => at(id, 1)));
    const seen: number[] = [];
    const folder = storeFolder();
    const host = () => stubHost({ p: { run: (e) => void seen.push(e.id) }, q: { wants: (e) => e.id === 2, run: () => undefined } });
    const first = await started({ reader: log, host: host(), folder });
    await vi.waitFor(() => expect(seen).toEqual(range(1, 6)));
    await first.runtime.stop();
    // q passed 3-6 without running them: its fingerprint is still the last event it passed.
    for (const name of ['p', 'q'])
      expect(await first.services.store.get(cursorKey(name))).toEqual({
        last: 6,
        backlog: [],
        fingerprint: { id: 6, createdAt: at(6, 1).createdAt },
      });
    await first.services.close();

    // The log started again and grew past the cursors: event 6 is another one.
    log.events.splice(0, Infinity, ...range(1, 9).map((id) => at(id, 2)));
    const sink = logSink('error');
    const second = await started({ reader: log, host: host(), folder, logger: sink.logger });
    await vi.waitFor(async () =>
      expect(await second.services.store.get(cursorKey('q'))).toMatchObject({ deactivated: { code: 'ERR_CURSOR' } }),
    );
    expect(sink.messages()).toContain(
      `event-log: the cursor "event-log/plugin/p" of plugin "p" is at event 6, and event 6 had created_at 2026-01-01T00:00:06.000Z when it passed it, but event 6 in memory://log now has created_at 2026-01-02T00:00:06.000Z (the log was emptied, recreated or restored?); expected event 6 with created_at 2026-01-01T00:00:06.000Z: the plugin would skip every new event up to 6. Reset its cursor: flowd plugins <app.ini> --reset-cursor p [--to latest|earliest|<id>]`,
    );
    expect(seen).toEqual(range(1, 6));
  });

  it('keeps a plugin deactivated with ERR_CURSOR when its file changes, even once the log grew past its cursor: only a reset lifts it', async () => {
    const log = memoryLog(range(1, 3).map((id) => logEvent(id)));
    const folder = storeFolder();
    const seen: number[] = [];
    const host = stubHost({ p: { run: (e) => void seen.push(e.id) }, other: { run: () => undefined } });
    const first = eventLogRuntime({ reader: log, host, folder });
    // A record written before fingerprints were kept, ahead of the log.
    await first.services.store.put(cursorKey('p'), { last: 10, backlog: [] });
    await first.services.close();
    const sink = logSink('info');
    const { services } = await started({ reader: log, host, folder, logger: sink.logger });
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('p'))).toMatchObject({ deactivated: { code: 'ERR_CURSOR' } }));
    // The source has taken in the cursors (the record written is its own).
    await vi.waitFor(() => expect(sink.messages()).toContain('event-log: reading memory://log for 2 plugin(s)'));
    log.events.push(...range(4, 12).map((id) => logEvent(id)));
    host.activate('p');
    await vi.waitFor(() => expect(host.get('p')?.state).toBe('deactivated'));
    expect(sink.messages()).toContainEqual(
      expect.stringContaining(
        'event-log: plugin "p" stays deactivated until its cursor is reset (a changed file does not lift ERR_CURSOR)',
      ),
    );
    const reads = log.reads;
    await vi.waitFor(() => expect(log.reads).toBeGreaterThan(reads + 3));
    expect(seen).toEqual([]);
    expect(await services.store.get(cursorKey('p'))).toMatchObject({ last: 10, deactivated: { code: 'ERR_CURSOR' } });
  });

  it('loads a cursor record without a fingerprint (written before it was kept), and refuses one whose fingerprint is not { id, createdAt }', () => {
    expect(checkCursor({ last: 4, backlog: [] }, 'k')).toEqual({ last: 4, backlog: [] });
    expect(checkCursor({ last: 4, backlog: [], fingerprint: { id: 4, createdAt: 'x' } }, 'k').fingerprint).toEqual({
      id: 4,
      createdAt: 'x',
    });
    expect(() => checkCursor({ last: 4, backlog: [], fingerprint: { id: 5, createdAt: 'x' } }, 'k')).toThrow(
      'the cursor "k" in the store is corrupt: expected "fingerprint" to be { id, createdAt } with id at most "last", found {"id":5,"createdAt":"x"}',
    );
    expect(() => checkCursor({ last: 4, backlog: [], fingerprint: 3 }, 'k')).toThrow('expected "fingerprint" to be { id, createdAt }');
  });

  it.each([
    ['latest', 10, [11, 12]],
    ['earliest', 0, range(1, 12)],
    [5, 4, range(5, 12)],
  ] as const)('starts a plugin without a cursor from %s, and says so', async (startFrom, last, expected) => {
    const log = memoryLog(range(1, 10).map((id) => logEvent(id)));
    const seen: number[] = [];
    const sink = logSink('info');
    const { services } = await started({
      reader: log,
      host: stubHost({ p: { run: (e) => void seen.push(e.id) } }),
      folder: storeFolder(),
      source: { startFrom },
      logger: sink.logger,
    });
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('p'))).toBeDefined());
    // The record is written before the line is logged: wait for the line too.
    await vi.waitFor(() =>
      expect(sink.messages()).toContain(`event-log: plugin "p" has no cursor; it starts after event ${last} (start from = ${startFrom})`),
    );
    log.events.push(logEvent(11), logEvent(12));
    await vi.waitFor(() => expect(seen).toEqual(expected));
  });

  it('deactivates a plugin whose callback fails, keeps its cursor on that event, and resumes it after a reload', async () => {
    const log = memoryLog(range(1, 30).map((id) => logEvent(id)));
    const good: number[] = [];
    const flaky: number[] = [];
    let broken = true;
    const host = stubHost({
      good: { run: (e) => void good.push(e.id) },
      flaky: {
        run: (e) => {
          if (e.id === 7 && broken) throw new Error('KeyError: sg_status_list');
          flaky.push(e.id);
        },
      },
    });
    const { services } = await started({ reader: log, host, folder: storeFolder() });
    await vi.waitFor(() => expect(good).toHaveLength(30));
    await vi.waitFor(() => expect(host.get('flaky')?.state).toBe('deactivated'));
    expect(flaky).toEqual(range(1, 6));
    await vi.waitFor(async () =>
      expect(await services.store.get(cursorKey('flaky'))).toMatchObject({
        last: 6,
        deactivated: { eventId: 7, code: 'ERR_WORKER_FAILED', message: 'KeyError: sg_status_list' },
      }),
    );
    broken = false;
    host.activate('flaky');
    await vi.waitFor(() => expect(flaky).toEqual(range(1, 30)));
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('flaky'))).toEqual({ last: 30, backlog: [] }));
  });

  /** A first daemon over `folder` whose plugin "flaky" fails on event 7 while `broken()`; resolves once it is deactivated on record. */
  async function deactivatedOnSeven(folder: string, log: ReturnType<typeof memoryLog>, flaky: number[], broken: () => boolean) {
    const host = stubHost({
      flaky: {
        run: (e) => {
          if (e.id === 7 && broken()) throw new Error('KeyError: sg_status_list');
          flaky.push(e.id);
        },
      },
    });
    const sink = logSink('info');
    const made = await started({ reader: log, host, folder, logger: sink.logger });
    await vi.waitFor(async () =>
      expect(await made.services.store.get(cursorKey('flaky'))).toMatchObject({ last: 6, deactivated: { eventId: 7 } }),
    );
    return { ...made, host, sink };
  }

  it('re-activates at a restart a plugin a callback deactivated, as shotgunEvents does, and it retries the event it failed on', async () => {
    // shotgunEvents 092b48a: Plugin._active is True again in a new process, and its _lastEventId never passed the failed event.
    const log = memoryLog(range(1, 12).map((id) => logEvent(id)));
    const folder = storeFolder();
    const flaky: number[] = [];
    let broken = true;
    const first = await deactivatedOnSeven(folder, log, flaky, () => broken);
    // The crash is logged with the plugin, the event id and the error.
    expect(first.sink.lines.find((line) => line.level === 50 && line.plugin === 'flaky')).toMatchObject({
      event: 7,
      error: { code: 'ERR_WORKER_FAILED', message: 'KeyError: sg_status_list' },
      msg: expect.stringContaining(
        'it stays on event 7 until its file changes, the daemon restarts or flowd plugins <app.ini> --reactivate flaky',
      ) as string,
    });
    await first.runtime.stop();
    expect(flaky).toEqual(range(1, 6));

    broken = false;
    const sink = logSink('info');
    // A fresh host whose plugin file has not changed (mtime 0, before the deactivation).
    const second = await started({
      reader: log,
      host: stubHost({ flaky: { run: (e) => void flaky.push(e.id) } }),
      folder,
      logger: sink.logger,
    });
    await vi.waitFor(() => expect(flaky).toEqual(range(1, 12)));
    expect(sink.lines.find((line) => line.plugin === 'flaky' && line.level === 40)).toMatchObject({
      eventId: 7,
      error: { code: 'ERR_WORKER_FAILED', message: 'KeyError: sg_status_list' },
      msg: 'event-log: plugin "flaky" was deactivated when it failed on event 7 (ERR_WORKER_FAILED: KeyError: sg_status_list); this start re-activates it: it goes on after event 6, retrying event 7',
    });
    await vi.waitFor(async () => expect(await second.services.store.get(cursorKey('flaky'))).toEqual({ last: 12, backlog: [] }));
  });

  it('deactivates the plugin again at a restart when the retried event fails again, keeping its cursor before it', async () => {
    const log = memoryLog(range(1, 9).map((id) => logEvent(id)));
    const folder = storeFolder();
    const flaky: number[] = [];
    let triesOfSeven = 0;
    const fails = () => (triesOfSeven++, true);
    const first = await deactivatedOnSeven(folder, log, flaky, fails);
    await first.runtime.stop();
    expect(triesOfSeven).toBe(1);
    const again = await deactivatedOnSeven(folder, log, flaky, fails);
    await vi.waitFor(() => expect(again.host.get('flaky')?.state).toBe('deactivated'));
    expect(triesOfSeven).toBe(2);
    expect(again.sink.messages()).toContain(
      'event-log: plugin "flaky" was deactivated when it failed on event 7 (ERR_WORKER_FAILED: KeyError: sg_status_list); this start re-activates it: it goes on after event 6, retrying event 7',
    );
    expect(flaky).toEqual(range(1, 6));
    expect(await again.services.store.get(cursorKey('flaky'))).toMatchObject({ last: 6, deactivated: { eventId: 7 } });
  });

  it('reactivates a deactivated plugin while it runs when a request for that deactivation is in the store (flowd plugins --reactivate)', async () => {
    const log = memoryLog(range(1, 12).map((id) => logEvent(id)));
    const flaky: number[] = [];
    let broken = true;
    const { host, services, sink } = await deactivatedOnSeven(storeFolder(), log, flaky, () => broken);
    const record = (await services.store.get(cursorKey('flaky'))) as { deactivated: { at: number } };
    // A request left from an earlier deactivation is dropped, and the plugin stays deactivated.
    await services.store.put(reactivationKey('flaky'), { deactivatedAt: record.deactivated.at - 1, requestedAt: Date.now() });
    await vi.waitFor(async () => expect(await services.store.get(reactivationKey('flaky'))).toBeUndefined());
    expect(host.reactivated).toEqual([]);
    expect(host.get('flaky')?.state).toBe('deactivated');

    broken = false;
    await services.store.put(reactivationKey('flaky'), { deactivatedAt: record.deactivated.at, requestedAt: Date.now() });
    await vi.waitFor(() => expect(flaky).toEqual(range(1, 12)));
    expect(host.reactivated).toEqual(['flaky']);
    expect(await services.store.get(reactivationKey('flaky'))).toBeUndefined();
    expect(sink.messages()).toContain(
      'event-log: plugin "flaky" was deactivated when it failed on event 7 (ERR_WORKER_FAILED: KeyError: sg_status_list); reactivated on request (flowd plugins --reactivate): it goes on after event 6, retrying event 7',
    );
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('flaky'))).toEqual({ last: 12, backlog: [] }));
  });

  it('warns once, not at every read, while the store cannot be asked for reactivation requests, and asks again when it answers', async () => {
    const log = memoryLog(range(1, 12).map((id) => logEvent(id)));
    const flaky: number[] = [];
    let broken = true;
    const { host, services, sink } = await deactivatedOnSeven(storeFolder(), log, flaky, () => broken);
    const record = (await services.store.get(cursorKey('flaky'))) as { deactivated: { at: number } };
    const get = services.store.get.bind(services.store);
    const down = vi
      .spyOn(services.store, 'get')
      .mockRejectedValue(new StoreError('ERR_STORE_UNAVAILABLE', 'connect ECONNREFUSED 127.0.0.1:6379'));
    // Each read asks once: ten asks are ten reads with the store down.
    await vi.waitFor(() => expect(down.mock.calls.length).toBeGreaterThan(10));
    const warnings = () => sink.lines.filter((line) => line.level >= 40 && line.msg.includes('reactivation request'));
    expect(warnings().map((line) => line.msg)).toEqual([
      'event-log: cannot read reactivation requests (flowd plugins --reactivate): the store is unavailable (connect ECONNREFUSED 127.0.0.1:6379); asking again at each read, quietly until it answers',
    ]);

    down.mockImplementation(get);
    broken = false;
    await services.store.put(reactivationKey('flaky'), { deactivatedAt: record.deactivated.at, requestedAt: Date.now() });
    await vi.waitFor(() => expect(flaky).toEqual(range(1, 12)));
    expect(host.reactivated).toEqual(['flaky']);
    expect(warnings()).toHaveLength(1);
  });

  it('hands an event that appears after its gap was given up to the plugins that went past it, out of order, with one warning', async () => {
    let now = 1_000_000;
    const log = memoryLog([1, 2, 4, 5].map((id) => logEvent(id)));
    const seen: number[] = [];
    const versions: number[] = [];
    const sink = logSink('info');
    const { runtime, services } = await started({
      reader: log,
      host: stubHost({
        p: { run: (e) => void seen.push(e.id) },
        versions: { wants: (e) => e.type === 'Shotgun_Version_New', run: (e) => void versions.push(e.id) },
      }),
      folder: storeFolder(),
      now: () => now,
      logger: sink.logger,
      source: { backlogTimeoutMs: 1000 },
    });
    await vi.waitFor(() => expect(seen).toEqual([1, 2]));
    now += 1000;
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 4, 5]));
    // The transaction of id 3 commits after its gap was given up, and after the window let go of it.
    log.events.push(logEvent(3));
    const reads = log.reads;
    await vi.waitFor(() => expect(log.reads).toBeGreaterThan(reads + 3));
    now += 1000;
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 4, 5, 3]));
    const reported = sink.lines.filter((line) => line.msg.includes('appeared after it was given up'));
    expect(reported).toMatchObject([
      {
        level: 40,
        event: 3,
        msg: 'event-log: event 3 appeared after it was given up; handed to "p" out of order (the plugins not past it yet get it in order)',
      },
    ]);
    expect(versions).toEqual([]);
    expect(runtime.snapshot().source.stats).toMatchObject({ lateEvents: 1 });
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('p'))).toMatchObject({ last: 5 }));
  });

  it.each([
    ['the id-order check at connect', 'idOrder'],
    ['the list of open writers', 'openWriters'],
  ] as const)('goes on, with one warning, when %s fails for good: gaps wait for the backlog timeout instead', async (_, failing) => {
    let now = 1_000_000;
    const log = memoryLog([1, 2, 4, 5].map((id) => logEvent(id)));
    const denied = () => Promise.reject(new EventLogError('ERR_EVENT_LOG', 'permission denied for table pg_locks'));
    let asked = 0;
    const reader = {
      ...log,
      idOrder: failing === 'idOrder' ? denied : async () => ({ sequence: 'public.flowd_events_id_seq', problem: undefined }),
      openWriters: failing === 'openWriters' ? () => (asked++, denied()) : async () => [],
    };
    const seen: number[] = [];
    const sink = logSink('warn');
    const { runtime } = await started({
      reader,
      host: stubHost({ p: { run: (e) => void seen.push(e.id) } }),
      folder: storeFolder(),
      now: () => now,
      logger: sink.logger,
      source: { backlogTimeoutMs: 60_000 },
    });
    await vi.waitFor(() => expect(seen).toEqual([1, 2]), { timeout: 5000 });
    const reads = log.reads;
    await vi.waitFor(() => expect(log.reads).toBeGreaterThan(reads + 3));
    expect(seen).toEqual([1, 2]);
    now += 60_000;
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 4, 5]));
    expect(sink.messages().filter((message) => message.includes('permission denied'))).toEqual([
      expect.stringMatching(
        /^event-log: cannot .*: permission denied for table pg_locks\. flowd cannot prove that a gap in the ids will never fill/,
      ),
    ]);
    if (failing === 'openWriters') expect(asked).toBe(1);
    expect(runtime.actor?.getSnapshot().status).toBe('active');
  });

  it('counts the failures of callbacks that go on (stopOnError false) and moves the cursor past their events', async () => {
    const log = memoryLog(range(1, 3).map((id) => logEvent(id)));
    const host = stubHost({ p: { run: () => {} } });
    host.run = async () => ({ ran: ['a', 'b'], failed: [{ callback: 'b', code: 'ERR_PLUGIN', message: 'no shot' }] });
    const { runtime, services } = await started({ reader: log, host, folder: storeFolder() });
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('p'))).toMatchObject({ last: 3 }));
    expect(runtime.snapshot().source.stats).toMatchObject({ completed: 3, callbackFailures: 3, deactivations: 0 });
  });

  it('holds plugins at a gap and gives it up after the backlog timeout (an injected clock)', async () => {
    let now = 1_000_000;
    const log = memoryLog([1, 2, 4, 5].map((id) => logEvent(id)));
    const seen: number[] = [];
    const sink = logSink('info');
    const { services } = await started({
      reader: log,
      host: stubHost({ p: { run: (e) => void seen.push(e.id) } }),
      folder: storeFolder(),
      now: () => now,
      logger: sink.logger,
      source: { backlogTimeoutMs: 60_000 },
    });
    await vi.waitFor(() => expect(seen).toEqual([1, 2]));
    await vi.waitFor(async () => expect(await services.store.get(cursorKey('p'))).toEqual({ last: 2, backlog: [[3, 3, 1_060_000]] }));
    now += 59_999;
    const reads = log.reads;
    await vi.waitFor(() => expect(log.reads).toBeGreaterThan(reads + 2));
    expect(seen).toEqual([1, 2]);
    now += 1;
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 4, 5]));
    expect(sink.messages()).toContain('event-log: event id 3 never appeared within the backlog timeout; given up (plugins go on past it)');
  });

  it('hands over a late event that fills a gap before its timeout, in id order', async () => {
    const log = memoryLog([1, 2, 4, 5].map((id) => logEvent(id)));
    const seen: number[] = [];
    await started({ reader: log, host: stubHost({ p: { run: (e) => void seen.push(e.id) } }), folder: storeFolder() });
    await vi.waitFor(() => expect(seen).toEqual([1, 2]));
    log.events.push(logEvent(3));
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 3, 4, 5]));
  });

  it('stops with ERR_CURSOR on a corrupt cursor rather than start over', async () => {
    const folder = storeFolder();
    const sink = logSink('info');
    const made = eventLogRuntime({
      reader: memoryLog([logEvent(1)]),
      host: stubHost({ p: { run: () => {} } }),
      folder,
      logger: sink.logger,
    });
    cleanups.push(() => made.services.close());
    await made.services.store.put(cursorKey('p'), { last: 'twelve' });
    await made.runtime.start();
    const summary = await made.runtime.done;
    expect(summary.reason).toBe('source failed');
    expect(summary.sourceError).toMatchObject({ code: 'ERR_CURSOR' });
    expect(summary.sourceError?.message).toContain(
      'the cursor "event-log/plugin/p" in the store is corrupt: expected "last" to be a whole number',
    );
  });

  it('reconnects with backoff while the log is unreachable, and loses nothing', async () => {
    const log = memoryLog(range(1, 5).map((id) => logEvent(id)));
    const seen: number[] = [];
    const { runtime } = await started({ reader: log, host: stubHost({ p: { run: (e) => void seen.push(e.id) } }), folder: storeFolder() });
    await vi.waitFor(() => expect(seen).toHaveLength(5));
    const reconnecting = new Promise((resolve) => runtime.on('source.reconnecting', resolve));
    log.fail = new EventLogError('ERR_EVENT_LOG_UNAVAILABLE', 'connection refused');
    log.events.push(...range(6, 10).map((id) => logEvent(id)));
    await reconnecting;
    log.fail = undefined;
    await vi.waitFor(() => expect(seen).toEqual(range(1, 10)), { timeout: 10_000 });
  });

  it('lets one daemon read at a time: the second takes over from the cursors when the first stops', async () => {
    const log = memoryLog(range(1, 5).map((id) => logEvent(id)));
    const folder = storeFolder();
    const firstSeen: number[] = [];
    const secondSeen: number[] = [];
    const first = await started({ reader: log, host: stubHost({ p: { run: (e) => void firstSeen.push(e.id) } }), folder });
    await vi.waitFor(() => expect(firstSeen).toHaveLength(5));
    // The second daemon shares the first one's locks, as two daemons share Redis.
    const second = await started({
      reader: log,
      host: stubHost({ p: { run: (e) => void secondSeen.push(e.id) } }),
      folder,
      services: first.services,
    });
    log.events.push(logEvent(6));
    await vi.waitFor(() => expect(firstSeen).toHaveLength(6));
    expect(second.runtime.snapshot().source).toMatchObject({ state: 'connecting', stats: { reader: 0 } });
    await first.runtime.stop();
    log.events.push(logEvent(7));
    await vi.waitFor(() => expect(secondSeen).toEqual([7]));
  });
});
