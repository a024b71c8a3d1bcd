/**
 * The execution history of the local Step Functions endpoint: the engine's event log turned into the
 * events AWS records (types, details and counts as AWS has them), so that the number of events depends
 * only on the states visited and retried, like the AWS 25,000-event budget.
 */
import { isRecord } from '../aws-json/fields.js';
import type { TaskSpec } from './definition.js';

export type HistoryEvent = Record<string, unknown> & { id: number; type: string; timestamp: number };

type TaskOutcome = { output: unknown } | { error: string; cause: string };

interface EngineState {
  name: string;
  type: string;
  input?: unknown;
  output?: unknown;
}

const REGION = 'us-east-1';
const asText = (value: unknown): string => JSON.stringify(value ?? null);
const noTruncation = { truncated: false };
const isBlock = (state: EngineState): boolean => state.type === 'Map' || state.type === 'Parallel';

function engineState(value: unknown): EngineState | undefined {
  if (!isRecord(value) || typeof value.name !== 'string' || typeof value.type !== 'string') return undefined;
  return { name: value.name, type: value.type, input: value.input, output: value.output };
}

function failureOf(event: Record<string, unknown>): { error: string; cause: string } {
  return { error: String(event.Error ?? ''), cause: typeof event.Cause === 'string' ? event.Cause : '' };
}

/** The `resourceType` and `resource` of a Task event, as AWS names them for service integrations. */
function taskResource(spec: TaskSpec): { resourceType: string; resource: string } {
  return {
    resourceType: spec.kind === 'unsupported' ? 'unknown' : 'lambda',
    resource: spec.resource.replace(/^arn:aws:states:::lambda:/, ''),
  };
}

/** The history without inputs, outputs and parameters (includeExecutionData: false). */
export function withoutData(event: HistoryEvent): HistoryEvent {
  const out: HistoryEvent = { ...event };
  for (const [key, value] of Object.entries(event)) {
    if (!key.endsWith('EventDetails') || !isRecord(value)) continue;
    const { input: _input, output: _output, parameters: _parameters, ...rest } = value;
    out[key] = rest;
  }
  return out;
}

/** Records the history of one execution from the engine's events, in order. */
export class HistoryRecorder {
  readonly events: HistoryEvent[] = [];
  private readonly failedStates = new Set<string>();

  constructor(
    private readonly tasks: Map<string, TaskSpec>,
    private readonly stopDetails: () => { error?: string; cause?: string },
  ) {}

  record(event: unknown): void {
    if (!isRecord(event) || typeof event.type !== 'string') return;
    const at = typeof event.timestamp === 'number' ? event.timestamp : Date.now();
    if (this.recordExecutionEvent(event.type, event, at)) return;
    const state = engineState(event.state);
    if (!state) return;
    const key = `${String(event.index ?? '')}/${state.name}`;
    switch (event.type) {
      case 'StateEntered':
        this.stateEntered(state, key, at);
        return;
      case 'StateRetried':
        this.failedStates.delete(key);
        this.stateStarted(state, at);
        return;
      case 'StateFailed':
        this.failedStates.add(key);
        if (state.type === 'Task') this.taskEnd(state.name, at, failureOf(event));
        if (isBlock(state)) this.push(`${state.type}StateFailed`, at);
        return;
      case 'StateExited':
        this.stateExited(state, key, at);
        return;
      default:
        // StateCaught and Parallel branch events have no AWS counterpart.
        return;
    }
  }

  private push(type: string, timestampMs: number, details: Record<string, unknown> = {}): void {
    const id = this.events.length + 1;
    this.events.push({ id, previousEventId: id - 1, timestamp: timestampMs / 1000, type, ...details });
  }

