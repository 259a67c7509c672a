import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Compiled } from './compile-typescript.js';

/**
 * Imports an app's own module (a worker, a plugin, a workflow module) the
 * way the flowd command needs it loaded, in any project:
 *
 * - A TypeScript ES module (`.mts`, or `.ts` in a `"type": "module"`
 *   package) is compiled ahead to JavaScript, with the TypeScript it
 *   imports, and loaded with no module hooks (actors/compile-typescript.ts):
 *   tsx's hooks would cost a daemon a thread and tens of MB for as long as
 *   it runs. What the compiler cannot take, and CommonJS TypeScript (`.cts`,
 *   `.ts` in any other package), load through tsx, whose hooks are
 *   registered on the first such module and not before; from then on tsx
 *   loads every TypeScript module. Once modules are loaded compiled, one
 *   the compiler cannot take fails to import instead (tsx would load the
 *   modules they share a second time). An app written in JavaScript pays
 *   for neither.
 * - `'flowd'` inside the module (`import` or `require`) is the very flowd
 *   that runs it. When the module's own folder resolves `'flowd'` to this
 *   copy (the usual `npm install flowd`), nothing is hooked; nor when the
 *   compiled code names this copy itself and no app JavaScript file it
 *   imports imports `'flowd'`. Otherwise (no
 *   package.json beside the INI file, flowd run through `npx` or installed
 *   globally, or another copy of flowd in the project) a resolve hook for
 *   ES modules and one for CommonJS map `'flowd'` to this copy. flowd's
 *   errors are branded, so `instanceof` would hold across copies anyway;
 *   the hook keeps one runtime, one `Locked` registry, one set of
 *   machines.
 *
 * @param query appended to the module's URL (`v=3`): a fresh module instance per distinct query.
 */
export async function importModule(file: string, query?: string): Promise<Record<string, unknown>> {
  if (TYPESCRIPT.test(file)) {
    const url = await compiled(file);
    if (url !== undefined)
      return withEsModuleInterop((await import(query === undefined ? url : `${url}?${query}`)) as Record<string, unknown>);
    await registerTsx();
    // CommonJS TypeScript requires 'flowd' through tsx's CommonJS hooks, which would make a CommonJS copy of it.
    await shareSelfWithRequire();
  }
  mapFlowdToSelf(path.dirname(file));
  if (file.endsWith('.cts')) {
    // CommonJS TypeScript loads through require (tsx's CommonJS hooks): Node 20's import of a compiled
    // CommonJS module that requires an ES module (flowd) fails. require keeps no query: a caller that
    // wants a fresh copy drops the file from require.cache first (plugins do).
    const exports = createRequire(file)(file) as unknown;
    return withEsModuleInterop({ ...(typeof exports === 'object' && exports !== null ? exports : {}), default: exports });
  }
  const url = pathToFileURL(file).href;
  return withEsModuleInterop((await import(query === undefined ? url : `${url}?${query}`)) as Record<string, unknown>);
}

/** Where importModule reports how it loads TypeScript: a pino logger, say. */
export interface ImportLog {
  warn(details: object, message: string): void;
  debug(details: object, message: string): void;
}

// Until the runtime gives its logger: warnings on stderr, as its default logger (level warn) would print them.
let log: ImportLog = {
  warn: (_details, message) => process.stderr.write(`flowd: warn: ${message}\n`),
  debug: () => {},
};

/** Sets where importModule logs: an unsafe TypeScript cache folder at warn level, a module loaded through tsx (an unwritable cache folder too) at debug level. */
export function setImportLog(logger: ImportLog): void {
  log = logger;
}

/**
 * A CommonJS module compiled from ES module syntax (a `.ts` file in a
 * CommonJS package, as tsx compiles it) marks its exports `__esModule`;
 * Node's import then gives the whole `exports` object as `default`. Its
 * named exports, `default` included, are what the author wrote.
 */
function withEsModuleInterop(namespace: Record<string, unknown>): Record<string, unknown> {
  const exports = namespace.default as Record<string, unknown> | undefined;
  if (typeof exports !== 'object' || exports === null || exports.__esModule !== true) return namespace;
  const named = { ...namespace, ...exports };
  delete named.__esModule;
  if (!('default' in exports)) delete named.default;
  return named;
}

