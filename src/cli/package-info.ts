import { readFileSync } from 'node:fs';
import { FlowdError } from '../kernel/errors.js';

/**
 * The version of the flowd that is running, from its package.json: the one
 * beside src/ when flowd runs from its sources, or above dist/ when it runs
 * compiled.
 * @example flowdVersion() // '0.1.0'
 */
export function flowdVersion(): string {
  return flowdManifest().version;
}

/**
 * The version range flowd itself depends on for `name` (`tsx`, say), for
 * what `flowd init` writes into a new app's package.json.
 * @example flowdDependency('tsx') // '^4.23.15'
 */
export function flowdDependency(name: string): string | undefined {
  return flowdManifest().dependencies[name];
}

interface Manifest {
  version: string;
  dependencies: Record<string, string>;
}

let manifest: Manifest | undefined;
function flowdManifest(): Manifest {
  if (manifest) return manifest;
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
        dependencies?: Record<string, string>;
      };
      if (pkg.name === 'flowd' && typeof pkg.version === 'string')
        return (manifest = { version: pkg.version, dependencies: pkg.dependencies ?? {} });
    } catch {
      // Not this one: dist/ has no package.json of its own.
    }
  }
  throw new FlowdError('ERR_INTERNAL', 'the package.json of flowd was not found above src/ or above dist/');
}
