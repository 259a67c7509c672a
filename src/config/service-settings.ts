import path from 'node:path';
import type { ServiceSettings } from '../runtime/app-services.js';
import { compileApiSection } from './api-settings.js';
import { toIniKeys } from './flow-settings.js';
import { compileLockSettings } from './lock-settings.js';
import { SectionReader } from '../kernel/section-reader.js';
import { compileStoreSettings } from './store-settings.js';

type Options = Record<string, string | number | boolean | undefined>;

/** `createRuntime({ store, lock, api })`: the `[Store]`, `[Lock]` and `[Api]` keys in camelCase. */
export interface ServiceOptions {
  store?: {
    backend?: 'file' | 'redis' | 'postgres';
    url?: string;
    folder?: string;
    prefix?: string;
    table?: string;
    queryTimeout?: string | number;
    poolSize?: number;
  };
  lock?: { backend?: 'local' | 'redis'; url?: string; lease?: string | number; prefix?: string };
  api?: {
    hostname: string;
    username?: string;
    password?: string;
    useHttps?: boolean;
    checkCertificates?: boolean;
    timeOut?: string | number;
  };
}

/** A section's readers, as the INI loader or createRuntime makes them. */
export type SectionReaders = (name: 'Store' | 'Lock' | 'Api') => SectionReader | undefined;

/**
 * Compiles the store, lock and API sections. `readerFor` gives each
 * section's reader (undefined when the app has none); every reader is
 * finished, so an unknown key is an error with a did-you-mean hint.
 */
export function compileServices(readerFor: SectionReaders, app: { dir: string; stateDir: string }): ServiceSettings {
  const empty = (section: string) => new SectionReader(new Map(), { section });
  const storeReader = readerFor('Store') ?? empty('Store');
  const store = compileStoreSettings(storeReader, { stateDir: app.stateDir });
  storeReader.finish();
  if (store.backend === 'file') store.folder = path.resolve(app.dir, store.folder);
  const lockReader = readerFor('Lock') ?? empty('Lock');
  const lock = compileLockSettings(lockReader, { storeBackend: store.backend, ...(store.url ? { storeUrl: store.url } : {}) });
  lockReader.finish();
  const apiReader = readerFor('Api');
  const api = apiReader ? compileApiSection(apiReader) : undefined;
  apiReader?.finish();
  if (api && 'missing' in api) return { store, lock, api: undefined, apiMissing: api.missing };
  return { store, lock, api };
}

/** The services of `createRuntime({ store, lock, api })`. */
export function compileServiceSettings(options: ServiceOptions, app: { dir: string; stateDir: string }): ServiceSettings {
  const readers: Record<string, SectionReader | undefined> = {
    Store: options.store ? new SectionReader(toIniKeys(options.store as Options), { section: 'createRuntime store' }) : undefined,
    Lock: options.lock ? new SectionReader(toIniKeys(options.lock as Options), { section: 'createRuntime lock' }) : undefined,
    Api: options.api ? new SectionReader(toIniKeys(options.api as Options), { section: 'createRuntime api' }) : undefined,
  };
  return compileServices((name) => readers[name], app);
}
