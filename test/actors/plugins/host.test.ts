import type * as FileSystem from 'node:fs';
import { mkdir, mkdtemp, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { createPluginHost, type PluginHostOptions } from '../../../actors/plugins/host.js';
import type { LogEvent, PluginChange, PluginHost } from '../../../actors/plugins/plugin-api.js';
import type { WorkerContext } from '../../../actors/workers/worker.js';
import { PluginError } from '../../../src/kernel/errors.js';
import { logSink } from '../../helpers/log-sink.js';
import { cleanupsAfterEach, deferred } from '../../helpers/once.js';

// The real watcher, unless a test makes it fail (to show the rescan alone finds changes).
const watching = vi.hoisted(() => ({ fails: false, folders: [] as string[] }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof FileSystem>();
  const watch = ((...args: Parameters<typeof fs.watch>) => {
    watching.folders.push(String(args[0]));
    if (watching.fails) throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
    return fs.watch(...args);
  }) as typeof fs.watch;
  return { ...fs, default: { ...fs, watch }, watch };
});

const cleanups = cleanupsAfterEach();
let root: string;
let first: string;
let second: string;
let bump = 0;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'flowd-plugin-host-'));
  first = path.join(root, 'plugins');
  second = path.join(root, 'more');
  await mkdir(first);
  await mkdir(second);
});
afterEach(async () => {
  watching.fails = false;
  watching.folders = [];
  await rm(root, { recursive: true, force: true });
});

/** Writes a plugin file, with an mtime later than any before it (so a rewrite of the same size is a change too). */
async function write(folder: string, fileName: string, source: string): Promise<string> {
  const file = path.join(folder, fileName);
  await writeFile(file, source);
  const at = Date.now() / 1000 + ++bump;
  await utimes(file, at, at);
  return file;
}

/**
 * A plugin whose callbacks record `plugin.callback:eventId` into `ctx.meta.calls`;
 * `throws` makes a callback throw, `gate` makes it wait for `ctx.meta.gate`.
 */
function source(callbacks: Array<{ name: string; match?: object; stopOnError?: boolean; throws?: boolean; gate?: boolean }>): string {
  const lines = callbacks.map(
    ({ name, match, stopOnError, throws, gate }) =>
      `  reg.registerCallback(${JSON.stringify(name)}, async (event, ctx, args) => {
    ctx.meta.calls.push(ctx.plugin + '.' + ctx.callback + ':' + event.id);
    ctx.log.info({ args }, 'called');
    ${gate ? 'await ctx.meta.gate;' : ''}
    ${throws ? `throw Object.assign(new Error('no route to ${name}'), { code: 'ERR_HTTP' });` : ''}
  }, ${JSON.stringify({ match, stopOnError, args: { from: name } })});`,
  );
  return `export function registerCallbacks(reg) {\n${lines.join('\n')}\n}\n`;
}

const event = (id: number, type = 'Shotgun_Task_Change', attributes = ['sg_status_list']): LogEvent => ({
  id,
  type,
  entity: null,
  attributes,
  createdAt: undefined,
  meta: null,
});

/** A run's ctx, stubbed: a log, a signal, and `meta.calls` to record into. */
function context(log = logSink().logger, extra: Record<string, unknown> = {}) {
  const controller = new AbortController();
  const calls: string[] = [];
  const ctx = { log, signal: controller.signal, attempt: 1, id: 'e', meta: { calls, ...extra } } as unknown as WorkerContext;
  return { ctx, calls, controller };
}

/** A started host on the test's folders, closed after the test; `changes` records what it told its listeners. */
async function startHost(options: Partial<PluginHostOptions> = {}) {
  const sink = logSink();
  const host = createPluginHost({
    paths: [first, second],
    reload: true,
    rescanIntervalMs: 100,
    debounceMs: 20,
    log: sink.logger,
    ...options,
  });
  cleanups.push(() => host.close());
  const changes: PluginChange[] = [];
  host.onChange((change) => changes.push(change));
  await host.start();
  return { host, sink, changes };
}

