/**
 * Local Step Functions endpoint: speaks the AWS JSON 1.0 protocol of Step Functions for the calls the
 * service uses, and runs ONE state machine definition (the same ASL file the CDK deploys) with
 * aws-local-stepfunctions, invoking the Lambda handlers in-process.
 *
 * What the engine library does not do and this module adds:
 * - `.waitForTaskToken`: every entry into such a state gets a fresh task token, placed where the
 *   definition reads `$$.Task.Token`; the state waits for SendTaskSuccess / SendTaskFailure, its
 *   TimeoutSeconds(Path), or the end of the execution.
 * - An AWS-shaped execution history (event types and counts as AWS records them).
 * - An inline Map leaves at once when an iteration fails: no queued iteration starts afterwards.
 */
import './polyfills.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';

export type LocalFunction = (payload: unknown) => Promise<unknown>;

export interface LocalStepFunctionsOptions {
  /** ASL JSON text containing `${Var}` placeholders. */
  definition: string;
  /** Var -> Lambda function ARN. */
  substitutions: Record<string, string>;
  /** Function ARN -> in-process handler. */
  functions: Record<string, LocalFunction>;
  stateMachineArn?: string;
  log?: (line: string) => void;
  /** Called when an execution ends, with the detail of EventBridge's "Step Functions Execution Status Change". */
  onExecutionEnd?: (detail: ExecutionStatusDetail) => void;
}

export interface ExecutionStatusDetail {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  startDate: number;
  stopDate: number;
  input: string;
  output: string | null;
  error: string | null;
  cause: string | null;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
const isTerminal = (status: ExecutionStatus): boolean => status !== 'RUNNING';

const DEFAULT_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:fuel-deployment';
const REGION = 'us-east-1';
/** Stand-in for `$$.Task.Token` in the context object; replaced by a fresh token on every state entry. */
const TOKEN_PLACEHOLDER = `__local-sfn-task-token-${randomUUID()}__`;
/**
 * Callback states are timed by this module (TimeoutSeconds(Path) as AWS reads them); the engine's own
 * timer is pushed out of the way (the engine defaults to 60 s; Node timers cap at ~24.8 days).
 */
const ENGINE_TIMEOUT_SECONDS = 2_000_000;
const MAX_HISTORY_PAGE = 1000;
const DEFAULT_PAGE = 100;

// ---------------------------------------------------------------------------------------------------------
// Errors

/** A client error answered as HTTP 400 with `{"__type": code, "message": ...}`. */
class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** An error a Task state fails with; Retry/Catch match it by `name`. */
function stateError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/**
 * Ends a pending task because its execution ended. Neither retried nor caught, so the engine does not
 * run anything else for an execution that is over.
 */
class ExecutionEndedError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(message: string) {
    super(message);
    this.name = 'States.ExecutionEnded';
  }
}

/** A malformed reference found at run time (as AWS: States.Runtime, neither retried nor caught). */
class RuntimeFailure extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(message: string) {
    super(message);
    this.name = 'States.Runtime';
  }
}

// ---------------------------------------------------------------------------------------------------------
// JSON helpers

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Serializes a value the way a Lambda response is serialized (undefined -> null). */
function toJson(value: unknown): Json {
  const text = JSON.stringify(value ?? null);
  return text === undefined ? null : (JSON.parse(text) as Json);
}

function replaceDeep(value: Json, placeholder: string, replacement: string): Json {
  if (typeof value === 'string') return value.split(placeholder).join(replacement);
  if (Array.isArray(value)) return value.map((item) => replaceDeep(item, placeholder, replacement));
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = replaceDeep(item, placeholder, replacement);
    return out;
  }
  return value;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const seconds = (ms: number): number => ms / 1000;

// ---------------------------------------------------------------------------------------------------------
// Definition: substitution and the Task states it contains

type TaskKind = 'lambda' | 'invoke' | 'callback' | 'unsupported';

interface TaskSpec {
  kind: TaskKind;
  resource: string;
}

const LAMBDA_ARN = /^arn:aws[\w-]*:lambda:[^:]+:\d{12}:function:[^:]+(:[^:]+)?$/;
const INVOKE = 'arn:aws:states:::lambda:invoke';
const INVOKE_CALLBACK = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

