import { describe, expect, it } from 'vitest';
import { isTableName, quotedLogTableFor, quoteTableName, storeTableFor } from '../../../actors/stores/postgres-table.js';

describe('storeTableFor', () => {
  it('is flowd_store_<namespace> for a namespace that is already a lower-case identifier', () => {
    expect(storeTableFor('thumbnails')).toBe('flowd_store_thumbnails');
    expect(storeTableFor('asset_sync_2')).toBe('flowd_store_asset_sync_2');
  });

  it('spells any other namespace with letters, digits and _ and adds a hash, so namespaces never share a table', () => {
    expect(storeTableFor('Asset Sync')).toBe('flowd_store_asset_sync_ff303925');
    const names = ['my-app', 'My_App', 'my.app', 'ключ', 'a"; DROP TABLE x; --'].map(storeTableFor);
    for (const name of names) expect(name).toMatch(/^flowd_store_[a-z0-9_]*_[0-9a-f]{8}$/);
    expect(new Set([...names, storeTableFor('my_app')]).size).toBe(names.length + 1);
  });

  it('stays within the 63 characters PostgreSQL keeps, telling long namespaces apart', () => {
    const long = 'x'.repeat(100);
    expect(storeTableFor(long)).toHaveLength(63);
    expect(storeTableFor(long)).not.toBe(storeTableFor(`${long}y`));
    expect(storeTableFor('y'.repeat(51))).toBe(`flowd_store_${'y'.repeat(51)}`);
    expect(storeTableFor('y'.repeat(52))).toHaveLength(63);
  });
});

describe('isTableName and quoteTableName', () => {
  it('take an identifier or schema.identifier and quote each part', () => {
    expect(quoteTableName('flowd_store_orders')).toBe('"flowd_store_orders"');
    expect(quoteTableName('flowd.Orders')).toBe('"flowd"."Orders"');
  });

  it('refuse anything else: quotes, spaces, three parts, empty parts, leading digits, over 63 characters', () => {
    for (const name of ['a"b', 'a b', 'a.b.c', '.a', 'a.', '', '1abc', 'x'.repeat(64), 'tbl;drop']) {
      expect(isTableName(name)).toBe(false);
      expect(() => quoteTableName(name)).toThrow(TypeError);
    }
  });
});

describe("a store's logs table", () => {
  it('is the table with $log, quoted, kept in its schema, and cut with a hash past 63 characters', () => {
    expect(quotedLogTableFor('flowd_store_orders')).toBe('"flowd_store_orders$log"');
    expect(quotedLogTableFor('flowd.orders')).toBe('"flowd"."orders$log"');
    const long = `t${'x'.repeat(62)}`;
    const quoted = quotedLogTableFor(long);
    expect(quoted.length - 2).toBe(63);
    expect(quoted).toMatch(/^"tx+_[0-9a-f]{8}\$log"$/);
    expect(quotedLogTableFor(`t${'x'.repeat(61)}y`)).not.toBe(quoted);
  });

  it("is never another app's store table", () => {
    // The logs table of app "orders" and the store table of an app named "orders_log" (or "orders$log") differ.
    expect(quotedLogTableFor(storeTableFor('orders'))).not.toBe(quoteTableName(storeTableFor('orders_log')));
    expect(storeTableFor('orders$log')).not.toContain('$');
    expect(() => quotedLogTableFor('a"; DROP TABLE x; --')).toThrow(TypeError);
  });
});
