import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  InvalidToken,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import type { ExecutionState, Workflows } from '../app/ports.js';

/** Workflows on AWS Step Functions. */
export class SfnWorkflows implements Workflows {
  constructor(
    private readonly stateMachineArn: string,
    private readonly client: SFNClient = new SFNClient({}),
  ) {}

  async start(name: string, input: Record<string, unknown>): Promise<string> {
    const out = await this.client.send(
      new StartExecutionCommand({
        stateMachineArn: this.stateMachineArn,
        name,
        input: JSON.stringify(input),
      }),
    );
    if (!out.executionArn) throw new Error('StartExecution returned no execution ARN');
    return out.executionArn;
  }

  async complete(token: string, output: Record<string, unknown>): Promise<boolean> {
    try {
      await this.client.send(
        new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }),
      );
      return true;
    } catch (err) {
      if (err instanceof TaskTimedOut || err instanceof InvalidToken || err instanceof TaskDoesNotExist)
        return false;
      throw err;
    }
  }

  async execution(name: string): Promise<ExecutionState | null> {
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    try {
      const out = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      if (out.status === undefined) return null;
      return { status: out.status, error: out.error ?? null, cause: out.cause ?? null };
    } catch (err) {
      if (err instanceof ExecutionDoesNotExist) return null;
      throw err;
    }
  }

  consoleUrl(executionArn: string): string {
    const region = executionArn.split(':')[3] ?? 'us-east-1';
    return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
  }
}
