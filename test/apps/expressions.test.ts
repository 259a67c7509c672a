import { describe, expect, it } from 'vitest';
import {
  EXPRESSION_FUNCTION_NAMES,
  MAX_EXPRESSION_DEPTH,
  MAX_EXPRESSION_LENGTH,
  MAX_LIST_LENGTH,
  MAX_TEXT_LENGTH,
  compileExpression,
} from '../../src/apps/expressions.js';
import { ConfigError, ExpressionError } from '../../src/kernel/errors.js';

const where = { file: 'flow.ini', section: 'Transform', key: 'compound_field', line: 12 };
const prefix = (source: string) => `flow.ini:12 [Transform] "compound_field": expression ${JSON.stringify(source)}: `;

const scope = {
  field1: 'left',
  field2: 'right',
  n: 7,
  zero: 0,
  empty: '',
  nothing: null,
  yes: true,
  list: [1, 2, 3],
  words: ['a', 'b', 'c'],
  metadata: { 'asset.title': 'Title', asset: { id: 42, tags: ['x'] } },
  when: '2024-03-05T14:07:09Z',
};

function run(source: string, values: Readonly<Record<string, unknown>> = scope): unknown {
  return compileExpression(source, where).evaluate(values);
}

/** The ConfigError compileExpression throws, with its message checked to name the place and quote the expression. */
function refusedAtCompile(source: string): string {
  let caught: unknown;
  try {
    compileExpression(source, where);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const error = caught as ConfigError;
  expect(error.code).toBe('ERR_CONFIG');
  expect([error.file, error.section, error.key, error.line]).toEqual(['flow.ini', 'Transform', 'compound_field', 12]);
  expect(error.message.startsWith(prefix(source))).toBe(true);
  return error.message.slice(prefix(source).length);
}

/** The ExpressionError evaluate throws, with its message checked to name the place and quote the expression. */
function refusedAtRun(source: string, values: Readonly<Record<string, unknown>> = scope): string {
  const expression = compileExpression(source, where);
  let caught: unknown;
  try {
    expression.evaluate(values);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ExpressionError);
  const error = caught as ExpressionError;
  expect(error.code).toBe('ERR_EXPRESSION');
  expect(error.message.startsWith(prefix(source))).toBe(true);
  return error.message.slice(prefix(source).length);
}

describe('compileExpression', () => {
  it("evaluates the seed's examples: field1 + ':' + field2 and metadata.get('asset.title') + ' alternative'", () => {
    const compound = compileExpression("field1 + ':' + field2", where);
    expect(compound.source).toBe("field1 + ':' + field2");
    expect(compound.names).toEqual(['field1', 'field2']);
    expect(compound.evaluate(scope)).toBe('left:right');
    const alternate = compileExpression("metadata.get('asset.title') + ' alternative'", where);
    expect(alternate.names).toEqual(['metadata']);
    expect(alternate.evaluate(scope)).toBe('Title alternative');
  });

  it('names the free names it reads once each, leaving out functions and member keys', () => {
    expect(compileExpression('upper(a.b) + a.c + get(d, "e") + (f ? a : g[0])', where).names).toEqual(['a', 'd', 'f', 'g']);
  });

  it('reads literals: text in either quote, numbers, booleans, null and lists', () => {
    expect(run("'it''s'".replace("''", "\\'"))).toBe("it's");
    expect(run('"double"')).toBe('double');
    expect(run('1.5e3')).toBe(1500);
    expect(run('true')).toBe(true);
    expect(run('null')).toBe(null);
    expect(run('[1, "a", [n]]')).toEqual([1, 'a', [7]]);
  });

  it('does arithmetic on numbers, with Python modulo and no Infinity', () => {
    expect(run('n + 1')).toBe(8);
    expect(run('n - 10')).toBe(-3);
    expect(run('n * 2')).toBe(14);
    expect(run('n / 2')).toBe(3.5);
    expect(run('-n % 3')).toBe(2);
    expect(run('-n')).toBe(-7);
    expect(run('+n')).toBe(7);
    expect(refusedAtRun('n / zero')).toBe('division by zero');
    expect(refusedAtRun('n % zero')).toBe('modulo by zero');
    expect(refusedAtRun('1e300 * 1e300')).toBe('the product is Infinity, not a finite number');
  });

  it('joins text with text and lists with lists, and refuses text + number as Python does', () => {
    expect(run("field1 + '-' + field2")).toBe('left-right');
    expect(run('list + [4]')).toEqual([1, 2, 3, 4]);
    expect(refusedAtRun('field1 + n')).toBe('cannot apply + to text "left" and number 7; use concat(...) to join text with numbers');
    expect(refusedAtRun('field1 - 1')).toBe('cannot apply - to text "left" and number 1');
    expect(refusedAtRun('metadata + 1')).toBe('cannot apply + to an object and number 1');
    expect(refusedAtRun('-field1')).toBe('unary - needs a number; found text "left"');
  });

  it('compares strictly: no coercion, ordering only numbers with numbers and text with text', () => {
    expect(run('n == 7')).toBe(true);
    expect(run('n === 7')).toBe(true);
    expect(run("n == '7'")).toBe(false);
    expect(run("n != '7'")).toBe(true);
    expect(run('n !== 7')).toBe(false);
    expect(run('n < 8 && n <= 7 && n > 6 && n >= 7')).toBe(true);
    expect(run('field1 < field2')).toBe(true);
    expect(run('metadata == null')).toBe(false);
    expect(refusedAtRun("n < 'x'")).toBe('cannot order number 7 and text "x" with <; expected two numbers or two texts');
    expect(refusedAtRun('list == list')).toBe('cannot compare a list of 3 with a list of 3; only text, numbers, booleans and null compare');
  });

  it('applies boolean logic with Python truthiness, returning the deciding operand, in JS or Python spelling', () => {
    expect(run('empty || field1')).toBe('left');
    expect(run('empty or field1')).toBe('left');
    expect(run('n && field1')).toBe('left');
    expect(run('zero and field1')).toBe(0);
    expect(run('!empty')).toBe(true);
    expect(run('not list')).toBe(false);
    expect(run('not []')).toBe(true);
    expect(run('not (n == 7)')).toBe(false);
    expect(run('yes and not nothing')).toBe(true);
    // Word operators need a word boundary: these are names.
    expect(run('order', { order: 1 })).toBe(1);
    expect(run('notes + android', { notes: 'a', android: 'b' })).toBe('ab');
  });

  it('chooses with ? :', () => {
    expect(run("n > 5 ? 'big' : 'small'")).toBe('big');
    expect(run("nothing ? 'set' : 'unset'")).toBe('unset');
  });

  it('reads own data of plain objects, lists and text by member access', () => {
    expect(run('metadata.asset.id')).toBe(42);
    expect(run("metadata['asset.title']")).toBe('Title');
    expect(run('metadata.asset.tags[0]')).toBe('x');
    expect(run('list[-1]')).toBe(3);
    expect(run('list.length')).toBe(3);
    expect(run("'añ😀'.length")).toBe(3);
    expect(run('o.k', { o: Object.assign(Object.create(null) as object, { k: 'bare' }) })).toBe('bare');
  });

  it('refuses a missing key, an out-of-range index and members of scalars while evaluating', () => {
    expect(refusedAtRun('metadata.nope')).toBe(
      'the object has no "nope" (it has "asset.title", "asset"); use get(object, "nope") for a key that may be missing',
    );
    expect(refusedAtRun('list[3]')).toBe('index 3 is out of range for a list of 3');
    expect(refusedAtRun('list.first')).toBe('a list has no "first"; expected an index such as [0] or .length');
    expect(refusedAtRun('field1.big')).toBe('text has no "big"; use substring(text, start, end) for part of it');
    expect(refusedAtRun('n.x')).toBe('cannot read "x" of number 7');
    expect(refusedAtRun('nothing.x')).toBe('cannot read "x" of null');
  });

  it('refuses an unknown name, and a scope value that is not data', () => {
    expect(refusedAtRun('feild1')).toBe('unknown name "feild1"');
    expect(refusedAtRun('globalThis')).toBe('unknown name "globalThis"');
    expect(refusedAtRun('toString')).toBe('unknown name "toString"');
    expect(refusedAtRun('fn', { fn: () => 'ran' })).toBe(
      '"fn" holds a function, not data (text, a number, a boolean, null, a list or a plain object)',
    );
    expect(refusedAtRun('m', { m: new Map() })).toBe(
      '"m" holds a Map, not data (text, a number, a boolean, null, a list or a plain object)',
    );
    expect(refusedAtRun('d', { d: new Date(0) })).toBe(
      '"d" holds a Date, not data (text, a number, a boolean, null, a list or a plain object)',
    );
    let ran = false;
    const withGetter = Object.defineProperty({}, 'secret', {
      get: () => {
        ran = true;
        return 'x';
      },
      enumerable: true,
    });
    expect(refusedAtRun('o.secret', { o: withGetter })).toBe('"secret" is a getter, not data');
    expect(ran).toBe(false);
  });
});

describe('expression functions', () => {
  it('documents exactly the function list', () => {
    expect(EXPRESSION_FUNCTION_NAMES).toEqual([
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
    ]);
  });

  it('upper, lower and trim change text', () => {
    expect(run('upper(field1)')).toBe('LEFT');
    expect(run("lower('MiXeD')")).toBe('mixed');
    expect(run("trim('  x \\t')")).toBe('x');
    expect(refusedAtRun('upper(n)')).toBe('upper() takes text as argument 1; found number 7');
  });

  it('substring slices code points like Python, negatives counting from the end', () => {
    expect(run("substring('hello', 1, 3)")).toBe('el');
    expect(run("substring('hello', -3)")).toBe('llo');
    expect(run("substring('hello', 4, 1)")).toBe('');
    expect(run("substring('a😀b', 1, 2)")).toBe('😀');
    expect(refusedAtRun("substring('hello', 1.5)")).toBe('substring() takes a whole number as argument 2; found number 1.5');
  });

  it('replace replaces every occurrence of literal text', () => {
    expect(run("replace('a.b.c', '.', '$&')")).toBe('a$&b$&c');
    expect(run("replace('aaa', 'a', 'bb')")).toBe('bbbbbb');
  });

  it('concat writes numbers and booleans out and refuses null, lists and objects', () => {
    expect(run("concat(field1, ':', n, ':', yes)")).toBe('left:7:true');
    expect(run('concat()')).toBe('');
    expect(refusedAtRun('concat(field1, nothing)')).toBe('concat() argument 2 is null; expected text, a number or a boolean');
  });

  it('join and split convert between lists and text; split without a separator splits on white space', () => {
    expect(run("join(words, ', ')")).toBe('a, b, c');
    expect(run("join(list, '')")).toBe('123');
    expect(run("split('a,b,,c', ',')")).toEqual(['a', 'b', '', 'c']);
    expect(run("split('  a \\t b\\nc ')")).toEqual(['a', 'b', 'c']);
    expect(run("split('   ')")).toEqual([]);
    expect(refusedAtRun("join(field1, ',')")).toBe('join() takes a list as argument 1; found text "left"');
    expect(refusedAtRun('split(field1, empty)')).toBe('split() separator is empty; leave it out to split on white space');
    expect(refusedAtCompile("split(field1, '')")).toBe('split() separator is empty; leave it out to split on white space');
  });

  it('formatDate writes ISO text or milliseconds with a strftime format, in UTC or a given zone', () => {
    expect(run("formatDate(when, '%d/%m/%Y %H:%M:%S')")).toBe('05/03/2024 14:07:09');
    expect(run("formatDate(when, '%Y-%m-%d %H:%M', 'Europe/Oslo')")).toBe('2024-03-05 15:07');
    expect(run("formatDate(0, '%Y-%m-%dT%H:%M:%S%z')")).toBe('1970-01-01T00:00:00+0000');
    expect(run("formatDate('2024-03-05T10:00:00+02:00', '%H:%M %z')")).toBe('10:00 +0200');
    expect(refusedAtRun("formatDate('yesterday', '%Y')")).toMatch(/^formatDate\(\) cannot read text "yesterday" as an ISO 8601 date: /);
    expect(refusedAtCompile("formatDate(when, '%Q')")).toMatch(
      /^formatDate\(\) strftime format "%Q": %Q at position 0 is not a strptime directive/,
    );
    expect(refusedAtCompile("formatDate(when, '%Y', 'Mars/Olympus')")).toBe(
      'formatDate() time zone "Mars/Olympus" is not known; expected an IANA name such as Europe/Oslo, or UTC',
    );
    expect(refusedAtRun('formatDate(when, f)', { when: scope.when, f: '%Q' })).toMatch(/^formatDate\(\) strftime format "%Q"/);
  });

  it('formatDate refuses a date luxon cannot represent instead of writing "Invalid DateTime"', () => {
    const range = 'formatDate() takes milliseconds since 1970 from -8.64e15 to 8.64e15, or ISO 8601 text, as argument 1; found ';
    expect(refusedAtRun("formatDate(1e300, '%Y')")).toBe(`${range}number 1e+300`);
    expect(refusedAtRun("formatDate(t, '%Y')", { t: -8.64e15 - 1 })).toBe(`${range}number -8640000000000001`);
    expect(run("formatDate(t, '%Y')", { t: 8.64e15 })).toBe('275760');
    // In range in UTC, out of range once moved to a zone ahead of it.
    expect(refusedAtRun("formatDate(t, '%Y', 'Pacific/Kiritimati')", { t: 8.64e15 })).toMatch(
      /^formatDate\(\) cannot represent number 8640000000000000 in time zone "Pacific\/Kiritimati": /,
    );
    expect(refusedAtRun("formatDate('+275760-09-13T00:00:00Z', '%Y', 'Pacific/Kiritimati')")).toMatch(
      /^formatDate\(\) cannot represent text "\+275760-09-13T00:00:00Z" in time zone "Pacific\/Kiritimati": /,
    );
  });

  it('get reads a whole flat key first, then a dotted path, with a default for a missing key', () => {
    expect(run("get(metadata, 'asset.title')")).toBe('Title');
    expect(run("get(metadata, 'asset.id')")).toBe(42);
    expect(run("get(metadata, 'asset.missing')")).toBe(null);
    expect(run("get(metadata, 'asset.missing', 'none')")).toBe('none');
    expect(run("metadata.get('asset.missing', 'none')")).toBe('none');
    expect(refusedAtRun("get(metadata, 'asset.__proto__')")).toBe('get() may not read "__proto__"');
    expect(refusedAtRun('get(metadata, k)', { metadata: {}, k: 'constructor' })).toBe('"constructor" may not be read');
    expect(refusedAtRun("get(field1, 'x')")).toBe('get() takes an object as argument 1; found text "left"');
  });

  it('refuses a wrong number of arguments and unknown functions when compiling', () => {
    expect(refusedAtCompile('upper(a, b)')).toBe('upper() takes 1 argument (upper(text)); found 2');
    expect(refusedAtCompile("replace('a')")).toBe('replace() takes 3 arguments (replace(text, find, with)); found 1');
    expect(refusedAtCompile("substring('a')")).toBe('substring() takes 2 to 3 arguments (substring(text, start, end?)); found 1');
    expect(refusedAtCompile('eval(x)')).toBe(
      '"eval" is not a function (functions: upper, lower, trim, substring, replace, concat, join, split, formatDate, get)',
    );
    expect(refusedAtCompile('hasOwnProperty(x)')).toMatch(/^"hasOwnProperty" is not a function/);
  });
});

describe('refusals', () => {
  it('refuses what is not part of the language when compiling', () => {
    const calls =
      'only these functions may be called: upper, lower, trim, substring, replace, concat, join, split, formatDate, get (and X.get(key) for get(X, key))';
    expect(refusedAtCompile("constructor.constructor('return process')()")).toBe(calls);
    expect(refusedAtCompile('constructor')).toBe('the name "constructor" may not be used');
    expect(refusedAtCompile("x.constructor.constructor('return process')()")).toBe(calls);
    expect(refusedAtCompile('x.constructor')).toBe('"constructor" may not be read');
    expect(refusedAtCompile("x['constructor']")).toBe('"constructor" may not be read');
    expect(refusedAtCompile('x.__proto__')).toBe('"__proto__" may not be read');
    expect(refusedAtCompile('__proto__')).toBe('the name "__proto__" may not be used');
    expect(refusedAtCompile('f.prototype')).toBe('"prototype" may not be read');
    expect(refusedAtCompile('this')).toBe('"this" is not available; name a field instead');
    expect(refusedAtCompile('x.toString()')).toBe(calls);
    expect(refusedAtCompile('x[k]')).toBe(
      "a computed member needs a literal key, such as x['a b'] or x[0]; use get(object, key) for a key computed at run time",
    );
    expect(refusedAtCompile('x?.y')).toBe(
      "optional chaining (?.) is not supported; use get(object, 'key') to read a key that may be missing",
    );
    expect(refusedAtCompile('a | b')).toBe(
      'operator "|" is not supported (supported: + - * / % == != === !== < <= > >= && || ! and or not ? :)',
    );
    expect(refusedAtCompile('a ?? b')).toMatch(/^operator "\?\?" is not supported/);
    expect(refusedAtCompile('~a')).toMatch(/^operator "~" is not supported/);
    expect(refusedAtCompile('not a == b')).toBe('"not" applies to the operand before "==" only here; write not (a == b)');
    expect(refusedAtCompile('a; b')).toBe('more than one expression (a missing operator, or a ";")');
    expect(refusedAtCompile('new Function("x")')).toBe('more than one expression (a missing operator, or a ";")');
    expect(refusedAtCompile('(a, b)')).toBe('a comma-separated sequence is not supported; write a single expression');
    expect(refusedAtCompile('[1, , 2]')).toBe('a list may not have holes ([a, , b])');
    expect(refusedAtCompile('1e400')).toBe('number 1e400 is out of range');
    expect(refusedAtCompile('list[0.5]')).toBe('list index 0.5 is not a whole number');
    expect(refusedAtCompile('a = 1')).toBe('parse error: Unexpected "=" at character 2');
    expect(refusedAtCompile('   ')).toBe("empty; expected an expression such as field1 + ':' + field2");
  });

  it(`refuses more than ${MAX_EXPRESSION_LENGTH} characters, quoting the start of the expression`, () => {
    const long = `'${'x'.repeat(MAX_EXPRESSION_LENGTH)}'`;
    let caught: unknown;
    try {
      compileExpression(long, where);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toBe(
      `flow.ini:12 [Transform] "compound_field": expression ${JSON.stringify(`${long.slice(0, 200)}…`)}: too long: 2002 characters; at most 2000 are allowed`,
    );
  });

  it(`refuses nesting deeper than ${MAX_EXPRESSION_DEPTH} levels, in brackets or in operators`, () => {
    const ok = `${'('.repeat(20)}n${')'.repeat(20)}`;
    expect(run(ok)).toBe(7);
    expect(refusedAtCompile(`${'('.repeat(40)}n${')'.repeat(40)}`)).toBe('brackets nested more than 32 levels deep');
    expect(refusedAtCompile(Array(40).fill('n').join(' + '))).toBe('nested more than 32 levels deep');
    expect(refusedAtCompile(`${'-'.repeat(100)}n`)).toBe('nested more than 32 levels deep');
    expect(run(Array(33).fill('n').join(' + '))).toBe(7 * 33);
  });

  it('refuses building text or lists beyond the caps', () => {
    const big = 'x'.repeat(MAX_TEXT_LENGTH / 2 + 1);
    expect(refusedAtRun('big + big', { big })).toBe(
      `text joined with + would be ${MAX_TEXT_LENGTH + 2} characters long; at most ${MAX_TEXT_LENGTH} are allowed`,
    );
    expect(refusedAtRun('concat(big, big)', { big })).toMatch(/^concat\(\) would be \d+ characters long/);
    expect(refusedAtRun("replace(big, 'x', 'yy')", { big })).toMatch(/^replace\(\) would be \d+ characters long/);
    expect(refusedAtRun("join([big, big], '')", { big })).toMatch(/^join\(\) would be \d+ characters long/);
    expect(refusedAtRun("split(big, 'x')", { big })).toBe(
      `split() would hold ${MAX_TEXT_LENGTH / 2 + 2} items; at most ${MAX_LIST_LENGTH} are allowed`,
    );
  });

  it('names the location without a file or line when none is known', () => {
    expect(() => compileExpression('x.__proto__', { section: 'Mappings', key: 'asset.alternateTitle' })).toThrow(
      '[Mappings] "asset.alternateTitle": expression "x.__proto__": "__proto__" may not be read',
    );
    expect(() => compileExpression('x', { section: 'Mappings', key: 'asset.alternateTitle' }).evaluate({})).toThrow(
      '[Mappings] "asset.alternateTitle": expression "x": unknown name "x"',
    );
  });
});
