import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { lstat, mkdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { builtinModules, createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as EsbuildApi from 'esbuild';
import type { BuildOptions, Plugin } from 'esbuild';

/**
 * Compiles an app's TypeScript ES module, and the TypeScript modules it
 * imports, to plain JavaScript files in a cache folder, so that Node loads
 * them with no module hooks at all. On Node 20 tsx's hooks run in a
 * module-hooks thread of their own (a V8 isolate with tsx and esbuild in
 * it), which a daemon holds for as long as it runs, and every module loaded
 * after them passes through it (docs/performance.md). Here esbuild (tsx's
 * compiler) runs in its own process only while the app loads.
 *
 * Each TypeScript file becomes one `.mjs` file in the user's cache folder
 * (`~/.cache/flowd/typescript/<hash>-<name>.mjs`, see cacheFolder), so a
 * module imported by two others (a worker and a plugin, say) is one module,
 * as with tsx. The hash is of its path and every compile input (flowd's
 * entry and version, Node's version and conditions, esbuild's version, the
 * tsconfig.json), so two flowd copies or Node versions never share a file.
 * The folder is used only if it and its parent `flowd` are real folders of
 * this user that nobody else may write (UnsafeCache otherwise).
 * Every import is resolved when compiling, from the TypeScript file's own
 * folder, as tsx resolves it (`./util.js` naming `util.ts`, extensionless,
 * tsconfig `paths`, package `exports` and `imports`), and written into the
 * output as an absolute URL: TypeScript files as their compiled files,
 * anything else as the file itself, so a package is the same copy it would
 * be. A JSON file is imported through a module of its own that imports it
 * `with { type: 'json' }`, so that it is one module too. `import.meta.url`, `.filename` and
 * `.dirname` are the TypeScript file's; an inline source map points stack
 * traces at its lines (the caller turns source maps on, as tsx does).
 *
 * The app's own JavaScript files that the graph reaches (outside
 * node_modules) are checked, not compiled: Node loads them as they are.
 *
 * What Node could not then load as tsx would is refused with NotCompilable,
 * before anything is imported, and the caller loads the module through tsx
 * instead: a CommonJS TypeScript module (a `.cts`, or a `.ts` outside a
 * `"type": "module"` package) anywhere in the graph; an import that does not
 * resolve; a `require` in TypeScript, an `import()` of a name that is not a
 * string, `import.meta.resolve` (or `import.meta` itself); an app JavaScript
 * file that imports TypeScript, imports a JSON file with no `with { type:
 * 'json' }`, or names a module as only tsx would find it (no extension, a
 * folder, a tsconfig path). What esbuild reports as an error (a syntax
 * error) is a CompileError naming the file, line and column, as tsx (the
 * same esbuild) would report it. Refusing late is no option: an import that
 * fails is remembered by Node, URL by URL, and tsx would meet the same
 * failure.
 */
export async function compileTypeScript(entry: string, options: CompileOptions = {}): Promise<Compiled> {
  const esbuild = loadEsbuild();
  const cache = await usableCacheFolder(options.cacheDir ?? cacheFolder());
  const inputs = compileInputs(esbuild, options.self);
  const first = realpathSync(entry);
  const pending = new Map<string, Promise<void>>();
  const outputs = new Map<string, string>();
  const state = { jsImportsFlowd: false };
  const visit = (file: string): void => {
    if (pending.has(file)) return;
    const job = compileOne(esbuild, file, { cache, inputs, self: options.self, visit, outputs, state });
    // Awaited below; until then a failure must not count as unhandled.
    job.catch(() => {});
    pending.set(file, job);
  };
  visit(first);
  // Wait until no new file was queued while the last ones compiled.
  for (let seen = 0; seen !== pending.size;) {
    seen = pending.size;
    await Promise.all(pending.values());
  }
  return { file: outputFile(cache, inputs, first), outputs, jsImportsFlowd: state.jsImportsFlowd };
}

/** What compileTypeScript made. */
export interface Compiled {
  /** The entry's compiled file. */
  file: string;
  /** Each compiled file of the graph (real path) and the TypeScript file it was compiled from. */
  outputs: Map<string, string>;
  /** Whether an app JavaScript file of the graph imports `'flowd'` (which Node, not the compiler, resolves). */
  jsImportsFlowd: boolean;
}

export interface CompileOptions {
  /**
   * The folder of the compiled files.
   * @default `$XDG_CACHE_HOME/flowd/typescript`, `~/.cache/flowd/typescript` (`~/Library/Caches/flowd/typescript` on macOS, `%LOCALAPPDATA%\\flowd\\typescript` on Windows)
   */
  cacheDir?: string;
  /** The file that `'flowd'` names in the app's modules (this copy's compiled entry); undefined resolves it as any package. */
  self?: string | undefined;
}

/** Why the cache folder cannot be used (it cannot be created or written); the caller loads TypeScript through tsx. */
export class CacheUnavailable extends Error {
  override name = 'CacheUnavailable';
}

/** The cache folder is there but not safe to use (another user can write it, it is a link); the caller warns and loads through tsx. */
export class UnsafeCache extends CacheUnavailable {
  override name = 'UnsafeCache';
}

/**
 * A TypeScript file that does not compile (a syntax error): the error of its import, with esbuild's
 * `file:line:column: text`, as tsx would report it.
 */
export class CompileError extends Error {
  override name = 'CompileError';
}

/** Why a module cannot be compiled ahead; the caller loads it through tsx. */
export class NotCompilable extends Error {
  override name = 'NotCompilable';
}

const TYPESCRIPT = /\.[cm]?tsx?$/;
const BUILTINS = new Set(builtinModules);
// Passed to build.resolve so that the plugin leaves its own lookups to esbuild.
const RESOLVING = Symbol('resolving');

type Esbuild = typeof EsbuildApi;
let esbuildModule: Esbuild | undefined;
function loadEsbuild(): Esbuild {
  try {
    esbuildModule ??= createRequire(import.meta.url)('esbuild') as Esbuild;
  } catch (error) {
    throw new NotCompilable(`esbuild does not load: ${(error as Error).message}`, { cause: error });
  }
  return esbuildModule;
}

/** Ends esbuild's service process (it starts again on the next compile). */
export async function stopCompiler(): Promise<void> {
  await esbuildModule?.stop();
}

/** The user's own cache folder for flowd's compiled TypeScript: never a shared temporary folder, which another local user could prepare. */
export function cacheFolder(): string {
  const home = os.homedir();
  const xdg = process.env.XDG_CACHE_HOME;
  const root =
    xdg !== undefined && path.isAbsolute(xdg)
      ? xdg
      : process.platform === 'darwin'
        ? path.join(home, 'Library/Caches')
        : process.platform === 'win32'
          ? (process.env.LOCALAPPDATA ?? path.join(home, 'AppData/Local'))
          : path.join(home, '.cache');
  return path.join(root, 'flowd', 'typescript');
}

/**
 * Makes the cache folder and its parent `flowd` if need be (mode 0700), checks that both are real folders (not
 * symlinks) of this user that nobody else may write, and gives the folder's real path (a source map names the
 * TypeScript file relative to the compiled file's real path, the one Node loads it by).
 */
async function usableCacheFolder(folder: string): Promise<string> {
  try {
    await mkdir(folder, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new CacheUnavailable(`cannot create ${folder}: ${(error as Error).message}`, { cause: error });
  }
  const uid = process.getuid?.();
  // The folder, and its parent when that is flowd's own (`.../flowd/typescript`).
  const owned = path.basename(path.dirname(folder)) === 'flowd' ? [folder, path.dirname(folder)] : [folder];
  for (const dir of owned) {
    const stats = await lstat(dir);
    if (stats.isSymbolicLink()) throw new UnsafeCache(`${dir} is a symbolic link`);
    if (!stats.isDirectory()) throw new UnsafeCache(`${dir} is not a folder`);
    if (uid === undefined) continue;
    if (stats.uid !== uid) throw new UnsafeCache(`${dir} belongs to user ${stats.uid}, not to this process's user ${uid}`);
    if ((stats.mode & 0o077) !== 0)
      throw new UnsafeCache(`${dir} can be used by other users (mode ${(stats.mode & 0o777).toString(8)}, not 700)`);
  }
  return realpath(folder);
}

/**
 * Everything besides its source that a compiled file depends on: which flowd copy `'flowd'` names and its version,
 * Node's version (the target) and conditions, esbuild's version. Two flowd copies or Node versions do not share files.
 */
function compileInputs(esbuild: Esbuild, self: string | undefined): string {
  return JSON.stringify([self ?? null, FLOWD_VERSION, process.version, NODE_CONDITIONS, esbuild.version]);
}

const FLOWD_VERSION: string = (() => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'flowd') return manifest.version ?? '';
    } catch {
      // No package.json here.
    }
  }
  return '';
})();

