import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/apps/expressions.js';
import { ConfigError, ExpressionError } from '../../src/kernel/errors.js';

const where = { file: 'fuzz.ini', section: 'Transform', key: 'fuzzed', line: 1 };

/** Called if anything the fuzzer writes ever runs code of its own. */
let canaryCalls = 0;
const canary = () => {
  canaryCalls++;
  return 'ran';
};

const scope = Object.freeze({
  field1: 'left',
  field2: 'right',
  n: 7,
  zero: 0,
  nothing: null,
  list: [1, 'two', [3]],
  // JSON.parse makes "__proto__" an own data property: it must stay inert.
  obj: JSON.parse('{"__proto__": {"polluted": true}, "a": 1, "asset.title": "T", "asset": {"title": "nested"}}') as unknown,
  bare: Object.assign(Object.create(null) as object, { k: 'v' }),
  metadata: { 'asset.title': 'Title' },
  when: '2024-03-05T14:07:09Z',
  big: 'x'.repeat(200_000),
  fn: canary,
});

const NAMES = [
  ...Object.keys(scope),
  '__proto__',
  'constructor',
  'prototype',
  'globalThis',
  'global',
  'process',
  'require',
  'Function',
  'eval',
  'window',
  'self',
  'canary',
  '__flowdCanary',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'and',
  'or',
  'not',
  'undefined',
  'NaN',
];
const FUNCTIONS = [
  'upper',
  'lower',
  'trim',
  'substring',
  'replace',
  'concat',
  'join',
  'split',
  'formatDate',
  'get',
  'eval',
  'Function',
  'constructor',
  'toString',
  'require',
  'import',
  '__flowdCanary',
  'fn',
];
const KEYS = [
  'a',
  'k',
  'length',
  'title',
  'asset',
  '__proto__',
  'constructor',
  'prototype',
  'polluted',
  'call',
  'apply',
  'bind',
  'get',
  'toString',
  '0',
  'asset.title',
  '__defineGetter__',
  'valueOf',
];
const BINARY = [
  '+',
  '-',
  '*',
  '/',
  '%',
  '==',
  '!=',
  '===',
  '!==',
  '<',
  '<=',
  '>',
  '>=',
  '&&',
  '||',
  'and',
  'or',
  '|',
  '&',
  '^',
  '**',
  '??',
  '<<',
  '>>',
  '>>>',
  'in',
  'instanceof',
  '=',
];
const UNARY = ['-', '+', '!', 'not ', '~', 'typeof ', 'void ', 'delete ', 'new '];

const HOSTILE = [
  "constructor.constructor('return process')()",
  "constructor.constructor('globalThis.__flowdCanary()')()",
  "field1.constructor.constructor('return this')()",
  "x['constructor']",
  "obj['__proto__']",
  'obj.__proto__.polluted',
  "get(obj, '__proto__.polluted')",
  "get(obj, 'constructor.prototype')",
  "obj.get('__proto__')",
  'fn()',
  'fn.call(null)',
  '__flowdCanary()',
  'globalThis.__flowdCanary()',
  'this.constructor',
  'this',
  '(() => 1)()',
  '`${__flowdCanary()}`',
  "/x/.exec('x')",
  "import('fs')",
  "require('child_process')",
  'Object.prototype.polluted = 1',
  'list.constructor.prototype.push',
  "'9'.repeat(9)",
  '9'.repeat(400),
  '1e400',
  '-1e400',
  '0x10',
  "'\\u0041'",
  "join(split(big, ''), big)",
  "replace(big, 'x', big)",
  'big + big + big + big + big + big',
  'concat(big, big, big, big, big, big)',
  "split(big, 'x')",
];

