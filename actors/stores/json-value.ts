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
  check(value, '$', new Set(), key);
  return JSON.stringify(value);
}

function check(value: unknown, path: string, ancestors: Set<object>, key: string): void {
  const fail = (what: string, advice = '', at = path): never => {
    throw new TypeError(`cannot store ${what} at ${at} of store key ${JSON.stringify(key)}; expected JSON (null, booleans, finite numbers, strings, arrays, plain objects)${advice}`);
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(String(value));
      return;
    case 'undefined':
      return fail('undefined', path === '$' ? '; delete the key instead' : '');
    case 'function':
      return fail('a function');
    case 'symbol':
      return fail('a symbol');
    case 'bigint':
      return fail(`a BigInt (${value}n)`, '; store it as a string');
  }
  if (value === null) return;
  const object = value as object;
  if (ancestors.has(object)) fail('a cycle (a reference back to an enclosing value)');
  if (Object.getOwnPropertySymbols(object).length > 0) fail('an object with symbol keys');
  ancestors.add(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      if (!(i in object)) fail('an array hole (an unset index)', '', `${path}[${i}]`);
      check(object[i], `${path}[${i}]`, ancestors, key);
    }
  } else {
    const proto = Object.getPrototypeOf(object) as object | null;
    if (proto !== Object.prototype && proto !== null) {
      const name = (object.constructor as { name?: string } | undefined)?.name || 'unknown class';
      fail(`an instance of ${name}`, adviceFor(name));
    }
    for (const [name, item] of Object.entries(object)) {
      if (item === undefined) continue;
      check(item, `${path}${segment(name)}`, ancestors, key);
    }
  }
  ancestors.delete(object);
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