function taskKind(resource: string): TaskKind {
  if (LAMBDA_ARN.test(resource)) return 'lambda';
  if (resource === INVOKE) return 'invoke';
  if (resource === INVOKE_CALLBACK) return 'callback';
  return 'unsupported';
}

function substitute(text: string, substitutions: Record<string, string>): string {
  const missing = new Set<string>();
  const result = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, name: string) => {
    const value = substitutions[name];
    if (value === undefined) {
      missing.add(name);
      return whole;
    }
    return JSON.stringify(value).slice(1, -1);
  });
  if (missing.size > 0)
    throw new Error(`No substitution for ${[...missing].map((n) => `\${${n}}`).join(', ')}`);
  return result;
}

/** Visits every state map: the top level, Map iterators / item processors, and Parallel branches. */
function forEachState(states: unknown, visit: (name: string, state: Record<string, unknown>) => void): void {
  if (!isObject(states)) return;
  for (const [name, state] of Object.entries(states)) {
    if (!isObject(state)) continue;
    visit(name, state);
    if (state.Type === 'Map') {
      const processor = state.ItemProcessor ?? state.Iterator;
      if (isObject(processor)) forEachState(processor.States, visit);
    }
    if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
      for (const branch of state.Branches) if (isObject(branch)) forEachState(branch.States, visit);
    }
  }
}

/**
 * Finds the Task states and prepares callback states for the engine: their Parameters are wrapped so
 * the handler also receives the resolved timeout (`{ request, timeoutSeconds }`), and the engine's own
 * timer is disabled for them.
 */
function prepareDefinition(text: string): {
  definition: StateMachineDefinition;
  tasks: Map<string, TaskSpec>;
} {
  const parsed: unknown = JSON.parse(text);
  if (!isObject(parsed) || !isObject(parsed.States)) throw new Error('Definition has no States');
  const tasks = new Map<string, TaskSpec>();
  forEachState(parsed.States, (name, state) => {
    if (state.Type !== 'Task') return;
    const resource = typeof state.Resource === 'string' ? state.Resource : '';
    const previous = tasks.get(name);
    if (previous && previous.resource !== resource) throw new Error(`Two Task states are named '${name}'`);
    const kind = taskKind(resource);
    tasks.set(name, { kind, resource });
    if (kind !== 'callback') return;
    const wrapped: Record<string, unknown> = {};
    if (state.Parameters === undefined) wrapped['request.$'] = '$';
    else wrapped.request = state.Parameters;
    if (typeof state.TimeoutSecondsPath === 'string') wrapped['timeoutSeconds.$'] = state.TimeoutSecondsPath;
    else if (typeof state.TimeoutSeconds === 'number') wrapped.timeoutSeconds = state.TimeoutSeconds;
    state.Parameters = wrapped;
    delete state.TimeoutSecondsPath;
    state.TimeoutSeconds = ENGINE_TIMEOUT_SECONDS;
  });
  return { definition: parsed as unknown as StateMachineDefinition, tasks };
}

// ---------------------------------------------------------------------------------------------------------
// Inline Map iterations

type RunFn = StateMachine['run'];
type RunResult = ReturnType<RunFn>;
const ITERATIONS_GUARDED: unique symbol = Symbol.for('fuel.local-sfn.iterations-guarded');

function rootSignal(options: unknown): AbortSignal | undefined {
  if (!isObject(options)) return undefined;
  const signal = options._rootAbortSignal;
  return signal instanceof AbortSignal ? signal : undefined;
}

/**
 * The engine runs each Map iteration (and Parallel branch) as a nested run of one iterator machine per
 * Map entry. When an iteration fails, AWS ends the Map at once; the engine aborts the running
 * iterations but still starts the queued ones. Here a nested run is refused once a sibling iteration
 * has failed or the execution was stopped, so no state of a later item runs.
 */
function guardNestedRuns(): void {
  const proto = StateMachine.prototype as StateMachine & { [ITERATIONS_GUARDED]?: boolean };
  if (proto[ITERATIONS_GUARDED]) return;
  const original: RunFn = proto.run;
  const failedIterators = new WeakSet<object>();
  const refused = (): RunResult => {
    const result = Promise.reject(new ExecutionAbortedError());
    result.catch(() => undefined);
    async function* noEvents(): RunResult['eventLogs'] {}
    return { abort: () => undefined, result, eventLogs: noEvents() };
  };
  proto.run = function run(this: StateMachine, input, options) {
    const root = rootSignal(options);
    if (root === undefined) return original.call(this, input, options);
    if (root.aborted || failedIterators.has(this)) return refused();
    const execution = original.call(this, input, options);
    execution.result.catch(() => failedIterators.add(this));
    return execution;
  };
  proto[ITERATIONS_GUARDED] = true;
}