  /** Execution and Map iteration events; false for any other event. */
  private recordExecutionEvent(type: string, event: Record<string, unknown>, at: number): boolean {
    const parent = engineState(event.parentState);
    const iteration = { name: parent?.name ?? '', index: typeof event.index === 'number' ? event.index : 0 };
    switch (type) {
      case 'ExecutionStarted':
        this.push(type, at, {
          executionStartedEventDetails: { input: asText(event.input), inputDetails: noTruncation },
        });
        return true;
      case 'ExecutionSucceeded':
        this.push(type, at, {
          executionSucceededEventDetails: { output: asText(event.output), outputDetails: noTruncation },
        });
        return true;
      case 'ExecutionFailed':
        this.push(type, at, { executionFailedEventDetails: failureOf(event) });
        return true;
      case 'ExecutionAborted':
        this.push(type, at, { executionAbortedEventDetails: this.stopDetails() });
        return true;
      case 'ExecutionTimeout':
        this.push('ExecutionTimedOut', at, { executionTimedOutEventDetails: { error: 'States.Timeout' } });
        return true;
      case 'MapIterationStarted':
        this.push(type, at, { mapIterationStartedEventDetails: iteration });
        return true;
      case 'MapIterationSucceeded':
        this.push(type, at, { mapIterationSucceededEventDetails: iteration });
        return true;
      case 'MapIterationFailed':
        this.push(type, at, { mapIterationFailedEventDetails: iteration });
        return true;
      default:
        return false;
    }
  }

  private stateEntered(state: EngineState, key: string, at: number): void {
    this.failedStates.delete(key);
    this.push(`${state.type}StateEntered`, at, {
      stateEnteredEventDetails: { name: state.name, input: asText(state.input), inputDetails: noTruncation },
    });
    this.stateStarted(state, at);
  }

  /** A state starts its work: on entry and again on every retry. */
  private stateStarted(state: EngineState, at: number): void {
    if (isBlock(state)) this.push(`${state.type}StateStarted`, at);
    if (state.type === 'Task') this.taskStart(state.name, at, state.input);
  }

  private stateExited(state: EngineState, key: string, at: number): void {
    const failed = this.failedStates.delete(key);
    if (!failed && state.type === 'Task') this.taskEnd(state.name, at, { output: state.output });
    if (!failed && isBlock(state)) this.push(`${state.type}StateSucceeded`, at);
    if (state.type === 'Fail') return;
    this.push(`${state.type}StateExited`, at, {
      stateExitedEventDetails: {
        name: state.name,
        output: asText(state.output),
        outputDetails: noTruncation,
      },
    });
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
    const { resourceType, resource } = taskResource(spec);
    this.push('TaskScheduled', at, {
      taskScheduledEventDetails: { resourceType, resource, region: REGION, parameters: asText(input) },
    });
    this.push('TaskStarted', at, { taskStartedEventDetails: { resourceType, resource } });
    if (spec.kind === 'callback') {
      this.push('TaskSubmitted', at, { taskSubmittedEventDetails: { resourceType, resource } });
    }
  }

  private taskEnd(name: string, at: number, outcome: TaskOutcome): void {
    const spec = this.tasks.get(name);
    if (!spec) return;
    if (spec.kind === 'lambda') {
      this.lambdaEnd(at, outcome);
      return;
    }
    const { resourceType, resource } = taskResource(spec);
    if ('output' in outcome) {
      this.push('TaskSucceeded', at, {
        taskSucceededEventDetails: {
          resourceType,
          resource,
          output: asText(outcome.output),
          outputDetails: noTruncation,
        },
      });
      return;
    }
    const timedOut = outcome.error === 'States.Timeout';
    this.push(timedOut ? 'TaskTimedOut' : 'TaskFailed', at, {
      [timedOut ? 'taskTimedOutEventDetails' : 'taskFailedEventDetails']: {
        resourceType,
        resource,
        ...outcome,
      },
    });
  }

  private lambdaEnd(at: number, outcome: TaskOutcome): void {
    if ('output' in outcome) {
      this.push('LambdaFunctionSucceeded', at, {
        lambdaFunctionSucceededEventDetails: { output: asText(outcome.output), outputDetails: noTruncation },
      });
    } else if (outcome.error === 'States.Timeout') {
      this.push('LambdaFunctionTimedOut', at, { lambdaFunctionTimedOutEventDetails: { ...outcome } });
    } else {
      this.push('LambdaFunctionFailed', at, { lambdaFunctionFailedEventDetails: { ...outcome } });
    }
  }
}
