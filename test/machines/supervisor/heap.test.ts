import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Heap } from '../../../machines/supervisor/heap.js';

/** A persistent structure of the ledger against its plain mutable equivalent, for any operations. */

describe('Heap', () => {
  it('pops values in order, and every earlier version keeps its values', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer(), { nil: undefined })), (ops) => {
        let heap = Heap.empty<number>((a, b) => a < b);
        const model: number[] = [];
        const versions: Array<[Heap<number>, number[]]> = [];
        for (const op of ops) {
          if (op === undefined) {
            model.sort((a, b) => a - b);
            expect(heap.min()).toBe(model[0]);
            heap = heap.pop();
            model.shift();
          } else {
            heap = heap.push(op);
            model.push(op);
          }
          versions.push([heap, [...model].sort((a, b) => a - b)]);
        }
        for (const [version, values] of versions) expect(version.toArray().sort((a, b) => a - b)).toEqual(values);
      }),
    );
  });
});
