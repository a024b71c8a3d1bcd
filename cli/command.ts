/**
 * What a command of the table is: `noun verb`, typed arguments and flags with their help, an example,
 * and a handler that receives the values already checked and converted.
 */
import type { Api } from './api.js';

/** The command line is wrong (unknown command or flag, bad or missing value): exit 2. */
export class UsageError extends Error {}

/** The operation failed (the API refused it, could not be reached, a file could not be read): exit 1. */
export class Failure extends Error {}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface Io {
  /** Writes text and a newline to stdout. */
  out(text: string): void;
  /** Writes text and a newline to stderr. */
  err(text: string): void;
  /** Writes raw text to stdout (redrawing a live view). */
  write(raw: string): void;
  /** Whether stdout is a terminal. */
  isTTY: boolean;
}

export interface Context {
  api: Api;
  io: Io;
  /** `--json`: print the API's JSON instead of tables. */
  json: boolean;
}

/** `id` is a positive integer, `ids` and `list` are comma-separated (`1,2`, `controller,compute`). */
export type Kind = 'boolean' | 'string' | 'id' | 'ids' | 'list';

interface KindValues {
  boolean: boolean;
  string: string;
  id: number;
  ids: number[];
  list: string[];
}

export interface ArgSpec {
  kind: 'string' | 'id';
  help: string;
}

export interface FlagSpec {
  kind: Kind;
  help: string;
  /** The placeholder of the value in the help, e.g. `PATH`. */
  value?: string;
  required?: boolean;
}

/** `--env ENV`, the flag of the commands about one environment's nodes or graph. */
export const ENV_FLAG = { kind: 'id', value: 'ENV', required: true, help: 'the environment id' } as const;

type Args = Readonly<Record<string, ArgSpec>>;
type Flags = Readonly<Record<string, FlagSpec>>;

/** The handler's view of the command line: arguments by name (`ENV`), flags by name (`wait`). */
export type Values<A extends Args, F extends Flags> = {
  readonly [N in keyof A]: KindValues[A[N]['kind']];
} & {
  readonly [N in keyof F]: F[N]['kind'] extends 'boolean'
    ? boolean
    : F[N]['required'] extends true
      ? KindValues[F[N]['kind']]
      : KindValues[F[N]['kind']] | undefined;
};

export interface CommandSpec<A extends Args, F extends Flags> {
  /** `noun verb`, or `noun verb verb`. */
  name: string;
  /** One line, for the list of commands. */
  summary: string;
  /** What it does and what it prints, for its own help. */
  description: string;
  /** The API call(s) it makes, e.g. `GET /api/v1/clusters/`. */
  api: string;
  args?: A;
  flags?: F;
  /** A complete command line, without the program name. */
  example: string;
  /** The exit code; nothing means 0. */
  run(values: Values<A, F>, ctx: Context): Promise<number> | Promise<void>;
}

export interface Command {
  readonly name: string;
  readonly words: readonly string[];
  readonly summary: string;
  readonly description: string;
  readonly api: string;
  readonly args: Args;
  readonly flags: Flags;
  readonly example: string;
  run(values: Readonly<Record<string, unknown>>, ctx: Context): Promise<number>;
}

/** Types a command's handler by its arguments and flags, and erases the types for the table. */
export function command<
  const A extends Args = Record<never, ArgSpec>,
  const F extends Flags = Record<never, FlagSpec>,
>(spec: CommandSpec<A, F>): Command {
  return {
    name: spec.name,
    words: spec.name.split(' '),
    summary: spec.summary,
    description: spec.description,
    api: spec.api,
    args: spec.args ?? {},
    flags: spec.flags ?? {},
    example: spec.example,
    // the values were converted from these very specs (see `convert` in run.ts)
    run: async (values, ctx) => (await spec.run(values as Values<A, F>, ctx)) ?? 0,
  };
}