function quoteText(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

const atom = fc.oneof(
  fc.constantFrom(...NAMES),
  fc.integer().map(String),
  fc.double({ noNaN: true }).map(String),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(quoteText),
  fc.string({ unit: 'binary', maxLength: 20 }).map(quoteText),
  fc.constantFrom('true', 'false', 'null', "'%Y-%m-%d'", "'Europe/Oslo'", "'asset.title'", "''", "' '"),
);

const { expression } = fc.letrec<{ expression: string }>((tie) => ({
  expression: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    fc.constantFrom(...HOSTILE),
    fc.tuple(tie('expression'), fc.constantFrom(...BINARY), tie('expression')).map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.tuple(fc.constantFrom(...UNARY), tie('expression')).map(([op, a]) => `${op}${a}`),
    fc.tuple(tie('expression'), tie('expression'), tie('expression')).map(([a, b, c]) => `${a} ? ${b} : ${c}`),
    fc
      .tuple(tie('expression'), fc.constantFrom(...KEYS))
      .map(([a, k]) => (/^\w+$/.test(k) && !/^\d/.test(k) ? `${a}.${k}` : `${a}[${quoteText(k)}]`)),
    fc
      .tuple(
        tie('expression'),
        fc.oneof(fc.integer({ min: -5, max: 5 }).map(String), fc.constantFrom(...KEYS).map(quoteText), tie('expression')),
      )
      .map(([a, k]) => `${a}[${k}]`),
    fc.tuple(fc.constantFrom(...FUNCTIONS), fc.array(tie('expression'), { maxLength: 4 })).map(([f, args]) => `${f}(${args.join(', ')})`),
    fc.tuple(tie('expression'), fc.array(tie('expression'), { maxLength: 2 })).map(([o, args]) => `${o}.get(${args.join(', ')})`),
    fc.array(tie('expression'), { maxLength: 4 }).map((items) => `[${items.join(', ')}]`),
    tie('expression').map((a) => `(${a})`),
  ),
}));

const nested = fc
  .tuple(fc.integer({ min: 1, max: 1200 }), fc.constantFrom('()', '[]', '-', '!', 'not ', 'a ? ', 'f(', 'x.'), atom)
  .map(([depth, kind, inner]) => {
    if (kind === '()') return `${'('.repeat(depth)}${inner}${')'.repeat(depth)}`;
    if (kind === '[]') return `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
    if (kind === 'a ? ') return `${'n ? '.repeat(depth)}${inner}${' : 0'.repeat(depth)}`;
    if (kind === 'f(') return `${'upper('.repeat(depth)}${inner}${')'.repeat(depth)}`;
    if (kind === 'x.') return `obj${'.a'.repeat(depth)}`;
    return `${kind.repeat(depth)}${inner}`;
  });

const soup = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        ...NAMES,
        ...FUNCTIONS,
        ...BINARY,
        ...UNARY,
        '(',
        ')',
        '[',
        ']',
        ',',
        '.',
        '?',
        ':',
        ';',
        '"',
        "'",
        '`',
        '\\',
        '{',
        '}',
        '=>',
        '?.',
      ),
      atom,
    ),
    { maxLength: 40 },
  )
  .map((tokens) => tokens.join(''));

const input = fc.oneof(
  { weight: 6, arbitrary: expression },
  { weight: 1, arbitrary: nested },
  { weight: 1, arbitrary: soup },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1990, maxLength: 2010 }) },
);

function isJsonLike(value: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((item) => isJsonLike(item, depth + 1));
  if (typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((item) => isJsonLike(item, depth + 1));
}

const PROTOTYPES = {
  Object: Object.prototype,
  Array: Array.prototype,
  Function: Function.prototype,
  String: String.prototype,
  Number: Number.prototype,
};
const snapshot = () => ({
  prototypes: Object.fromEntries(Object.entries(PROTOTYPES).map(([name, proto]) => [name, Reflect.ownKeys(proto).map(String).sort()])),
  globals: Reflect.ownKeys(globalThis)
    .map(String)
    .filter((name) => name !== '__flowdCanary')
    .sort(),
});

describe('mapping expressions (fuzz)', () => {
  beforeEach(() => {
    canaryCalls = 0;
    (globalThis as Record<string, unknown>).__flowdCanary = canary;
  });
  afterEach(() => {
    delete (globalThis as Record<string, unknown>).__flowdCanary;
  });

  it('only ever returns JSON-like data or throws ConfigError or ExpressionError, runs nothing and changes no prototype or global', () => {
    const before = snapshot();
    let compiled = 0;
    let evaluated = 0;
    fc.assert(
      fc.property(input, (source) => {
        let expression;
        try {
          expression = compileExpression(source, where);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          expect(error.message).toMatch(/^fuzz\.ini:1 \[Transform\] "fuzzed": expression "/);
          return;
        }
        compiled++;
        expect(Array.isArray(expression.names)).toBe(true);
        try {
          const result = expression.evaluate(scope);
          evaluated++;
          expect(isJsonLike(result)).toBe(true);
        } catch (error) {
          if (!(error instanceof ExpressionError)) throw error;
          expect(error.message).toMatch(/^fuzz\.ini:1 \[Transform\] "fuzzed": expression "/);
        }
      }),
      { numRuns: 10_000 },
    );
    expect(canaryCalls).toBe(0);
    expect(snapshot()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The generator must reach the evaluator, not only the parser's refusals.
    expect(compiled).toBeGreaterThan(1000);
    expect(evaluated).toBeGreaterThan(300);
  });
});
