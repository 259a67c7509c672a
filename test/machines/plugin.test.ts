import { describe, expect, it } from 'vitest';
import { createActor, fromPromise } from 'xstate';
import {
  pluginChanged,
  pluginFailed,
  pluginMachine,
  pluginRemoved,
  type PluginEmitted,
  type PluginErrorInfo,
  type PluginLoadInput,
  type PluginLoadOutput,
} from '../../machines/plugin.js';
import { flush as settle } from '../helpers/wait.js';

interface PendingLoad {
  input: PluginLoadInput;
  resolve(output: PluginLoadOutput): void;
  reject(error: unknown): void;
}

const callbacks = (...names: string[]) => names.map((name) => ({ name, stopOnError: true }));

/** The plugin machine with a load the test settles by hand, recording what it emits. */
function harness(deactivated?: PluginErrorInfo) {
  const loads: PendingLoad[] = [];
  const logic = pluginMachine.provide({
    actors: {
      load: fromPromise<PluginLoadOutput, PluginLoadInput>(
        ({ input }) => new Promise((resolve, reject) => loads.push({ input, resolve, reject })),
      ),
    },
  });
  const actor = createActor(logic, { input: { name: 'notify', file: '/plugins/notify.mjs', deactivated } });
  const emitted: PluginEmitted[] = [];
  for (const type of ['plugin.activated', 'plugin.deactivated', 'plugin.removed'] as const) actor.on(type, (event) => emitted.push(event));
  actor.start();
  const last = () => loads[loads.length - 1]!;
  return {
    actor,
    loads,
    emitted,
    state: () => actor.getSnapshot().value,
    context: () => actor.getSnapshot().context,
    /** Resolves the latest load. */
    loaded: async (output: PluginLoadOutput) => {
      last().resolve(output);
      await settle();
    },
    /** Rejects the latest load. */
    failed: async (error: unknown) => {
      last().reject(error);
      await settle();
    },
  };
}

/** A harness whose first load succeeded. */
async function activeHarness() {
  const h = harness();
  await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 1000 });
  return h;
}

const loadError = (message: string) => Object.assign(new Error(message), { code: 'ERR_PLUGIN_LOAD' });

