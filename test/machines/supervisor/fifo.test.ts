import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Fifo } from '../../../machines/supervisor/fifo.js';

/** A persistent structure of the ledger against its plain mutable equivalent, for any operations. */

describe('Fifo', () => {
  it('behaves as an array used as a queue, and every earlier version keeps its values', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer(), { nil: undefined, freq: 3 }), { maxLength: 400 }), (ops) => {
        let fifo = Fifo.empty<number>();
        const model: number[] = [];
        const versions: Array<[Fifo<number>, number[]]> = [];
        for (const op of ops) {
          if (op === undefined) {
            expect(fifo.first()).toBe(model[0]);
            fifo = fifo.shift();
            model.shift();
          } else {
            fifo = fifo.push(op);
            model.push(op);
          }
          versions.push([fifo, [...model]]);
        }
        for (const [version, values] of versions) expect([version.toArray(), version.size]).toEqual([values, values.length]);
      }),
    );
  });
});
