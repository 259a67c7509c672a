import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// An app's TypeScript as the flowd command loads it (dist/actors/import-module.js, built by the global setup):
// compiled ahead to JavaScript and loaded with no module hooks (actors/compile-typescript.ts), or through tsx
// when the compiler cannot take it. Each case runs in a fresh node, as `flowd run` would.
const run = promisify(execFile);

let app: string;
// The user's cache folder, as $XDG_CACHE_HOME names it: flowd's compiled files go in flowd/typescript there.
let cacheRoot: string;

beforeAll(async () => {
  app = await mkdtemp(path.join(tmpdir(), 'flowd-compile-ts-'));
  cacheRoot = path.join(app, '.cache');
  await mkdir(path.join(app, 'node_modules'));
  await mkdir(path.join(app, 'lib'));
  // As after `npm install flowd`.
  await symlink(ROOT, path.join(app, 'node_modules/flowd'), 'dir');
  // A package with an entry for each condition Node or a bundler might pick.
  await mkdir(path.join(app, 'node_modules/dual'));
  const conditions = ['module', 'module-sync', 'import', 'default'];
  await writeFile(
    path.join(app, 'node_modules/dual/package.json'),
    JSON.stringify({
      name: 'dual',
      module: './field.js',
      exports: { '.': { ...Object.fromEntries(conditions.map((c) => [c, `./${c}.js`])), require: './main.cjs' } },
    }),
  );
  for (const name of [...conditions, 'field'])
    await writeFile(path.join(app, `node_modules/dual/${name}.js`), `export const which = '${name}';\n`);
  await writeFile(path.join(app, 'node_modules/dual/main.cjs'), "exports.which = 'require';\n");
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'app', type: 'module' }),
    'tsconfig.json': JSON.stringify({ compilerOptions: { experimentalDecorators: true, baseUrl: '.', paths: { '@lib/*': ['./lib/*'] } } }),
    'data.json': JSON.stringify({ greeting: 'hi' }),
    'lib/twice.ts': 'export const twice = (n: number): number => n * 2;\n',
    'types.ts': 'export interface Shape { n: number }\n',
    'shared.ts': 'export const seen: string[] = [];\n',
    'helper.js': "import { twice } from './lib/twice.ts';\nexport const four = twice(2);\n",
    'worker.ts': [
      "import { defineWorker, ConflictError } from 'flowd';",
      "import type { Shape } from './types.js';",
      "import { twice } from '@lib/twice';",
      "import { seen } from './shared.js';",
      "import data from './data.json';",
      'function logged(target: object, key: string): void { seen.push(key); }',
      'class Doubler { @logged double(shape: Shape): number { return twice(shape.n); } }',
      'const top = await Promise.resolve(1);',
      'export const facts = {',
      '  double: new Doubler().double({ n: 21 }),',
      '  greeting: data.greeting,',
      '  url: import.meta.url,',
      '  dirname: import.meta.dirname,',
      '  decorated: seen,',
      '  top,',
      "  conflict: new ConflictError('x') instanceof Error,",
      '};',
      'export default defineWorker({ start() {} });',
      '',
    ].join('\n'),
    'plugin.ts': "import { seen } from './shared.js';\nseen.push('plugin');\nexport const shared = seen;\n",
    'fails.ts': ['// line 1', 'export function fail(): never {', "  throw new Error('boom');", '}', ''].join('\n'),
    'computed.ts': "const name = './lib/' + 'twice.ts';\nexport const { twice } = await import(name);\n",
    'via-js.ts': "export { four } from './helper.js';\n",
    'json-helper.js': "import data from './data.json';\nexport const greeting = data.greeting;\n",
    'via-json-helper.ts': "export { greeting } from './json-helper.js';\n",
    'plain.js': 'export const plain = 1;\n',
    'uses-dual.ts': "export { which } from 'dual';\n",
    'native.mjs': "export { which } from 'dual';\n",
    'uses-plain.ts': "import { plain } from './plain.js';\nexport const value: number = plain + 1;\n",
    'stale.ts': "export const from: string = 'stale.ts';\n",
    'stale.js': "export const from = 'stale.js, left by an old build';\n",
    'uses-stale.ts': "export { from } from './stale.js';\n",
    'mentions-require.ts': [
      '// require("./nowhere") in a comment',
      'export const text: string = "require(\'x\'), import(y) and import.meta in a string";',
      '',
    ].join('\n'),
    'wrong-export.ts': "import { Shape } from './types.js';\nexport const shape = Shape;\n",
    'json-a.ts': "import data from './data.json';\nimport { greeting } from './data.json';\nexport { data, greeting };\n",
    'json-b.ts': "import data from './data.json';\nexport { data };\n",
    'json-js.mjs': "import data from './data.json' with { type: 'json' };\nexport { data };\n",
    'computed-shared.ts':
      "import { seen } from './shared.js';\nconst name = './lib/' + 'twice.ts';\nawait import(name);\nexport const shared = seen;\n",
    'uses-self.ts': "export { which } from 'flowd';\n",
    'self-a.js': "export const which = 'a';\n",
    'self-b.js': "export const which = 'b';\n",
  };
  for (const [file, text] of Object.entries(files)) await writeFile(path.join(app, file), text);
});

