import { readFileSync } from 'node:fs';

/**
 * The version of the flowd that is running, from its package.json: the one
 * beside src/ when flowd runs from its sources, or above dist/ when it runs
 * compiled.
 * @example flowdVersion() // '0.1.0'
 */
export function flowdVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'flowd' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not this one: dist/ has no package.json of its own.
    }
  }
  throw new Error('the package.json of flowd was not found beside src/ or above dist/');
}