// ---------------------------------------------------------------------------------------------------------
// History: engine event log -> AWS HistoryEvent

type HistoryEvent = Record<string, unknown> & { id: number; type: string; timestamp: number };

interface EngineState {
  name: string;
  type: string;
  input?: unknown;
  output?: unknown;
}

function engineState(value: unknown): EngineState | undefined {
  if (!isObject(value) || typeof value.name !== 'string' || typeof value.type !== 'string') return undefined;
  return { name: value.name, type: value.type, input: value.input, output: value.output };
}

const asText = (value: unknown): string => JSON.stringify(value ?? null);
const noTruncation = { truncated: false };

/**
 * Turns the engine's event log into the events AWS records. The count depends only on the states
 * visited (and retries), like the AWS 25,000-event budget.
 */
class HistoryRecorder {
  readonly events: HistoryEvent[] = [];
  private readonly failedStates = new Set<string>();

  constructor(
    private readonly tasks: Map<string, TaskSpec>,
    private readonly stopDetails: () => { error?: string; cause?: string },
  ) {}

  private push(type: string, timestampMs: number, details: Record<string, unknown> = {}): void {
    const id = this.events.length + 1;
    this.events.push({ id, previousEventId: id - 1, timestamp: seconds(timestampMs), type, ...details });
  }

  private taskStart(name: string, at: number, input: unknown): void {
    const spec = this.tasks.get(name);
    if (!spec) return;
    if (spec.kind === 'lambda') {
      this.push('LambdaFunctionScheduled', at, {
        lambdaFunctionScheduledEventDetails: {
          resource: spec.resource,
          input: asText(input),
          inputDetails: noTruncation,
        },
      });
      this.push('LambdaFunctionStarted', at);
      return;
    }
    const resource = spec.resource.replace(/^arn:aws:states:::lambda:/, '');
    const resourceType = spec.kind === 'unsupported' ? 'unknown' : 'lambda';
    this.push('TaskScheduled', at, {
      taskScheduledEventDetails: { resourceType, resource, region: REGION, parameters: asText(input) },
    });
    this.push('TaskStarted', at, { taskStartedEventDetails: { resourceType, resource } });
    if (spec.kind === 'callback') {
      this.push('TaskSubmitted', at, { taskSubmittedEventDetails: { resourceType, resource } });
    }
  }

  private taskEnd(
    name: string,
    at: number,
    outcome: { output: unknown } | { error: string; cause: string },
  ): void {
    const spec = this.tasks.get(name);
    if (!spec) return;
    const timedOut = 'error' in outcome && outcome.error === 'States.Timeout';
    if (spec.kind === 'lambda') {
      if ('output' in outcome) {
        this.push('LambdaFunctionSucceeded', at, {
          lambdaFunctionSucceededEventDetails: {
            output: asText(outcome.output),
            outputDetails: noTruncation,
          },
        });
      } else if (timedOut) {
        this.push('LambdaFunctionTimedOut', at, { lambdaFunctionTimedOutEventDetails: { ...outcome } });
      } else {
        this.push('LambdaFunctionFailed', at, { lambdaFunctionFailedEventDetails: { ...outcome } });
      }
      return;
    }
    const resource = spec.resource.replace(/^arn:aws:states:::lambda:/, '');
    const resourceType = spec.kind === 'unsupported' ? 'unknown' : 'lambda';
    if ('output' in outcome) {
      this.push('TaskSucceeded', at, {
        taskSucceededEventDetails: {
          resourceType,
          resource,
          output: asText(outcome.output),
          outputDetails: noTruncation,
        },
      });
    } else {
      this.push(timedOut ? 'TaskTimedOut' : 'TaskFailed', at, {
        [timedOut ? 'taskTimedOutEventDetails' : 'taskFailedEventDetails']: {
          resourceType,
          resource,
          ...outcome,
        },
      });
    }
  }

