/**
 * Local Step Functions endpoint: speaks the AWS JSON 1.0 protocol of Step Functions for the calls the
 * service uses, and runs ONE state machine definition (the same ASL file the CDK deploys) with
 * aws-local-stepfunctions, invoking the Lambda handlers in-process.
 *
 * What the engine library does not do and this endpoint adds:
 * - `.waitForTaskToken`: every entry into such a state gets a fresh task token, placed where the
 *   definition reads `$$.Task.Token`; the state waits for SendTaskSuccess / SendTaskFailure, its
 *   TimeoutSeconds(Path), or the end of the execution (callbacks.ts).
 * - An AWS-shaped execution history (event types and counts as AWS records them; history.ts).
 * - An inline Map leaves at once when an iteration fails: no queued iteration starts afterwards
 *   (engine.ts).
 */
import '../polyfills.js';
import { AwsJsonServer } from '../aws-json/server.js';
import type { Chaos } from '../chaos.js';
import { TaskTokens } from './callbacks.js';
import { prepareDefinition, substitute } from './definition.js';
import { createMachine } from './engine.js';
import { errorMessage } from './errors.js';
import { type ExecutionStatusDetail, Executions } from './executions.js';
import { stepFunctionsOperations, unknownStepFunctionsOperation } from './protocol.js';
import { type LocalFunction, TaskRunner } from './tasks.js';

export type { ExecutionStatusDetail } from './executions.js';
export type { LocalFunction } from './tasks.js';

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
  /** Throttled requests, as AWS may answer them (chaos.ts). */
  chaos?: Chaos;
}

const DEFAULT_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:fuel-deployment';

export class LocalStepFunctions {
  readonly stateMachineArn: string;
  private readonly executions: Executions;
  private readonly server: AwsJsonServer;

  constructor(options: LocalStepFunctionsOptions) {
    this.stateMachineArn = options.stateMachineArn ?? DEFAULT_STATE_MACHINE_ARN;
    const log = options.log ?? (() => undefined);
    const { definition, tasks } = prepareDefinition(substitute(options.definition, options.substitutions));
    const tokens = new TaskTokens();
    const runner = new TaskRunner(tasks, options.functions, tokens);
    this.executions = new Executions({
      stateMachineArn: this.stateMachineArn,
      machine: createMachine(definition),
      tasks,
      handlers: (executionArn) => runner.handlers(executionArn),
      tokens,
      log,
      onExecutionEnd: options.onExecutionEnd,
    });
    this.server = new AwsJsonServer({
      targetPrefix: 'AWSStepFunctions',
      jsonVersion: '1.0',
      operations: stepFunctionsOperations({
        stateMachineArn: this.stateMachineArn,
        executions: this.executions,
        tokens,
      }),
      unknownOperation: unknownStepFunctionsOperation,
      internalError: { type: 'InternalFailure', message: 'Internal failure' },
      onUnexpected: (error) => log(`sfn: request failed: ${errorMessage(error)}`),
      throttle: () =>
        options.chaos?.chance(
          'throttling',
          options.chaos.rates.throttled,
          'Step Functions requests throttled',
        ) ?? false,
    });
  }

  /** Starts the endpoint; resolves with its URL, e.g. `http://127.0.0.1:41234`. */
  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    return this.server.listen(port, host);
  }

  /** Stops every running execution and closes the server. */
  async close(): Promise<void> {
    this.executions.stopAll('States.Aborted', 'The local endpoint closed');
    await this.server.close();
  }

  /** How many executions are running. */
  running(): number {
    return this.executions.running();
  }
}
