import { describe, expect, it } from 'vitest';
import { compileLockSettings, type LockSettingsDefaults } from '../../src/config/lock-settings.js';
import { SectionReader, type RawValue } from '../../src/kernel/section-reader.js';
import { expectConfigError } from '../helpers/config-error.js';

const FILE = 'apps/thumbnails.ini';
const FILE_STORE: LockSettingsDefaults = { storeBackend: 'file' };
const REDIS_STORE: LockSettingsDefaults = { storeBackend: 'redis', storeUrl: 'redis://store:6379/1' };

function compile(values: Record<string, RawValue>, defaults = FILE_STORE) {
  const map = new Map(Object.entries(values));
  const reader = new SectionReader(map, { file: FILE, section: 'Lock', lines: new Map([...map.keys()].map((key, i) => [key, i + 2])) });
  const settings = compileLockSettings(reader, defaults);
  reader.finish();
  return settings;
}

describe('compileLockSettings', () => {
  it('defaults to in-process locks with a 60s lease when the store is on files', () => {
    expect(compile({})).toEqual({ backend: 'local', leaseMs: 60_000 });
  });

  it("defaults to Redis locks on the store's URL when the store is in Redis", () => {
    expect(compile({}, REDIS_STORE)).toEqual({ backend: 'redis', url: 'redis://store:6379/1', prefix: 'flowd:lock:', leaseMs: 60_000 });
  });

  it('takes the backend, url, lease and prefix given', () => {
    expect(compile({ backend: 'redis', url: 'rediss://:pw@locks:6380', lease: '90s', prefix: 'acme:lock:' })).toEqual({
      backend: 'redis',
      url: 'rediss://:pw@locks:6380',
      prefix: 'acme:lock:',
      leaseMs: 90_000,
    });
  });

  it('keeps locks in process when asked, even with the store in Redis', () => {
    expect(compile({ backend: 'local' }, REDIS_STORE)).toEqual({ backend: 'local', leaseMs: 60_000 });
  });

  it('requires a url for Redis locks when the store is not in Redis', () => {
    expectConfigError(() => compile({ backend: 'redis' }), {
      file: FILE,
      section: 'Lock',
      key: 'url',
      says: ['is required with backend = redis'],
    });
  });

  it('rejects a url that is not a Redis URL without printing its password', () => {
    const error = expectConfigError(() => compile({ backend: 'redis', url: 'http://:hunter2@host:6379' }), {
      key: 'url',
      says: ['expected redis://[user:password@]host[:port][/db] or rediss://', 'http://:***@host'],
    });
    expect(error.message).not.toContain('hunter2');
  });

  it('rejects a lease under one second and an unknown backend', () => {
    expectConfigError(() => compile({ lease: '500ms' }), { key: 'lease', says: ['at least 1s'] });
    expectConfigError(() => compile({ backend: 'zookeeper' }), { key: 'backend', says: ['expected one of local, redis'] });
  });

  it('rejects url and prefix for in-process locks, which would silently do nothing', () => {
    expectConfigError(() => compile({ url: 'redis://x:6379' }), { key: 'url', says: ['only read with backend = redis'] });
    expectConfigError(() => compile({ prefix: 'x:' }), { key: 'prefix', says: ['only read with backend = redis'] });
  });
});
