import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// An app's TypeScript as the flowd command loads it (dist/actors/import-module.js, built by the global setup):
// compiled ahead to JavaScript and loaded with no module hooks (actors/compile-typescript.ts), or through tsx
// when the compiler cannot take it. Each case runs in a fresh node, as `flowd run` would.
const run = promisify(execFile);

let app: string;

beforeAll(async () => {
  app = await mkdtemp(path.join(tmpdir(), 'flowd-compile-ts-'));
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
  };
  for (const [file, text] of Object.entries(files)) await writeFile(path.join(app, file), text);
});

afterAll(async () => {
  await rm(app, { recursive: true, force: true });
});

/** Loads `files` in order in a fresh node as the flowd command does; prints what `probe` makes of them, and whether tsx's hooks were registered. */
async function load(files: string[], probe: string): Promise<Record<string, unknown>> {
  const script = `
    import { pathToFileURL } from 'node:url';
    const { importModule } = await import(${JSON.stringify(path.join(ROOT, 'dist/actors/import-module.js'))});
    const modules = [];
    for (const file of ${JSON.stringify(files)}) modules.push(await importModule(${JSON.stringify(app)} + '/' + file));
    const out = await (async () => { ${probe} })();
    // Without module hooks, node cannot import a TypeScript file it has not seen.
    const hooks = await import(pathToFileURL(${JSON.stringify(path.join(app, 'types.ts'))}).href).then(() => 'tsx', (error) => error.code);
    console.log(JSON.stringify({ ...out, hooks }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
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