  record(event: unknown): void {
    if (!isObject(event) || typeof event.type !== 'string') return;
    const at = typeof event.timestamp === 'number' ? event.timestamp : Date.now();
    const state = engineState(event.state);
    const key = state ? `${String(event.index ?? '')}/${state.name}` : '';
    const failure = {
      error: String(event.Error ?? ''),
      cause: typeof event.Cause === 'string' ? event.Cause : '',
    };
    const parent = engineState(event.parentState);
    const iteration = { name: parent?.name ?? '', index: typeof event.index === 'number' ? event.index : 0 };
    switch (event.type) {
      case 'ExecutionStarted':
        this.push('ExecutionStarted', at, {
          executionStartedEventDetails: { input: asText(event.input), inputDetails: noTruncation },
        });
        return;
      case 'ExecutionSucceeded':
        this.push('ExecutionSucceeded', at, {
          executionSucceededEventDetails: { output: asText(event.output), outputDetails: noTruncation },
        });
        return;
      case 'ExecutionFailed':
        this.push('ExecutionFailed', at, { executionFailedEventDetails: failure });
        return;
      case 'ExecutionAborted':
        this.push('ExecutionAborted', at, { executionAbortedEventDetails: this.stopDetails() });
        return;
      case 'ExecutionTimeout':
        this.push('ExecutionTimedOut', at, { executionTimedOutEventDetails: { error: 'States.Timeout' } });
        return;
      case 'MapIterationStarted':
        this.push('MapIterationStarted', at, { mapIterationStartedEventDetails: iteration });
        return;
      case 'MapIterationSucceeded':
        this.push('MapIterationSucceeded', at, { mapIterationSucceededEventDetails: iteration });
        return;
      case 'MapIterationFailed':
        this.push('MapIterationFailed', at, { mapIterationFailedEventDetails: iteration });
        return;
      case 'StateEntered':
        if (!state) return;
        this.failedStates.delete(key);
        this.push(`${state.type}StateEntered`, at, {
          stateEnteredEventDetails: {
            name: state.name,
            input: asText(state.input),
            inputDetails: noTruncation,
          },
        });
        if (state.type === 'Map' || state.type === 'Parallel') this.push(`${state.type}StateStarted`, at);
        if (state.type === 'Task') this.taskStart(state.name, at, state.input);
        return;
      case 'StateRetried':
        if (!state) return;
        this.failedStates.delete(key);
        if (state.type === 'Map' || state.type === 'Parallel') this.push(`${state.type}StateStarted`, at);
        if (state.type === 'Task') this.taskStart(state.name, at, state.input);
        return;
      case 'StateFailed':
        if (!state) return;
        this.failedStates.add(key);
        if (state.type === 'Task') this.taskEnd(state.name, at, failure);
        if (state.type === 'Map' || state.type === 'Parallel') this.push(`${state.type}StateFailed`, at);
        return;
      case 'StateExited': {
        if (!state) return;
        const failed = this.failedStates.delete(key);
        if (!failed && state.type === 'Task') this.taskEnd(state.name, at, { output: state.output });
        if (!failed && (state.type === 'Map' || state.type === 'Parallel')) {
          this.push(`${state.type}StateSucceeded`, at);
        }
        if (state.type === 'Fail') return;
        this.push(`${state.type}StateExited`, at, {
          stateExitedEventDetails: {
            name: state.name,
            output: asText(state.output),
            outputDetails: noTruncation,
          },
        });
        return;
      }
      default:
        // StateCaught and Parallel branch events have no AWS counterpart.
        return;
    }
  }
}

function withoutData(event: HistoryEvent): HistoryEvent {
  const out: HistoryEvent = { ...event };
  for (const [key, value] of Object.entries(event)) {
    if (!key.endsWith('EventDetails') || !isObject(value)) continue;
    const { input: _input, output: _output, parameters: _parameters, ...rest } = value;
    out[key] = rest;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Executions and task tokens

interface ExecutionRecord {
  arn: string;
  name: string;
  input: string;
  startMs: number;
  stopMs?: number;
  status: ExecutionStatus;
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryRecorder;
  historyDone: Promise<void>;
  abort: () => void;
}

interface PendingTask {
  executionArn: string;
  resolve: (output: Json) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

function newTaskToken(): string {
  return randomBytes(96).toString('base64url');
}

function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

function readPageToken(token: unknown): number {
  if (token === undefined || token === null) return 0;
  if (typeof token !== 'string') throw new ApiError('InvalidToken', 'Invalid pagination token');
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isObject(parsed) && typeof parsed.offset === 'number' && parsed.offset >= 0) return parsed.offset;
  } catch {
    // answered below
  }
  throw new ApiError('InvalidToken', 'Invalid pagination token');
}

function pageSize(value: unknown): number {
  if (value === undefined || value === null || value === 0) return DEFAULT_PAGE;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_HISTORY_PAGE) {
    throw new ApiError('ValidationException', `maxResults must be between 0 and ${MAX_HISTORY_PAGE}`);
  }
  return value;
}