/** The tsconfig.json esbuild takes for a file (the nearest one up its folders), path and text, for the cache key. */
function tsconfigOf(file: string): string {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const tsconfig = path.join(dir, 'tsconfig.json');
    if (existsSync(tsconfig)) return `${tsconfig}\n${readFileSync(tsconfig, 'utf8')}`;
    if (path.dirname(dir) === dir) return '';
  }
}

/** The compiled file of a TypeScript file (its real path), keyed by its path and every compile input: one per source file, whoever imports it. */
function outputFile(cache: string, inputs: string, file: string): string {
  const hash = createHash('sha256')
    .update(`${file}\0${inputs}\0${tsconfigOf(file)}`)
    .digest('hex')
    .slice(0, 16);
  return path.join(cache, `${hash}-${path.basename(file).replace(TYPESCRIPT, '')}.mjs`);
}

/** Whether Node and tsx take a TypeScript file as an ES module: `.mts`, or `.ts`/`.tsx` in a `"type": "module"` package. */
export function isEsModule(file: string): boolean {
  if (/\.mts$/.test(file)) return true;
  if (/\.cts$/.test(file)) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false;
      }
    }
    if (path.dirname(dir) === dir || path.basename(dir) === 'node_modules') return false;
  }
}

/**
 * The export conditions Node resolves with besides `node`, `import` and
 * `default` (which esbuild adds itself): `module-sync` where Node can
 * require an ES module (20.19 and later), and any `--conditions` (`-C`)
 * given to node.
 */
