import type { WorkerLike } from '../../actors/workers/worker.js';
import { WorkerLoadError } from '../kernel/errors.js';

/** How a built-in app is loaded: imported on demand, so an app pays only for the one it runs. */
interface Builtin {
  /** The module, relative to this file. */
  module: string;
  /** Its export. */
  exportName: string;
  /** What it is, for `flowd check` and errors. */
  description: string;
}

/**
 * The built-in apps, by the dotted names Flow users write in `[Flow] class`.
 * `xmlimport.XmlImport` and `metadatamapper.MetadataMapper` are complete
 * apps; `flow.transfer.TransferPlugin` is a base class to extend in a
 * module of your own (running it as is fails in configure()).
 */
export const BUILTIN_WORKERS: Readonly<Record<string, Builtin>> = {
  'xmlimport.XmlImport': { module: './xmlimport.js', exportName: 'XmlImport', description: 'XML + media importer' },
  'metadatamapper.MetadataMapper': { module: './metadatamapper.js', exportName: 'MetadataMapper', description: 'metadata mapper' },
  'flow.transfer.TransferPlugin': { module: './transfer.js', exportName: 'TransferPlugin', description: 'transfer plugin base class' },
  'xmlexport.XmlExport': { module: './xmlexport.js', exportName: 'XmlExport', description: 'XML + media export transfer plugin' },
};

/** Whether `name` is the `[Flow] class` of a built-in app. */
export function isBuiltinWorker(name: string): boolean {
  return Object.hasOwn(BUILTIN_WORKERS, name.trim());
}

/**
 * The built-in worker named `name` (`xmlimport.XmlImport`, ...), or
 * undefined when it is not a built-in name. Throws WorkerLoadError when the
 * name is built in but its module cannot be loaded.
 * @example
 * const worker = await builtinWorker('xmlimport.XmlImport'); // the XmlImport class
 */
export async function builtinWorker(name: string): Promise<WorkerLike | undefined> {
  const key = name.trim();
  if (!Object.hasOwn(BUILTIN_WORKERS, key)) return undefined;
  const builtin = BUILTIN_WORKERS[key]!;
  let module: Record<string, unknown>;
  try {
    module = (await import(builtin.module)) as Record<string, unknown>;
  } catch (error) {
    throw new WorkerLoadError(
      `class "${key}": the built-in ${builtin.description} could not be loaded from src/apps/${builtin.module.replace(/^\.\//, '')}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const worker = module[builtin.exportName];
  if (worker === undefined) {
    throw new WorkerLoadError(
      `class "${key}": the built-in module ${builtin.module} has no export "${builtin.exportName}"; its exports are: ${Object.keys(module).join(', ') || '(none)'}`,
    );
  }
  return worker as WorkerLike;
}
