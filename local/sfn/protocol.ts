/**
 * The operations of the local Step Functions endpoint (AWS JSON 1.0, `AWSStepFunctions.<Operation>`):
 * StartExecution, DescribeExecution, StopExecution, GetExecutionHistory, ListExecutions and the
 * callbacks SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat, with the request checks and error
 * types of Step Functions.
 */
import { randomUUID } from 'node:crypto';
import { AwsJsonError } from '../aws-json/errors.js';
import { type Body, epochSeconds, optionalString, requiredString } from '../aws-json/fields.js';
import { maxResults, pageAfter } from '../aws-json/paging.js';
import type { Operation } from '../aws-json/server.js';
import type { TaskTokens } from './callbacks.js';
import { stateError } from './errors.js';
import { type ExecutionRecord, type Executions, isTerminal } from './executions.js';
import { withoutData } from './history.js';
import type { Json } from './json.js';

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;

/** What the operations read and change. */
export interface StepFunctionsState {
  stateMachineArn: string;
  executions: Executions;
  tokens: TaskTokens;
}

export function stepFunctionsOperations(state: StepFunctionsState): Record<string, Operation> {
  return {
    StartExecution: (body) => startExecution(state, body),
    DescribeExecution: (body) => describeExecution(state, body),
    StopExecution: (body) => stopExecution(state, body),
    GetExecutionHistory: (body) => getExecutionHistory(state, body),
    ListExecutions: (body) => listExecutions(state, body),
    SendTaskSuccess: (body) => sendTaskSuccess(state, body),
    SendTaskFailure: (body) => sendTaskFailure(state, body),
    SendTaskHeartbeat: (body) => sendTaskHeartbeat(state, body),
  };
}

export function unknownStepFunctionsOperation(operation: string): AwsJsonError {
  return new AwsJsonError('UnknownOperationException', `Operation not served locally: '${operation}'`);
}

/** AWS execution names: 1-80 characters, no whitespace, brackets, wildcards, specials or control characters. */
function isValidName(name: string): boolean {
  if (name.length < 1 || name.length > 80 || NAME_FORBIDDEN.test(name)) return false;
  for (const char of name) {
    const code = char.codePointAt(0) ?? 0;
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return false;
  }
  return true;
}

/** Parses a JSON member; `error` is the error answered when it is not JSON. */
function parseJson(text: string, error: AwsJsonError): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw error;
  }
}

function checkMachine(state: StepFunctionsState, machineArn: string | undefined): void {
  if (machineArn !== undefined && machineArn !== state.stateMachineArn) {
    throw new AwsJsonError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${machineArn}'`);
  }
}

function findExecution(state: StepFunctionsState, body: Body): ExecutionRecord {
  const arn = requiredString(body, 'executionArn');
  const execution = state.executions.get(arn);
  if (!execution) throw new AwsJsonError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
  return execution;
}

function startExecution(state: StepFunctionsState, body: Body): unknown {
  checkMachine(state, requiredString(body, 'stateMachineArn'));
  const name = optionalString(body, 'name') ?? randomUUID();
  if (!isValidName(name)) throw new AwsJsonError('InvalidName', `Invalid Name: '${name}'`);
  const arn = `${state.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  if (state.executions.get(arn)) {
    throw new AwsJsonError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
  }
  const inputText = optionalString(body, 'input') ?? '{}';
  const input = parseJson(
    inputText,
    new AwsJsonError('InvalidExecutionInput', 'Invalid State Machine Execution Input: the input is not JSON'),
  );
  const execution = state.executions.start(arn, name, inputText, input);
  return { executionArn: execution.arn, startDate: epochSeconds(execution.startMs) };
}

/** An execution as ListExecutions lists it. */
function executionSummary(state: StepFunctionsState, execution: ExecutionRecord): Body {
  return {
    executionArn: execution.arn,
    stateMachineArn: state.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: epochSeconds(execution.startMs),
    stopDate: execution.stopMs === undefined ? undefined : epochSeconds(execution.stopMs),
  };
}

function describeExecution(state: StepFunctionsState, body: Body): unknown {
  const execution = findExecution(state, body);
  return {
    ...executionSummary(state, execution),
    input: execution.input,
    inputDetails: { included: true },
    output: execution.output,
    outputDetails: execution.output === undefined ? undefined : { included: true },
    error: execution.error,
    cause: execution.cause,
  };
}

function stopExecution(state: StepFunctionsState, body: Body): unknown {
  const execution = findExecution(state, body);
  if (execution.status === 'RUNNING') {
    state.executions.stop(execution, optionalString(body, 'error'), optionalString(body, 'cause'));
  }
  return { stopDate: epochSeconds(execution.stopMs ?? Date.now()) };
}

/** maxResults: 0 or none means the default page. */
const pageSize = (body: Body): number =>
  maxResults(body, 'maxResults', { min: 0, max: MAX_PAGE, fallback: DEFAULT_PAGE }) || DEFAULT_PAGE;

async function getExecutionHistory(state: StepFunctionsState, body: Body): Promise<unknown> {
  const execution = findExecution(state, body);
  if (isTerminal(execution.status)) await execution.historyDone;
  const size = pageSize(body);
  const nextToken = optionalString(body, 'nextToken');
  const includeData = body.includeExecutionData !== false;
  const events = execution.history.events;
  const ordered = body.reverseOrder === true ? [...events].reverse() : events;
  const page = pageAfter(ordered, (event) => String(event.id), size, nextToken, 'InvalidToken');
  return {
    events: page.items.map((event) => (includeData ? event : withoutData(event))),
    nextToken: page.nextToken,
  };
}

function listExecutions(state: StepFunctionsState, body: Body): unknown {
  checkMachine(state, optionalString(body, 'stateMachineArn'));
  const statusFilter = optionalString(body, 'statusFilter');
  const size = pageSize(body);
  const matching = state.executions
    .all()
    .reverse()
    .filter((execution) => statusFilter === undefined || execution.status === statusFilter)
    .sort((a, b) => b.startMs - a.startMs);
  const page = pageAfter(
    matching,
    (execution) => execution.arn,
    size,
    optionalString(body, 'nextToken'),
    'InvalidToken',
  );
  return {
    executions: page.items.map((execution) => executionSummary(state, execution)),
    nextToken: page.nextToken,
  };
}

/** The token of a callback request, checked to be still waiting. */
function liveToken(state: StepFunctionsState, body: Body): string {
  const token = requiredString(body, 'taskToken');
  state.tokens.check(token);
  return token;
}

function sendTaskSuccess(state: StepFunctionsState, body: Body): unknown {
  const token = liveToken(state, body);
  const output = parseJson(
    requiredString(body, 'output'),
    new AwsJsonError('InvalidOutput', 'Invalid Output: the output is not JSON'),
  );
  state.tokens.succeed(token, output);
  return {};
}

function sendTaskFailure(state: StepFunctionsState, body: Body): unknown {
  const token = liveToken(state, body);
  state.tokens.fail(
    token,
    stateError(optionalString(body, 'error') ?? '', optionalString(body, 'cause') ?? ''),
  );
  return {};
}

function sendTaskHeartbeat(state: StepFunctionsState, body: Body): unknown {
  liveToken(state, body);
  return {};
}