const NODE_CONDITIONS: string[] = [
  ...((process.features as { require_module?: boolean }).require_module === true ? ['module-sync'] : []),
  ...userConditions([...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]),
];

function userConditions(args: string[]): string[] {
  const conditions: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const match = /^(?:--conditions|-C)(?:=(.*))?$/.exec(args[i]!);
    if (match === null) continue;
    const value = match[1] ?? args[++i];
    if (value) conditions.push(value);
  }
  return conditions;
}

const IN_NODE_MODULES = /[\\/]node_modules[\\/]/;

interface Job {
  cache: string;
  inputs: string;
  self: string | undefined;
  /** Gets each app file a file imports. */
  visit: (dep: string) => void;
  outputs: Map<string, string>;
  state: { jsImportsFlowd: boolean };
}

// Names that no source holds: esbuild puts them where the code uses `require` or `import.meta` (not in a string or a comment).
const REQUIRE_USED = '__flowd_require_used__';
const IMPORT_META_USED = '__flowd_import_meta_used__';

/** For a relative `.js`, `.mjs` or `.cjs` import from TypeScript, the TypeScript file beside it, as tsx takes it before the JavaScript. */
function typeScriptSibling(specifier: string, resolveDir: string): string | undefined {
  if (!/^\.{1,2}\//.test(specifier)) return undefined;
  const match = /\.([cm]?)js$/.exec(specifier);
  if (match === null) return undefined;
  const stem = path.resolve(resolveDir, specifier.slice(0, -match[0].length));
  const candidates = match[1] === '' ? ['.ts', '.tsx'] : [`.${match[1]}ts`];
  return candidates.map((ext) => stem + ext).find((candidate) => existsSync(candidate));
}

/** Compiles a TypeScript file, or checks an app JavaScript file. */
async function compileOne(esbuild: Esbuild, file: string, job: Job): Promise<void> {
  const { cache, inputs, self, visit } = job;
  const typescript = TYPESCRIPT.test(file);
  if (typescript && !isEsModule(file)) throw new NotCompilable(`${file} is a CommonJS module`);
  const url = pathToFileURL(file).href;
  const out = outputFile(cache, inputs, file);
  const plugin: Plugin = {
    name: 'flowd-resolve-ahead',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData === RESOLVING) return undefined;
        const required = args.kind === 'require-call' || args.kind === 'require-resolve';
        if (typescript && required) throw new NotCompilable(`${args.importer} requires "${args.path}"`);
        if (args.path.startsWith('node:') || BUILTINS.has(args.path)) return { path: args.path, external: true };
        if (self !== undefined && args.path === 'flowd') {
          if (!typescript) job.state.jsImportsFlowd = true;
          return { path: pathToFileURL(self).href, external: true };
        }
        const sibling = typescript ? typeScriptSibling(args.path, args.resolveDir) : undefined;
        const resolved =
          sibling !== undefined
            ? { errors: [], path: sibling, external: false }
            : await build.resolve(args.path, {
                kind: args.kind,
                resolveDir: args.resolveDir,
                importer: args.importer,
                pluginData: RESOLVING,
              });
        if (resolved.errors.length > 0 || resolved.path === '' || resolved.external)
          throw new NotCompilable(`"${args.path}" from ${args.importer} does not resolve`);
        const target = resolved.path;
        const app = !IN_NODE_MODULES.test(target);
        if (TYPESCRIPT.test(target)) {
          if (!typescript) throw new NotCompilable(`${args.importer} is JavaScript and imports TypeScript (${target})`);
          if (!isEsModule(target)) throw new NotCompilable(`${target} (imported by ${args.importer}) is a CommonJS module`);
          visit(target);
          return { path: pathToFileURL(outputFile(cache, inputs, target)).href, external: true };
        }
        if (!typescript && !required) {
          // What Node finds by itself from an ES module: the file named, with its extension, or a package.
          const relative = /^\.{0,2}\//.test(args.path) || path.isAbsolute(args.path);
          if (relative ? target !== path.resolve(args.resolveDir, args.path) : !args.path.startsWith('#') && app)
            throw new NotCompilable(`${args.importer} imports "${args.path}" as only tsx finds it`);
          if (target.endsWith('.json') && args.with.type !== 'json')
            throw new NotCompilable(`${args.importer} imports ${args.path} with no type: 'json'`);
        }
        if (app && /\.[cm]?jsx?$/.test(target)) visit(target);
        // TypeScript imports JSON with no `with { type: 'json' }` (tsx needs none): through a module that adds it.
        if (typescript && target.endsWith('.json')) return { path: pathToFileURL(await jsonModule(job, target)).href, external: true };
        return { path: pathToFileURL(target).href, external: true };
      });
    },
  };
  const buildOptions: BuildOptions = {
    entryPoints: [file],
    // Bundled only to resolve each import through the plugin: every import is external or JSON, and nothing of the
    // module is dropped, so it is the one module tsx would have compiled.
    bundle: true,
    treeShaking: false,
    write: false,
    format: 'esm',
    platform: 'node',
    // What tsx compiles with: the running Node, names kept (a class's name is a worker's default name), no whitespace.
    target: `node${process.versions.node}`,
    keepNames: true,
    minifyWhitespace: true,
    // Node's resolution: its conditions, and no `module` condition or field (esbuild adds both by default).
    conditions: NODE_CONDITIONS,
    mainFields: ['main'],
    outfile: out,
    sourcemap: 'inline',
    sourcesContent: false,
    logLevel: 'silent',
    define: {
      'import.meta.url': JSON.stringify(url),
      'import.meta.filename': JSON.stringify(file),
      'import.meta.dirname': JSON.stringify(path.dirname(file)),
      ...(typescript ? { require: REQUIRE_USED, 'import.meta': IMPORT_META_USED } : {}),
    },
    plugins: [plugin],
  };
  let code: string;
  try {
    const result = await esbuild.build(buildOptions);
    code = result.outputFiles![0]!.text;
  } catch (error) {
    // A NotCompilable thrown in the plugin comes back inside esbuild's error.
    const errors = (error as { errors?: EsbuildApi.Message[] }).errors ?? [];
    const inner = errors.find((e) => e.detail instanceof NotCompilable);
    if (inner !== undefined) throw inner.detail as NotCompilable;
    // No message: esbuild itself failed (its service stopped, say), not the file; tsx may do better.
    if (errors.length === 0) throw new NotCompilable(`${file}: ${(error as Error).message}`, { cause: error });
    // Anything else is the file's own fault (a syntax error): tsx, compiling with the same esbuild, would fail alike.
    throw new CompileError(errors.map(located).join('\n'), { cause: error });
  }
  const body = code.slice(0, code.lastIndexOf('//# sourceMappingURL='));
  // Every import() the compiler could resolve now names a string; any other needs a loader at run time.
  if (/(?<![\w$.])import\s*\(\s*(?!")/.test(body) && (await importsComputedName(esbuild, body)))
    throw new NotCompilable(`${file} imports a module whose name is computed`);
  if (!typescript) return;
  if (body.includes(IMPORT_META_USED)) throw new NotCompilable(`${file} uses import.meta beyond url, filename and dirname`);
  if (body.includes(REQUIRE_USED)) throw new NotCompilable(`${file} uses require`);
  await writeIfChanged(out, code);
  job.outputs.set(out, file);
}

/**
 * The module through which TypeScript imports a JSON file: Node's JSON module, which every importer shares, as its
 * default export, and its top-level keys as named exports, as esbuild and tsx give them.
 */
async function jsonModule(job: Job, file: string): Promise<string> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new CompileError(`${file}: ${(error as Error).message}`, { cause: error });
  }
  const keys = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value) : [];
  const code = [
    `import json from ${JSON.stringify(pathToFileURL(file).href)} with { type: 'json' };`,
    'export default json;',
    ...keys
      .filter((key) => key !== 'default')
      .map((key, i) => `const k${i} = json[${JSON.stringify(key)}];\nexport { k${i} as ${JSON.stringify(key)} };`),
    '',
  ].join('\n');
  const out = outputFile(job.cache, job.inputs, file);
  await writeIfChanged(out, code);
  job.outputs.set(out, file);
  return out;
}