const TYPESCRIPT = /\.[cm]?ts$/;

// Run from its TypeScript sources (tests, benches) flowd is under a loader that loads the app's TypeScript too.
const FROM_SOURCES = import.meta.url.endsWith('.ts');
let compiling = 0;
/** Each compiled file loaded so far (real path) and its TypeScript file, for messages. */
const compiledSources = new Map<string, string>();

/**
 * The URL of an app's TypeScript ES module compiled ahead to JavaScript
 * (actors/compile-typescript.ts), which Node loads with no hooks; undefined
 * when tsx must load it: a CommonJS module, anything the compiler refuses,
 * an unusable cache folder, or flowd itself run from its sources. Whichever
 * loads the first TypeScript module loads them all, for as long as the
 * process runs: a module loaded both ways would be two modules. A module
 * that does not compile (a syntax error) fails to import, with the
 * compiler's `file:line:column`.
 */
async function compiled(file: string): Promise<string | undefined> {
  if (FROM_SOURCES || tsx !== undefined) return undefined;
  if (file.endsWith('.cts')) return throughTsx(file, 'it is a CommonJS module');
  compiling++;
  try {
    const compiler = await import('./compile-typescript.js');
    let result: Compiled;
    try {
      result = await compiler.compileTypeScript(file, { self: selfEntry()?.entry });
    } catch (error) {
      if (error instanceof compiler.UnsafeCache) {
        log.warn({ file, error }, `TypeScript loads through tsx, not compiled ahead: ${error.message}`);
        return throughTsx(file, error.message, 'warned');
      }
      if (error instanceof compiler.CacheUnavailable) return throughTsx(file, error.message);
      if (error instanceof compiler.NotCompilable) return throughTsx(file, error.message);
      throw error;
    }
    // Another module, compiled meanwhile, went to tsx: tsx loads them all now.
    if (tsx !== undefined) return undefined;
    for (const [out, source] of result.outputs) compiledSources.set(out, source);
    // An app JavaScript file that imports 'flowd' is loaded by Node, not rewritten by the compiler.
    if (result.jsImportsFlowd) mapFlowdToSelf(path.dirname(file));
    // Stack traces name the TypeScript lines, as under tsx (which turns source maps on too).
    process.setSourceMapsEnabled(true);
    return pathToFileURL(result.file).href;
  } finally {
    // The compiler's service process is not kept once the app's modules are compiled; a later import starts it again.
    if (--compiling === 0) await import('./compile-typescript.js').then((compiler) => compiler.stopCompiler()).catch(() => {});
  }
}

/**
 * Decides, at once (modules compiling meanwhile see it), that tsx loads the process's TypeScript from now on; or
 * fails, when modules were loaded compiled already.
 */
function throughTsx(file: string, reason: string, logged?: 'warned'): undefined {
  if (compiledSources.size > 0) throw mixed(file, reason);
  if (logged === undefined) log.debug({ file, reason }, `${file} loads through tsx: ${reason}`);
  registerTsx().catch(() => {}); // awaited by importModule, which reports its failure
  return undefined;
}

function mixed(file: string, reason: string): Error {
  return new Error(
    `${file} cannot be compiled ahead (${reason}), and this process has loaded its TypeScript compiled: loading it through tsx ` +
      'now would load the modules they share twice. Change it so that it compiles (an ES module, import not require), or ' +
      'load it before any other TypeScript module',
  );
}

// Once tsx is registered it loads every TypeScript module, so that a module imported by two others stays one module.
let tsx: Promise<unknown> | undefined;
function registerTsx(): Promise<unknown> {
  // tsx's main entry registers its ES module and CommonJS hooks, as `node --import tsx` does.
  const specifier = 'tsx';
  tsx ??= import(specifier);
  return tsx;
}

let selfHooked = false;
const checkedFolders = new Set<string>();