function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new ApiError('ValidationException', `1 validation error detected: '${field}' must not be null`);
  }
  return value;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ApiError('ValidationException', `'${field}' must be a string`);
  return value;
}

const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;

/** AWS execution names: 1-80 characters, no whitespace, brackets, wildcards, specials or control characters. */
function isValidName(name: string): boolean {
  if (name.length < 1 || name.length > 80 || NAME_FORBIDDEN.test(name)) return false;
  for (const char of name) {
    const code = char.codePointAt(0) ?? 0;
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// The server

export class LocalStepFunctions {
  readonly stateMachineArn: string;
  private readonly machine: StateMachine;
  private readonly tasks: Map<string, TaskSpec>;
  private readonly functions: Record<string, LocalFunction>;
  private readonly log: (line: string) => void;
  private readonly onExecutionEnd: ((detail: ExecutionStatusDetail) => void) | undefined;
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly liveTokens = new Map<string, PendingTask>();
  private readonly usedTokens = new Set<string>();
  private server: Server | undefined;

  constructor(options: LocalStepFunctionsOptions) {
    guardNestedRuns();
    this.stateMachineArn = options.stateMachineArn ?? DEFAULT_STATE_MACHINE_ARN;
    this.functions = options.functions;
    this.log = options.log ?? (() => undefined);
    this.onExecutionEnd = options.onExecutionEnd;
    const { definition, tasks } = prepareDefinition(substitute(options.definition, options.substitutions));
    this.tasks = tasks;
    this.machine = new StateMachine(definition);
  }

  private get machineName(): string {
    return this.stateMachineArn.split(':').pop() ?? 'state-machine';
  }

  private executionArn(name: string): string {
    return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  }

  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.log(`sfn: request failed: ${errorMessage(error)}`);
        if (!res.headersSent)
          this.reply(res, 500, { __type: 'InternalFailure', message: 'Internal failure' });
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address() as AddressInfo;
        const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`http://${shownHost}:${address.port}`);
      });
    });
  }

  async close(): Promise<void> {
    for (const execution of this.executions.values()) {
      if (execution.status === 'RUNNING') this.stop(execution, 'States.Aborted', 'The local endpoint closed');
    }
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  running(): number {
    let count = 0;
    for (const execution of this.executions.values()) if (execution.status === 'RUNNING') count += 1;
    return count;
  }

  // --- HTTP --------------------------------------------------------------------------------------------

  private reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      if (req.method !== 'POST') throw new ApiError('UnknownOperationException', 'Only POST / is served');
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith('AWSStepFunctions.')
        ? target.slice('AWSStepFunctions.'.length)
        : '';
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = {};
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          throw new ApiError('SerializationException', 'Request body is not JSON');
        }
      }
      if (!isObject(body)) throw new ApiError('SerializationException', 'Request body is not a JSON object');
      this.reply(res, 200, await this.dispatch(operation, body));
    } catch (error) {
      if (error instanceof ApiError) {
        this.reply(res, error.status, { __type: error.code, message: error.message });
        return;
      }
      throw error;
    }
  }

  private async dispatch(operation: string, body: Record<string, unknown>): Promise<unknown> {
    switch (operation) {
      case 'StartExecution':
        return this.startExecution(body);
      case 'DescribeExecution':
        return this.describeExecution(body);
      case 'StopExecution':
        return this.stopExecution(body);
      case 'GetExecutionHistory':
        return this.getExecutionHistory(body);
      case 'ListExecutions':
        return this.listExecutions(body);
      case 'SendTaskSuccess':
        return this.sendTaskSuccess(body);
      case 'SendTaskFailure':
        return this.sendTaskFailure(body);
      case 'SendTaskHeartbeat':
        return this.sendTaskHeartbeat(body);
      default:
        throw new ApiError('UnknownOperationException', `Operation not served locally: '${operation}'`);
    }
  }

  // --- Operations --------------------------------------------------------------------------------------

  private findExecution(body: Record<string, unknown>): ExecutionRecord {
    const arn = requireString(body, 'executionArn');
    const execution = this.executions.get(arn);
    if (!execution) throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return execution;
  }

  private startExecution(body: Record<string, unknown>): unknown {
    const machineArn = requireString(body, 'stateMachineArn');
    if (machineArn !== this.stateMachineArn) {
      throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${machineArn}'`);
    }
    const name = optionalString(body, 'name') ?? randomUUID();
    if (!isValidName(name)) {
      throw new ApiError('InvalidName', `Invalid Name: '${name}'`);
    }
    const arn = this.executionArn(name);
    if (this.executions.has(arn))
      throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    const inputText = optionalString(body, 'input') ?? '{}';
    let input: Json;
    try {
      input = JSON.parse(inputText) as Json;
    } catch {
      throw new ApiError(
        'InvalidExecutionInput',
        'Invalid State Machine Execution Input: the input is not JSON',
      );
    }
    const execution = this.run(arn, name, inputText, input);
    return { executionArn: execution.arn, startDate: seconds(execution.startMs) };
  }

  private describeExecution(body: Record<string, unknown>): unknown {
    const execution = this.findExecution(body);
    return {
      executionArn: execution.arn,
      stateMachineArn: this.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: seconds(execution.startMs),
      stopDate: execution.stopMs === undefined ? undefined : seconds(execution.stopMs),
      input: execution.input,
      inputDetails: { included: true },
      output: execution.output,
      outputDetails: execution.output === undefined ? undefined : { included: true },
      error: execution.error,
      cause: execution.cause,
    };
  }

  private stopExecution(body: Record<string, unknown>): unknown {
    const execution = this.findExecution(body);
    if (execution.status === 'RUNNING') {
      this.stop(execution, optionalString(body, 'error'), optionalString(body, 'cause'));
    }
    return { stopDate: seconds(execution.stopMs ?? Date.now()) };
  }

  private async getExecutionHistory(body: Record<string, unknown>): Promise<unknown> {
    const execution = this.findExecution(body);
    if (isTerminal(execution.status)) await execution.historyDone;
    const size = pageSize(body.maxResults);
    const offset = readPageToken(body.nextToken);
    const includeData = body.includeExecutionData !== false;
    const all =
      body.reverseOrder === true ? [...execution.history.events].reverse() : execution.history.events;
    const page = all.slice(offset, offset + size).map((event) => (includeData ? event : withoutData(event)));
    const next = offset + size < all.length ? pageToken(offset + size) : undefined;
    return { events: page, nextToken: next };
  }

  private listExecutions(body: Record<string, unknown>): unknown {
    const machineArn = optionalString(body, 'stateMachineArn');
    if (machineArn !== undefined && machineArn !== this.stateMachineArn) {
      throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${machineArn}'`);
    }
    const statusFilter = optionalString(body, 'statusFilter');
    const size = pageSize(body.maxResults);
    const offset = readPageToken(body.nextToken);
    const matching = [...this.executions.values()]
      .reverse()
      .filter((execution) => statusFilter === undefined || execution.status === statusFilter)
      .sort((a, b) => b.startMs - a.startMs);
    const page = matching.slice(offset, offset + size).map((execution) => ({
      executionArn: execution.arn,
      stateMachineArn: this.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: seconds(execution.startMs),
      stopDate: execution.stopMs === undefined ? undefined : seconds(execution.stopMs),
    }));
    return {
      executions: page,
      nextToken: offset + size < matching.length ? pageToken(offset + size) : undefined,
    };
  }

  private liveTask(body: Record<string, unknown>): { token: string; task: PendingTask } {
    const token = requireString(body, 'taskToken');
    const task = this.liveTokens.get(token);
    if (task) return { token, task };
    if (this.usedTokens.has(token)) {
      throw new ApiError('TaskTimedOut', 'Task Timed Out: Provided task does not exist anymore');
    }
    throw new ApiError('InvalidToken', 'Invalid Token: the task token is not known');
  }

  private sendTaskSuccess(body: Record<string, unknown>): unknown {
    const { token, task } = this.liveTask(body);
    const outputText = requireString(body, 'output');
    let output: Json;
    try {
      output = JSON.parse(outputText) as Json;
    } catch {
      throw new ApiError('InvalidOutput', 'Invalid Output: the output is not JSON');
    }
    this.settle(token);
    task.resolve(output);
    return {};
  }

  private sendTaskFailure(body: Record<string, unknown>): unknown {
    const { token, task } = this.liveTask(body);
    this.settle(token);
    task.reject(stateError(optionalString(body, 'error') ?? '', optionalString(body, 'cause') ?? ''));
    return {};
  }

  private sendTaskHeartbeat(body: Record<string, unknown>): unknown {
    this.liveTask(body);
    return {};
  }

  // --- Running -----------------------------------------------------------------------------------------

  /** Retires a token: later calls with it answer TaskTimedOut. */
  private settle(token: string): void {
    const task = this.liveTokens.get(token);
    if (task?.timer) clearTimeout(task.timer);
    this.liveTokens.delete(token);
    this.usedTokens.add(token);
  }

  private endTasksOf(executionArn: string, reason: string): void {
    for (const [token, task] of this.liveTokens) {
      if (task.executionArn !== executionArn) continue;
      this.settle(token);
      task.reject(new ExecutionEndedError(reason));
    }
  }

  private stop(execution: ExecutionRecord, error: string | undefined, cause: string | undefined): void {
    execution.status = 'ABORTED';
    execution.stopMs = Date.now();
    execution.error = error;
    execution.cause = cause;
    this.endTasksOf(execution.arn, 'The execution was stopped');
    execution.abort();
    this.log(`sfn: ${execution.name} ABORTED`);
    this.announceEnd(execution);
  }

  private announceEnd(record: ExecutionRecord): void {
    if (!this.onExecutionEnd || record.status === 'RUNNING') return;
    try {
      this.onExecutionEnd({
        executionArn: record.arn,
        stateMachineArn: this.stateMachineArn,
        name: record.name,
        status: record.status,
        startDate: record.startMs,
        stopDate: record.stopMs ?? Date.now(),
        input: record.input,
        output: record.output ?? null,
        error: record.error ?? null,
        cause: record.cause ?? null,
      });
    } catch (error) {
      this.log(`sfn: ${record.name}: execution-end listener failed: ${errorMessage(error)}`);
    }
  }

  private async invokeFunction(nameOrArn: string, payload: Json): Promise<Json> {
    const fn =
      this.functions[nameOrArn] ??
      Object.entries(this.functions).find(([arn]) => arn.endsWith(`:function:${nameOrArn}`))?.[1];
    if (!fn) {
      throw stateError('Lambda.ResourceNotFoundException', `Function not found: ${nameOrArn}`);
    }
    try {
      return toJson(await fn(payload));
    } catch (error) {
      // As AWS reports a function error: the error type is the error name, the cause the function's answer.
      const type = errorName(error);
      throw stateError(type, JSON.stringify({ errorType: type, errorMessage: errorMessage(error) }));
    }
  }

  private callbackTask(executionArn: string, input: Json): Promise<Json> {
    const request = isObject(input) ? input.request : undefined;
    const timeoutSeconds = isObject(input) ? input.timeoutSeconds : undefined;
    if (!isObject(request) || typeof request.FunctionName !== 'string') {
      return Promise.reject(new RuntimeFailure('lambda:invoke needs Parameters.FunctionName'));
    }
    if (
      timeoutSeconds !== undefined &&
      (typeof timeoutSeconds !== 'number' || !Number.isInteger(timeoutSeconds) || timeoutSeconds < 1)
    ) {
      return Promise.reject(
        new RuntimeFailure(`TimeoutSecondsPath resolved to ${JSON.stringify(timeoutSeconds)}`),
      );
    }
    const token = newTaskToken();
    const payload = replaceDeep((request.Payload ?? null) as Json, TOKEN_PLACEHOLDER, token);
    let resolve: (output: Json) => void = () => undefined;
    let reject: (error: Error) => void = () => undefined;
    const promise = new Promise<Json>((onResult, onError) => {
      resolve = onResult;
      reject = onError;
    });
    const task: PendingTask = { executionArn, resolve, reject };
    if (typeof timeoutSeconds === 'number') {
      task.timer = setTimeout(() => {
        this.settle(token);
        reject(stateError('States.Timeout', `No task result within ${timeoutSeconds} s`));
      }, timeoutSeconds * 1000);
    }
    this.liveTokens.set(token, task);
    this.invokeFunction(request.FunctionName, payload).catch((error: unknown) => {
      if (!this.liveTokens.has(token)) return;
      this.settle(token);
      reject(error instanceof Error ? error : stateError('Error', String(error)));
    });
    return promise;
  }

  private handlers(executionArn: string): NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers'] {
    const handlers: Record<string, (input: Json) => Promise<Json>> = {};
    for (const [name, spec] of this.tasks) {
      switch (spec.kind) {
        case 'lambda':
          handlers[name] = (input) => this.invokeFunction(spec.resource, input);
          break;
        case 'invoke':
          handlers[name] = async (input) => {
            if (!isObject(input) || typeof input.FunctionName !== 'string') {
              throw new RuntimeFailure('lambda:invoke needs Parameters.FunctionName');
            }
            const payload = await this.invokeFunction(input.FunctionName, (input.Payload ?? null) as Json);
            return { Payload: payload, StatusCode: 200 };
          };
          break;
        case 'callback':
          handlers[name] = (input) => this.callbackTask(executionArn, input);
          break;
        default:
          handlers[name] = async () => {
            throw new RuntimeFailure(`Resource not served locally: ${spec.resource}`);
          };
      }
    }
    return handlers;
  }

  private run(arn: string, name: string, inputText: string, input: Json): ExecutionRecord {
    const startMs = Date.now();
    const context = {
      Execution: {
        Id: arn,
        Name: name,
        Input: input,
        StartTime: new Date(startMs).toISOString(),
        RoleArn: 'arn:aws:iam::000000000000:role/local-step-functions',
      },
      StateMachine: { Id: this.stateMachineArn, Name: this.machineName },
      Task: { Token: TOKEN_PLACEHOLDER },
    };
    const record: ExecutionRecord = {
      arn,
      name,
      input: inputText,
      startMs,
      status: 'RUNNING',
      history: new HistoryRecorder(this.tasks, () => ({ error: record.error, cause: record.cause })),
      historyDone: Promise.resolve(),
      abort: () => undefined,
    };
    this.executions.set(arn, record);
    const execution = this.machine.run(input, {
      overrides: { taskResourceLocalHandlers: this.handlers(arn) },
      context,
    });
    record.abort = execution.abort;
    record.historyDone = (async () => {
      for await (const event of execution.eventLogs) record.history.record(event);
    })().catch((error: unknown) => this.log(`sfn: ${name}: history stopped: ${errorMessage(error)}`));
    this.log(`sfn: ${name} started`);
    execution.result
      .then(
        (output) => this.finish(record, { status: 'SUCCEEDED', output: JSON.stringify(output) }),
        (error: unknown) => this.finish(record, this.failureOutcome(error)),
      )
      .catch((error: unknown) => this.log(`sfn: ${name}: could not settle: ${errorMessage(error)}`));
    return record;
  }

  private failureOutcome(error: unknown): Pick<ExecutionRecord, 'status' | 'error' | 'cause'> {
    if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
    if (error instanceof ExecutionTimeoutError) {
      return {
        status: 'TIMED_OUT',
        error: 'States.Timeout',
        cause: 'The execution ran longer than TimeoutSeconds',
      };
    }
    const cause = error instanceof ExecutionError ? error.cause : error;
    return { status: 'FAILED', error: errorName(cause), cause: errorMessage(cause) };
  }

  private async finish(
    record: ExecutionRecord,
    outcome: Pick<ExecutionRecord, 'status' | 'output' | 'error' | 'cause'>,
  ): Promise<void> {
    const stopMs = Date.now();
    await Promise.race([record.historyDone, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    this.endTasksOf(record.arn, 'The execution has ended');
    if (record.status !== 'RUNNING') return;
    record.status = outcome.status;
    record.stopMs = stopMs;
    record.output = outcome.output;
    record.error = outcome.error;
    record.cause = outcome.cause;
    this.log(`sfn: ${record.name} ${record.status}${record.error ? ` (${record.error})` : ''}`);
    this.announceEnd(record);
  }
}