/**
 * Whether compiled code holds an `import()` of a name that is not a string, asked of esbuild, not of a regex (which
 * `"import(x)"` in a string would fool): with `import()` unsupported, esbuild writes each call as
 * `__toESM(require(<name>))`, a string name as `require("...")`.
 */
async function importsComputedName(esbuild: Esbuild, code: string): Promise<boolean> {
  const { code: lowered } = await esbuild.transform(code, {
    loader: 'js',
    format: 'esm',
    platform: 'node',
    supported: { 'dynamic-import': false },
    minifyWhitespace: true,
    logLevel: 'silent',
  });
  const calls = lowered.match(/__toESM\(_{0,2}require\(/g)?.length ?? 0;
  const named = lowered.match(/__toESM\(_{0,2}require\("/g)?.length ?? 0;
  return calls > named;
}

/** An esbuild message as `file:line:column: text`. */
function located(message: EsbuildApi.Message): string {
  const where = message.location;
  // esbuild names the file relative to its working folder, the process's.
  return where === null ? message.text : `${path.resolve(where.file)}:${where.line}:${where.column + 1}: ${message.text}`;
}

/** Writes a compiled file unless it holds that already; whole or not at all (another flowd may read it meanwhile). */
async function writeIfChanged(file: string, code: string): Promise<void> {
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === code) return;
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, code, { mode: 0o600 });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new CacheUnavailable(`cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
}