describe('pluginMachine', () => {
  it('starts by loading its file and becomes active with the callbacks and mtime the load found', async () => {
    const h = harness();
    expect(h.state()).toBe('loading');
    expect(h.loads.map((load) => load.input)).toEqual([{ name: 'notify', file: '/plugins/notify.mjs', loads: 1 }]);
    await h.loaded({ callbacks: callbacks('onStatus', 'onNew'), mtimeMs: 1000 });
    expect(h.state()).toBe('active');
    expect(h.context()).toMatchObject({ callbacks: callbacks('onStatus', 'onNew'), mtimeMs: 1000, error: undefined, loads: 1 });
    expect(h.emitted).toEqual([{ type: 'plugin.activated', name: 'notify' }]);
  });

  it('keeps where its deactivation is mailed from the last load that succeeded (true before one), through a reload that fails', async () => {
    const h = harness();
    expect(h.context().emails).toBe(true);
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 1000, emails: ['pipe@example.com'] });
    expect(h.context().emails).toEqual(['pipe@example.com']);
    h.actor.send(pluginChanged());
    await h.failed(loadError('SyntaxError'));
    expect(h.state()).toBe('deactivated');
    expect(h.context().emails).toEqual(['pipe@example.com']);
    h.actor.send(pluginChanged());
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 2000 });
    expect(h.context().emails).toBe(true);
  });

  it('is deactivated with the loader ERR_PLUGIN_LOAD error when its first load fails', async () => {
    const h = harness();
    await h.failed(loadError('plugin "notify" could not be loaded from /plugins/notify.mjs: SyntaxError'));
    expect(h.state()).toBe('deactivated');
    const error = { code: 'ERR_PLUGIN_LOAD', message: 'plugin "notify" could not be loaded from /plugins/notify.mjs: SyntaxError' };
    expect(h.context().error).toEqual(error);
    expect(h.emitted).toEqual([{ type: 'plugin.deactivated', name: 'notify', error }]);
  });

  it('turns any other load failure into ERR_PLUGIN_LOAD naming the plugin and its file', async () => {
    const h = harness();
    await h.failed(new TypeError('boom'));
    expect(h.context().error).toEqual({
      code: 'ERR_PLUGIN_LOAD',
      message: 'plugin "notify" could not be loaded from /plugins/notify.mjs: boom',
    });
  });

  it('is deactivated with a clear message when the runtime did not provide load', async () => {
    const actor = createActor(pluginMachine, { input: { name: 'notify', file: '/plugins/notify.mjs' } }).start();
    await settle();
    expect(actor.getSnapshot().value).toBe('deactivated');
    expect(actor.getSnapshot().context.error?.message).toMatch(/"load" was not provided/);
  });

  it('stays deactivated after its first load when it was deactivated on record, keeping the loaded callbacks', async () => {
    const record = { code: 'ERR_PLUGIN', message: 'callback "onStatus" failed on event 7', eventId: 7, callback: 'onStatus' };
    const h = harness(record);
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 1000 });
    expect(h.state()).toBe('deactivated');
    expect(h.context()).toMatchObject({ error: record, callbacks: callbacks('onStatus'), mtimeMs: 1000 });
    expect(h.emitted).toEqual([{ type: 'plugin.deactivated', name: 'notify', error: record }]);
  });

  it('reports the load error rather than the record when a plugin deactivated on record does not load', async () => {
    const h = harness({ code: 'ERR_PLUGIN', message: 'old failure' });
    await h.failed(loadError('cannot import'));
    expect(h.context().error).toEqual({ code: 'ERR_PLUGIN_LOAD', message: 'cannot import' });
  });

  it('becomes active after a reload when it was deactivated on record: the record only holds for the first load', async () => {
    const h = harness({ code: 'ERR_PLUGIN', message: 'old failure' });
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 1000 });
    h.actor.send(pluginChanged());
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 2000 });
    expect(h.state()).toBe('active');
    expect(h.context().error).toBeUndefined();
  });

  it('is deactivated with the error when a callback fails for good while active', async () => {
    const h = await activeHarness();
    const error = {
      code: 'ERR_PLUGIN',
      message: 'plugin "notify" callback "onStatus" failed on event 9: nope',
      eventId: 9,
      callback: 'onStatus',
    };
    h.actor.send(pluginFailed(error));
    expect(h.state()).toBe('deactivated');
    expect(h.context()).toMatchObject({ error, callbacks: callbacks('onStatus') });
    expect(h.emitted.at(-1)).toEqual({ type: 'plugin.deactivated', name: 'notify', error });
  });

  it('reloads when its file changes while active, taking the new callbacks and announcing itself active again', async () => {
    const h = await activeHarness();
    h.actor.send(pluginChanged());
    expect(h.state()).toBe('reloading');
    expect(h.loads.at(-1)!.input).toEqual({ name: 'notify', file: '/plugins/notify.mjs', loads: 2 });
    await h.loaded({ callbacks: callbacks('onStatus', 'onNew'), mtimeMs: 2000 });
    expect(h.state()).toBe('active');
    expect(h.context()).toMatchObject({ callbacks: callbacks('onStatus', 'onNew'), mtimeMs: 2000, loads: 2 });
    expect(h.emitted.map((event) => event.type)).toEqual(['plugin.activated', 'plugin.activated']);
  });

  it('resumes a deactivated plugin once its changed file loads', async () => {
    const h = await activeHarness();
    h.actor.send(pluginFailed({ code: 'ERR_PLUGIN', message: 'failed' }));
    h.actor.send(pluginChanged());
    expect(h.state()).toBe('reloading');
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 3000 });
    expect(h.state()).toBe('active');
    expect(h.context().error).toBeUndefined();
    expect(h.emitted.map((event) => event.type)).toEqual(['plugin.activated', 'plugin.deactivated', 'plugin.activated']);
  });

  it('is deactivated when a reload fails, keeping the callbacks and mtime of the last good load', async () => {
    const h = await activeHarness();
    h.actor.send(pluginChanged());
    await h.failed(loadError('bad edit'));
    expect(h.state()).toBe('deactivated');
    expect(h.context()).toMatchObject({
      error: { code: 'ERR_PLUGIN_LOAD', message: 'bad edit' },
      callbacks: callbacks('onStatus'),
      mtimeMs: 1000,
    });
  });

  it('loads once more when its file changes during the first load, however many changes came', async () => {
    const h = harness();
    h.actor.send(pluginChanged());
    h.actor.send(pluginChanged());
    await h.loaded({ callbacks: callbacks('old'), mtimeMs: 1000 });
    expect(h.state()).toBe('reloading');
    expect(h.loads).toHaveLength(2);
    await h.loaded({ callbacks: callbacks('new'), mtimeMs: 2000 });
    expect(h.state()).toBe('active');
    expect(h.loads).toHaveLength(2);
    expect(h.context().callbacks).toEqual(callbacks('new'));
    expect(h.emitted).toEqual([{ type: 'plugin.activated', name: 'notify' }]);
  });

  it('loads once more when its file changes during a first load that fails', async () => {
    const h = harness();
    h.actor.send(pluginChanged());
    await h.failed(loadError('half-written'));
    expect(h.state()).toBe('reloading');
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 2000 });
    expect(h.state()).toBe('active');
    expect(h.context().error).toBeUndefined();
  });

  it('loads once more when its file changes during a reload, whether the reload succeeds or fails', async () => {
    const h = await activeHarness();
    h.actor.send(pluginChanged());
    h.actor.send(pluginChanged());
    await h.loaded({ callbacks: callbacks('middle'), mtimeMs: 2000 });
    expect(h.state()).toBe('reloading');
    expect(h.context().loads).toBe(3);
    h.actor.send(pluginChanged());
    await h.failed(loadError('half-written'));
    expect(h.state()).toBe('reloading');
    await h.loaded({ callbacks: callbacks('last'), mtimeMs: 3000 });
    expect(h.state()).toBe('active');
    expect(h.loads).toHaveLength(4);
    expect(h.context().callbacks).toEqual(callbacks('last'));
  });

  it('holds a deactivation asked for during the first load as a record: deactivated once loaded', async () => {
    const h = harness();
    const record = { code: 'ERR_PLUGIN', message: 'failed before the restart', eventId: 3 };
    h.actor.send(pluginFailed(record));
    expect(h.state()).toBe('loading');
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 1000 });
    expect(h.state()).toBe('deactivated');
    expect(h.context().error).toEqual(record);
  });

  it('ignores a callback failure reported while reloading or already deactivated', async () => {
    const h = await activeHarness();
    h.actor.send(pluginChanged());
    h.actor.send(pluginFailed({ code: 'ERR_PLUGIN', message: 'from the old code' }));
    expect(h.state()).toBe('reloading');
    await h.loaded({ callbacks: callbacks('onStatus'), mtimeMs: 2000 });
    expect(h.state()).toBe('active');
    h.actor.send(pluginFailed({ code: 'ERR_PLUGIN', message: 'first' }));
    h.actor.send(pluginFailed({ code: 'ERR_PLUGIN', message: 'second' }));
    expect(h.context().error?.message).toBe('first');
    expect(h.emitted.filter((event) => event.type === 'plugin.deactivated')).toHaveLength(1);
  });

  it.each([
    ['loading', async () => harness()],
    ['active', activeHarness],
    [
      'deactivated',
      async () => {
        const h = await activeHarness();
        h.actor.send(pluginFailed({ code: 'ERR_PLUGIN', message: 'failed' }));
        return h;
      },
    ],
    [
      'reloading',
      async () => {
        const h = await activeHarness();
        h.actor.send(pluginChanged());
        return h;
      },
    ],
  ])('is removed from %s, announcing it and ending', async (from, make) => {
    const h = await make();
    expect(h.state()).toBe(from);
    h.actor.send(pluginRemoved());
    expect(h.state()).toBe('removed');
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.emitted.at(-1)).toEqual({ type: 'plugin.removed', name: 'notify' });
    // A load still in flight changes nothing once removed.
    h.loads.at(-1)!.resolve({ callbacks: callbacks('late'), mtimeMs: 9000 });
    await settle();
    expect(h.state()).toBe('removed');
  });
});
