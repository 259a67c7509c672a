import { StoreError } from '../../src/kernel/errors.js';

/**
 * What the store accepts as a value: what JSON holds and gives back as
 * itself. `null`, booleans, finite numbers, strings, arrays and plain
 * objects (prototype `Object.prototype` or `null`). Everything else is a
 * StoreError (ERR_STORE) naming the key and the path of the bad part:
 *
 * - `undefined` at the top or in an array (JSON would drop it or make it
 *   `null`), a hole in an array, functions, symbols, BigInt, NaN and
 *   ±Infinity (JSON makes them `null`), cycles;
 * - instances of classes, Date, Map, Set, RegExp, Buffer and typed arrays
 *   included: JSON would turn them into strings or `{}`, and `get` would
 *   return something else. Convert them first (`date.toISOString()`,
 *   `Object.fromEntries(map)`, `[...set]`);
 * - symbol-keyed properties (JSON drops them).
 *
 * One lenience, for objects built with optional fields: a property whose
 * value is `undefined` is left out, as `JSON.stringify` does.
 */

/**
 * The value as JSON text, or a StoreError (ERR_STORE) naming `key` and the path of the
 * first part JSON cannot hold.
 * @example toJsonText('orders', { items: [1, 2] }) // '{"items":[1,2]}'
 */
export function toJsonText(key: string, value: unknown): string {
  if (plainJsonCopy(value, false, 0) === NOT_PLAIN)
    walkJson(value, false, (fault, at) => {
      throw new StoreError(
        'ERR_STORE',
        `cannot store ${storeFound(fault)} at ${at} of store key ${JSON.stringify(key)}; expected JSON (null, booleans, finite numbers, strings, arrays, plain objects)${storeAdvice(fault, at)}`,
      );
    });
  return JSON.stringify(value);
}

function storeFound(fault: JsonFault): string {
  if (fault.kind === 'hole') return 'an array hole (an unset index)';
  if (fault.kind === 'instance') return `an instance of ${fault.className ?? 'unknown class'}`;
  return describeFault(fault);
}

function storeAdvice(fault: JsonFault, at: string): string {
  if (fault.kind === 'undefined' && at === '$') return '; delete the key instead';
  if (fault.kind === 'bigint') return '; store it as a string';
  if (fault.kind !== 'instance') return '';
  if (fault.className === 'Date') return '; store date.toISOString()';
  if (fault.className === 'Map') return '; store Object.fromEntries(map)';
  if (fault.className === 'Set') return '; store [...set]';
  return '; copy it into a plain object';
}

/** What a value holds that JSON cannot; `className` is the constructor's name, if it has one. */
export type JsonFault =
  | { kind: 'undefined' | 'function' | 'symbol' | 'cycle' | 'symbol keys' | 'hole' }
  | { kind: 'number'; value: number }
  | { kind: 'bigint'; value: bigint }
  | { kind: 'instance'; className: string | undefined };

/** The part a fault names: `a function`, `NaN`, `a BigInt (2n)`, ... */
export function describeFault(fault: JsonFault): string {
  switch (fault.kind) {
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'cycle':
      return 'a cycle (a reference back to an enclosing value)';
    case 'symbol keys':
      return 'an object with symbol keys';
    case 'hole':
      return 'an array hole';
    case 'number':
      return String(fault.value);
    case 'bigint':
      return `a BigInt (${fault.value}n)`;
    case 'instance':
      return `an instance of ${fault.className ?? 'an unknown class'}`;
  }
}

/**
 * Walks a value as JSON would hold it and calls `fail` with the first part
 * it cannot and that part's path (`$.list[1]`); `fail` must throw. With
 * `copy`, returns a copy made of plain objects and arrays (a `__proto__`
 * key stays data); without, returns the value itself. The path is kept as
 * a stack and written out only for `fail`, so a value that is fine costs no
 * strings. Properties set to undefined are left out, as JSON.stringify does.
 * The store (toJsonText) and the workflows' histories (toJson) both use it.
 * @example walkJson({ at: new Date() }, true, (fault, at) => { throw new TypeError(`${describeFault(fault)} at ${at}`); })
 */
export function walkJson<T = unknown>(value: unknown, copy: boolean, fail: (fault: JsonFault, at: string) => never): T {
  // The usual value (plain, not deep) is checked, or copied, without the walk's bookkeeping; anything
  // else (a fault, a deep value, a "__proto__" key) is walked, which names the fault or copies it safely.
  const fast = plainJsonCopy(value, copy, 0);
  if (fast !== NOT_PLAIN) return fast as T;
  return new JsonWalk(copy, fail).walk(value) as T;
}

/** What plainJsonCopy answers for a value it leaves to the walk. */
const NOT_PLAIN: unique symbol = Symbol('not plain JSON');
/** Deeper than this, plainJsonCopy leaves the value to the walk (which finds cycles). */
const FAST_DEPTH = 64;

