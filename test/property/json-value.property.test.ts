import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyJsonValue, toJsonText, walkJson } from '../../actors/stores/json-value.js';
import { StoreError } from '../../src/kernel/errors.js';

/**
 * The store's JSON check and the histories' JSON copy take a fast path for
 * plain values and walk the rest. Whatever the value, they must answer as
 * the rule says (json-value.ts): accepted exactly when JSON holds it and
 * gives it back as itself, the text JSON.stringify's, the copy equal and
 * sharing no object with the value, a "__proto__" key kept as data.
 */

/** The rule, written plainly: what the store accepts. */
function holdsAsJson(value: unknown, ancestors: object[] = []): boolean {
  if (typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (value === null) return true;
  if (typeof value !== 'object') return false;
  if (ancestors.includes(value)) return false;
  if (Object.getOwnPropertySymbols(value).length > 0) return false;
  const inner = [...ancestors, value];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!(i in value) || !holdsAsJson(value[i], inner)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.entries(value).every(([, item]) => item === undefined || holdsAsJson(item, inner));
}

/** Every object and array in `value`. */
function objectsOf(value: unknown, into = new Set<object>()): Set<object> {
  if (value === null || typeof value !== 'object' || into.has(value)) return into;
  into.add(value);
  for (const item of Object.values(value)) objectsOf(item, into);
  return into;
}

const bad = fc.constantFrom<unknown>(
  undefined,
  Number.NaN,
  Infinity,
  -Infinity,
  () => 1,
  Symbol('s'),
  2n,
  new Date(0),
  new Map(),
  new Set(),
);
const leaf = fc.oneof(
  { weight: 8, arbitrary: fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)) },
  { weight: 1, arbitrary: bad },
);
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor')), tie('value'), { maxKeys: 4 }),
  ),
}));

/** A few shapes the arbitrary rarely makes: holes, null prototypes, symbol keys, cycles, deep nesting, a shared object. */
function oddities(): unknown[] {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = { back: cycle };
  const shared = { x: [1, 2] };
  let deep: unknown = 'bottom';
  for (let i = 0; i < 100; i++) deep = i % 2 ? { next: deep } : [deep];
  const nullProto = Object.assign(Object.create(null) as object, { a: 1 });
  return [
    [1, , 3],
    nullProto,
    { [Symbol('k')]: 1 },
    [Object.assign([1], { [Symbol('k')]: 2 })],
    cycle,
    { a: shared, b: shared },
    deep,
    JSON.parse('{"__proto__":{"polluted":true},"x":1}'),
    { a: undefined, b: [undefined] },
    [-0, { zero: -0 }],
    { toString: 1, constructor: { hasOwnProperty: 2 }, valueOf: [] },
    { fn: () => 1 },
    new (class Point {
      x = 1;
    })(),
  ];
}

function check(input: unknown): void {
  const accepted = holdsAsJson(input);
  let text: string | undefined;
  let refusal: unknown;
  try {
    text = toJsonText('k', input);
  } catch (error) {
    refusal = error;
  }
  expect(refusal === undefined).toBe(accepted);
  if (!accepted) {
    expect(refusal).toBeInstanceOf(StoreError);
    expect(() => walkJson(input, true, () => { throw new Error('refused'); })).toThrow('refused'); // prettier-ignore
    return;
  }
  expect(text).toBe(JSON.stringify(input));
  const copy = walkJson(input, true, () => {
    throw new Error('refused');
  });
  expect(copy).toEqual(JSON.parse(text!));
  expect(JSON.stringify(copy)).toBe(text);
  const originals = objectsOf(input);
  for (const made of objectsOf(copy)) expect(originals.has(made)).toBe(false);
  if (input !== null && typeof input === 'object') expect(JSON.stringify(copyJsonValue(input))).toBe(text);
}

describe('the store JSON check and the history JSON copy', () => {
  it('accept exactly what JSON holds as itself, and copy it whole', () => {
    fc.assert(fc.property(value, check), { numRuns: 2000 });
  });

  it('answer by the rule for holes, null prototypes, symbol keys, cycles, deep values, shared objects and "__proto__" keys', () => {
    for (const odd of oddities()) check(odd);
    const copied = walkJson<Record<string, unknown>>(JSON.parse('{"__proto__":{"polluted":true}}'), true, () => {
      throw new Error('refused');
    });
    expect(Object.getPrototypeOf(copied)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(copied, '__proto__')).toBe(true);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    // -0 is written and read back as 0: the copy holds 0, as a reader of the JSON gets.
    expect(Object.is(walkJson<number[]>([-0], true, () => { throw new Error('refused'); })[0], 0)).toBe(true); // prettier-ignore
    const keys = walkJson<Record<string, unknown>>({ constructor: 1, toString: 2 }, true, () => {
      throw new Error('refused');
    });
    expect(Object.entries(keys)).toEqual([
      ['constructor', 1],
      ['toString', 2],
    ]);
  });
});