/** Resolves with the first change the host announces that fits. */
function nextChange(host: PluginHost, fits: (change: PluginChange) => boolean): Promise<PluginChange> {
  return new Promise((resolve) => {
    const off = host.onChange((change) => {
      if (!fits(change)) return;
      off();
      resolve(change);
    });
  });
}

const callbackNames = (host: PluginHost, name: string) => host.get(name)?.callbacks.map((callback) => callback.name);

describe('createPluginHost', () => {
  it('loads the plugin modules found directly in its folders and lists them by name, active, with their callbacks', async () => {
    await write(
      first,
      'notify.mjs',
      source([{ name: 'onStatus', match: { Shotgun_Task_Change: ['sg_status_list'] }, stopOnError: false }, { name: 'onAny' }]),
    );
    await write(second, 'audit.mjs', source([{ name: 'onAudit' }]));
    for (const skipped of ['types.d.ts', '.hidden.mjs', '_helper.mjs', 'notify.test.mjs', 'readme.txt'])
      await write(first, skipped, 'throw new Error("loaded")');
    await mkdir(path.join(first, 'sub'));
    await write(path.join(first, 'sub'), 'deep.mjs', source([{ name: 'deep' }]));
    const { host } = await startHost();
    expect(host.list().map(({ name, state }) => [name, state])).toEqual([
      ['audit', 'active'],
      ['notify', 'active'],
    ]);
    expect(host.get('notify')).toMatchObject({
      file: path.join(first, 'notify.mjs'),
      error: undefined,
      callbacks: [
        { name: 'onStatus', match: { Shotgun_Task_Change: ['sg_status_list'] }, stopOnError: false },
        { name: 'onAny', match: undefined, stopOnError: true },
      ],
    });
    expect(host.get('notify')!.mtimeMs).toBeGreaterThan(0);
    expect(host.get('deep')).toBeUndefined();
  });

  it('loads a TypeScript plugin', async () => {
    await write(
      first,
      'typed.ts',
      `export function registerCallbacks(reg: { registerCallback(name: string, fn: () => void): void }): void {\n  reg.registerCallback('onTyped', () => {});\n}\n`,
    );
    const { host } = await startHost();
    expect(host.get('typed')).toMatchObject({ state: 'active', callbacks: [{ name: 'onTyped' }] });
  });

  it('runs an event through the matching callbacks in registration order, each with its args and a ctx naming the plugin and callback', async () => {
    await write(
      first,
      'notify.mjs',
      source([
        { name: 'onStatus', match: { Shotgun_Task_Change: ['sg_status_list'] } },
        { name: 'onVersion', match: { Shotgun_Version_New: ['*'] } },
        { name: 'onAny' },
      ]),
    );
    const { host } = await startHost();
    const sink = logSink();
    const { ctx, calls } = context(sink.logger);
    expect(await host.run('notify', event(7), ctx)).toEqual({ ran: ['onStatus', 'onAny'], failed: [] });
    expect(calls).toEqual(['notify.onStatus:7', 'notify.onAny:7']);
    expect(sink.lines.filter((line) => line.msg === 'called').map(({ plugin, callback, args }) => ({ plugin, callback, args }))).toEqual([
      { plugin: 'notify', callback: 'onStatus', args: { from: 'onStatus' } },
      { plugin: 'notify', callback: 'onAny', args: { from: 'onAny' } },
    ]);
  });

  it("reads the run's ctx through, touching a lazy member only when a callback asks for it", async () => {
    await write(
      first,
      'lazy.mjs',
      `export function registerCallbacks(reg) {\n  reg.registerCallback('quiet', () => {});\n  reg.registerCallback('client', (event, ctx) => ctx.client);\n}\n`,
    );
    const { host } = await startHost();
    const { ctx } = context();
    Object.defineProperty(ctx, 'client', {
      get() {
        throw new Error('no [Api] section');
      },
    });
    await expect(host.run('lazy', event(1), ctx)).rejects.toThrow('plugin "lazy" callback "client" failed on event 1: no [Api] section');
  });

  it('says whether any callback of an active plugin matches an event', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onStatus', match: { Shotgun_Task_Change: ['sg_status_list'] } }]));
    const { host } = await startHost();
    expect(host.matches('notify', event(1))).toBe(true);
    expect(host.matches('notify', event(1, 'Shotgun_Task_Change', ['content']))).toBe(false);
    expect(host.matches('nope', event(1))).toBe(false);
    host.deactivate('notify', { code: 'ERR_PLUGIN', message: 'failed' });
    expect(host.matches('notify', event(1))).toBe(false);
  });

  it('rejects with ERR_PLUGIN naming the plugin, callback and event when a stopOnError callback throws, running no further callback', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onStatus', throws: true }, { name: 'onAny' }]));
    const { host } = await startHost();
    const { ctx, calls } = context();
    const error = await host.run('notify', event(123), ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginError);
    expect(error).toMatchObject({
      code: 'ERR_PLUGIN',
      plugin: 'notify',
      callback: 'onStatus',
      eventId: 123,
      message: 'plugin "notify" callback "onStatus" failed on event 123: no route to onStatus',
    });
    expect((error as PluginError).cause).toMatchObject({ code: 'ERR_HTTP' });
    expect(calls).toEqual(['notify.onStatus:123']);
    expect(host.get('notify')!.state).toBe('active');
  });

  it('logs and lists a failing callback with stopOnError false, and goes on to the next', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onStatus', throws: true, stopOnError: false }, { name: 'onAny' }]));
    const { host } = await startHost();
    const sink = logSink();
    const { ctx, calls } = context(sink.logger);
    expect(await host.run('notify', event(5), ctx)).toEqual({
      ran: ['onStatus', 'onAny'],
      failed: [{ callback: 'onStatus', code: 'ERR_HTTP', message: 'no route to onStatus' }],
    });
    expect(calls).toEqual(['notify.onStatus:5', 'notify.onAny:5']);
    expect(sink.lines.find((line) => line.level === 50)).toMatchObject({
      plugin: 'notify',
      callback: 'onStatus',
      eventId: 5,
      msg: 'plugin "notify" callback "onStatus" failed on event 5: no route to onStatus (stopOnError is false: going on)',
    });
  });

  it("stops with the signal's reason when the run is aborted, never blaming the plugin", async () => {
    await write(first, 'notify.mjs', source([{ name: 'slow', gate: true, throws: true }, { name: 'onAny' }]));
    const { host } = await startHost();
    const gate = deferred();
    const { ctx, calls, controller } = context(undefined, { gate: gate.promise });
    const running = host.run('notify', event(9), ctx);
    const shutdown = Object.assign(new Error('shutting down'), { code: 'ERR_SHUTDOWN' });
    await vi.waitFor(() => expect(calls).toEqual(['notify.slow:9']));
    controller.abort(shutdown);
    gate.resolve();
    await expect(running).rejects.toBe(shutdown);
    expect(calls).toEqual(['notify.slow:9']);
    await expect(host.run('notify', event(10), ctx)).rejects.toBe(shutdown);
  });

  it('refuses to run an event through a plugin that is unknown or not active', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onAny' }]));
    const { host } = await startHost();
    await expect(host.run('nope', event(1), context().ctx)).rejects.toMatchObject({
      code: 'ERR_PLUGIN',
      message: 'plugin "nope" cannot run event 1: it is not a known plugin; expected an active plugin',
    });
    host.deactivate('notify', { code: 'ERR_PLUGIN', message: 'failed' });
    await expect(host.run('notify', event(2), context().ctx)).rejects.toMatchObject({
      code: 'ERR_PLUGIN',
      eventId: 2,
      message: 'plugin "notify" cannot run event 2: it is deactivated; expected an active plugin',
    });
  });

  it('deactivates a plugin with the error it is given, and tells its listeners', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onAny' }]));
    const { host, changes } = await startHost();
    const error = {
      code: 'ERR_PLUGIN',
      message: 'plugin "notify" callback "onAny" failed on event 3: boom',
      eventId: 3,
      callback: 'onAny',
    };
    host.deactivate('notify', error);
    expect(host.get('notify')).toMatchObject({ state: 'deactivated', error });
    expect(changes.at(-1)).toEqual({ type: 'plugin.deactivated', name: 'notify', error });
  });

  it('reloads a plugin whose file changes and runs the new callbacks', async () => {
    const file = await write(first, 'notify.mjs', source([{ name: 'onStatus' }]));
    const { host } = await startHost();
    const activated = nextChange(host, (change) => change.type === 'plugin.activated');
    await write(first, 'notify.mjs', source([{ name: 'onStatusV2' }, { name: 'onNew' }]));
    expect(await activated).toEqual({ type: 'plugin.activated', name: 'notify' });
    expect(callbackNames(host, 'notify')).toEqual(['onStatusV2', 'onNew']);
    const { ctx, calls } = context();
    await host.run('notify', event(1), ctx);
    expect(calls).toEqual(['notify.onStatusV2:1', 'notify.onNew:1']);
    expect(host.get('notify')!.file).toBe(file);
  });

  it('finds changes by rescanning alone when the folders cannot be watched', async () => {
    watching.fails = true;
    await write(first, 'notify.mjs', source([{ name: 'onStatus' }]));
    const { host, sink } = await startHost();
    expect(sink.messages()).toContain(`cannot watch plugin folder ${first}; relying on the rescan every 100ms`);
    const activated = nextChange(host, (change) => change.type === 'plugin.activated');
    await write(first, 'notify.mjs', source([{ name: 'onStatusV2' }]));
    await activated;
    expect(callbackNames(host, 'notify')).toEqual(['onStatusV2']);
  });

  it("loads only the last of an editor's quick writes", async () => {
    const loaded = `globalThis.__flowdLoads ??= []; globalThis.__flowdLoads.push(VERSION);\n`;
    await write(first, 'notify.mjs', loaded.replace('VERSION', '0') + source([{ name: 'v0' }]));
    const loads = ((globalThis as { __flowdLoads?: number[] }).__flowdLoads = []);
    const { host } = await startHost({ debounceMs: 400 });
    const activated = nextChange(host, (change) => change.type === 'plugin.activated');
    for (const version of [1, 2, 3])
      await write(first, 'notify.mjs', loaded.replace('VERSION', String(version)) + source([{ name: `v${version}` }]));
    await activated;
    expect(callbackNames(host, 'notify')).toEqual(['v3']);
    expect(loads).toEqual([0, 3]);
  });

  it('finishes a run with the callbacks it started with when the plugin reloads meanwhile', async () => {
    await write(first, 'notify.mjs', source([{ name: 'first', gate: true }, { name: 'second' }]));
    const { host } = await startHost();
    const gate = deferred();
    const { ctx, calls } = context(undefined, { gate: gate.promise });
    const running = host.run('notify', event(4), ctx);
    const activated = nextChange(host, (change) => change.type === 'plugin.activated');
    await write(first, 'notify.mjs', source([{ name: 'renamed' }]));
    await activated;
    gate.resolve();
    expect(await running).toEqual({ ran: ['first', 'second'], failed: [] });
    expect(calls).toEqual(['notify.first:4', 'notify.second:4']);
  });

  it('deactivates a plugin that does not load, with ERR_PLUGIN_LOAD naming the file, and activates it once the file is fixed', async () => {
    const file = await write(first, 'broken.mjs', 'export function registerCallbacks(reg) {');
    const { host, changes } = await startHost();
    expect(host.get('broken')).toMatchObject({ state: 'deactivated', callbacks: [], error: { code: 'ERR_PLUGIN_LOAD' } });
    expect(host.get('broken')!.error!.message).toContain(`plugin "broken" could not be loaded from ${file}: importing it failed`);
    expect(changes).toContainEqual({ type: 'plugin.deactivated', name: 'broken', error: host.get('broken')!.error });
    const activated = nextChange(host, (change) => change.type === 'plugin.activated' && change.name === 'broken');
    await write(first, 'broken.mjs', source([{ name: 'fixed' }]));
    await activated;
    expect(host.get('broken')).toMatchObject({ state: 'active', error: undefined, callbacks: [{ name: 'fixed' }] });
  });

  it('resumes a plugin deactivated by a callback failure once its file changes', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onAny' }]));
    const { host } = await startHost();
    host.deactivate('notify', { code: 'ERR_PLUGIN', message: 'failed' });
    const activated = nextChange(host, (change) => change.type === 'plugin.activated');
    await write(first, 'notify.mjs', source([{ name: 'onAnyFixed' }]));
    await activated;
    expect(host.get('notify')).toMatchObject({ state: 'active', error: undefined });
  });

  it('reactivates a deactivated plugin by loading its unchanged file again, and leaves an active or unknown one alone', async () => {
    const loaded = `globalThis.__flowdReactivations = (globalThis.__flowdReactivations ?? 0) + 1;\n`;
    await write(first, 'notify.mjs', loaded + source([{ name: 'onAny' }]));
    const { host, sink } = await startHost({ reload: false });
    const loads = () => (globalThis as { __flowdReactivations?: number }).__flowdReactivations ?? 0;
    const before = loads();
    expect(host.reactivate('notify')).toBe(false);
    expect(host.reactivate('nobody')).toBe(false);
    host.deactivate('notify', { code: 'ERR_PLUGIN', message: 'failed', eventId: 9 });
    const activated = nextChange(host, (change) => change.type === 'plugin.activated');
    expect(host.reactivate('notify')).toBe(true);
    await activated;
    expect(host.get('notify')).toMatchObject({ state: 'active', error: undefined, callbacks: [{ name: 'onAny' }] });
    expect(loads()).toBe(before + 1);
    expect(sink.messages()).toContain(`plugin "notify" is reactivated; loading ${path.join(first, 'notify.mjs')} again`);
  });

  it('adds a plugin when its file appears, announcing it once loaded, and removes it when its file goes', async () => {
    const { host, changes } = await startHost();
    expect(host.list()).toEqual([]);
    const added = nextChange(host, (change) => change.type === 'plugin.added').then(() => host.get('late'));
    const activated = nextChange(host, (change) => change.type === 'plugin.activated');
    await write(second, 'late.mjs', source([{ name: 'onAny' }]));
    expect(await added).toMatchObject({ state: 'active', file: path.join(second, 'late.mjs'), callbacks: [{ name: 'onAny' }] });
    expect((await added)!.mtimeMs).toBeGreaterThan(0);
    await activated;
    const removed = nextChange(host, (change) => change.type === 'plugin.removed');
    await unlink(path.join(second, 'late.mjs'));
    await removed;
    expect(host.list()).toEqual([]);
    expect(changes).toEqual([
      { type: 'plugin.added', name: 'late' },
      { type: 'plugin.activated', name: 'late' },
      { type: 'plugin.removed', name: 'late' },
    ]);
  });

  it('takes a name found in two folders from the first, warning with both files, and the other once the first is gone', async () => {
    const winner = await write(first, 'dup.mjs', source([{ name: 'fromFirst' }]));
    const other = await write(second, 'dup.mjs', source([{ name: 'fromSecond' }]));
    const { host, sink, changes } = await startHost();
    expect(host.list()).toHaveLength(1);
    expect(host.get('dup')).toMatchObject({ file: winner, callbacks: [{ name: 'fromFirst' }] });
    expect(sink.lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
      `plugin "dup" is in both ${winner} and ${other}; using ${winner}`,
    ]);
    const activated = nextChange(host, (change) => change.type === 'plugin.activated');
    await unlink(winner);
    await activated;
    expect(host.get('dup')).toMatchObject({ file: other, callbacks: [{ name: 'fromSecond' }] });
    expect(changes.slice(-3)).toEqual([
      { type: 'plugin.removed', name: 'dup' },
      { type: 'plugin.added', name: 'dup' },
      { type: 'plugin.activated', name: 'dup' },
    ]);
  });

  it('keeps a plugin deactivated on record after its first load, with its callbacks, and asks with its name, file and mtime', async () => {
    const file = await write(first, 'notify.mjs', source([{ name: 'onAny' }]));
    await write(first, 'other.mjs', source([{ name: 'onOther' }]));
    const record = {
      code: 'ERR_PLUGIN',
      message: 'plugin "notify" callback "onAny" failed on event 8: boom',
      eventId: 8,
      callback: 'onAny',
    };
    const asked: Array<[string, string, number]> = [];
    const { host } = await startHost({
      initialState: (name, at, mtimeMs) => {
        asked.push([name, at, mtimeMs]);
        return name === 'notify' ? { deactivated: record } : undefined;
      },
    });
    expect(asked.find(([name]) => name === 'notify')).toEqual(['notify', file, host.get('notify')!.mtimeMs]);
    expect(host.get('notify')).toMatchObject({ state: 'deactivated', error: record, callbacks: [{ name: 'onAny' }] });
    expect(host.get('other')!.state).toBe('active');
  });

  it('watches each folder with reload on, and none with reload off', async () => {
    await startHost();
    expect(watching.folders).toEqual([first, second]);
    watching.folders = [];
    await startHost({ reload: false });
    expect(watching.folders).toEqual([]);
  });

  it('refuses to start when a folder is missing, naming it', async () => {
    const missing = path.join(root, 'nowhere');
    const host = createPluginHost({ paths: [first, missing], reload: false, rescanIntervalMs: 100, log: logSink().logger });
    cleanups.push(() => host.close());
    await expect(host.start()).rejects.toThrow(
      `plugin folder ${missing} does not exist; expected a folder of plugin modules ([Plugins] paths)`,
    );
  });

  it('reports each plugin actor to the inspector observer, as plugin:<name>', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onAny' }]));
    const seen: InspectionEvent[] = [];
    const host = createPluginHost({ paths: [first], reload: false, rescanIntervalMs: 100, log: logSink().logger });
    cleanups.push(() => host.close());
    host.inspect((inspection) => seen.push(inspection));
    await host.start();
    expect(
      seen.some((inspection) => inspection.type === '@xstate.actor' && (inspection.actorRef as { id?: string }).id === 'plugin:notify'),
    ).toBe(true);
    expect(
      seen.some((inspection) => inspection.type === '@xstate.snapshot' && (inspection.snapshot as { value?: unknown }).value === 'active'),
    ).toBe(true);
  });

  it('keeps telling the other listeners when one throws, and stops telling one that unsubscribed', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onAny' }]));
    const { host, sink, changes } = await startHost();
    const unsubscribed: PluginChange[] = [];
    const off = host.onChange((change) => unsubscribed.push(change));
    off();
    host.onChange(() => {
      throw new Error('listener bug');
    });
    host.deactivate('notify', { code: 'ERR_PLUGIN', message: 'failed' });
    expect(changes.at(-1)).toMatchObject({ type: 'plugin.deactivated' });
    expect(unsubscribed).toEqual([]);
    expect(sink.messages()).toContain('a plugin-change listener threw on plugin.deactivated of "notify"');
  });

  it('stops its plugins on close', async () => {
    await write(first, 'notify.mjs', source([{ name: 'onAny' }]));
    const { host } = await startHost();
    await host.close();
    expect(host.list()).toEqual([]);
    expect(host.matches('notify', event(1))).toBe(false);
  });
});
