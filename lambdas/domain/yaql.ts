/**
 * A subset of yaql 1.1, the query language of Fuel 9.0 task conditions and parameter values
 * (`{yaql_exp: 'changed($.plugins) and len($.plugins) > 0'}`, `{yaql_exp: '$.toYaml()'}`), with the
 * functions Nailgun adds (nailgun/yaql_ext/datadiff.py, nailgun/yaql_ext/serializers.py).
 *
 * The lexer and the operator precedence follow yaql 1.1.1 (yaql/language/lexer.py, factory.py, parser.py);
 * the semantics of each operator follow its overloads in yaql/standard_library (Python values, deep `=`,
 * `dict.key` raising KeyError when the key is missing). What is outside the subset (regular expressions,
 * `->`, named arguments, the query functions such as `where`) is refused when the expression is compiled.
 */
import YAML from 'yaml';
import { isPlainObject, type PlainObject, pyEquals, pyTruthy, pyTypeName } from './expression.js';

// ---------------------------------------------------------------------------------------------------------
// Lexer (yaql/language/lexer.py): ply tries the function rules in their order, then the operators longest
// first. Word characters are Unicode ones, as yaql compiles its lexer with re.UNICODE.
// ---------------------------------------------------------------------------------------------------------

type TokenType = 'dollar' | 'number' | 'func' | 'keyword' | 'string' | 'op' | 'punct' | 'constant';

interface Token {
  type: TokenType;
  /** the source text of the token */
  text: string;
  /** the decoded value: a name, a number, a string, true/false/null */
  value: string | number | boolean | null;
  pos: number;
}

const W = '[\\p{L}\\p{N}_]';
const START = `(?<!${W})`;
const RULES: ReadonlyArray<readonly [TokenType, RegExp]> = [
  ['dollar', new RegExp(`\\$${W}*`, 'uy')],
  ['number', new RegExp(`${START}[0-9]+(?:\\.?[0-9]+)?(?!${W})`, 'uy')],
  ['func', new RegExp(`${START}(?!\\p{Nd})${W}+\\(`, 'uy')],
  ['keyword', new RegExp(`(?!__)${START}(?!\\p{Nd})${W}+(?!${W})`, 'uy')],
  ['string', /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/y],
  ['op', /\?\.|=~|!~|>=|<=|!=|->|=>|[.+\-*/><=[{]/y],
  ['punct', /[()\],}]/y],
];

/** Operators yaql spells as words; `true`, `false` and `null` are its keyword constants. */
const WORD_OPERATORS = new Set(['and', 'or', 'not', 'in', 'mod']);
const KEYWORD_CONSTANTS: Record<string, boolean | null> = { true: true, false: false, null: null };

export class YaqlError extends Error {}

