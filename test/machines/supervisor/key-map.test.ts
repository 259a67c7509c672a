import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyMap } from '../../../machines/supervisor/key-map.js';

/** A persistent structure of the ledger against its plain mutable equivalent, for any operations. */

describe('KeyMap', () => {
  it('behaves as a Map, and every earlier version keeps its entries', () => {
    const op = fc.tuple(fc.boolean(), fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: 0, max: 50 })), fc.integer());
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        let map = KeyMap.empty<string | number, number>();
        const model = new Map<string | number, number>();
        const versions: Array<[KeyMap<string | number, number>, Map<string | number, number>]> = [];
        for (const [remove, key, value] of ops) {
          map = remove ? map.delete(key) : map.set(key, value);
          if (remove) model.delete(key);
          else model.set(key, value);
          expect(map.get(key)).toBe(model.get(key));
          versions.push([map, new Map(model)]);
        }
        for (const [version, entries] of versions) {
          expect(version.size).toBe(entries.size);
          expect(new Map(version.entries())).toEqual(entries);
        }
      }),
    );
  });

  it('keeps keys whose hashes collide apart', () => {
    // Many keys: some share their low bits, which sends them down the same branches.
    let map = KeyMap.empty<number, number>();
    for (let i = 0; i < 5000; i++) map = map.set(i, i * 2);
    for (let i = 0; i < 5000; i += 2) map = map.delete(i);
    expect(map.size).toBe(2500);
    expect([map.get(3), map.get(4), map.has(4999)]).toEqual([6, undefined, true]);
  });
});
