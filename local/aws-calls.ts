/**
 * Which AWS calls each Lambda function makes, recorded by the embedded runtime: an SDK middleware (at the
 * `initialize` step, so a call is recorded once however often the SDK retries it, and whether it succeeds
 * or not) appends `{"fn": "dispatch", "action": "ssm:SendCommand"}` as a JSON line to the file named by
 * `FUEL_AWS_CALL_LOG`, with the action as IAM names it. `test/iam/calls-allowed.test.ts` checks every
 * recorded call against the function's IAM statements in the synthesized template, and every statement
 * against the calls. Nothing is recorded, and no middleware is added, when the variable is not set; nothing
 * under lambdas/ knows about it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { appendFileSync } from 'node:fs';

/** The Lambda functions of the stack (`FunctionName` in infra/stack.ts), as the runtime names its contexts. */
export const FUNCTION_NAMES = [
  'api',
  'stop',
  'plan',
  'checkStop',
  'dispatch',
  'finish',
  'commandStatus',
  'executionEnded',
  'watchdog',
  'discoverNodes',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** One line of the call log. */
export interface AwsCall {
  fn: string;
  action: string;
}

export const CALL_LOG_VARIABLE = 'FUEL_AWS_CALL_LOG';

/** The IAM service prefix of each SDK client the product uses. */
const SERVICE_PREFIX: Readonly<Record<string, string>> = {
  DynamoDBClient: 'dynamodb',
  SSMClient: 'ssm',
  SFNClient: 'states',
  LambdaClient: 'lambda',
  SecretsManagerClient: 'secretsmanager',
};

/**
 * @aws-sdk/lib-dynamodb's document commands, by the low-level operation (and IAM action) each one sends.
 * The SDK names the low-level command in the middleware context (a `GetCommand` runs as `GetItemCommand`);
 * this is for a context that names the document command instead.
 */
const DOCUMENT_COMMANDS: Readonly<Record<string, string>> = {
  GetCommand: 'GetItem',
  PutCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  QueryCommand: 'Query',
  ScanCommand: 'Scan',
  BatchGetCommand: 'BatchGetItem',
  BatchWriteCommand: 'BatchWriteItem',
  TransactGetCommand: 'TransactGetItems',
  TransactWriteCommand: 'TransactWriteItems',
};

/** Operations whose IAM action is named otherwise. */
const IAM_NAMES: Readonly<Record<string, string>> = {
  'lambda:Invoke': 'lambda:InvokeFunction',
  'lambda:InvokeAsync': 'lambda:InvokeFunction',
};

/**
 * The IAM action of an SDK command: `SSMClient` + `SendCommandCommand` is `ssm:SendCommand`. A client this
 * table does not know gives `unknown(<client>):<operation>`, which no statement allows.
 */
export function iamAction(clientName: string, commandName: string): string {
  const prefix = SERVICE_PREFIX[clientName] ?? `unknown(${clientName})`;
  const document = prefix === 'dynamodb' ? DOCUMENT_COMMANDS[commandName] : undefined;
  const operation = document ?? commandName.replace(/Command$/, '');
  const action = `${prefix}:${operation}`;
  return IAM_NAMES[action] ?? action;
}

/** The function on whose behalf code runs outside its own clients (see `actingAs`). */
const acting = new AsyncLocalStorage<string>();

/**
 * Runs `work` as function `fn`: calls it makes through clients recorded with `actingFunction` are recorded
 * as `fn`'s. For a test's replacement of a shared repository method that a function calls.
 */
export function actingAs<T>(fn: string, work: () => T): T {
  return acting.run(fn, work);
}

/** The function running now through `actingAs`, or undefined (the call is then not recorded). */
export const actingFunction = (): string | undefined => acting.getStore();

/** What of an SDK client the recorder needs: its middleware stack. */
interface WithMiddleware {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { clientName?: string; commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; name: string; override?: boolean },
    ): void;
  };
}

/** Lines already written by this process, per log file: the log holds each (fn, action) once per process. */
const written = new Set<string>();

function append(file: string, call: AwsCall): void {
  const line = JSON.stringify(call);
  const key = `${file}\n${line}`;
  if (written.has(key)) return;
  written.add(key);
  appendFileSync(file, `${line}\n`);
}

/**
 * Records the calls `client` makes as function `fn` (a name, or a function giving the name at call time,
 * undefined for a call not to record) in `file` (default: `FUEL_AWS_CALL_LOG`); returns the client. Without
 * a file, the client is left as it is.
 */
export function recordAwsCalls<C extends { middlewareStack: object }>(
  client: C,
  fn: string | (() => string | undefined),
  file: string | undefined = process.env[CALL_LOG_VARIABLE],
): C {
  if (!file) return client;
  const who = typeof fn === 'string' ? () => fn : fn;
  (client as unknown as WithMiddleware).middlewareStack.add(
    (next, context) => async (args) => {
      const name = who();
      if (name !== undefined) {
        append(file, { fn: name, action: iamAction(context.clientName ?? '', context.commandName ?? '') });
      }
      return next(args);
    },
    { step: 'initialize', name: 'fuelAwsCallRecorder', override: true },
  );
  return client;
}

/** The calls recorded in a log file (what `recordAwsCalls` wrote), each once. */
export function readCallLog(text: string): AwsCall[] {
  const seen = new Map<string, AwsCall>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const call = JSON.parse(line) as AwsCall;
    seen.set(`${call.fn}\n${call.action}`, { fn: call.fn, action: call.action });
  }
  return [...seen.values()];
}
