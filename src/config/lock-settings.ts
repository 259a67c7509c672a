import type { SectionReader } from '../kernel/section-reader.js';
import { checkRedisUrl } from './store-settings.js';

/** `[Lock]`, compiled. */
export type LockSettings =
  | { backend: 'local'; leaseMs: number }
  | {
      backend: 'redis';
      /** The Redis URL; may hold a password, so never print it (see displayUrl in actors/redis-url.ts). */
      url: string;
      /** Keys are `<prefix><namespace>:...` (the namespace is the app name). @default 'flowd:lock:' */
      prefix: string;
      leaseMs: number;
    };

/** What `[Lock]` falls back on: the store's backend and URL. */
export interface LockSettingsDefaults {
  storeBackend: 'file' | 'redis' | 'postgres';
  storeUrl?: string | undefined;
}

/**
 * Compiles `[Lock]`:
 * - `backend = local | redis` (@default redis when the store is in Redis, else local)
 * - `url` (@default the store's URL when the store is in Redis; required for redis otherwise)
 * - `lease` (a duration of at least 1s; @default 60s)
 * - `prefix` (redis only; @default flowd:lock:)
 */
export function compileLockSettings(reader: SectionReader, defaults: LockSettingsDefaults): LockSettings {
  const storeUrl = defaults.storeBackend === 'redis' ? defaults.storeUrl : undefined;
  const backend = reader.choice('backend', ['local', 'redis'] as const, defaults.storeBackend === 'redis' ? 'redis' : 'local');
  const leaseMs = reader.duration('lease', 60_000, { minMs: 1000 });
  const url = reader.string('url');
  const prefix = reader.string('prefix');
  if (backend === 'local') {
    if (url !== undefined) reader.fail('url', 'is only read with backend = redis; found backend = local');
    if (prefix !== undefined) reader.fail('prefix', 'is only read with backend = redis; found backend = local');
    return { backend, leaseMs };
  }
  const chosen = url ?? storeUrl;
  if (chosen === undefined)
    reader.fail(
      'url',
      'is required with backend = redis (unless [Store] is in Redis, whose URL it then defaults to); expected redis://host:6379',
    );
  return { backend, url: checkRedisUrl(reader, chosen), prefix: prefix ?? 'flowd:lock:', leaseMs };
}
