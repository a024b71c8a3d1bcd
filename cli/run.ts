/**
 * From a command line to an exit code: finds the command in the table, parses its flags with
 * node:util parseArgs, checks and converts the values, prints help, and reports errors on stderr
 * (exit 2 for a wrong command line, 1 for a failed operation, 3 for a deployment a graceful stop ended).
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { createApi } from './api.js';
import {
  type Command,
  type Context,
  Failure,
  type FlagSpec,
  type Io,
  type Kind,
  messageOf,
  UsageError,
} from './command.js';
import { COMMANDS } from './commands.js';
import { sanitize } from './sanitize.js';

const PROGRAM = 'fuel-sls';
const DEFAULT_URL = 'http://127.0.0.1:8000';

const GLOBAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  url: {
    kind: 'string',
    value: 'URL',
    help: `the API's address (default: $FUEL_API_URL, or ${DEFAULT_URL})`,
  },
  token: { kind: 'string', value: 'TOKEN', help: 'the X-Auth-Token to send (default: $FUEL_AUTH_TOKEN)' },
  json: { kind: 'boolean', help: "print the API's JSON instead of tables" },
  help: { kind: 'boolean', help: `this help; '${PROGRAM} COMMAND --help' for one command` },
};

const PLACEHOLDERS: Record<Kind, string> = {
  boolean: '',
  string: 'TEXT',
  id: 'ID',
  ids: 'ID,ID',
  list: 'A,B',
};

type RawValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
type ParserOptions = NonNullable<ParseArgsConfig['options']>;

export async function run(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  try {
    return await dispatch([...argv], io, env);
  } catch (err) {
    // an error's message may quote the server (the API's message, a reply that is not JSON)
    io.err(`Error: ${sanitize(messageOf(err))}`);
    if (err instanceof UsageError) return 2;
    if (!(err instanceof Failure) && env.FUEL_CLI_DEBUG && err instanceof Error)
      io.err(sanitize(err.stack ?? ''));
    return 1;
  }
}

async function dispatch(argv: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  // a first, lenient pass knows the flags of every command, to tell flag values from command words
  const everyFlag = Object.fromEntries(COMMANDS.flatMap((c) => Object.entries(c.flags)));
  const loose = parseArgs({
    args: argv,
    options: parserOptions(everyFlag),
    allowPositionals: true,
    strict: false,
  });
  const words = loose.positionals;
  const cmd = findCommand(words);
  if (loose.values.help === true) {
    io.out(cmd ? commandHelp(cmd) : words.length === 0 ? usage() : groupHelp(words));
    return 0;
  }
  if (!cmd) {
    if (words.length === 0) throw new UsageError(`missing command\n\n${usage()}`);
    throw unknownCommand(words);
  }
  const strict = parseStrict(argv, cmd);
  const values = convert(cmd, strict.positionals.slice(cmd.words.length), strict.values);
  return cmd.run(values, context(strict.values, io, env));
}

function parserOptions(flags: Readonly<Record<string, FlagSpec>>): ParserOptions {
  const options: ParserOptions = {};
  for (const [name, spec] of Object.entries({ ...GLOBAL_FLAGS, ...flags })) {
    options[name] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  }
  options.help = { type: 'boolean', short: 'h' };
  return options;
}

function parseStrict(argv: string[], cmd: Command): { positionals: string[]; values: RawValues } {
  try {
    return parseArgs({ args: argv, options: parserOptions(cmd.flags), allowPositionals: true, strict: true });
  } catch (err) {
    // node's messages name the flag: "Unknown option '--x'. To specify a positional argument ..."
    const first = messageOf(err).split('. ')[0] ?? '';
    throw new UsageError(
      `${first.charAt(0).toLowerCase()}${first.slice(1)} (see '${PROGRAM} ${cmd.name} --help')`,
    );
  }
}

/** The command whose words start the positionals, the longest one. */
function findCommand(words: readonly string[]): Command | undefined {
  return COMMANDS.filter((c) => c.words.every((w, i) => words[i] === w)).sort(
    (a, b) => b.words.length - a.words.length,
  )[0];
}

/** The commands that start with the most of the words given (`env` -> every env command). */
function nearest(words: readonly string[]): readonly Command[] {
  for (let n = words.length; n > 0; n--) {
    const found = COMMANDS.filter((c) => words.slice(0, n).every((w, i) => c.words[i] === w));
    if (found.length > 0) return found;
  }
  return [];
}

function unknownCommand(words: readonly string[]): UsageError {
  const near = nearest(words);
  const hint = near.length > 0 ? `one of:\n${commandList(near)}` : `run '${PROGRAM} --help' for the list`;
  return new UsageError(`unknown command '${words.join(' ')}'; ${hint}`);
}

function check(ok: boolean, message: string, cmd: Command): void {
  if (!ok) throw new UsageError(`${message}; usage: ${synopsis(cmd)}`);
}

