import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPlugin } from '../../../actors/plugins/load.js';
import { matchesEvent } from '../../../actors/plugins/match.js';
import type { PluginRegistrar } from '../../../actors/plugins/plugin-api.js';
import { FlowdError, PluginError } from '../../../src/kernel/errors.js';
import { logSink } from '../../helpers/log-sink.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let dir: string;
let version = 0;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flowd-plugin-load-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes a plugin file into the test's folder and returns its path. */
async function plugin(fileName: string, source: string): Promise<string> {
  const file = path.join(dir, fileName);
  await writeFile(file, source);
  return file;
}

const load = (file: string, log = logSink().logger) => loadPlugin(file, path.basename(file, path.extname(file)), log, ++version);

/** The PluginError a load rejects with. */
async function loadFailure(file: string): Promise<PluginError> {
  const error = await load(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PluginError);
  expect(error).toMatchObject({ code: 'ERR_PLUGIN_LOAD', plugin: path.basename(file, path.extname(file)) });
  expect((error as PluginError).message).toContain(file);
  return error as PluginError;
}

const registering = (body: string) => `export function registerCallbacks(reg) {\n${body}\n}\n`;

describe('loadPlugin', () => {
  it('returns the callbacks in registration order, with their options defaulted, and the file mtime', async () => {
    const file = await plugin(
      'notify.mjs',
      registering(`
        reg.registerCallback('onStatus', () => 'status', { match: { Shotgun_Task_Change: ['sg_status_list'] }, args: { to: 'ops' }, stopOnError: false });
        reg.registerCallback('onAny', () => 'any');`),
    );
    const { callbacks, mtimeMs } = await load(file);
    expect(callbacks.map(({ name, match, args, stopOnError }) => ({ name, match, args, stopOnError }))).toEqual([
      { name: 'onStatus', match: { Shotgun_Task_Change: ['sg_status_list'] }, args: { to: 'ops' }, stopOnError: false },
      { name: 'onAny', match: undefined, args: undefined, stopOnError: true },
    ]);
    expect(callbacks.map((callback) => callback.callback(undefined as never, undefined as never, undefined))).toEqual(['status', 'any']);
    expect(mtimeMs).toBeGreaterThan(0);
  });

  it("registers every matchEvents shape of shotgunEvents' example plugins, each taking the events canProcess gives it", async () => {
    const file = path.join(ROOT, 'test/fixtures/plugins/seed-filters.mjs');
    const { callbacks } = await load(file);
    expect(Object.fromEntries(callbacks.map(({ name, match }) => [name, match]))).toEqual({
      logArgs: undefined,
      sharedStateA: undefined,
      emptyFilter: undefined,
      initEntity: { Shotgun_Note_New: ['*'] },
      assignToProject: { Shotgun_Task_Change: ['task_assignees'] },
      linkShotToSequence: { Shotgun_Shot_Change: ['code'] },
      calcField: { Shotgun_Version_Change: ['sg_first_frame', 'sg_last_frame'] },
      anything: { '*': ['*'] },
    });
    const takers = (type: string, attributes: string[]) =>
      callbacks
        .filter(({ match }) => matchesEvent(match, { id: 1, type, entity: null, attributes, createdAt: undefined, meta: null }))
        .map(({ name }) => name);
    const everyEvent = ['logArgs', 'sharedStateA', 'emptyFilter'];
    expect(takers('Shotgun_Note_New', [])).toEqual([...everyEvent, 'initEntity', 'anything']);
    expect(takers('Shotgun_Task_Change', ['task_assignees'])).toEqual([...everyEvent, 'assignToProject', 'anything']);
    expect(takers('Shotgun_Task_Change', ['sg_status_list'])).toEqual([...everyEvent, 'anything']);
    expect(takers('Shotgun_Shot_Change', ['code'])).toEqual([...everyEvent, 'linkShotToSequence', 'anything']);
    expect(takers('Shotgun_Version_Change', ['sg_last_frame'])).toEqual([...everyEvent, 'calcField', 'anything']);
  });

  it("logs a warning naming the plugin when a match has '*' beside other event types, and loads it", async () => {
    const file = await plugin(
      'star.mjs',
      registering(`reg.registerCallback('any', () => {}, { match: { '*': null, Shotgun_Task_Change: ['content'] } });`),
    );
    const sink = logSink();
    const { callbacks } = await load(file, sink.logger);
    expect(callbacks[0]!.match).toEqual({ '*': ['*'], Shotgun_Task_Change: ['content'] });
    expect(sink.lines.find((line) => line.level === 40)).toMatchObject({
      plugin: 'star',
      msg: `${file} callback "any": match has '*' beside "Shotgun_Task_Change"; as in shotgunEvents the '*' entry alone decides, so that entry is not used`,
    });
  });

  it("gives registerCallbacks the plugin's name and logger, and waits for it when it is async", async () => {
    const file = await plugin(
      'notify.mjs',
      `export async function registerCallbacks(reg) {
        await new Promise((resolve) => setImmediate(resolve));
        reg.log.info({ seen: reg.plugin }, 'registering');
        reg.registerCallback('late', () => {});
      }`,
    );
    const sink = logSink();
    const { callbacks } = await load(file, sink.logger);
    expect(callbacks.map((callback) => callback.name)).toEqual(['late']);
    expect(sink.lines.find((line) => line.msg === 'registering')).toMatchObject({ seen: 'notify' });
  });

  it('finds registerCallbacks on the default export, as a CommonJS module has it', async () => {
    const esm = await plugin('esm.mjs', `export default { registerCallbacks(reg) { reg.registerCallback('one', () => {}); } };`);
    const cjs = await plugin('cjs.js', `exports.registerCallbacks = (reg) => reg.registerCallback('two', () => {});`);
    expect((await load(esm)).callbacks.map((callback) => callback.name)).toEqual(['one']);
    expect((await load(cjs)).callbacks.map((callback) => callback.name)).toEqual(['two']);
  });

  it('loads a TypeScript plugin', async () => {
    const file = await plugin(
      'typed.ts',
      `import type { PluginRegistrar } from ${JSON.stringify(path.join(ROOT, 'actors/plugins/plugin-api.js'))};
      const prefix: string = 'typed';
      export function registerCallbacks(reg: PluginRegistrar): void {
        reg.registerCallback<{ n: number }>('onAny', (event, ctx, args) => \`\${prefix}:\${args.n}\`, { args: { n: 1 } });
      }`,
    );
    const { callbacks } = await load(file);
    expect(callbacks[0]?.callback(undefined as never, undefined as never, callbacks[0].args)).toBe('typed:1');
  });

  it('imports the file afresh for each version, ESM and CommonJS alike', async () => {
    for (const [fileName, source] of [
      ['fresh.mjs', (n: number) => registering(`reg.registerCallback('v${n}', () => {});`)],
      ['fresh.js', (n: number) => `exports.registerCallbacks = (reg) => reg.registerCallback('v${n}', () => {});`],
      [
        'fresh.ts',
        (n: number) =>
          `export function registerCallbacks(reg: { registerCallback(name: string, fn: () => void): void }): void { reg.registerCallback('v${n}', () => {}); }`,
      ],
    ] as const) {
      const names: string[] = [];
      for (const n of [1, 2, 3]) {
        const file = await plugin(fileName, source(n));
        names.push(...(await load(file)).callbacks.map((callback) => callback.name));
      }
      expect({ fileName, names }).toEqual({ fileName, names: ['v1', 'v2', 'v3'] });
    }
  });

  it("reloads changed plugins under tsx's loader too, as the flowd command runs them", async () => {
    const script = await plugin(
      'reload-under-tsx.mts',
      `import { writeFileSync } from 'node:fs';
      const { loadPlugin } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'actors/plugins/load.ts')).href)});
      const log = { warn() {}, info() {} };
      const sources = {
        'p.mjs': (n) => \`export function registerCallbacks(reg) { reg.registerCallback('v\${n}', () => {}); }\`,
        'p.js': (n) => \`exports.registerCallbacks = (reg) => reg.registerCallback('v\${n}', () => {});\`,
        'p.ts': (n) => \`export function registerCallbacks(reg: any): void { reg.registerCallback('v\${n}', () => {}); }\`,
        'p.mts': (n) => \`export function registerCallbacks(reg: any): void { reg.registerCallback('v\${n}', () => {}); }\`,
      };
      const seen = {};
      let version = 0;
      for (const [name, source] of Object.entries(sources)) {
        const file = ${JSON.stringify(dir)} + '/' + name;
        seen[name] = [];
        for (const n of [1, 2]) {
          writeFileSync(file, source(n));
          const { callbacks } = await loadPlugin(file, 'p', log, ++version);
          seen[name].push(...callbacks.map((c) => c.name));
        }
      }
      console.log(JSON.stringify(seen));`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd: ROOT });
    expect(JSON.parse(stdout)).toEqual({ 'p.mjs': ['v1', 'v2'], 'p.js': ['v1', 'v2'], 'p.ts': ['v1', 'v2'], 'p.mts': ['v1', 'v2'] });
  });

  it('warns when a plugin registers no callbacks, and loads it all the same', async () => {
    const file = await plugin('quiet.mjs', registering(''));
    const sink = logSink();
    expect((await load(file, sink.logger)).callbacks).toEqual([]);
    expect(sink.messages()).toContain(`plugin "quiet" (${file}) registered no callbacks; it will take no events`);
  });

  it('fails with ERR_PLUGIN_LOAD naming the file when it cannot be read', async () => {
    const error = await loadFailure(path.join(dir, 'gone.mjs'));
    expect(error.message).toMatch(/cannot read the file/);
  });

  it('fails with ERR_PLUGIN_LOAD naming the file and the cause when the module does not import', async () => {
    const error = await loadFailure(await plugin('broken.mjs', 'export function registerCallbacks(reg) {'));
    expect(error.message).toMatch(/importing it failed/);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('fails with ERR_PLUGIN_LOAD listing the exports when there is no registerCallbacks', async () => {
    const error = await loadFailure(await plugin('wrong.mjs', 'export const register = () => {}; export default 1;'));
    expect(error.message).toMatch(/exports no registerCallbacks\(reg\) function; its exports are: default, register/);
  });

  it('fails with ERR_PLUGIN_LOAD carrying the cause when registerCallbacks throws', async () => {
    const error = await loadFailure(await plugin('throws.mjs', registering(`throw new Error('no config');`)));
    expect(error.message).toMatch(/registerCallbacks failed: no config$/);
    expect((error.cause as Error).message).toBe('no config');
  });

  it.each([
    ['an empty name', `reg.registerCallback('', () => {});`, /first argument must be the callback's name, a non-empty string; found ""/],
    ['a name that is not a string', `reg.registerCallback(7, () => {});`, /found number/],
    [
      'a name used twice',
      `reg.registerCallback('a', () => {}); reg.registerCallback('a', () => {});`,
      /callback "a": a callback of that name is already registered/,
    ],
    [
      'a callback that is not a function',
      `reg.registerCallback('a', 'run');`,
      /callback "a": the callback must be a function \(event, ctx, args\); found string/,
    ],
    [
      'options that are not an object',
      `reg.registerCallback('a', () => {}, true);`,
      /callback "a": options must be an object \{ match, args, stopOnError \}; found boolean/,
    ],
    [
      'an unknown option',
      `reg.registerCallback('a', () => {}, { matchEvents: {}, stopOnErr: true });`,
      /callback "a": unknown options "matchEvents", "stopOnErr"; the options are match, args and stopOnError/,
    ],
    [
      'a stopOnError that is not a boolean',
      `reg.registerCallback('a', () => {}, { stopOnError: 'no' });`,
      /callback "a": stopOnError must be true or false; found "no"/,
    ],
    [
      'a bad match',
      `reg.registerCallback('a', () => {}, { match: { Shotgun_Task_Change: [] } });`,
      /callback "a": match\["Shotgun_Task_Change"\] is an empty list, which matches no event/,
    ],
  ])('refuses %s with ERR_PLUGIN_LOAD naming the file and what was expected', async (_, body, message) => {
    const file = await plugin('bad.mjs', registering(body));
    const error = await loadFailure(file);
    expect(error.message).toMatch(message);
    expect(error.cause).toBeInstanceOf(FlowdError);
    expect(error.cause).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect((error.cause as Error).message).toContain(file);
  });

  it('returns where a deactivation is mailed: true without setEmails, else what the last setEmails said', async () => {
    expect((await load(await plugin('plain.mjs', registering(`reg.registerCallback('a', () => {});`)))).emails).toBe(true);
    const listed = await plugin(
      'listed.mjs',
      registering(`reg.setEmails(false); reg.setEmails([' Pipeline <pipe@example.com>', 'ops@example.com']);`),
    );
    expect((await load(listed)).emails).toEqual(['Pipeline <pipe@example.com>', 'ops@example.com']);
    expect((await load(await plugin('quiet.mjs', registering(`reg.setEmails(false);`)))).emails).toBe(false);
  });

  it.each([
    ['a word', `reg.setEmails('default')`, /found "default"/],
    ['an empty list', `reg.setEmails([])`, /found \[\]/],
    ['a list with a name that is not an address', `reg.setEmails(['ops@example.com', 'ops'])`, /found \["ops@example.com","ops"\]/],
  ])('refuses setEmails with %s, naming the file and what it takes', async (_, body, found) => {
    const file = await plugin('emails.mjs', registering(body));
    const error = await loadFailure(file);
    expect(error.message).toMatch(/setEmails takes true \(\[Email\] to\), false \(no e-mail\) or a list of e-mail addresses/);
    expect(error.message).toMatch(found);
    expect(error.cause).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('refuses a registration made after registerCallbacks returned', async () => {
    const file = await plugin('late.mjs', registering(`globalThis.__flowdLateRegistrar = reg;`));
    await load(file);
    const reg = (globalThis as { __flowdLateRegistrar?: PluginRegistrar }).__flowdLateRegistrar!;
    expect(() => reg.registerCallback('later', () => {})).toThrow(
      /registerCallback\("later"\) was called after registerCallbacks returned/,
    );
    expect(() => reg.setEmails(false)).toThrow(/setEmails\(\) was called after registerCallbacks returned/);
  });
});
