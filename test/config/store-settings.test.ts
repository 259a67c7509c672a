import { describe, expect, it } from 'vitest';
import { SectionReader, type RawValue } from '../../src/kernel/section-reader.js';
import { compileStoreSettings } from '../../src/config/store-settings.js';
import { expectConfigError } from '../helpers/config-error.js';

const FILE = 'apps/orders.ini';

function store(values: Record<string, RawValue>) {
  const map = new Map(Object.entries(values));
  const lines = new Map([...map.keys()].map((key, index) => [key, index + 2]));
  return compileStoreSettings(new SectionReader(map, { file: FILE, section: 'Store', lines }), { stateDir: '/var/lib/flowd/orders' });
}

describe('compileStoreSettings', () => {
  it('defaults to the file backend in <state dir>/store', () => {
    expect(store({})).toEqual({ backend: 'file', folder: '/var/lib/flowd/orders/store' });
  });

  it('takes a folder for the file backend as given, leaving relative paths to the caller', () => {
    expect(store({ backend: 'file', folder: 'data/store' })).toEqual({ backend: 'file', folder: 'data/store' });
  });

  it('takes a redis:// or rediss:// URL and an optional prefix for the redis backend', () => {
    expect(store({ backend: 'redis', url: 'redis://127.0.0.1:6379/0' })).toEqual({
      backend: 'redis',
      url: 'redis://127.0.0.1:6379/0',
      prefix: undefined,
    });
    expect(store({ backend: 'Redis', url: 'rediss://app:pw@db.example', prefix: 'orders:' })).toEqual({
      backend: 'redis',
      url: 'rediss://app:pw@db.example',
      prefix: 'orders:',
    });
  });

  it('names the backend key when the backend is unknown, with a hint', () => {
    expectConfigError(() => store({ backend: 'rediss' }), {
      file: FILE,
      section: 'Store',
      key: 'backend',
      line: 2,
      says: ['expected one of file, redis, postgres', 'did you mean "redis"?'],
    });
  });

  it('requires a url for the redis backend', () => {
    expectConfigError(() => store({ backend: 'redis' }), {
      section: 'Store',
      key: 'url',
      says: ['is required with backend = redis', 'redis://127.0.0.1:6379/0'],
    });
  });

  it('refuses a URL of another scheme, without a host, or with a path that is not a database number, never showing its password', () => {
    for (const url of ['http://app:s3cret@db:6379', 'redis://app:s3cret@db:6379/orders', 'not a url at all :s3cret@']) {
      const error = expectConfigError(() => store({ backend: 'redis', url }), {
        section: 'Store',
        key: 'url',
        says: ['expected redis://'],
      });
      expect(error.message).not.toContain('s3cret');
    }
  });

  it('refuses keys of the other backend, so a url without backend = redis never passes silently', () => {
    expectConfigError(() => store({ url: 'redis://127.0.0.1:6379/0' }), {
      key: 'url',
      says: ['is a setting of backend = redis or postgres, but backend is file'],
    });
    expectConfigError(() => store({ prefix: 'x:' }), { key: 'prefix', says: ['backend = redis'] });
    expectConfigError(() => store({ backend: 'redis', url: 'redis://h/0', folder: 'store' }), {
      key: 'folder',
      says: ['is a setting of backend = file, but backend is redis'],
    });
  });

  it('takes a postgres:// or postgresql:// URL, an optional table, a query timeout and a pool size for the postgres backend', () => {
    expect(store({ backend: 'postgres', url: 'postgres://flowd@db.example:5432/flowd' })).toEqual({
      backend: 'postgres',
      url: 'postgres://flowd@db.example:5432/flowd',
      table: undefined,
      queryTimeoutMs: 5000,
      poolSize: 4,
    });
    const settings = {
      backend: 'Postgres',
      url: 'postgresql://app:pw@db/flowd',
      table: 'flowd.Orders',
      'query timeout': '2s',
      'pool size': 10,
    };
    expect(store(settings)).toEqual({
      backend: 'postgres',
      url: 'postgresql://app:pw@db/flowd',
      table: 'flowd.Orders',
      queryTimeoutMs: 2000,
      poolSize: 10,
    });
  });

  it('requires a postgres url, and refuses another scheme without showing its password', () => {
    expectConfigError(() => store({ backend: 'postgres' }), {
      section: 'Store',
      key: 'url',
      says: ['is required with backend = postgres', 'postgres://flowd@127.0.0.1:5432/flowd'],
    });
    for (const url of ['redis://app:s3cret@db:6379/0', 'not a url :s3cret@']) {
      const error = expectConfigError(() => store({ backend: 'postgres', url }), {
        file: FILE,
        section: 'Store',
        key: 'url',
        line: 3,
        says: ['expected postgres://[user[:password]@]host[:port]/database'],
      });
      expect(error.message).not.toContain('s3cret');
    }
  });

  it('refuses a table that is not an identifier or schema.identifier, a query timeout under 100ms and a pool size out of 1 to 100', () => {
    for (const table of ['orders; DROP TABLE x', 'a.b.c', '"quoted"', '1st'])
      expectConfigError(() => store({ backend: 'postgres', url: 'postgres://db/flowd', table }), {
        key: 'table',
        line: 4,
        says: [`found "${table}"`, 'expected a table name such as flowd_store_orders'],
      });
    expectConfigError(() => store({ backend: 'postgres', url: 'postgres://db/flowd', 'query timeout': '10ms' }), {
      key: 'query timeout',
      says: ['100ms'],
    });
    expectConfigError(() => store({ backend: 'postgres', url: 'postgres://db/flowd', 'pool size': '0' }), {
      key: 'pool size',
      says: ['found "0"; expected a whole number from 1 to 100'],
    });
  });

  it("refuses the postgres keys with another backend, and the other backends' keys with postgres", () => {
    expectConfigError(() => store({ backend: 'redis', url: 'redis://h/0', table: 'orders' }), {
      key: 'table',
      says: ['is a setting of backend = postgres, but backend is redis'],
    });
    expectConfigError(() => store({ 'query timeout': '5s' }), { key: 'query timeout', says: ['backend = postgres, but backend is file'] });
    expectConfigError(() => store({ 'pool size': 8 }), { key: 'pool size', says: ['backend = postgres, but backend is file'] });
    expectConfigError(() => store({ backend: 'postgres', url: 'postgres://db/flowd', prefix: 'x:' }), {
      key: 'prefix',
      says: ['is a setting of backend = redis, but backend is postgres'],
    });
    expectConfigError(() => store({ backend: 'postgres', url: 'postgres://db/flowd', folder: 'store' }), {
      key: 'folder',
      says: ['is a setting of backend = file, but backend is postgres'],
    });
  });
});
