/**
 * Mapping expressions: the right-hand sides of `[Transform]` and
 * `[Mappings]` keys, such as `compound_field = field1 + ':' + field2` or
 * `asset.alternateTitle = metadata.get('asset.title') + ' alternative'`.
 *
 * Never run as JavaScript (no eval, Function or vm): jsep parses the text and
 * flowd interprets a short list of constructs over plain data.
 *
 * - Literals: 'text' or "text" (jsep's escapes: \n \t \\ \' \"; no \u),
 *   numbers, true, false, null, lists [a, b].
 * - Names read the scope's own keys; an unknown name is an error.
 * - `a.b`, `a['b c']`, `list[0]`, `list[-1]` (from the end), `list.length`,
 *   `text.length` (code points): own data properties of plain objects only;
 *   `constructor`, `__proto__` and `prototype` are refused, a computed key
 *   must be a literal, a missing key is an error (get() is the lenient way).
 * - `+` adds two numbers, joins two texts or two lists; text + number is an
 *   error (as in Python), use concat(). `- * / %` take numbers; `/` or `%` by
 *   zero and results that are not finite are errors; `%` takes the divisor's
 *   sign, as in Python.
 * - `==`/`===` and `!=`/`!==` are the same strict test: no coercion, and
 *   lists and objects compare only with null. `< <= > >=` take two numbers
 *   or two texts.
 * - `&&`/`and`, `||`/`or` return the deciding operand and `!`/`not` a
 *   boolean, with Python truthiness (null, 0, '', [] and {} are false);
 *   `a ? b : c`. `not a == b` is refused: write `not (a == b)`.
 * - Functions (see functions.ts): upper(text), lower(text), trim(text),
 *   substring(text, start, end?) (Python slicing over code points),
 *   replace(text, find, with) (every occurrence, literal text),
 *   concat(value, ...) (text, numbers, booleans), join(list, separator),
 *   split(text, separator?) (no separator: on white space, like Python),
 *   formatDate(value, strftimeFormat, zone?) (value: ms since 1970 or ISO
 *   8601 text, UTC unless it carries an offset), get(object, 'dotted.key',
 *   default?) (the whole key first, then the dotted path; default null), and
 *   `X.get(key, default?)` as sugar for get(X, key, default?).
 *
 * Caps: 2000 characters, 32 levels of nesting, 10,000 evaluation steps, text
 * of 1 MiB and lists of 100,000 items.
 */
import { ConfigError, ExpressionError } from '../kernel/errors.js';
import { evaluateTree } from './expressions/evaluate.js';
import { CompileProblem, parseExpression } from './expressions/parse.js';
import { EvaluationProblem } from './expressions/values.js';

export { EXPRESSION_FUNCTION_NAMES } from './expressions/functions.js';
export { MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_LENGTH } from './expressions/parse.js';
export { MAX_EVALUATION_STEPS } from './expressions/evaluate.js';
export { MAX_LIST_LENGTH, MAX_TEXT_LENGTH } from './expressions/values.js';

/** Where an expression was written, for error messages. */
export interface ExpressionLocation {
  /** The INI file. */
  file?: string | undefined;
  /** The section, e.g. `Transform`. */
  section: string;
  /** The key the expression is the value of. */
  key: string;
  /** The key's line in the file. */
  line?: number | undefined;
}

/** A parsed, checked expression, ready to evaluate against a scope. */
export interface CompiledExpression {
  /** The expression's text as written. */
  readonly source: string;
  /** The free names it reads, in order of first use (function names excluded). */
  readonly names: string[];
  /**
   * Evaluates it against `scope` (its own keys are the names) and returns a
   * JSON-like value. Throws an ExpressionError naming the INI location and
   * the expression on any problem: an unknown name, a wrong type, a cap.
   */
  evaluate(scope: Readonly<Record<string, unknown>>): unknown;
}

/** The expression quoted for a message; very long ones are cut. */
function quoteExpression(source: string): string {
  return JSON.stringify(source.length > 200 ? `${source.slice(0, 200)}…` : source);
}

function formatWhere({ file, section, key, line }: ExpressionLocation): string {
  const place = file === undefined ? '' : `${line === undefined ? file : `${file}:${line}`} `;
  return `${place}[${section}] "${key}"`;
}

/**
 * Parses and checks a mapping expression. A parse problem, a construct
 * outside the language, an unknown function, a wrong number of arguments,
 * more than 2000 characters or more than 32 levels of nesting is a
 * ConfigError naming the INI location and quoting the expression.
 * @example
 * const expression = compileExpression("field1 + ':' + field2", { file: 'app.ini', section: 'Transform', key: 'compound_field', line: 12 });
 * expression.names                                  // ['field1', 'field2']
 * expression.evaluate({ field1: 'a', field2: 'b' }) // 'a:b'
 */
export function compileExpression(source: string, where: ExpressionLocation): CompiledExpression {
  if (typeof source !== 'string') throw new ConfigError(where, `found ${typeof source}; expected an expression as text`);
  let parsed: ReturnType<typeof parseExpression>;
  try {
    parsed = parseExpression(source);
  } catch (error) {
    if (error instanceof CompileProblem) throw new ConfigError(where, `expression ${quoteExpression(source)}: ${error.message}`);
    throw new ConfigError(where, `expression ${quoteExpression(source)}: cannot be compiled: ${String(error)}`, { cause: error });
  }
  const { tree, names } = parsed;
  return {
    source,
    names: [...names],
    evaluate(scope) {
      try {
        return evaluateTree(tree, scope);
      } catch (error) {
        const problem =
          error instanceof EvaluationProblem
            ? error.message
            : error instanceof RangeError
              ? `ran out of room: ${error.message}`
              : String(error);
        throw new ExpressionError(`${formatWhere(where)}: expression ${quoteExpression(source)}: ${problem}`, { cause: error });
      }
    },
  };
}