function mapFlowdToSelf(folder: string): void {
  if (selfHooked || checkedFolders.has(folder)) return;
  checkedFolders.add(folder);
  const self = selfEntry();
  // Under a test runner that loads flowd from its sources there is no compiled entry to map to.
  if (self === undefined || resolvesTo(folder, self)) return;
  selfHooked = true;
  register(pathToFileURL(path.join(self.root, 'bin/self-hook.js')), { data: { self: pathToFileURL(self.entry).href } });
  const Module = createRequire(import.meta.url)('node:module') as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    return request === 'flowd' ? self.entry : resolveFilename.call(this, request, ...rest);
  };
}

let selfShared: Promise<void> | undefined;

/**
 * Makes `require('flowd')` give the running flowd's own module (the ES
 * module namespace its entry has in Node's module graph), as Node's own
 * `require` of an ES module does, by putting it in the CommonJS cache at
 * the entry's path. Without it, a CommonJS module that tsx loads (TypeScript
 * in a package without `"type": "module"`, a `.cts` file) would have tsx
 * turn flowd's ES modules into a CommonJS copy of all of flowd: a second
 * runtime's worth of modules (177 of them, about 50 MB), and a second set
 * of the classes and registries a worker shares with the runtime.
 */
function shareSelfWithRequire(): Promise<void> {
  selfShared ??= (async () => {
    const self = selfEntry();
    if (self === undefined) return;
    const Module = createRequire(import.meta.url)('node:module') as {
      _cache: Record<string, unknown>;
      _nodeModulePaths(folder: string): string[];
      new (id: string): { filename: string; paths: string[]; loaded: boolean; exports: unknown };
    };
    if (Module._cache[self.entry] !== undefined) return;
    const namespace: unknown = await import(pathToFileURL(self.entry).href);
    // Cached meanwhile (a module tsx was loading required it): that copy is in use already.
    if (Module._cache[self.entry] !== undefined) return;
    const cached = new Module(self.entry);
    cached.filename = self.entry;
    cached.paths = Module._nodeModulePaths(path.dirname(self.entry));
    cached.exports = namespace;
    cached.loaded = true;
    Module._cache[self.entry] = cached;
  })();
  return selfShared;
}

/** Whether `require('flowd')` from `folder` gives this copy's entry. */
function resolvesTo(folder: string, self: SelfEntry): boolean {
  try {
    return realpathSync(createRequire(path.join(folder, 'noop.js')).resolve('flowd')) === self.entry;
  } catch {
    return false;
  }
}

interface SelfEntry {
  /** The package's folder. */
  root: string;
  /** Its compiled entry point (what `exports` names), real path. */
  entry: string;
}

let self: SelfEntry | undefined | null = null;
function selfEntry(): SelfEntry | undefined {
  if (self !== null) return self;
  self = undefined;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'flowd') {
      const entry = path.join(dir, 'dist/src/index.js');
      if (existsSync(entry)) self = { root: dir, entry: realpathSync(entry) };
      return self;
    }
    if (path.dirname(dir) === dir) return self;
  }
}

/**
 * Why importing a module failed, for a message: the error's own text, and
 * for a module written in the other module system than its package says,
 * what to change.
 * @example importFailure(new SyntaxError('Cannot use import statement outside a module'))
 * // 'Cannot use import statement outside a module (the file uses import, but its package.json has no "type": "module": name it .mjs, or set "type": "module")'
 */
export function importFailure(error: unknown): string {
  const message = sourcePaths(error instanceof Error ? error.message : String(error));
  if (/Cannot use import statement outside a module|Unexpected token 'export'/.test(message))
    return `${message} (the file uses import/export, but its package.json has no "type": "module": name it .mjs, or set "type": "module")`;
  if (/(require|module|exports) is not defined in ES module scope/.test(message))
    return `${message} (the file uses require/module.exports, but its package.json says "type": "module": name it .cjs)`;
  return message;
}

/** A message with each compiled file (as a path or a file URL) named by its TypeScript file. */
function sourcePaths(message: string): string {
  let named = message;
  for (const [out, source] of compiledSources)
    named = named.replaceAll(pathToFileURL(out).href, pathToFileURL(source).href).replaceAll(out, source);
  return named;
}
