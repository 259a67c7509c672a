/**
 * Parses a mapping expression with jsep and turns its syntax tree into a
 * small checked tree of the constructs flowd interprets; anything else is
 * refused here, before anything runs.
 *
 * jsep's operator table is global to the process. When it first parses, flowd adds
 * the Python word operators `and` (like `&&`), `or` (like `||`) and the
 * unary `not` (like `!`); nothing is removed, so other jsep users keep what
 * they had, but there `and`, `or` and `not` can no longer be plain names.
 */
import type jsep from 'jsep';
import { lazy, once } from '../../kernel/lazy.js';
import { EXPRESSION_FUNCTIONS, EXPRESSION_FUNCTION_NAMES } from './functions.js';
import { FORBIDDEN_KEYS, type Data } from './values.js';

// Loaded with the first expression, not with flowd (every worker imports flowd; few apps map fields).
const parser = once(() => {
  const jsepParser = lazy<typeof jsep>('jsep')();
  jsepParser.addBinaryOp('or', 1);
  jsepParser.addBinaryOp('and', 2);
  jsepParser.addUnaryOp('not');
  return jsepParser;
});

/** The longest expression source, in characters. @default 2000 */
export const MAX_EXPRESSION_LENGTH = 2000;

/** The deepest an expression's syntax tree may nest (`a + b + c` is two levels below the top). @default 32 */
export const MAX_EXPRESSION_DEPTH = 32;

/** Binary operators flowd interprets, by kind. */
export type ArithmeticOperator = '+' | '-' | '*' | '/' | '%';
export type ComparisonOperator = '==' | '!=' | '===' | '!==' | '<' | '<=' | '>' | '>=';

/** A checked expression tree. */
export type ExpressionNode =
  | { kind: 'literal'; value: Data }
  | { kind: 'name'; name: string }
  | { kind: 'list'; items: ExpressionNode[] }
  | { kind: 'not'; argument: ExpressionNode }
  | { kind: 'sign'; operator: '-' | '+'; argument: ExpressionNode }
  | { kind: 'arithmetic'; operator: ArithmeticOperator; left: ExpressionNode; right: ExpressionNode }
  | { kind: 'comparison'; operator: ComparisonOperator; left: ExpressionNode; right: ExpressionNode }
  | { kind: 'logical'; operator: 'and' | 'or'; left: ExpressionNode; right: ExpressionNode }
  | { kind: 'conditional'; test: ExpressionNode; consequent: ExpressionNode; alternate: ExpressionNode }
  | { kind: 'member'; object: ExpressionNode; key: string | number }
  | { kind: 'call'; name: string; args: ExpressionNode[] };

/** A problem found while compiling; compileExpression turns it into a ConfigError. */
export class CompileProblem extends Error {}

const ARITHMETIC = new Set<string>(['+', '-', '*', '/', '%']);
const COMPARISON = new Set<string>(['==', '!=', '===', '!==', '<', '<=', '>', '>=']);
const LOGICAL: Readonly<Record<string, 'and' | 'or'>> = { '&&': 'and', and: 'and', '||': 'or', or: 'or' };
const SUPPORTED_OPERATORS = '+ - * / % == != === !== < <= > >= && || ! and or not ? :';

function fail(problem: string): never {
  throw new CompileProblem(problem);
}

/** Refuses nesting deeper than the cap before jsep (which recurses) sees it. */
function checkBrackets(source: string): void {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (quote !== undefined) {
      if (char === '\\') i++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '(' || char === '[') {
      if (++depth > MAX_EXPRESSION_DEPTH) fail(`brackets nested more than ${MAX_EXPRESSION_DEPTH} levels deep`);
    } else if (char === ')' || char === ']') depth--;
  }
}

/** Parses and checks `source`; throws CompileProblem. */
export function parseExpression(source: string): { tree: ExpressionNode; names: string[] } {
  if (source.length > MAX_EXPRESSION_LENGTH) fail(`too long: ${source.length} characters; at most ${MAX_EXPRESSION_LENGTH} are allowed`);
  if (source.trim() === '') fail("empty; expected an expression such as field1 + ':' + field2");
  checkBrackets(source);
  let ast: jsep.Expression;
  try {
    ast = parser()(source);
  } catch (error) {
    if (error instanceof RangeError) fail(`nested more than ${MAX_EXPRESSION_DEPTH} levels deep`);
    fail(`parse error: ${(error as Error).message}`);
  }
  const names = new Set<string>();
  const tree = convert(ast, 0, names);
  return { tree, names: [...names] };
}

