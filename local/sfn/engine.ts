/**
 * The integration with aws-local-stepfunctions, the engine that runs the ASL: building the machine,
 * the outcome of a run as Step Functions reports it, and the Map fail-fast the engine lacks.
 *
 * The fail-fast leans on what the library does not document (test/integration/
 * sfn-library-canary.test.ts fails when it changes): a Map state runs every iteration through
 * `StateMachine.prototype.run` of one iterator machine per entry into the state; nested runs get the
 * run options with the private `_rootAbortSignal` added (top-level runs do not), which aborts when the
 * execution is stopped; and run() returns `{ abort, eventLogs, result }`.
 */
import '../polyfills.js';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { isRecord } from '../aws-json/fields.js';
import { errorMessage, errorName } from './errors.js';

/** The in-process handlers of the Task states, by state name. */
export type TaskHandlers = NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers'];

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

type RunFn = StateMachine['run'];
type RunResult = ReturnType<RunFn>;

/** The private run option through which the library hands nested runs the signal of their parent. */
export const ROOT_SIGNAL_OPTION = '_rootAbortSignal';
/** Marks `StateMachine.prototype` once `guardNestedRuns` has wrapped its `run`. */
export const ITERATIONS_GUARDED: unique symbol = Symbol.for('fuel.local-sfn.iterations-guarded');

/** The abort signal of the enclosing run when `options` are those of a nested run; else undefined. */
export function rootSignal(options: unknown): AbortSignal | undefined {
  if (!isRecord(options)) return undefined;
  const signal = options[ROOT_SIGNAL_OPTION];
  return signal instanceof AbortSignal ? signal : undefined;
}

/**
 * The engine runs each Map iteration (and Parallel branch) as a nested run of one iterator machine per
 * Map entry. When an iteration fails, AWS ends the Map at once; the engine aborts the running
 * iterations but still starts the queued ones. Here a nested run is refused once a sibling iteration
 * has failed or the execution was stopped, so no state of a later item runs.
 */
export function guardNestedRuns(): void {
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

/** The engine for one definition, with nested runs guarded. */
export function createMachine(definition: StateMachineDefinition): StateMachine {
  guardNestedRuns();
  return new StateMachine(definition);
}

export interface FailureOutcome {
  status: Exclude<ExecutionStatus, 'RUNNING' | 'SUCCEEDED'>;
  error?: string;
  cause?: string;
}

/** How Step Functions reports a run the engine ended with `error`. */
export function failureOutcome(error: unknown): FailureOutcome {
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
