import { join } from 'node:path';
import { displayUrl } from '../../actors/display-url.js';
import { isTableName } from '../../actors/stores/postgres-table.js';
import type { SectionReader } from '../kernel/section-reader.js';

/** `[Store]`, compiled: the embedded file backend, or Redis or PostgreSQL shared by several daemons. */
export type StoreSettings =
  | {
      backend: 'file';
      /** The folder of the records; a relative path is resolved by the caller. @default `<state dir>/store` */
      folder: string;
      /** Never set for the file backend (so `settings.url` reads on every kind). */
      url?: undefined;
      prefix?: undefined;
    }
  | {
      backend: 'redis';
      /** `redis://[user:password@]host[:port][/db]` or `rediss://...`. Required. */
      url: string;
      /** What every key starts with. @default undefined (`flowd:store:<app name>:`) */
      prefix: string | undefined;
    }
  | {
      backend: 'postgres';
      /** `postgres://[user[:password]@]host[:port]/database` or `postgresql://...`. Required; may hold a password (print it with displayUrl). */
      url: string;
      /** The table, `name` or `schema.name`. @default undefined (`flowd_store_<app name>`, see storeTableFor) */
      table: string | undefined;
      /** A statement unanswered after this long fails with ERR_STORE_UNAVAILABLE; also the connect timeout. @default 5000 */
      queryTimeoutMs: number;
      /** Connections the pool opens at most (besides the one that watches the server). @default 4 */
      poolSize: number;
      prefix?: undefined;
    };

type Backend = StoreSettings['backend'];

// Which backend reads each key that not every backend reads.
const OWNERS: Record<string, Backend> = {
  folder: 'file',
  prefix: 'redis',
  table: 'postgres',
  'query timeout': 'postgres',
  'pool size': 'postgres',
};

/**
 * Compiles `[Store]`: `backend = file | redis | postgres` (default file);
 * `folder` (file only; default `<state dir>/store`); `url` (redis and
 * postgres, required: `redis://` or `rediss://`; `postgres://` or
 * `postgresql://`); `prefix` (redis only); `table`, `query timeout` and
 * `pool size` (postgres only; default `flowd_store_<app name>`, 5s, 4). A key that
 * belongs to another backend is an error, so `url = ...` without a backend
 * never passes silently. Messages never show a password.
 * @example
 * compileStoreSettings(reader, { stateDir: '/var/lib/flowd/thumbnails' })
 * // { backend: 'file', folder: '/var/lib/flowd/thumbnails/store' }
 */
export function compileStoreSettings(reader: SectionReader, defaults: { stateDir: string }): StoreSettings {
  const backend = reader.choice('backend', ['file', 'redis', 'postgres'] as const, 'file');
  for (const [key, owner] of Object.entries(OWNERS)) {
    if (owner !== backend && reader.has(key)) reader.fail(key, `is a setting of backend = ${owner}, but backend is ${backend}`);
  }
  const folder = reader.string('folder');
  const url = reader.string('url');
  const prefix = reader.string('prefix');
  const table = reader.string('table');
  const queryTimeoutMs = reader.duration('query timeout', 5000, { minMs: 100 });
  const poolSize = reader.integer('pool size', 4, { min: 1, max: 100 });
  if (backend === 'file') {
    if (url !== undefined) reader.fail('url', 'is a setting of backend = redis or postgres, but backend is file');
    return { backend, folder: folder?.trim() || join(defaults.stateDir, 'store') };
  }
  if (backend === 'redis') {
    if (url === undefined) return reader.fail('url', 'is required with backend = redis; expected a URL such as redis://127.0.0.1:6379/0');
    return { backend, url: checkRedisUrl(reader, url.trim()), prefix };
  }
  if (url === undefined)
    return reader.fail('url', 'is required with backend = postgres; expected a URL such as postgres://flowd@127.0.0.1:5432/flowd');
  const name = table?.trim();
  if (name !== undefined && !isTableName(name))
    reader.fail('table', `found "${name}"; expected a table name such as flowd_store_orders or flowd.orders (letters, digits and _)`);
  return { backend, url: checkPostgresUrl(reader, url.trim()), table: name, queryTimeoutMs, poolSize };
}

/** A `url` key that must be a Redis URL; errors show it with the password hidden. */
export function checkRedisUrl(reader: SectionReader, url: string): string {
  const expected = 'expected redis://[user:password@]host[:port][/db] or rediss://... (TLS)';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return reader.fail('url', `found "${displayUrl(url)}", which is not a URL; ${expected}`);
  }
  const shown = displayUrl(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') reader.fail('url', `found "${shown}"; ${expected}`);
  if (!parsed.hostname) reader.fail('url', `found "${shown}", which names no host; ${expected}`);
  if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d+$/.test(parsed.pathname)) {
    reader.fail('url', `found "${shown}", whose path "${parsed.pathname}" is not a database number; ${expected}`);
  }
  return url;
}

/** A `url` key that must be a PostgreSQL URL; errors show it with the password hidden. */
function checkPostgresUrl(reader: SectionReader, url: string): string {
  const expected = 'expected postgres://[user[:password]@]host[:port]/database or postgresql://...';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return reader.fail('url', `found "${displayUrl(url)}", which is not a URL; ${expected}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') reader.fail('url', `found "${displayUrl(url)}"; ${expected}`);
  return url;
}