function convert(node: jsep.Expression, depth: number, names: Set<string>): ExpressionNode {
  if (depth > MAX_EXPRESSION_DEPTH) fail(`nested more than ${MAX_EXPRESSION_DEPTH} levels deep`);
  const next = (child: jsep.Expression) => convert(child, depth + 1, names);
  switch (node.type) {
    case 'Literal': {
      const { value, raw } = node as jsep.Literal;
      if (typeof value === 'number' && !Number.isFinite(value)) fail(`number ${raw} is out of range`);
      if (value !== null && typeof value === 'object') fail(`${raw} is not supported`);
      return { kind: 'literal', value };
    }
    case 'Identifier': {
      const { name } = node as jsep.Identifier;
      if (FORBIDDEN_KEYS.has(name)) fail(`the name "${name}" may not be used`);
      names.add(name);
      return { kind: 'name', name };
    }
    case 'ArrayExpression': {
      const { elements } = node as jsep.ArrayExpression;
      if (elements.some((element) => element === null)) fail('a list may not have holes ([a, , b])');
      return { kind: 'list', items: elements.map((element) => next(element!)) };
    }
    case 'UnaryExpression': {
      const { operator, argument } = node as jsep.UnaryExpression;
      if (operator === '!' || operator === 'not') return { kind: 'not', argument: next(argument) };
      if (operator === '-' || operator === '+') return { kind: 'sign', operator, argument: next(argument) };
      return fail(`operator "${operator}" is not supported (supported: ${SUPPORTED_OPERATORS})`);
    }
    case 'BinaryExpression': {
      const { operator, left, right } = node as jsep.BinaryExpression;
      const logical = LOGICAL[operator];
      if (logical !== undefined) return { kind: 'logical', operator: logical, left: next(left), right: next(right) };
      // jsep binds `not` tighter than Python does: `not a == b` would read as `(not a) == b`.
      if (left.type === 'UnaryExpression' && (left as jsep.UnaryExpression).operator === 'not') {
        fail(`"not" applies to the operand before "${operator}" only here; write not (a ${operator} b)`);
      }
      if (ARITHMETIC.has(operator))
        return { kind: 'arithmetic', operator: operator as ArithmeticOperator, left: next(left), right: next(right) };
      if (COMPARISON.has(operator))
        return { kind: 'comparison', operator: operator as ComparisonOperator, left: next(left), right: next(right) };
      return fail(`operator "${operator}" is not supported (supported: ${SUPPORTED_OPERATORS})`);
    }
    case 'ConditionalExpression': {
      const { test, consequent, alternate } = node as jsep.ConditionalExpression;
      return { kind: 'conditional', test: next(test), consequent: next(consequent), alternate: next(alternate) };
    }
    case 'MemberExpression':
      return { kind: 'member', object: next((node as jsep.MemberExpression).object), key: memberKey(node as jsep.MemberExpression) };
    case 'CallExpression':
      return convertCall(node as jsep.CallExpression, next);
    case 'ThisExpression':
      return fail('"this" is not available; name a field instead');
    case 'Compound':
      return fail('more than one expression (a missing operator, or a ";")');
    case 'SequenceExpression':
      return fail('a comma-separated sequence is not supported; write a single expression');
    default:
      return fail(`a ${node.type} is not supported`);
  }
}

function memberKey(node: jsep.MemberExpression): string | number {
  if (node.optional === true) fail("optional chaining (?.) is not supported; use get(object, 'key') to read a key that may be missing");
  const { property } = node;
  let key: string | number;
  if (!node.computed) key = (property as jsep.Identifier).name;
  else if (property.type === 'Literal' && (typeof property.value === 'string' || typeof property.value === 'number')) key = property.value;
  else if (
    property.type === 'UnaryExpression' &&
    property.operator === '-' &&
    (property.argument as jsep.Expression).type === 'Literal' &&
    typeof (property.argument as jsep.Literal).value === 'number'
  )
    key = -((property.argument as jsep.Literal).value as number);
  else fail("a computed member needs a literal key, such as x['a b'] or x[0]; use get(object, key) for a key computed at run time");
  if (typeof key === 'string' && FORBIDDEN_KEYS.has(key)) fail(`"${key}" may not be read`);
  if (typeof key === 'number' && !Number.isInteger(key)) fail(`list index ${key} is not a whole number`);
  return key;
}

function convertCall(node: jsep.CallExpression, next: (child: jsep.Expression) => ExpressionNode): ExpressionNode {
  const { callee } = node;
  let name: string;
  let args: jsep.Expression[] = node.arguments;
  if (callee.type === 'Identifier') {
    name = (callee as jsep.Identifier).name;
    if (EXPRESSION_FUNCTIONS[name] === undefined) fail(`"${name}" is not a function (functions: ${EXPRESSION_FUNCTION_NAMES.join(', ')})`);
  } else if (
    callee.type === 'MemberExpression' &&
    !(callee as jsep.MemberExpression).computed &&
    ((callee as jsep.MemberExpression).property as jsep.Identifier).name === 'get' &&
    (callee as jsep.MemberExpression).optional !== true
  ) {
    // The seed's `metadata.get('asset.title')` is sugar for get(metadata, 'asset.title').
    name = 'get';
    args = [(callee as jsep.MemberExpression).object, ...args];
  } else {
    return fail(`only these functions may be called: ${EXPRESSION_FUNCTION_NAMES.join(', ')} (and X.get(key) for get(X, key))`);
  }
  const fn = EXPRESSION_FUNCTIONS[name]!;
  if (args.length < fn.minArgs || args.length > fn.maxArgs) {
    const count =
      fn.minArgs === fn.maxArgs ? `${fn.minArgs} argument${fn.minArgs === 1 ? '' : 's'}` : `${fn.minArgs} to ${fn.maxArgs} arguments`;
    fail(`${name}() takes ${count} (${fn.signature}); found ${args.length}`);
  }
  const converted = args.map(next);
  const problem = fn.checkLiterals?.(converted.map((arg) => (arg.kind === 'literal' ? arg.value : undefined)));
  if (problem !== undefined) fail(problem);
  return { kind: 'call', name, args: converted };
}