/** Converts the raw strings to the kinds the command declares; a wrong or missing value is a UsageError. */
function convert(cmd: Command, args: string[], raw: RawValues): Record<string, unknown> {
  const names = Object.keys(cmd.args);
  check(args.length >= names.length, `missing ${names.slice(args.length).join(' ')}`, cmd);
  check(args.length <= names.length, `unexpected argument '${args[names.length]}'`, cmd);
  const values: Record<string, unknown> = {};
  Object.entries(cmd.args).forEach(([name, spec], i) => {
    values[name] = converted(spec.kind, args[i] ?? '', name);
  });
  for (const [name, spec] of Object.entries(cmd.flags)) {
    const value = raw[name];
    if (spec.kind === 'boolean') values[name] = value === true;
    else if (typeof value === 'string') values[name] = converted(spec.kind, value, `--${name}`);
    else check(!spec.required, `missing --${name} ${placeholder(spec)}`, cmd);
  }
  return values;
}

function converted(kind: Kind, text: string, label: string): unknown {
  const isId = (t: string) => /^[1-9]\d*$/.test(t);
  const items = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  switch (kind) {
    case 'id':
      if (!isId(text)) throw new UsageError(`${label} must be a positive number (got '${text}')`);
      return Number(text);
    case 'ids':
      if (items.length === 0 || !items.every(isId)) {
        throw new UsageError(`${label} must list positive numbers, like 1,2 (got '${text}')`);
      }
      return items.map(Number);
    case 'list':
      if (items.length === 0) throw new UsageError(`${label} must list at least one value, like a,b`);
      return items;
    default:
      return text;
  }
}

function context(raw: RawValues, io: Io, env: NodeJS.ProcessEnv): Context {
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const url = (text(raw.url) ?? text(env.FUEL_API_URL) ?? DEFAULT_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url)) {
    throw new UsageError(`the API address must be an http(s) URL (got '${url}')`);
  }
  const token = text(raw.token) ?? text(env.FUEL_AUTH_TOKEN);
  if (!token) throw new UsageError('no token: pass --token or set FUEL_AUTH_TOKEN (npm start prints it)');
  return { api: createApi(url, token), io, json: raw.json === true };
}

// ---- help ----

function placeholder(spec: FlagSpec): string {
  return spec.value ?? PLACEHOLDERS[spec.kind];
}

function flagUsage(name: string, spec: FlagSpec): string {
  return spec.kind === 'boolean' ? `--${name}` : `--${name} ${placeholder(spec)}`;
}

function synopsis(cmd: Command): string {
  const flags = Object.entries(cmd.flags).map(([name, spec]) =>
    spec.required ? flagUsage(name, spec) : `[${flagUsage(name, spec)}]`,
  );
  return [PROGRAM, cmd.name, ...Object.keys(cmd.args), ...flags].join(' ');
}

/** Two aligned columns, indented. */
function columns(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`.trimEnd()).join('\n');
}

function wrap(text: string, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join('\n');
}

function flagRows(flags: Readonly<Record<string, FlagSpec>>): [string, string][] {
  return Object.entries(flags).map(([name, spec]) => [
    name === 'help' ? '-h, --help' : flagUsage(name, spec),
    spec.required ? `${spec.help} (required)` : spec.help,
  ]);
}

function commandList(commands: readonly Command[]): string {
  return columns(commands.map((c) => [[c.name, ...Object.keys(c.args)].join(' '), c.summary]));
}

function usage(): string {
  return [
    `Usage: ${PROGRAM} [--url URL] [--token TOKEN] [--json] COMMAND [ARGUMENTS] [FLAGS]`,
    '',
    "The command line of fuel-sls, OpenStack Fuel's deployment service (the Nailgun API), after fuel2.",
    '',
    'Commands:',
    commandList(COMMANDS),
    '',
    'Global flags, anywhere on the line:',
    columns(flagRows(GLOBAL_FLAGS)),
    '',
    'Exit codes: 0 done; 1 failed (the API refused or could not be reached, or the task ended in error);',
    '2 wrong command line; 3 the deployment followed with --wait was stopped gracefully (nothing failed).',
    `Run '${PROGRAM} COMMAND --help' for the flags of a command and an example.`,
  ].join('\n');
}

function groupHelp(words: readonly string[]): string {
  const commands = nearest(words);
  if (commands.length === 0) throw unknownCommand(words);
  return [`Usage: ${PROGRAM} ${words[0]} COMMAND ...`, '', 'Commands:', commandList(commands)].join('\n');
}

function commandHelp(cmd: Command): string {
  const args = Object.entries(cmd.args).map(([name, spec]): [string, string] => [name, spec.help]);
  const flags = flagRows(cmd.flags);
  return [
    `Usage: ${synopsis(cmd)}`,
    '',
    wrap(cmd.description),
    '',
    `API: ${cmd.api}`,
    ...(args.length > 0 ? ['', 'Arguments:', columns(args)] : []),
    ...(flags.length > 0 ? ['', 'Flags:', columns(flags)] : []),
    '',
    `Global flags: --url URL, --token TOKEN, --json (see '${PROGRAM} --help').`,
    '',
    'Example:',
    `  ${PROGRAM} ${cmd.example}`,
  ].join('\n');
}