/**
 * The walk's fast path: the value itself (or, with `copy`, a copy made of
 * plain objects and arrays) when the walk would accept it, else NOT_PLAIN
 * (a fault, a value deeper than FAST_DEPTH, which a cycle always is, or,
 * for a copy, a key Object.prototype has, such as `__proto__`, which only
 * the walk copies as data). The same rules as the walk's, without its path
 * and ancestors.
 */
function plainJsonCopy(value: unknown, copy: boolean, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // -0 is written and read back as 0: a copy holds what a reader of the JSON gets.
      return Number.isFinite(value) ? (copy && value === 0 ? 0 : value) : NOT_PLAIN;
    case 'object':
      break;
    default:
      return NOT_PLAIN;
  }
  if (value === null) return null;
  if (depth >= FAST_DEPTH || Object.getOwnPropertySymbols(value).length > 0) return NOT_PLAIN;
  if (Array.isArray(value)) {
    const array = value as unknown[];
    const copied: unknown[] | undefined = copy ? new Array<unknown>(array.length) : undefined;
    for (let i = 0; i < array.length; i++) {
      if (!(i in array)) return NOT_PLAIN;
      const item = plainJsonCopy(array[i], copy, depth + 1);
      if (item === NOT_PLAIN) return NOT_PLAIN;
      if (copied) copied[i] = item;
    }
    return copied ?? value;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const copied: Record<string, unknown> | undefined = copy ? {} : undefined;
  for (const name in value) {
    if (!Object.prototype.hasOwnProperty.call(value, name)) continue;
    const item = (value as Record<string, unknown>)[name];
    if (item === undefined) continue;
    // A copy gets its keys by assignment: one Object.prototype has (`__proto__`, `constructor`, a setter
    // someone added) is left to the walk, which defines each key as data.
    if (copy && name in Object.prototype) return NOT_PLAIN;
    const walked = plainJsonCopy(item, copy, depth + 1);
    if (walked === NOT_PLAIN) return NOT_PLAIN;
    if (copied) copied[name] = walked;
  }
  return copied ?? value;
}

/**
 * A copy of a JSON value (one the store or a history holds), made of plain
 * objects and arrays; scalars are themselves.
 * @example copyJsonValue({ a: [1] }) // { a: [1] }, a new object
 */
export function copyJsonValue<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  const fast = plainJsonCopy(value, true, 0);
  return (fast === NOT_PLAIN ? structuredClone(value) : fast) as T;
}

class JsonWalk {
  readonly #copy: boolean;
  readonly #fail: (fault: JsonFault, at: string) => never;
  readonly #ancestors = new Set<object>();
  readonly #path: Array<string | number> = [];

  constructor(copy: boolean, fail: (fault: JsonFault, at: string) => never) {
    this.#copy = copy;
    this.#fail = fail;
  }

  walk(value: unknown): unknown {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (!Number.isFinite(value)) return this.#fault({ kind: 'number', value });
        return this.#copy && value === 0 ? 0 : value;
      case 'undefined':
      case 'function':
      case 'symbol':
        return this.#fault({ kind: typeof value as 'undefined' | 'function' | 'symbol' });
      case 'bigint':
        return this.#fault({ kind: 'bigint', value });
    }
    if (value === null) return null;
    const object = value as object;
    if (this.#ancestors.has(object)) this.#fault({ kind: 'cycle' });
    if (Object.getOwnPropertySymbols(object).length > 0) this.#fault({ kind: 'symbol keys' });
    this.#ancestors.add(object);
    const copied = Array.isArray(object) ? this.#array(object) : this.#object(object);
    this.#ancestors.delete(object);
    return this.#copy ? copied : value;
  }

  #array(array: unknown[]): unknown[] | undefined {
    const copy: unknown[] | undefined = this.#copy ? [] : undefined;
    for (let i = 0; i < array.length; i++) {
      this.#path.push(i);
      if (!(i in array)) this.#fault({ kind: 'hole' });
      const item = this.walk(array[i]);
      copy?.push(item);
      this.#path.pop();
    }
    return copy;
  }

  #object(object: object): object | undefined {
    const proto = Object.getPrototypeOf(object) as object | null;
    if (proto !== Object.prototype && proto !== null)
      this.#fault({ kind: 'instance', className: (object.constructor as { name?: string } | undefined)?.name || undefined });
    const entries: Array<[string, unknown]> | undefined = this.#copy ? [] : undefined;
    for (const name in object) {
      if (!Object.prototype.hasOwnProperty.call(object, name)) continue;
      const item = (object as Record<string, unknown>)[name];
      if (item === undefined) continue;
      this.#path.push(name);
      const walked = this.walk(item);
      entries?.push([name, walked]);
      this.#path.pop();
    }
    // fromEntries defines own properties, so a "__proto__" key stays data.
    return entries && Object.fromEntries(entries);
  }

  #fault(fault: JsonFault): never {
    return this.#fail(fault, `$${this.#path.map((part) => (typeof part === 'number' ? `[${part}]` : segment(part))).join('')}`);
  }
}

/** `.name` for identifiers, `["odd key"]` otherwise. */
export function segment(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}
