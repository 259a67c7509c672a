import { join } from 'node:path';
import { displayUrl } from '../../actors/display-url.js';
import type { SectionReader } from '../kernel/section-reader.js';

/** `[Store]`, compiled: the embedded file backend, or Redis shared by several daemons. */
export type StoreSettings =
  | {
      backend: 'file';
      /** The folder of the records; a relative path is resolved by the caller. @default `<state dir>/store` */
      folder: string;
      /** Never set for the file backend (so `settings.url` reads on either kind). */
      url?: undefined;
      prefix?: undefined;
    }
  | {
      backend: 'redis';
      /** `redis://[user:password@]host[:port][/db]` or `rediss://...`. Required. */
      url: string;
      /** What every key starts with. @default undefined (`flowd:store:<app name>:`) */
      prefix: string | undefined;
    };

/**
 * Compiles `[Store]`: `backend = file | redis` (default file); `folder`
 * (file only; default `<state dir>/store`); `url` (redis only, required,
 * `redis://` or `rediss://`); `prefix` (redis only). A key that belongs to
 * the other backend is an error, so `url = ...` without `backend = redis`
 * never passes silently. Messages never show a password.
 * @example
 * compileStoreSettings(reader, { stateDir: '/var/lib/flowd/thumbnails' })
 * // { backend: 'file', folder: '/var/lib/flowd/thumbnails/store' }
 */
export function compileStoreSettings(reader: SectionReader, defaults: { stateDir: string }): StoreSettings {
  const backend = reader.choice('backend', ['file', 'redis'] as const, 'file');
  const folder = reader.string('folder');
  const url = reader.string('url');
  const prefix = reader.string('prefix');
  const elsewhere = (key: string, owner: string) => reader.fail(key, `is a setting of backend = ${owner}, but backend is ${backend}`);
  if (backend === 'file') {
    if (url !== undefined) elsewhere('url', 'redis');
    if (prefix !== undefined) elsewhere('prefix', 'redis');
    return { backend, folder: folder?.trim() || join(defaults.stateDir, 'store') };
  }
  if (folder !== undefined) elsewhere('folder', 'file');
  if (url === undefined) return reader.fail('url', 'is required with backend = redis; expected a URL such as redis://127.0.0.1:6379/0');
  return { backend, url: checkRedisUrl(reader, url.trim()), prefix };
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
