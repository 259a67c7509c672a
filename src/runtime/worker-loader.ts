import { access } from 'node:fs/promises';
import path from 'node:path';
import { importFailure, importModule } from '../../actors/import-module.js';
import { describeValue, toRunner, type Runner } from '../../actors/workers/worker.js';
import { formatLocation, WorkerLoadError, type ConfigLocation } from '../kernel/errors.js';
import { builtinWorker } from '../apps/builtins.js';

const EXTENSIONS = ['.ts', '.mts', '.mjs', '.js'];

/** A parsed `[Flow] class` value. */
export interface WorkerSpec {
  /** The module file, absolute. */
  file: string;
  /** The export name; undefined for the default export. */
  exportName: string | undefined;
}

/**
 * Parses `[Flow] class`: `./path.ts:Export`, `./path.ts` (default export),
 * or Flow's dotted `module.Export` (a module in the INI file's folder).
 */
export async function resolveWorkerSpec(spec: string, baseDir: string): Promise<WorkerSpec> {
  const text = spec.trim();
  const isPath = /^(\.{1,2}[\\/]|\/)/.test(text) || /\.(ts|mts|mjs|js)(:|$)/.test(text);
  let modulePath: string;
  let exportName: string | undefined;
  if (isPath) {
    const colon = text.lastIndexOf(':');
    const hasExport = colon > 1 && !/^[\\/]/.test(text.slice(colon + 1));
    modulePath = hasExport ? text.slice(0, colon) : text;
    exportName = hasExport ? text.slice(colon + 1) || undefined : undefined;
  } else if (/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)+$/.test(text)) {
    const parts = text.split('.');
    exportName = parts.pop();
    modulePath = `./${parts.join('/')}`;
  } else {
    throw new WorkerLoadError(`class "${spec}" is not a worker reference; expected ./path.ts:Export, ./path.ts or module.Export`);
  }
  const base = path.resolve(baseDir, modulePath);
  const candidates = path.extname(base) ? [base] : EXTENSIONS.map((ext) => base + ext);
  for (const file of candidates) {
    if (await exists(file)) return { file, exportName };
  }
  throw new WorkerLoadError(
    `class "${spec}": no module found; tried ${candidates.map((c) => path.relative(process.cwd(), c) || c).join(', ')}`,
  );
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Imports the module and returns its worker as a Runner; a built-in app's
 * name (src/apps/builtins.ts) when no module file of that name exists. A missing export
 * names the exports the module has; anything that is not a worker says
 * what it is. `.ts` modules load as actors/import-module.ts loads TypeScript.
 * With `where` (the INI file, line, section and key of `[Flow] class`),
 * a WorkerLoadError's message starts with that location.
 */
export async function loadWorker(spec: string, baseDir: string, where?: ConfigLocation): Promise<Runner> {
  if (where === undefined) return loadRunner(spec, baseDir);
  try {
    return await loadRunner(spec, baseDir);
  } catch (error) {
    // Where the class was written: `app.ini:3 [Flow] "class": ...`.
    if (error instanceof WorkerLoadError) throw new WorkerLoadError(`${formatLocation(where)}${error.message}`, { cause: error.cause });
    throw error;
  }
}

async function loadRunner(spec: string, baseDir: string): Promise<Runner> {
  let resolved: WorkerSpec;
  try {
    resolved = await resolveWorkerSpec(spec, baseDir);
  } catch (error) {
    // A built-in app (`xmlimport.XmlImport`, ...) when no module of that name is beside the INI file:
    // as with Python's path, the app's own folder comes first, so a local module may shadow a built-in.
    const builtin = await builtinWorker(spec);
    if (builtin === undefined) throw error;
    const runner = toRunner(builtin, spec.trim());
    if (!runner) throw new WorkerLoadError(`class "${spec}": the built-in is ${describeValue(builtin)}; extend it in a module of your own`);
    return runner;
  }
  const { file, exportName } = resolved;
  let module: Record<string, unknown>;
  try {
    module = await importModule(file);
  } catch (error) {
    throw new WorkerLoadError(`class "${spec}": importing ${file} failed: ${importFailure(error)}`, { cause: error });
  }
  const name = exportName ?? 'default';
  const exports = Object.keys(module);
  if (!(name in module) || module[name] === undefined) {
    throw new WorkerLoadError(
      `class "${spec}": ${path.basename(file)} has no export "${name}"; its exports are: ${exports.join(', ') || '(none)'}`,
    );
  }
  const runner = toRunner(module[name], exportName ?? path.basename(file, path.extname(file)));
  if (!runner) {
    throw new WorkerLoadError(
      `class "${spec}": export "${name}" of ${path.basename(file)} is ${describeValue(module[name])}; expected defineWorker({ start }), a class with start(event), or xstate actor logic`,
    );
  }
  return runner;
}
