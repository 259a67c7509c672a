/**
 * The values mapping expressions work on: JSON-like data only (text,
 * numbers, booleans, null, lists and plain objects), read through own data
 * properties so no getter, prototype member or function is ever reached.
 */

/** A value an expression can hold. */
export type Data = string | number | boolean | null | readonly Data[] | { readonly [key: string]: Data };

/** The longest text an expression may build: 1 MiB of UTF-16 code units. @default 1048576 */
export const MAX_TEXT_LENGTH = 1024 * 1024;

/** The longest list an expression may build (split, list +). @default 100000 */
export const MAX_LIST_LENGTH = 100_000;

/** Property names an expression may never read, as a member or through get(). */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['constructor', '__proto__', 'prototype']);

/**
 * A problem found while evaluating; compileExpression's evaluate() turns it
 * into an ExpressionError naming the INI location and the expression.
 */
export class EvaluationProblem extends Error {}

/** Throws an EvaluationProblem. */
export function refuse(problem: string): never {
  throw new EvaluationProblem(problem);
}

/** Whether a value is a plain object (made by `{}`, JSON.parse or `Object.create(null)`). */
export function isPlainObject(value: unknown): value is { readonly [key: string]: unknown } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that a value read from the scope or from data is JSON-like at its
 * top level; `undefined` reads as null. Anything else (a function, a Date, a
 * Map, a class instance, a symbol, a bigint) is refused: `what` names it.
 */
export function asData(value: unknown, what: string): Data {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value;
    case 'object':
      if (Array.isArray(value) || isPlainObject(value)) return value as Data;
      return refuse(`${what} holds a ${className(value)}, not data (text, a number, a boolean, null, a list or a plain object)`);
    default:
      return refuse(`${what} holds a ${typeof value}, not data (text, a number, a boolean, null, a list or a plain object)`);
  }
}

/** The class of an object, read without running a getter. */
function className(value: object): string {
  const proto: unknown = Object.getPrototypeOf(value);
  const constructor: unknown =
    typeof proto === 'object' && proto !== null ? Object.getOwnPropertyDescriptor(proto, 'constructor')?.value : undefined;
  const name: unknown = typeof constructor === 'function' ? Object.getOwnPropertyDescriptor(constructor, 'name')?.value : undefined;
  return typeof name === 'string' && name !== '' ? name : 'non-plain object';
}

/**
 * Reads an own data property: undefined when there is none. A getter is
 * refused rather than run.
 */
export function readOwn(container: object, key: string, what: string): Data | undefined {
  if (FORBIDDEN_KEYS.has(key)) refuse(`"${key}" may not be read`);
  const descriptor = Object.getOwnPropertyDescriptor(container, key);
  if (descriptor === undefined) return undefined;
  if (!('value' in descriptor)) refuse(`${what} is a getter, not data`);
  return asData(descriptor.value, what);
}

/** Python truthiness: null, false, 0, NaN, empty text, an empty list and an empty object are false. */
export function isTruthy(value: Data): boolean {
  if (value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return value.length > 0;
  if (Array.isArray(value)) return value.length > 0;
  return Object.keys(value).length > 0;
}

/** Describes a value for an error message: `text "abc"`, `number 3`, `a list of 2`. */
export function describe(value: Data): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return 'an object';
}

/** Text for concat() and join(): text as is, numbers and booleans written out; anything else refused. */
export function toText(value: Data, what: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return refuse(`${what} is ${describe(value)}; expected text, a number or a boolean`);
}

/** Refuses text longer than MAX_TEXT_LENGTH before it is built. */
export function checkTextLength(length: number, what: string): void {
  if (length > MAX_TEXT_LENGTH) refuse(`${what} would be ${length} characters long; at most ${MAX_TEXT_LENGTH} are allowed`);
}

/** Refuses a list longer than MAX_LIST_LENGTH. */
export function checkListLength(length: number, what: string): void {
  if (length > MAX_LIST_LENGTH) refuse(`${what} would hold ${length} items; at most ${MAX_LIST_LENGTH} are allowed`);
}

/** A number result must be finite: JSON has no Infinity or NaN. */
export function finite(value: number, what: string): number {
  if (!Number.isFinite(value)) refuse(`${what} is ${String(value)}, not a finite number`);
  return value;
}
