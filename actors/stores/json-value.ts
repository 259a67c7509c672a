/**
 * What the store accepts as a value: what JSON holds and gives back as
 * itself. `null`, booleans, finite numbers, strings, arrays and plain
 * objects (prototype `Object.prototype` or `null`). Everything else is a
 * TypeError naming the key and the path of the bad part:
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
 * The value as JSON text, or a TypeError naming `key` and the path of the
 * first part JSON cannot hold.
 * @example toJsonText('orders', { items: [1, 2] }) // '{"items":[1,2]}'
 */
export function toJsonText(key: string, value: unknown): string {
  new JsonCheck(key).check(value);
  return JSON.stringify(value);
}

/**
 * One walk over a value. The path of the part being checked is kept as a
 * stack of keys and indexes and written out only when a part fails, so a
 * value that is fine costs no strings.
 */
class JsonCheck {
  readonly #key: string;
  readonly #ancestors = new Set<object>();
  readonly #path: Array<string | number> = [];

  constructor(key: string) {
    this.#key = key;
  }

  check(value: unknown): void {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(value)) this.#fail(String(value));
        return;
      case 'undefined':
        return this.#fail('undefined', this.#path.length === 0 ? '; delete the key instead' : '');
      case 'function':
        return this.#fail('a function');
      case 'symbol':
        return this.#fail('a symbol');
      case 'bigint':
        return this.#fail(`a BigInt (${value}n)`, '; store it as a string');
    }
    if (value === null) return;
    const object = value as object;
    if (this.#ancestors.has(object)) this.#fail('a cycle (a reference back to an enclosing value)');
    if (Object.getOwnPropertySymbols(object).length > 0) this.#fail('an object with symbol keys');
    this.#ancestors.add(object);
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        this.#path.push(i);
        if (!(i in object)) this.#fail('an array hole (an unset index)');
        this.check(object[i]);
        this.#path.pop();
      }
    } else {
      const proto = Object.getPrototypeOf(object) as object | null;
      if (proto !== Object.prototype && proto !== null) {
        const name = (object.constructor as { name?: string } | undefined)?.name || 'unknown class';
        this.#fail(`an instance of ${name}`, adviceFor(name));
      }
      for (const name in object) {
        if (!Object.prototype.hasOwnProperty.call(object, name)) continue;
        const item = (object as Record<string, unknown>)[name];
        if (item === undefined) continue;
        this.#path.push(name);
        this.check(item);
        this.#path.pop();
      }
    }
    this.#ancestors.delete(object);
  }

  #fail(what: string, advice = ''): never {
    const at = `$${this.#path.map((part) => (typeof part === 'number' ? `[${part}]` : segment(part))).join('')}`;
    throw new TypeError(`cannot store ${what} at ${at} of store key ${JSON.stringify(this.#key)}; expected JSON (null, booleans, finite numbers, strings, arrays, plain objects)${advice}`);
  }
}

function adviceFor(name: string): string {
  if (name === 'Date') return '; store date.toISOString()';
  if (name === 'Map') return '; store Object.fromEntries(map)';
  if (name === 'Set') return '; store [...set]';
  return '; copy it into a plain object';
}

/** `.name` for identifiers, `["odd key"]` otherwise. */
function segment(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}
