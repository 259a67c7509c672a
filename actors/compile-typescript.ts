import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { builtinModules, createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
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
 * Each TypeScript file becomes one `.mjs` file, keyed by its path
 * (`<tmp>/flowd-<uid>/typescript/<hash>-<name>.mjs`), so a module imported
 * by two others (a worker and a plugin, say) is one module, as with tsx.
 * Every import is resolved when compiling, from the TypeScript file's own
 * folder, as tsx resolves it (`./util.js` naming `util.ts`, extensionless,
 * tsconfig `paths`, package `exports` and `imports`), and written into the
 * output as an absolute URL: TypeScript files as their compiled files,
 * anything else as the file itself, so a package is the same copy it would
 * be. JSON files are compiled in. `import.meta.url`, `.filename` and
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
 * folder, a tsconfig path); and anything esbuild reports as an error (so the
 * error the user sees is tsx's, as before). Refusing late is no option: an
 * import that fails is remembered by Node, URL by URL, and tsx would meet
 * the same failure.
 */
export async function compileTypeScript(entry: string, options: CompileOptions = {}): Promise<string> {
  const esbuild = loadEsbuild();
  const cache = options.cacheDir ?? cacheFolder();
  await mkdir(cache, { recursive: true, mode: 0o700 });
  const first = realpathSync(entry);
  const pending = new Map<string, Promise<void>>();
  const visit = (file: string): void => {
    if (pending.has(file)) return;
    const job = compileOne(esbuild, file, cache, options.self, visit);
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
  return outputFile(cache, first);
}

export interface CompileOptions {
  /** The folder of the compiled files. @default `<os.tmpdir()>/flowd-<uid>/typescript` */
  cacheDir?: string;
  /** The file that `'flowd'` names in the app's modules (this copy's compiled entry); undefined resolves it as any package. */
  self?: string | undefined;
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
  esbuildModule ??= createRequire(import.meta.url)('esbuild') as Esbuild;
  return esbuildModule;
}

/** Ends esbuild's service process (it starts again on the next compile). */
export async function stopCompiler(): Promise<void> {
  await esbuildModule?.stop();
}

function cacheFolder(): string {
  const user = process.getuid?.() ?? os.userInfo().username;
  return path.join(os.tmpdir(), `flowd-${user}`, 'typescript');
}

/** The compiled file of a TypeScript file (its real path): one per source file, whoever imports it. */
function outputFile(cache: string, file: string): string {
  const hash = createHash('sha256').update(file).digest('hex').slice(0, 16);
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

/** Compiles a TypeScript file, or checks an app JavaScript file; `visit` gets each app file it imports. */
async function compileOne(
  esbuild: Esbuild,
  file: string,
  cache: string,
  self: string | undefined,
  visit: (dep: string) => void,
): Promise<void> {
  const typescript = TYPESCRIPT.test(file);
  if (typescript && !isEsModule(file)) throw new NotCompilable(`${file} is a CommonJS module`);
  const url = pathToFileURL(file).href;
  const out = outputFile(cache, file);
  const plugin: Plugin = {
    name: 'flowd-resolve-ahead',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData === RESOLVING) return undefined;
        const required = args.kind === 'require-call' || args.kind === 'require-resolve';
        if (typescript && required) throw new NotCompilable(`${args.importer} requires "${args.path}"`);
        if (args.path.startsWith('node:') || BUILTINS.has(args.path)) return { path: args.path, external: true };
        if (self !== undefined && args.path === 'flowd') return { path: pathToFileURL(self).href, external: true };
        const resolved = await build.resolve(args.path, {
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
          return { path: pathToFileURL(outputFile(cache, target)).href, external: true };
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
        // In TypeScript, JSON is compiled in (Node would want `with { type: 'json' }`, which tsx does not).
        if (typescript && target.endsWith('.json')) return { path: target };
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
    },
    plugins: [plugin],
  };
  let code: string;
  try {
    const result = await esbuild.build(buildOptions);
    code = result.outputFiles![0]!.text;
  } catch (error) {
    // A NotCompilable thrown in the plugin comes back inside esbuild's error.
    const inner = (error as { errors?: Array<{ detail?: unknown }> }).errors?.find((e) => e.detail instanceof NotCompilable);
    if (inner !== undefined) throw inner.detail as NotCompilable;
    throw new NotCompilable(`${file}: ${(error as Error).message}`, { cause: error });
  }
  const body = code.slice(0, code.lastIndexOf('//# sourceMappingURL='));
  // Every import() the compiler could resolve now names a string; any other needs a loader at run time.
  if (/(?<![\w$.])import\s*\(\s*(?!")/.test(body)) throw new NotCompilable(`${file} imports a module whose name is computed`);
  if (!typescript) return;
  if (/(?<![\w$.])import\.meta\b/.test(body)) throw new NotCompilable(`${file} uses import.meta beyond url, filename and dirname`);
  if (/(?<![\w$.])(__)?require\s*[.(]/.test(body)) throw new NotCompilable(`${file} uses require`);
  await writeIfChanged(out, code);
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
    throw error;
  }
}
