import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/**
 * A dependency loaded on its first use instead of at start-up: an app that
 * never talks to Redis, parses XML or sends HTTP requests does not pay for
 * those libraries in start-up time or memory (docs/performance.md). Loaded
 * with `require`, synchronously, so a call site stays as it was; each of
 * these libraries ships a CommonJS build.
 * @example const undici = lazy<typeof import('undici')>('undici'); ... undici().request(url)
 */
export function lazy<T>(specifier: string): () => T {
  let module: T | undefined;
  return () => (module ??= load(specifier) as T);
}

/** A value made on first use from lazily loaded libraries (a parser configured once, say). */
export function once<T>(make: () => T): () => T {
  let value: T | undefined;
  let made = false;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value as T;
  };
}