afterAll(async () => {
  await rm(app, { recursive: true, force: true });
});

/** Loads `files` in order in a fresh node as the flowd command does; prints what `probe` makes of them, and whether tsx's hooks were registered. */
async function load(files: string[], probe: string, options: { cache?: string; dir?: string } = {}): Promise<Record<string, unknown>> {
  const dir = options.dir ?? app;
  const script = `
    import { pathToFileURL } from 'node:url';
    const { importModule, importFailure } = await import(${JSON.stringify(path.join(ROOT, 'dist/actors/import-module.js'))});
    const modules = [];
    for (const file of ${JSON.stringify(files)}) modules.push(await importModule(${JSON.stringify(dir)} + '/' + file));
    const out = await (async () => { ${probe} })();
    // Without module hooks, node cannot import a TypeScript file it has not seen.
    const hooks = await import(pathToFileURL(${JSON.stringify(path.join(app, 'types.ts'))}).href).then(() => 'tsx', (error) => error.code);
    console.log(JSON.stringify({ ...out, hooks }));
  `;
  const env = { ...process.env, XDG_CACHE_HOME: options.cache ?? cacheRoot };
  const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env });
  const out = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  return stderr === '' ? out : { ...out, stderr };
}

describe("an app's TypeScript, as the flowd command loads it", () => {
  it('compiles an ES module and what it imports, with no module hooks: types, paths, decorators, JSON, import.meta, top-level await', async () => {
    const out = await load(['worker.ts'], 'return { facts: modules[0].facts, worker: typeof modules[0].default };');
    expect(out).toEqual({
      facts: {
        double: 42,
        greeting: 'hi',
        url: `file://${app}/worker.ts`,
        dirname: app,
        decorated: ['double'],
        top: 1,
        conflict: true,
      },
      worker: 'object',
      hooks: 'ERR_UNKNOWN_FILE_EXTENSION',
    });
  });

  it("gives a CommonJS TypeScript module (tsx's) the running flowd for require('flowd'), not a CommonJS copy of it", async () => {
    const cjs = path.join(app, 'cjs-app');
    await mkdir(path.join(cjs, 'node_modules'), { recursive: true });
    await symlink(ROOT, path.join(cjs, 'node_modules/flowd'), 'dir');
    await writeFile(path.join(cjs, 'package.json'), JSON.stringify({ name: 'cjs-app' }));
    await writeFile(
      path.join(cjs, 'worker.ts'),
      [
        "import { defineWorker, ConflictError } from 'flowd';",
        'export const worker = defineWorker({ start() {} });',
        'export const conflict = ConflictError;',
        "export const copies = Object.keys(require.cache).filter((file) => file.includes('/dist/src/')).length;",
        '',
      ].join('\n'),
    );
    const out = await load(
      ['worker.ts'],
      `const self = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/src/index.js')).href)});
       return { same: modules[0].conflict === self.ConflictError, copies: modules[0].copies };`,
      { dir: cjs },
    );
    expect(out).toEqual({ same: true, copies: 1, hooks: 'tsx' });
  });

  it('picks the entry of a package that Node picks', async () => {
    const out = await load(
      ['uses-dual.ts'],
      `return { compiled: modules[0].which, native: (await import(pathToFileURL(${JSON.stringify(path.join(app, 'native.mjs'))}).href)).which };`,
    );
    expect(out.compiled).toBe(out.native);
    expect(out.hooks).toBe('ERR_UNKNOWN_FILE_EXTENSION');
  });

  it('keeps a module that two app modules import one module', async () => {
    const out = await load(
      ['worker.ts', 'plugin.ts'],
      'return { shared: modules[1].shared, same: modules[1].shared === modules[0].facts.decorated };',
    );
    expect(out).toEqual({ shared: ['double', 'plugin'], same: true, hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });

  it("points a stack trace at the TypeScript file's line", async () => {
    const out = await load(
      ['fails.ts'],
      'try { modules[0].fail(); } catch (error) { return { stack: error.stack.split("\\n")[1].trim() }; }',
    );
    // As under tsx: the file's path, the line and column in it.
    expect(out.stack).toBe(`at Module.fail (${app}/fails.ts:3:9)`);
  });

  it('loads through tsx what it cannot compile ahead: an import of a computed name', async () => {
    const out = await load(['computed.ts'], 'return { twice: modules[0].twice(4) };');
    expect(out).toEqual({ twice: 8, hooks: 'tsx' });
  });

  it('compiles a plugin afresh for each version, as plugins are reloaded', async () => {
    const plugin = path.join(app, 'reloaded.ts');
    await writeFile(plugin, "export const version: string = 'v1';\n");
    const out = await load(
      ['reloaded.ts'],
      `const fs = await import('node:fs/promises');
       const first = (await importModule(${JSON.stringify(plugin)}, 'v=1')).version;
       await fs.writeFile(${JSON.stringify(plugin)}, "export const version: string = 'v2';\\n");
       const second = (await importModule(${JSON.stringify(plugin)}, 'v=2')).version;
       return { versions: [modules[0].version, first, second] };`,
    );
    expect(out).toEqual({ versions: ['v1', 'v1', 'v2'], hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });

  it('leaves JavaScript files of the app to Node', async () => {
    const out = await load(['uses-plain.ts'], 'return { value: modules[0].value };');
    expect(out).toEqual({ value: 2, hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });

  it('loads through tsx a graph in which a JavaScript file imports TypeScript', async () => {
    const out = await load(['via-js.ts'], 'return { four: modules[0].four };');
    expect(out).toEqual({ four: 4, hooks: 'tsx' });
  });

  it('loads through tsx a graph in which a JavaScript file imports JSON as only tsx can', async () => {
    const out = await load(['via-json-helper.ts'], 'return { greeting: modules[0].greeting };');
    expect(out).toEqual({ greeting: 'hi', hooks: 'tsx' });
  });
});

describe("the cache of an app's compiled TypeScript", () => {
  it("is the user's cache folder, flowd/typescript in it, which nobody else may use", async () => {
    const cache = await mkdtemp(path.join(app, 'xdg-'));
    const out = await load(['plugin.ts'], 'return {};', { cache });
    expect(out).toEqual({ hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
    const folder = path.join(cache, 'flowd/typescript');
    expect(((await stat(folder)).mode & 0o777).toString(8)).toBe('700');
    expect(((await stat(path.dirname(folder))).mode & 0o777).toString(8)).toBe('700');
    const names = (await readdir(folder)).map((name) => name.replace(/^[0-9a-f]{16}-/, '<hash>-'));
    expect(names.sort()).toEqual(['<hash>-plugin.mjs', '<hash>-shared.mjs']);
  });

  it('is not used when another user could write it: tsx loads the app, and a warning names the folder', async () => {
    const cache = await mkdtemp(path.join(app, 'xdg-'));
    const folder = path.join(cache, 'flowd/typescript');
    await mkdir(folder, { recursive: true });
    await chmod(folder, 0o777);
    const out = await load(['plugin.ts'], 'return { shared: modules[0].shared };', { cache });
    expect(out).toEqual({
      shared: ['plugin'],
      hooks: 'tsx',
      stderr: `flowd: warn: TypeScript loads through tsx, not compiled ahead: ${folder} can be used by other users (mode 777, not 700)\n`,
    });
    expect(await readdir(folder)).toEqual([]);
  });

  it('is not used when it cannot be created: tsx loads the app, and says why at level debug', async () => {
    const cache = path.join(app, 'package.json/cache');
    const out = await load(
      [],
      `const { setImportLog } = await import(${JSON.stringify(path.join(ROOT, 'dist/actors/import-module.js'))});
       const debug = [];
       setImportLog({ warn: (details, message) => debug.push('warn: ' + message), debug: (details, message) => debug.push(message) });
       const { shared } = await importModule(${JSON.stringify(path.join(app, 'plugin.ts'))});
       return { shared, debug };`,
      { cache },
    );
    expect(out).toEqual({
      shared: ['plugin'],
      debug: [
        expect.stringMatching(
          new RegExp(`^${app}/plugin\\.ts loads through tsx: cannot create ${cache}/flowd/typescript: ENOTDIR`),
        ) as unknown,
      ],
      hooks: 'tsx',
    });
  });

  it('is not used when it is a symbolic link', async () => {
    const cache = await mkdtemp(path.join(app, 'xdg-'));
    const elsewhere = await mkdtemp(path.join(app, 'elsewhere-'));
    await mkdir(path.join(cache, 'flowd'), { mode: 0o700 });
    await symlink(elsewhere, path.join(cache, 'flowd/typescript'), 'dir');
    const out = await load(['plugin.ts'], 'return {};', { cache });
    expect(out).toEqual({
      hooks: 'tsx',
      stderr: `flowd: warn: TypeScript loads through tsx, not compiled ahead: ${path.join(cache, 'flowd/typescript')} is a symbolic link\n`,
    });
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it("points stack traces at the TypeScript file's line when the cache folder's path goes through a symbolic link", async () => {
    // As macOS's /var, a link to /private/var: the link and the real folder at different depths.
    const real = path.join(await mkdtemp(path.join(app, 'real-')), 'deeper/still');
    await mkdir(real, { recursive: true });
    const cache = path.join(app, 'linked-cache');
    await symlink(real, cache, 'dir');
    const out = await load(
      ['fails.ts'],
      'try { modules[0].fail(); } catch (error) { return { stack: error.stack.split("\\n")[1].trim() }; }',
      { cache },
    );
    expect(out).toEqual({ stack: `at Module.fail (${app}/fails.ts:3:9)`, hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });

  it('keeps the files of two flowd copies apart: each loads the module compiled for it', async () => {
    const out = await load(
      [],
      `const { compileTypeScript } = await import(${JSON.stringify(path.join(ROOT, 'dist/actors/compile-typescript.js'))});
       const entry = ${JSON.stringify(path.join(app, 'uses-self.ts'))};
       const a = await compileTypeScript(entry, { self: ${JSON.stringify(path.join(app, 'self-a.js'))} });
       const b = await compileTypeScript(entry, { self: ${JSON.stringify(path.join(app, 'self-b.js'))} });
       const which = async (compiled) => (await import(pathToFileURL(compiled.file).href)).which;
       return { apart: a.file !== b.file, which: [await which(a), await which(b)] };`,
    );
    expect(out).toEqual({ apart: true, which: ['a', 'b'], hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });
});

describe("an app's TypeScript loaded compiled, and what it imports", () => {
  it('takes x.ts for "./x.js", as tsx does, not a stale x.js beside it', async () => {
    const out = await load(['uses-stale.ts'], 'return { from: modules[0].from };');
    expect(out).toEqual({ from: 'stale.ts', hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });

  it('compiles a module that names require, import() and import.meta only in a string and a comment', async () => {
    const out = await load(['mentions-require.ts'], 'return { text: modules[0].text };');
    expect(out).toEqual({ text: "require('x'), import(y) and import.meta in a string", hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });

  it('keeps a JSON file that several modules import one module, the one Node gives JavaScript', async () => {
    const out = await load(
      ['json-a.ts', 'json-b.ts'],
      `const js = await import(${JSON.stringify(path.join(app, 'json-js.mjs'))});
       return { greeting: modules[0].greeting, same: modules[0].data === modules[1].data && modules[1].data === js.data };`,
    );
    expect(out).toEqual({ greeting: 'hi', same: true, hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });

  it('names the TypeScript file, not its compiled file, when an import fails', async () => {
    const out = await load(
      [],
      `try { await importModule(${JSON.stringify(path.join(app, 'wrong-export.ts'))}); return {}; }
       catch (error) { return { failure: importFailure(error) }; }`,
    );
    expect(out).toEqual({
      failure: `The requested module '${pathToFileURL(path.join(app, 'types.ts')).href}' does not provide an export named 'Shape'`,
      hooks: 'ERR_UNKNOWN_FILE_EXTENSION',
    });
  });

  it('reports a plugin reloaded with a syntax error at its file, line and column, and keeps the modules it shares one module', async () => {
    const plugin = path.join(app, 'hot.ts');
    const good = "import { seen } from './shared.js';\nseen.push('hot');\nexport const shared = seen;\n";
    await writeFile(plugin, good);
    const out = await load(
      ['worker.ts'],
      `const fs = await import('node:fs/promises');
       await importModule(${JSON.stringify(plugin)}, 'v=1');
       await fs.writeFile(${JSON.stringify(plugin)}, "import { seen } from './shared.js';\\nseen.push(;\\n");
       const failure = await importModule(${JSON.stringify(plugin)}, 'v=2').then(() => 'loaded', importFailure);
       await fs.writeFile(${JSON.stringify(plugin)}, ${JSON.stringify(good)});
       const fixed = await importModule(${JSON.stringify(plugin)}, 'v=3');
       return { failure, same: fixed.shared === modules[0].facts.decorated, seen: fixed.shared };`,
    );
    expect(out).toEqual({
      failure: `${plugin}:2:11: Unexpected ";"`,
      same: true,
      seen: ['double', 'hot', 'hot'],
      hooks: 'ERR_UNKNOWN_FILE_EXTENSION',
    });
  });

  it('loads two modules imported at once, one it cannot compile, one way or fails one: never a module they share twice', async () => {
    const out = await load(
      [],
      `const [a, b] = await Promise.allSettled(['plugin.ts', 'computed-shared.ts'].map((file) => importModule(${JSON.stringify(app)} + '/' + file)));
       if (a.status === 'rejected') return { failed: importFailure(a.reason) };
       if (b.status === 'rejected') return { failed: importFailure(b.reason).replace(/ \\(.*/s, '') };
       return { same: a.value.shared === b.value.shared };`,
    );
    if (out.same === undefined)
      expect(out).toEqual({ failed: `${app}/computed-shared.ts cannot be compiled ahead`, hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
    else expect(out).toEqual({ same: true, hooks: 'tsx' });
  });

  it('refuses to load through tsx a module it cannot compile once it has loaded compiled ones, rather than load shared modules twice', async () => {
    const out = await load(
      ['plugin.ts'],
      `return { failure: await importModule(${JSON.stringify(path.join(app, 'computed.ts'))}).then(() => 'loaded', importFailure) };`,
    );
    expect(out).toEqual({
      failure: expect.stringMatching(
        new RegExp(`^${app}/computed\\.ts cannot be compiled ahead \\(.*computed\\), and this process has loaded its TypeScript compiled`),
      ) as unknown,
      hooks: 'ERR_UNKNOWN_FILE_EXTENSION',
    });
  });
});

describe("an app's TypeScript where 'flowd' is not installed (npx, a global flowd)", () => {
  let lonely: string;
  beforeAll(async () => {
    lonely = await mkdtemp(path.join(tmpdir(), 'flowd-compile-ts-lonely-'));
    const files: Record<string, string> = {
      'package.json': JSON.stringify({ name: 'lonely', type: 'module' }),
      'worker.ts': "import { defineWorker } from 'flowd';\nexport const kind: string = typeof defineWorker;\n",
      'stray.mjs': "export { defineWorker } from 'flowd';\n",
      'helper.js': "export { defineWorker } from 'flowd';\n",
      'via-helper.ts': "import { defineWorker } from './helper.js';\nexport const kind: string = typeof defineWorker;\n",
    };
    for (const [file, text] of Object.entries(files)) await writeFile(path.join(lonely, file), text);
  });
  afterAll(async () => {
    await rm(lonely, { recursive: true, force: true });
  });

  const stray = () =>
    `return { kind: modules[0].kind, stray: await import(${JSON.stringify(`${lonely}/stray.mjs`)}).then(() => 'flowd', (error) => error.code) };`;

  it("names this flowd in the compiled code and registers no hook for 'flowd'", async () => {
    const out = await load(['worker.ts'], stray(), { dir: lonely });
    // A JavaScript file outside the compiled graph does not find 'flowd': no resolve hook was registered.
    expect(out).toEqual({ kind: 'function', stray: 'ERR_MODULE_NOT_FOUND', hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });

  it("registers the hook when a JavaScript file the TypeScript imports imports 'flowd'", async () => {
    const out = await load(['via-helper.ts'], stray(), { dir: lonely });
    expect(out).toEqual({ kind: 'function', stray: 'flowd', hooks: 'ERR_UNKNOWN_FILE_EXTENSION' });
  });
});