/** yaql's decode_escapes: \uXXXX, \xXX, octal and one-character escapes; other backslashes stay. */
function decodeEscapes(body: string): string {
  const simple: Record<string, string> = {
    '\\': '\\',
    "'": "'",
    '"': '"',
    a: '\x07',
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
    v: '\v',
  };
  return body.replace(
    /\\U([0-9a-fA-F]{8})|\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\([0-7]{1,3})|\\([\\'"abfnrtv])/g,
    (whole, u8: string, u4: string, x2: string, oct: string, one: string) => {
      const hex = u8 ?? u4 ?? x2;
      if (hex) return String.fromCodePoint(Number.parseInt(hex, 16));
      if (oct) return String.fromCodePoint(Number.parseInt(oct, 8));
      return simple[one] ?? whole;
    },
  );
}

function decodeString(text: string): string {
  const body = text.slice(1, -1);
  return text.startsWith('`') ? body.replaceAll('\\`', '`') : decodeEscapes(body);
}

function tokenValue(type: TokenType, text: string): Token {
  if (type === 'number') return { type, text, value: Number(text), pos: 0 };
  if (type === 'string') return { type, text, value: decodeString(text), pos: 0 };
  if (type === 'func') return { type, text, value: text.slice(0, -1), pos: 0 };
  if (type === 'keyword' && Object.hasOwn(KEYWORD_CONSTANTS, text)) {
    return { type: 'constant', text, value: KEYWORD_CONSTANTS[text] ?? null, pos: 0 };
  }
  if (type === 'keyword' && WORD_OPERATORS.has(text)) return { type: 'op', text, value: text, pos: 0 };
  return { type, text, value: text, pos: 0 };
}

function matchToken(text: string, pos: number): Token | null {
  for (const [type, rule] of RULES) {
    rule.lastIndex = pos;
    const m = rule.exec(text);
    if (m) return { ...tokenValue(type, m[0]), pos };
  }
  return null;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < text.length) {
    if (' \t\r\n'.includes(text.charAt(pos))) {
      pos += 1;
      continue;
    }
    const token = matchToken(text, pos);
    if (!token) throw new YaqlError(`illegal character '${text.charAt(pos)}' at ${pos}`);
    tokens.push(token);
    pos += token.text.length;
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------------------
// Parser: yaql's operator table (factory.py _standard_operators) as binding powers, the larger the tighter
// ---------------------------------------------------------------------------------------------------------

export interface YaqlArg {
  /** `key => value` (in a map literal) */
  key?: YaqlNode;
  value: YaqlNode;
}

export type YaqlNode =
  | { kind: 'constant'; value: string | number | boolean | null; pos: number }
  | { kind: 'keyword'; name: string; pos: number }
  | { kind: 'variable'; name: string; pos: number }
  | { kind: 'list'; items: YaqlArg[]; pos: number }
  | { kind: 'map'; entries: YaqlArg[]; pos: number }
  | { kind: 'unary'; op: string; operand: YaqlNode; pos: number }
  | { kind: 'binary'; op: string; left: YaqlNode; right: YaqlNode; pos: number }
  | { kind: 'index'; target: YaqlNode; args: YaqlArg[]; pos: number }
  | { kind: 'member'; target: YaqlNode; name: string; safe: boolean; pos: number }
  | { kind: 'call'; name: string; receiver?: YaqlNode; safe: boolean; args: YaqlArg[]; pos: number };

const BINARY_POWER: Record<string, number> = {
  '->': 10,
  or: 20,
  and: 30,
  '>': 50,
  '<': 50,
  '>=': 50,
  '<=': 50,
  '!=': 50,
  '=': 50,
  in: 50,
  '+': 60,
  '-': 60,
  '*': 70,
  '/': 70,
  mod: 70,
  '=~': 80,
  '!~': 80,
  '[': 100,
  '.': 110,
  '?.': 110,
};
const PREFIX_POWER: Record<string, number> = { not: 40, '+': 90, '-': 90 };
const RIGHT_ASSOCIATIVE = new Set(['->']);

class YaqlParser {
  private index = 0;

  constructor(private readonly tokens: Token[]) {}

  parseAll(): YaqlNode {
    const node = this.parseExpression(0);
    const extra = this.peek();
    if (extra) this.fail(extra);
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.index];
  }

  private next(): Token {
    const token = this.tokens[this.index];
    if (!token) return this.fail(undefined);
    this.index += 1;
    return token;
  }

  private expect(text: string): void {
    const token = this.next();
    if (token.text !== text) this.fail(token);
  }

  private fail(token: Token | undefined): never {
    throw new YaqlError(
      token ? `unexpected token '${token.text}' at ${token.pos}` : 'unexpected end of expression',
    );
  }

  private parseExpression(minPower: number): YaqlNode {
    let left = this.parsePrefix();
    for (;;) {
      const token = this.peek();
      const power = token?.type === 'op' ? BINARY_POWER[token.text] : undefined;
      if (!token || power === undefined || power <= minPower) return left;
      this.index += 1;
      left = this.parseInfix(left, token, power);
    }
  }

  private parseInfix(left: YaqlNode, token: Token, power: number): YaqlNode {
    if (token.text === '[') {
      return { kind: 'index', target: left, args: this.parseArgs(']'), pos: token.pos };
    }
    if (token.text === '.' || token.text === '?.') return this.parseMember(left, token);
    const rightPower = RIGHT_ASSOCIATIVE.has(token.text) ? power - 1 : power;
    const right = this.parseExpression(rightPower);
    return { kind: 'binary', op: token.text, left, right, pos: token.pos };
  }

  /** `x.key` reads a key, `x.f(...)` calls a method; yaql's other right-hand sides are not supported. */
  private parseMember(target: YaqlNode, dot: Token): YaqlNode {
    const safe = dot.text === '?.';
    const token = this.next();
    if (token.type === 'keyword') return { kind: 'member', target, name: token.text, safe, pos: token.pos };
    if (token.type === 'func') {
      return {
        kind: 'call',
        name: String(token.value),
        receiver: target,
        safe,
        args: this.parseArgs(')'),
        pos: token.pos,
      };
    }
    throw new YaqlError(
      `a key name or a method call must follow '${dot.text}' at ${dot.pos}, not '${token.text}'`,
    );
  }

  private parsePrefix(): YaqlNode {
    const token = this.next();
    switch (token.type) {
      case 'constant':
      case 'number':
      case 'string':
        return { kind: 'constant', value: token.value, pos: token.pos };
      case 'keyword':
        return { kind: 'keyword', name: token.text, pos: token.pos };
      case 'dollar':
        return { kind: 'variable', name: token.text, pos: token.pos };
      case 'func':
        return {
          kind: 'call',
          name: String(token.value),
          safe: false,
          args: this.parseArgs(')'),
          pos: token.pos,
        };
      default:
        return this.parseOperatorPrefix(token);
    }
  }

  private parseOperatorPrefix(token: Token): YaqlNode {
    if (token.text === '(') {
      const inner = this.parseExpression(0);
      this.expect(')');
      return inner;
    }
    if (token.text === '[') return { kind: 'list', items: this.parseArgs(']'), pos: token.pos };
    if (token.text === '{') return { kind: 'map', entries: this.parseArgs('}'), pos: token.pos };
    const power = token.type === 'op' ? PREFIX_POWER[token.text] : undefined;
    if (power === undefined) return this.fail(token);
    return { kind: 'unary', op: token.text, operand: this.parseExpression(power), pos: token.pos };
  }

  /** Comma-separated arguments up to `close`; `key => value` makes a named one. */
  private parseArgs(close: string): YaqlArg[] {
    const args: YaqlArg[] = [];
    if (this.peek()?.text === close) {
      this.index += 1;
      return args;
    }
    for (;;) {
      args.push(this.parseArg());
      const token = this.next();
      if (token.text === close) return args;
      if (token.text !== ',') this.fail(token);
    }
  }

  private parseArg(): YaqlArg {
    const value = this.parseExpression(0);
    if (this.peek()?.text !== '=>') return { value };
    this.index += 1;
    return { key: value, value: this.parseExpression(0) };
  }
}

// ---------------------------------------------------------------------------------------------------------
// The functions of the subset, with where yaql lets them be called (specs.method / extension_method)
// ---------------------------------------------------------------------------------------------------------

interface FunctionSpec {
  asFunction: boolean;
  asMethod: boolean;
  /** arguments, the receiver of a method call included */
  minArgs: number;
  maxArgs: number;
  /** Nailgun's datadiff functions take their argument as a lambda, run on the new and on the old data */
  lazy: boolean;
}

const fn = (minArgs: number, maxArgs: number, lazy = true): FunctionSpec => ({
  asFunction: true,
  asMethod: false,
  minArgs,
  maxArgs,
  lazy,
});
const method = (minArgs: number, maxArgs: number): FunctionSpec => ({
  asFunction: false,
  asMethod: true,
  minArgs,
  maxArgs,
  lazy: false,
});

const FUNCTIONS: Record<string, FunctionSpec> = {
  len: { asFunction: true, asMethod: true, minArgs: 1, maxArgs: 1, lazy: false },
  new: fn(1, 1),
  old: fn(1, 1),
  changed: fn(1, 1),
  changedAll: fn(0, Number.POSITIVE_INFINITY),
  changedAny: fn(0, Number.POSITIVE_INFINITY),
  added: fn(1, 1),
  deleted: fn(1, 1),
  isUndef: method(1, 1),
  toYaml: method(1, 1),
  toJson: method(1, 1),
  get: method(2, 3),
};

export const YAQL_FUNCTIONS: readonly string[] = Object.keys(FUNCTIONS);

const UNSUPPORTED_OPERATORS = new Set(['=~', '!~', '->']);

function checkCall(node: Extract<YaqlNode, { kind: 'call' }>): void {
  const spec = Object.hasOwn(FUNCTIONS, node.name) ? FUNCTIONS[node.name] : undefined;
  const asMethod = node.receiver !== undefined;
  if (!spec && WORD_OPERATORS.has(node.name)) {
    // yaql's lexer reads a name followed by '(' as a function call, so `not(x)` calls a function 'not'
    throw new YaqlError(
      `unknown function '${node.name}' at ${node.pos}: write '${node.name} (' with a space`,
    );
  }
  if (!spec) {
    const what = asMethod ? 'method' : 'function';
    throw new YaqlError(
      `unknown ${what} '${node.name}' at ${node.pos} (supported: ${YAQL_FUNCTIONS.join(', ')})`,
    );
  }
  if (asMethod && !spec.asMethod) {
    throw new YaqlError(
      `'${node.name}' is a function, not a method: write ${node.name}(...) (at ${node.pos})`,
    );
  }
  if (!asMethod && !spec.asFunction) {
    throw new YaqlError(`'${node.name}' is a method: write <value>.${node.name}() (at ${node.pos})`);
  }
  const count = node.args.length + (asMethod ? 1 : 0);
  if (count < spec.minArgs || count > spec.maxArgs) {
    throw new YaqlError(`wrong number of arguments to '${node.name}' at ${node.pos}`);
  }
}

/** The arguments of a call, an index or a list are positional; those of a map are `key => value` pairs. */
function checkArgs(args: YaqlArg[], named: boolean, pos: number): void {
  if (args.every((arg) => named === (arg.key !== undefined))) return;
  throw new YaqlError(
    named ? `a map takes 'key => value' pairs (at ${pos})` : `named arguments are not supported (at ${pos})`,
  );
}

const argNodes = (args: YaqlArg[]): YaqlNode[] =>
  args.flatMap((arg) => (arg.key ? [arg.key, arg.value] : [arg.value]));

function childrenOf(node: YaqlNode): YaqlNode[] {
  switch (node.kind) {
    case 'call':
      return [...(node.receiver ? [node.receiver] : []), ...argNodes(node.args)];
    case 'binary':
      return [node.left, node.right];
    case 'unary':
      return [node.operand];
    case 'member':
      return [node.target];
    case 'index':
      return [node.target, ...argNodes(node.args)];
    case 'list':
      return argNodes(node.items);
    case 'map':
      return argNodes(node.entries);
    default:
      return [];
  }
}

/** Refuses, before anything runs, what the subset does not know: yaql itself would fail at evaluation. */
function checkNode(node: YaqlNode): void {
  if (node.kind === 'call') checkCall(node);
  if (node.kind === 'binary' && UNSUPPORTED_OPERATORS.has(node.op)) {
    throw new YaqlError(`operator '${node.op}' is not supported (at ${node.pos})`);
  }
  if (node.kind === 'call' || node.kind === 'index') checkArgs(node.args, false, node.pos);
  if (node.kind === 'list') checkArgs(node.items, false, node.pos);
  if (node.kind === 'map') checkArgs(node.entries, true, node.pos);
  for (const child of childrenOf(node)) checkNode(child);
}

/** Parses and checks an expression; throws YaqlError naming what is wrong and where. */
export function compileYaql(text: string): YaqlNode {
  const node = new YaqlParser(tokenize(text)).parseAll();
  checkNode(node);
  return node;
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------------------

/** datadiff.py's _UNDEFINED: what old() gives when the expression cannot be evaluated on the old data. */
export const UNDEFINED: unique symbol = Symbol('yaql undefined');

export interface YaqlData {
  /** `$`: the node's new deployment data */
  node: unknown;
  /** the node's data of the last successful deployment; absent (None in Nailgun) when there is none */
  old?: unknown;
}

/**
 * A Python iterator, as yaql builds lazily for `list.key` (collection attribution) and for `+` of an iterator:
 * true whatever it holds, equal only to itself, not indexable; its items, and their errors, come only when it
 * is consumed (by `in`, len(), a serializer, or the final value, which yaql's finalizer turns into a list).
 */
export class YaqlIterator {
  constructor(private readonly produce: () => Iterable<unknown>) {}

  [Symbol.iterator](): Iterator<unknown> {
    return this.produce()[Symbol.iterator]();
  }
}

const isIterable = (v: unknown): v is unknown[] | YaqlIterator =>
  Array.isArray(v) || v instanceof YaqlIterator;

/** yaql's #finalize (utils.convert_output_data): iterators consumed into lists, deeply. */
export function finalize(value: unknown): unknown {
  if (isIterable(value)) return [...value].map(finalize);
  if (!isPlainObject(value)) return value;
  const out: PlainObject = {};
  for (const [key, item] of Object.entries(value)) out[key] = finalize(item);
  return out;
}

interface Scope {
  /** what `$` is here: the new data, or the new or old data inside a datadiff function's argument */
  data: unknown;
  root: YaqlData;
}

function typeName(value: unknown): string {
  if (value === UNDEFINED) return 'undefined';
  return value instanceof YaqlIterator ? 'iterator' : pyTypeName(value);
}

function readKey(target: unknown, name: string, pos: number): unknown {
  if (isPlainObject(target)) {
    if (!Object.hasOwn(target, name)) throw new YaqlError(`key '${name}' not found (at ${pos})`);
    return target[name] ?? null;
  }
  // yaql's collection attribution: `list.key` reads the key of every element, lazily
  if (isIterable(target)) {
    return new YaqlIterator(function* () {
      for (const element of target) yield readKey(element, name, pos);
    });
  }
  throw new YaqlError(`cannot read key '${name}' of a ${typeName(target)} value (at ${pos})`);
}

function indexValue(target: unknown, args: unknown[], pos: number): unknown {
  const [key, fallback] = args;
  if (isPlainObject(target)) {
    const found = typeof key === 'string' && Object.hasOwn(target, key);
    if (found) return target[key] ?? null;
    if (args.length === 2) return fallback;
    throw new YaqlError(`key ${JSON.stringify(key)} not found (at ${pos})`);
  }
  if (Array.isArray(target) && args.length === 1 && isCount(key)) {
    const index = Number(key);
    const i = index < 0 ? target.length + index : index;
    if (i < 0 || i >= target.length) throw new YaqlError(`list index ${key} out of range (at ${pos})`);
    return target[i];
  }
  throw new YaqlError(
    `cannot index a ${typeName(target)} value with ${args.map(typeName).join(', ')} (at ${pos})`,
  );
}

const isNumber = (v: unknown): v is number => typeof v === 'number';
const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isCount = (v: unknown): v is number | boolean => isInteger(v) || typeof v === 'boolean';

function noMatch(op: string, values: unknown[], pos: number): never {
  const types = values.map(typeName).join(' and ');
  throw new YaqlError(`operator '${op}' does not apply to ${types} (at ${pos})`);
}

/** yaql's `<`, `>`, `<=`, `>=`: numbers with numbers, strings with strings, and null below everything. */
function compare(op: string, left: unknown, right: unknown, pos: number): boolean {
  if (left === null || right === null) {
    const order = left === right ? 0 : left === null ? -1 : 1;
    return op === '<' ? order < 0 : op === '<=' ? order <= 0 : op === '>' ? order > 0 : order >= 0;
  }
  const comparable =
    (isNumber(left) && isNumber(right)) || (typeof left === 'string' && typeof right === 'string');
  if (!comparable) return noMatch(op, [left, right], pos);
  const l = left as number | string;
  const r = right as number | string;
  return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r;
}

function plus(left: unknown, right: unknown, pos: number): unknown {
  if (isNumber(left) && isNumber(right)) return left + right;
  if (typeof left === 'string' && typeof right === 'string') return left + right;
  if (Array.isArray(left) && Array.isArray(right)) return [...left, ...right];
  if (isIterable(left) && isIterable(right)) {
    return new YaqlIterator(function* () {
      yield* left;
      yield* right;
    });
  }
  if (isPlainObject(left) && isPlainObject(right)) return { ...left, ...right };
  return noMatch('+', [left, right], pos);
}

function times(left: unknown, right: unknown, pos: number): unknown {
  if (isNumber(left) && isNumber(right)) return left * right;
  // a string or a list times an int, a Python bool being an int
  const [seq, count] = isCount(right) ? [left, right] : [right, left];
  if (!isCount(count)) return noMatch('*', [left, right], pos);
  const n = Math.max(Number(count), 0);
  if (typeof seq === 'string') return seq.repeat(n);
  if (Array.isArray(seq)) return Array.from({ length: n }, () => seq).flat();
  return noMatch('*', [left, right], pos);
}

/** yaql's `/` (integer division of two integers, as Python's //) and `mod` (Python's %, sign of the divisor). */
function divide(op: string, left: unknown, right: unknown, pos: number): number {
  if (!isNumber(left) || !isNumber(right)) return noMatch(op, [left, right], pos);
  if (right === 0) throw new YaqlError(`division by zero (at ${pos})`);
  if (op === 'mod') return left - right * Math.floor(left / right);
  return isInteger(left) && isInteger(right) ? Math.floor(left / right) : left / right;
}

function arithmetic(op: string, left: unknown, right: unknown, pos: number): unknown {
  if (op === '+') return plus(left, right, pos);
  if (op === '*') return times(left, right, pos);
  if (op === '-') return isNumber(left) && isNumber(right) ? left - right : noMatch(op, [left, right], pos);
  return divide(op, left, right, pos);
}

function contains(item: unknown, collection: unknown, pos: number): boolean {
  if (isIterable(collection)) {
    for (const element of collection) if (pyEquals(item, element)) return true;
    return false;
  }
  if (typeof item === 'string' && typeof collection === 'string') return collection.includes(item);
  return noMatch('in', [item, collection], pos);
}

function evaluateBinary(node: Extract<YaqlNode, { kind: 'binary' }>, scope: Scope): unknown {
  const left = evaluateNode(node.left, scope);
  // yaql's and/or take lambdas: the right side runs only when the left one does not decide
  if (node.op === 'and') return pyTruthy(left) ? evaluateNode(node.right, scope) : left;
  if (node.op === 'or') return pyTruthy(left) ? left : evaluateNode(node.right, scope);
  const right = evaluateNode(node.right, scope);
  switch (node.op) {
    case '=':
      return pyEquals(left, right);
    case '!=':
      return !pyEquals(left, right);
    case 'in':
      return contains(left, right, node.pos);
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compare(node.op, left, right, node.pos);
    default:
      return arithmetic(node.op, left, right, node.pos);
  }
}

function evaluateUnary(node: Extract<YaqlNode, { kind: 'unary' }>, scope: Scope): unknown {
  const value = evaluateNode(node.operand, scope);
  if (node.op === 'not') return !pyTruthy(value);
  if (!isNumber(value)) return noMatch(node.op, [value], node.pos);
  return node.op === '-' ? -value : value;
}

function evaluateMap(entries: YaqlArg[], scope: Scope): PlainObject {
  const out: PlainObject = {};
  for (const entry of entries) {
    const key = evaluateNode(entry.key as YaqlNode, scope);
    if (typeof key !== 'string') throw new YaqlError(`a map key must be a string, not ${typeName(key)}`);
    out[key] = evaluateNode(entry.value, scope);
  }
  return out;
}

function evaluateNode(node: YaqlNode, scope: Scope): unknown {
  switch (node.kind) {
    case 'constant':
      return node.value;
    case 'keyword':
      return node.name;
    case 'variable':
      // `$` is `$1`, the data; other context variables are not set by Nailgun and read as null
      return node.name === '$' || node.name === '$1' ? scope.data : null;
    case 'list':
      return node.items.map((item) => evaluateNode(item.value, scope));
    case 'map':
      return evaluateMap(node.entries, scope);
    case 'unary':
      return evaluateUnary(node, scope);
    case 'binary':
      return evaluateBinary(node, scope);
    case 'index': {
      const target = evaluateNode(node.target, scope);
      return indexValue(
        target,
        node.args.map((arg) => evaluateNode(arg.value, scope)),
        node.pos,
      );
    }
    case 'member': {
      const target = evaluateNode(node.target, scope);
      return node.safe && target === null ? null : readKey(target, node.name, node.pos);
    }
    case 'call':
      return evaluateCall(node, scope);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Function calls: Nailgun's datadiff.py functions, yaql's len and get, serializers.py's toYaml and toJson
// ---------------------------------------------------------------------------------------------------------

/** datadiff.py get_new: the argument evaluated with `$` = the new data. */
function onNew(arg: YaqlNode, scope: Scope): unknown {
  return evaluateNode(arg, { data: scope.root.node, root: scope.root });
}

/** datadiff.py get_old: the argument on the old data (None when there is none); UNDEFINED when that fails. */
function onOld(arg: YaqlNode, scope: Scope): unknown {
  try {
    return evaluateNode(arg, { data: scope.root.old ?? null, root: scope.root });
  } catch (error) {
    if (error instanceof YaqlError) return UNDEFINED;
    throw error;
  }
}

const changed = (arg: YaqlNode, scope: Scope): boolean =>
  !pyEquals(finalize(onNew(arg, scope)), finalize(onOld(arg, scope)));

function callLazy(name: string, args: YaqlNode[], scope: Scope): unknown {
  const [first] = args as [YaqlNode];
  switch (name) {
    case 'new':
      return onNew(first, scope);
    case 'old':
      return onOld(first, scope);
    case 'changed':
      return changed(first, scope);
    case 'changedAll':
      return args.every((arg) => changed(arg, scope));
    case 'changedAny':
      return args.some((arg) => changed(arg, scope));
    case 'added':
      return added(onNew(first, scope), onOld(first, scope));
    default:
      return deleted(onNew(first, scope), onOld(first, scope));
  }
}

function length(value: unknown, pos: number): number {
  if (typeof value === 'string') return [...value].length;
  if (isIterable(value)) return [...value].length;
  if (isPlainObject(value)) return Object.keys(value).length;
  throw new YaqlError(`len() does not apply to a ${typeName(value)} value (at ${pos})`);
}

function dictGet(dict: unknown, key: unknown, fallback: unknown, pos: number): unknown {
  if (!isPlainObject(dict)) throw new YaqlError(`get() applies to a dict, not ${typeName(dict)} (at ${pos})`);
  return typeof key === 'string' && Object.hasOwn(dict, key) ? (dict[key] ?? null) : (fallback ?? null);
}

function callEager(name: string, args: unknown[], pos: number): unknown {
  const [first, key, fallback] = args;
  switch (name) {
    case 'len':
      return length(first, pos);
    case 'isUndef':
      return finalize(first) === UNDEFINED;
    case 'toYaml':
      return toPyYaml(first, pos);
    case 'toJson':
      return toPyJson(first, pos);
    default:
      return dictGet(first, key, fallback, pos);
  }
}

function evaluateCall(node: Extract<YaqlNode, { kind: 'call' }>, scope: Scope): unknown {
  const spec = FUNCTIONS[node.name] as FunctionSpec;
  const argNodes = node.args.map((arg) => arg.value);
  if (spec.lazy) return callLazy(node.name, argNodes, scope);
  const receiver = node.receiver ? [evaluateNode(node.receiver, scope)] : [];
  if (node.safe && receiver[0] === null) return null;
  const args = [...receiver, ...argNodes.map((arg) => evaluateNode(arg, scope))];
  return callEager(node.name, args, node.pos);
}

/** Runs a compiled expression with `$` = the node's new data and finalizes its value; throws YaqlError. */
export function runYaql(node: YaqlNode, data: YaqlData): unknown {
  return finalize(evaluateNode(node, { data: data.node, root: data }));
}

// ---------------------------------------------------------------------------------------------------------
// added() and deleted(): nailgun/utils/datadiff.py, lists compared with Python's difflib.SequenceMatcher
// ---------------------------------------------------------------------------------------------------------

interface DataDiff {
  added: unknown;
  deleted: unknown;
}

function added(newData: unknown, oldData: unknown): unknown {
  return oldData === UNDEFINED ? newData : diff(oldData, newData).added;
}

function deleted(newData: unknown, oldData: unknown): unknown {
  return oldData === UNDEFINED ? null : diff(oldData, newData).deleted;
}

function diff(a: unknown, b: unknown): DataDiff {
  // Python's type(a) is not type(b): bool is not int, int is not float
  if (typeName(a) !== typeName(b)) return diffAny(a, b);
  if (a instanceof YaqlIterator && b instanceof YaqlIterator) return diffArray([...a], [...b]);
  if (typeof a === 'string' && typeof b === 'string') return diffArray(splitLines(a), splitLines(b));
  if (isPlainObject(a) && isPlainObject(b)) return diffDict(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return diffArray(a, b);
  return diffAny(a, b);
}

const diffAny = (a: unknown, b: unknown): DataDiff =>
  pyEquals(a, b) ? { added: null, deleted: null } : { added: b, deleted: a };

function diffDict(a: PlainObject, b: PlainObject): DataDiff {
  const addedKeys: PlainObject = {};
  const deletedKeys: PlainObject = {};
  for (const [key, value] of Object.entries(a)) {
    if (!Object.hasOwn(b, key)) deletedKeys[key] = value;
    else if (!pyEquals(value, b[key])) {
      deletedKeys[key] = value;
      addedKeys[key] = b[key];
    }
  }
  for (const [key, value] of Object.entries(b)) if (!Object.hasOwn(a, key)) addedKeys[key] = value;
  return { added: addedKeys, deleted: deletedKeys };
}

/** \n \r \v \f, the file, group and record separators, NEL, and the line and paragraph separators. */
const LINE_BOUNDARIES = new Set([0x0a, 0x0d, 0x0b, 0x0c, 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029]);

/** Python's str.splitlines(): every Unicode line boundary, no trailing empty line. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    if (!LINE_BOUNDARIES.has(text.charCodeAt(i))) continue;
    lines.push(text.slice(start, i));
    if (text.startsWith('\r\n', i)) i += 1;
    start = i + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

function diffArray(a: unknown[], b: unknown[]): DataDiff {
  const keysA = a.map(hashKey);
  const keysB = b.map(hashKey);
  const inA = new Array<boolean>(a.length).fill(false);
  const inB = new Array<boolean>(b.length).fill(false);
  for (const [i, j, size] of matchingBlocks(keysA, keysB)) {
    for (let k = 0; k < size; k += 1) {
      inA[i + k] = true;
      inB[j + k] = true;
    }
  }
  return { added: b.filter((_, j) => !inB[j]), deleted: a.filter((_, i) => !inA[i]) };
}

/** datadiff.do_hashable then Python's hash/eq: equal values (True, 1 and 1.0 too) get one key. */
function hashKey(value: unknown): string {
  if (value === null || value === undefined) return 'n';
  if (value === UNDEFINED) return 'u';
  if (typeof value === 'boolean' || typeof value === 'number') return `d${Number(value)}`;
  if (typeof value === 'string') return `s${JSON.stringify(value)}`;
  if (Array.isArray(value)) return `l[${value.map(hashKey).join(',')}]`;
  const entries = Object.entries(value as PlainObject).map(([k, v]) => `${JSON.stringify(k)}:${hashKey(v)}`);
  return `o{${entries.sort().join(',')}}`;
}

type Block = [number, number, number];

/** The index lists of b's elements, without the popular ones when b has 200 elements or more (autojunk). */
function indexB(b: string[]): Map<string, number[]> {
  const b2j = new Map<string, number[]>();
  b.forEach((key, j) => {
    const list = b2j.get(key);
    if (list) list.push(j);
    else b2j.set(key, [j]);
  });
  if (b.length >= 200) {
    const limit = Math.floor(b.length / 100) + 1;
    for (const [key, list] of [...b2j]) if (list.length > limit) b2j.delete(key);
  }
  return b2j;
}

/** difflib.SequenceMatcher.find_longest_match, without junk (Nailgun passes no isjunk). */
function longestMatch(a: string[], b: string[], b2j: Map<string, number[]>, lo: Block, hi: Block): Block {
  const [alo, blo] = lo;
  const [ahi, bhi] = hi;
  let [besti, bestj, bestsize] = [alo, blo, 0];
  let j2len = new Map<number, number>();
  for (let i = alo; i < ahi; i += 1) {
    const next = new Map<number, number>();
    for (const j of b2j.get(a[i] as string) ?? []) {
      if (j < blo) continue;
      if (j >= bhi) break;
      const k = (j2len.get(j - 1) ?? 0) + 1;
      next.set(j, k);
      if (k > bestsize) [besti, bestj, bestsize] = [i - k + 1, j - k + 1, k];
    }
    j2len = next;
  }
  // extend the match with equal elements on both sides (the popular ones left out of b2j among them)
  while (besti > alo && bestj > blo && a[besti - 1] === b[bestj - 1]) {
    besti -= 1;
    bestj -= 1;
    bestsize += 1;
  }
  while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] === b[bestj + bestsize]) {
    bestsize += 1;
  }
  return [besti, bestj, bestsize];
}

/** difflib.SequenceMatcher.get_matching_blocks (the order does not matter here: only coverage does). */
function matchingBlocks(a: string[], b: string[]): Block[] {
  const b2j = indexB(b);
  const blocks: Block[] = [];
  const queue: [number, number, number, number][] = [[0, a.length, 0, b.length]];
  for (let range = queue.pop(); range; range = queue.pop()) {
    const [alo, ahi, blo, bhi] = range;
    const [i, j, k] = longestMatch(a, b, b2j, [alo, blo, 0], [ahi, bhi, 0]);
    if (k === 0) continue;
    blocks.push([i, j, k]);
    if (alo < i && blo < j) queue.push([alo, i, blo, j]);
    if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
  }
  return blocks;
}

// ---------------------------------------------------------------------------------------------------------
// toYaml() and toJson(): serializers.py's yaml.safe_dump and jsonutils.dumps
// ---------------------------------------------------------------------------------------------------------

function assertDefined(value: unknown, what: string, pos: number): void {
  if (value === UNDEFINED) throw new YaqlError(`${what}: cannot serialize an undefined value (at ${pos})`);
  if (Array.isArray(value)) for (const item of value) assertDefined(item, what, pos);
  if (isPlainObject(value)) for (const item of Object.values(value)) assertDefined(item, what, pos);
}

/** A plain scalar PyYAML could not read inside a flow collection (it refuses ':' there, as libyaml does). */
const FLOW_UNSAFE = /[:,?[\]{}#]/;
/** Line breaks, tabs and other control characters: a quoted scalar keeps a flow collection on one line. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
/** Plain scalars PyYAML resolves to its value and merge tags, which safe_load cannot construct. */
const PYYAML_TAGGED = new Set(['=', '<<']);

function quoteInFlow(nodes: unknown[]): void {
  for (const node of nodes) {
    if (!YAML.isScalar(node) || typeof node.value !== 'string') continue;
    if (CONTROL.test(node.value)) node.type = 'QUOTE_DOUBLE';
    else if (FLOW_UNSAFE.test(node.value)) node.type = 'QUOTE_SINGLE';
  }
}

/**
 * PyYAML 3's safe_dump: keys sorted, a collection of scalars only in flow style (default_flow_style=None),
 * sequences not indented under their key, YAML 1.1 resolution (so 'yes' and 'on' are quoted), and `...`
 * after a plain scalar document. Lines are not folded (PyYAML folds at 80 columns) and quoting may differ
 * from PyYAML's in corner cases; the text reads back as the same data, with PyYAML too.
 */
function toPyYaml(receiver: unknown, pos: number): string {
  const value = finalize(receiver);
  assertDefined(value, 'toYaml()', pos);
  // without yaml's merge tag, which would write the string '<<' plain whatever its quoting
  const customTags = (tags: YAML.Tags) =>
    tags.filter((tag) => typeof tag === 'string' || tag.tag !== 'tag:yaml.org,2002:merge');
  const doc = new YAML.Document(value, { version: '1.1', sortMapEntries: true, customTags });
  YAML.visit(doc, {
    Map(_, node) {
      node.flow = node.items.every((pair) => YAML.isScalar(pair.value));
      if (node.flow) quoteInFlow(node.items.flatMap((pair) => [pair.key, pair.value]));
    },
    Seq(_, node) {
      node.flow = node.items.every((item) => YAML.isScalar(item));
      if (node.flow) quoteInFlow(node.items);
    },
    Scalar(_, node) {
      if (typeof node.value === 'string' && PYYAML_TAGGED.has(node.value)) node.type = 'QUOTE_SINGLE';
    },
  });
  const text = doc.toString({
    lineWidth: 0,
    indentSeq: false,
    singleQuote: true,
    flowCollectionPadding: false,
    blockQuote: false,
  });
  const plainScalar = !Array.isArray(value) && !isPlainObject(value) && !/^['"]/.test(text);
  return plainScalar ? `${text}...\n` : text;
}

const asciiEscape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

function pyJsonNumber(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

/** Python's json.dumps defaults: ', ' and ': ' separators, non-ASCII characters escaped. */
function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, asciiEscape);
  if (typeof value === 'number') return pyJsonNumber(value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  const entries = Object.entries(value as PlainObject).map(([k, v]) => `${pyJson(k)}: ${pyJson(v)}`);
  return `{${entries.join(', ')}}`;
}

function toPyJson(receiver: unknown, pos: number): string {
  const value = finalize(receiver);
  assertDefined(value, 'toJson()', pos);
  return pyJson(value);
}
