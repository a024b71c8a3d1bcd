/**
 * Fuel's legacy condition expressions (`settings:storage.objects_ceph == true or cluster:mode == 'ha_compact'`),
 * parsed and evaluated as Nailgun 9.0 does (nailgun/expression/expression_parser.py, a ply grammar, and
 * nailgun/expression/objects.py), with Python's value semantics for `==`, `in`, `and`, `or` and `not`.
 *
 * The Python semantics helpers at the top (`pyEquals`, `pyTruthy`, `pyTypeName`) are shared with the yaql
 * evaluator (yaql.ts): both languages run on Python values in Nailgun.
 */

// ---------------------------------------------------------------------------------------------------------
// Python value semantics on JSON values
// ---------------------------------------------------------------------------------------------------------

export type PlainObject = Record<string, unknown>;

/** A JSON object (a Python dict), not an array, nor an instance of a class. */
export function isPlainObject(value: unknown): value is PlainObject {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Python's name of a JSON value's type, for error messages that read like Nailgun's. */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'list';
  if (isPlainObject(value)) return 'dict';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

/** Python's truth of a value: null, false, 0, '', [] and {} are false; everything else is true. */
export function pyTruthy(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return value.length > 0;
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

const isNumeric = (v: unknown): v is number | boolean => typeof v === 'number' || typeof v === 'boolean';

/** Python's `==`: deep on lists and dicts, and `True == 1`, `False == 0` (bool is an int in Python). */
export function pyEquals(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (isNumeric(a) && isNumeric(b)) return Number(a) === Number(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => pyEquals(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && pyEquals(a[k], b[k]))
    );
  }
  return a === b;
}

// ---------------------------------------------------------------------------------------------------------
// Lexer: the token rules of expression_parser.py, tried in ply's order
// ---------------------------------------------------------------------------------------------------------

export type LegacyTokenType =
  | 'NUMBER'
  | 'STRING'
  | 'TRUE'
  | 'FALSE'
  | 'NULL'
  | 'MODELPATH'
  | 'AND'
  | 'NOT'
  | 'OR'
  | 'IN'
  | 'EQUALS'
  | 'NOT_EQUALS'
  | 'LPAREN'
  | 'RPAREN';

interface LegacyToken {
  type: LegacyTokenType;
  text: string;
  pos: number;
}

/**
 * ply tries the rules written as functions first, in the order they are defined (NUMBER, STRING, TRUE, FALSE,
 * NULL), then the rules written as strings, longest pattern first (MODELPATH, then `and`/`not`, then the
 * two-character ones). Keywords need no word boundary: this is ply's behaviour, kept as it is.
 */
const LEGACY_RULES: ReadonlyArray<readonly [LegacyTokenType, RegExp]> = [
  ['NUMBER', /-?\d+/y],
  ['STRING', /(["']).*?\1/y],
  ['TRUE', /true/y],
  ['FALSE', /false/y],
  ['NULL', /null/y],
  ['MODELPATH', /\w*?:[\w.-]+/y],
  ['AND', /and/y],
  ['NOT', /not/y],
  ['OR', /or/y],
  ['IN', /in/y],
  ['EQUALS', /==/y],
  ['NOT_EQUALS', /!=/y],
  ['LPAREN', /\(/y],
  ['RPAREN', /\)/y],
];

const LEGACY_IGNORED = ' \t\r\n';

interface LegacyTokens {
  tokens: LegacyToken[];
  /** Characters no rule matches: Nailgun's lexer builds a LexError but never raises it, and skips them. */
  skipped: { char: string; pos: number }[];
}

function matchLegacyToken(text: string, pos: number): LegacyToken | null {
  for (const [type, rule] of LEGACY_RULES) {
    rule.lastIndex = pos;
    const m = rule.exec(text);
    if (m) return { type, text: m[0], pos };
  }
  return null;
}

export function tokenizeLegacy(text: string): LegacyTokens {
  const tokens: LegacyToken[] = [];
  const skipped: { char: string; pos: number }[] = [];
  let pos = 0;
  while (pos < text.length) {
    const char = text.charAt(pos);
    if (LEGACY_IGNORED.includes(char)) {
      pos += 1;
      continue;
    }
    const token = matchLegacyToken(text, pos);
    if (token) {
      tokens.push(token);
      pos += token.text.length;
    } else {
      skipped.push({ char, pos });
      pos += 1;
    }
  }
  return { tokens, skipped };
}

// ---------------------------------------------------------------------------------------------------------
// Parser: the grammar of expression_parser.py with its precedence table
// ---------------------------------------------------------------------------------------------------------

export type LegacyNode =
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'path'; model: string; attribute: string; text: string; pos: number }
  | { kind: 'not'; operand: LegacyNode }
  | { kind: 'binary'; op: LegacyBinaryOp; left: LegacyNode; right: LegacyNode; pos: number };

export type LegacyBinaryOp = 'or' | 'and' | '==' | '!=' | 'in';

/**
 * Nailgun's precedence, loosest first: `or`, `and`, `==`/`!=`, then `in` and `not` at one level, all left
 * associative. `not` therefore binds tighter than `==`: `not a == b` is `(not a) == b`, as in Nailgun.
 */
const LEGACY_BINARY: Partial<Record<LegacyTokenType, { op: LegacyBinaryOp; power: number }>> = {
  OR: { op: 'or', power: 1 },
  AND: { op: 'and', power: 2 },
  EQUALS: { op: '==', power: 3 },
  NOT_EQUALS: { op: '!=', power: 3 },
  IN: { op: 'in', power: 4 },
};
const NOT_POWER = 4;

export class LegacySyntaxError extends Error {}

class LegacyParser {
  private index = 0;

  constructor(
    private readonly tokens: LegacyToken[],
    private readonly describeSkipped: () => string,
  ) {}

  parseAll(): LegacyNode {
    const node = this.parseExpression(0);
    const extra = this.tokens[this.index];
    if (extra) this.fail(extra);
    return node;
  }

  private parseExpression(minPower: number): LegacyNode {
    let left = this.parseOperand();
    for (;;) {
      const token = this.tokens[this.index];
      const binary = token ? LEGACY_BINARY[token.type] : undefined;
      if (!token || !binary || binary.power <= minPower) return left;
      this.index += 1;
      const right = this.parseExpression(binary.power);
      left = { kind: 'binary', op: binary.op, left, right, pos: token.pos };
    }
  }

  private parseOperand(): LegacyNode {
    const token = this.tokens[this.index];
    if (!token) return this.fail(undefined);
    this.index += 1;
    switch (token.type) {
      case 'NOT':
        return { kind: 'not', operand: this.parseExpression(NOT_POWER) };
      case 'LPAREN':
        return this.parseGroup();
      case 'MODELPATH':
        return modelPath(token);
      default:
        return literalOf(token) ?? this.fail(token);
    }
  }

  private parseGroup(): LegacyNode {
    const inner = this.parseExpression(0);
    const close = this.tokens[this.index];
    if (close?.type !== 'RPAREN') return this.fail(close);
    this.index += 1;
    return inner;
  }

  private fail(token: LegacyToken | undefined): never {
    const what = token ? `unexpected token '${token.text}' at ${token.pos}` : 'unexpected end of expression';
    throw new LegacySyntaxError(what + this.describeSkipped());
  }
}

function literalOf(token: LegacyToken): LegacyNode | null {
  switch (token.type) {
    case 'NUMBER':
      return { kind: 'literal', value: Number.parseInt(token.text, 10) };
    case 'STRING':
      return { kind: 'literal', value: token.text.slice(1, -1) };
    case 'TRUE':
      return { kind: 'literal', value: true };
    case 'FALSE':
      return { kind: 'literal', value: false };
    case 'NULL':
      return { kind: 'literal', value: null };
    default:
      return null;
  }
}

/** `model:a.b.c` (objects.py ModelPath): the model is what stands before the colon, possibly empty. */
function modelPath(token: LegacyToken): LegacyNode {
  const colon = token.text.indexOf(':');
  return {
    kind: 'path',
    model: token.text.slice(0, colon),
    attribute: token.text.slice(colon + 1),
    text: token.text,
    pos: token.pos,
  };
}

function describeSkippedChars(skipped: LegacyTokens['skipped']): string {
  if (skipped.length === 0) return '';
  const shown = skipped.slice(0, 5).map((s) => `'${s.char}' at ${s.pos}`);
  const list = shown.join(', ') + (skipped.length > shown.length ? ', ...' : '');
  return ` (Nailgun's lexer ignores the illegal character${skipped.length > 1 ? 's' : ''} ${list})`;
}

/** Parses a legacy expression; throws LegacySyntaxError with the offending token and its offset. */
export function parseLegacy(text: string): LegacyNode {
  const { tokens, skipped } = tokenizeLegacy(text);
  return new LegacyParser(tokens, () => describeSkippedChars(skipped)).parseAll();
}

/** The model paths an expression reads, in order, for checks at graph upload. */
export function legacyPaths(node: LegacyNode): Extract<LegacyNode, { kind: 'path' }>[] {
  switch (node.kind) {
    case 'path':
      return [node];
    case 'not':
      return legacyPaths(node.operand);
    case 'binary':
      return [...legacyPaths(node.left), ...legacyPaths(node.right)];
    default:
      return [];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation: non-strict, as Nailgun's LCM task serializer runs it (Expression(..., strict=False))
// ---------------------------------------------------------------------------------------------------------

export class LegacyEvaluationError extends Error {}

/**
 * The value at `model:a.b.c`. An unknown model is an error (objects.py set_model raises KeyError before the
 * non-strict guard). A missing key gives null (KeyError is caught when not strict); reading a key of a value
 * that is not a dict (a list, a string, a number, null) is an error, as Python's TypeError is not caught.
 */
function readPath(node: Extract<LegacyNode, { kind: 'path' }>, models: PlainObject): unknown {
  if (!Object.hasOwn(models, node.model)) {
    throw new LegacyEvaluationError(`no model with name '${node.model}' defined (${node.text})`);
  }
  let value: unknown = models[node.model];
  for (const key of node.attribute.split('.')) {
    if (!isPlainObject(value)) {
      throw new LegacyEvaluationError(`${node.text}: cannot read '${key}' of a ${pyTypeName(value)} value`);
    }
    if (!Object.hasOwn(value, key)) return null;
    value = value[key];
  }
  return value === undefined ? null : value;
}

/** Python's `a in b`: membership in a list, a key of a dict, a substring of a string; else a TypeError. */
export function pyContains(item: unknown, container: unknown): boolean {
  if (Array.isArray(container)) return container.some((element) => pyEquals(item, element));
  if (typeof container === 'string') {
    if (typeof item !== 'string') {
      throw new LegacyEvaluationError(
        `'in <string>' requires a string as left operand, not ${pyTypeName(item)}`,
      );
    }
    return container.includes(item);
  }
  if (isPlainObject(container)) {
    if (Array.isArray(item) || isPlainObject(item)) {
      throw new LegacyEvaluationError(`unhashable type: '${pyTypeName(item)}'`);
    }
    return typeof item === 'string' && Object.hasOwn(container, item);
  }
  throw new LegacyEvaluationError(`argument of type '${pyTypeName(container)}' is not iterable`);
}

function evaluateBinary(node: Extract<LegacyNode, { kind: 'binary' }>, models: PlainObject): unknown {
  const left = evaluateLegacy(node.left, models);
  // Python's `and`/`or` give one of their operands and do not evaluate the right one when the left decides
  if (node.op === 'and') return pyTruthy(left) ? evaluateLegacy(node.right, models) : left;
  if (node.op === 'or') return pyTruthy(left) ? left : evaluateLegacy(node.right, models);
  const right = evaluateLegacy(node.right, models);
  if (node.op === '==') return pyEquals(left, right);
  if (node.op === '!=') return !pyEquals(left, right);
  return pyContains(left, right);
}

/** The Python value of an expression over the models; throws LegacyEvaluationError. */
export function evaluateLegacy(node: LegacyNode, models: PlainObject): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'path':
      return readPath(node, models);
    case 'not':
      return !pyTruthy(evaluateLegacy(node.operand, models));
    case 'binary':
      return evaluateBinary(node, models);
  }
}
