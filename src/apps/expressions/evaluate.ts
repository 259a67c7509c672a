/**
 * Interprets a checked expression tree against a scope of plain data. No
 * JavaScript is generated or run: each node kind is handled here, with
 * Python's strictness about types (text + number is an error, not "a1").
 */
import { EXPRESSION_FUNCTIONS } from './functions.js';
import type { ArithmeticOperator, ComparisonOperator, ExpressionNode } from './parse.js';
import {
  asData,
  checkListLength,
  checkTextLength,
  describe,
  finite,
  isPlainObject,
  isTruthy,
  readOwn,
  refuse,
  type Data,
} from './values.js';

/** The most nodes one evaluation may visit. @default 10000 */
export const MAX_EVALUATION_STEPS = 10_000;

/** Evaluates `tree`; throws EvaluationProblem. */
export function evaluateTree(tree: ExpressionNode, scope: Readonly<Record<string, unknown>>): Data {
  let steps = 0;
  const visit = (node: ExpressionNode): Data => {
    if (++steps > MAX_EVALUATION_STEPS) refuse(`took more than ${MAX_EVALUATION_STEPS} steps`);
    switch (node.kind) {
      case 'literal':
        return node.value;
      case 'name': {
        const value = typeof scope === 'object' && scope !== null ? readOwn(scope, node.name, `"${node.name}"`) : undefined;
        if (value === undefined) refuse(`unknown name "${node.name}"`);
        return value;
      }
      case 'list':
        return node.items.map(visit);
      case 'not':
        return !isTruthy(visit(node.argument));
      case 'sign': {
        const value = visit(node.argument);
        if (typeof value !== 'number') refuse(`unary ${node.operator} needs a number; found ${describe(value)}`);
        return node.operator === '-' ? -value : value;
      }
      case 'arithmetic':
        return arithmetic(node.operator, visit(node.left), visit(node.right));
      case 'comparison':
        return compare(node.operator, visit(node.left), visit(node.right));
      case 'logical': {
        // Like Python: the deciding operand itself, not a boolean.
        const left = visit(node.left);
        return isTruthy(left) === (node.operator === 'or') ? left : visit(node.right);
      }
      case 'conditional':
        return isTruthy(visit(node.test)) ? visit(node.consequent) : visit(node.alternate);
      case 'member':
        return member(visit(node.object), node.key);
      case 'call':
        return EXPRESSION_FUNCTIONS[node.name]!.call(node.args.map(visit));
    }
  };
  return visit(tree);
}

function arithmetic(operator: ArithmeticOperator, left: Data, right: Data): Data {
  if (operator === '+') {
    if (typeof left === 'string' && typeof right === 'string') {
      checkTextLength(left.length + right.length, 'text joined with +');
      return left + right;
    }
    if (Array.isArray(left) && Array.isArray(right)) {
      checkListLength(left.length + right.length, 'a list joined with +');
      return [...(left as Data[]), ...(right as Data[])];
    }
  }
  if (typeof left !== 'number' || typeof right !== 'number') {
    const hint =
      operator === '+' && (typeof left === 'string' || typeof right === 'string') ? '; use concat(...) to join text with numbers' : '';
    return refuse(`cannot apply ${operator} to ${describe(left)} and ${describe(right)}${hint}`);
  }
  switch (operator) {
    case '+':
      return finite(left + right, 'the sum');
    case '-':
      return finite(left - right, 'the difference');
    case '*':
      return finite(left * right, 'the product');
    case '/':
      if (right === 0) refuse('division by zero');
      return finite(left / right, 'the quotient');
    case '%':
      if (right === 0) refuse('modulo by zero');
      // Python's modulo takes the sign of the divisor: -7 % 3 is 2.
      return finite(((left % right) + right) % right, 'the remainder');
  }
}

function isScalar(value: Data): value is string | number | boolean | null {
  return value === null || typeof value !== 'object';
}

function compare(operator: ComparisonOperator, left: Data, right: Data): boolean {
  if (operator === '==' || operator === '===' || operator === '!=' || operator === '!==') {
    // No coercion (1 == '1' is false, as in Python); lists and objects only compare with null.
    if (!(isScalar(left) && isScalar(right)) && left !== null && right !== null) {
      refuse(`cannot compare ${describe(left)} with ${describe(right)}; only text, numbers, booleans and null compare`);
    }
    const equal = left === right;
    return operator === '==' || operator === '===' ? equal : !equal;
  }
  const bothNumbers = typeof left === 'number' && typeof right === 'number';
  const bothText = typeof left === 'string' && typeof right === 'string';
  if (!bothNumbers && !bothText)
    refuse(`cannot order ${describe(left)} and ${describe(right)} with ${operator}; expected two numbers or two texts`);
  const [a, b] = [left as number | string, right as number | string];
  switch (operator) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

function member(object: Data, key: string | number): Data {
  const name = JSON.stringify(key);
  if (Array.isArray(object)) {
    const list = object as readonly Data[];
    if (key === 'length') return list.length;
    if (typeof key !== 'number') refuse(`a list has no ${name}; expected an index such as [0] or .length`);
    const index = key < 0 ? list.length + key : key;
    if (index < 0 || index >= list.length) refuse(`index ${key} is out of range for ${describe(object)}`);
    return asData(list[index], `item ${key}`);
  }
  if (typeof object === 'string') {
    if (key === 'length') return Array.from(object).length;
    return refuse(`text has no ${name}; use substring(text, start, end) for part of it`);
  }
  if (isPlainObject(object)) {
    const value = readOwn(object, String(key), name);
    if (value === undefined) {
      const keys = Object.keys(object);
      const known =
        keys.length === 0
          ? 'it is empty'
          : `it has ${keys
              .slice(0, 10)
              .map((k) => JSON.stringify(k))
              .join(', ')}${keys.length > 10 ? ', …' : ''}`;
      refuse(`the object has no ${name} (${known}); use get(object, ${JSON.stringify(String(key))}) for a key that may be missing`);
    }
    return value;
  }
  return refuse(`cannot read ${name} of ${describe(object)}`);
}
