/** Ports of the application to the outside world; adapters implement them for AWS (and the local runtime). */

export interface SendCommandInput {
  instanceIds: string[];
  parameters: Record<string, string[]>;
  comment: string;
  /** Seconds SSM keeps trying to deliver the command to an unreachable node. */
  deliveryTimeoutSeconds: number;
}

export interface InvocationResult {
  commandId: string;
  instanceId: string;
  comment: string;
  status: string;
  statusDetails: string;
  responseCode: number | null;
  startedAt: string | null;
  endedAt: string | null;
  stdoutTail: string;
  stderrTail: string;
}

export interface ManagedInstance {
  instanceId: string;
  name: string;
  ip: string;
  online: boolean;
  platformName: string;
  platformType: string;
}

/** SSM Run Command with the project's task document. */
export interface NodeCommands {
  send(input: SendCommandInput): Promise<string>;
  /** The id of a command sent with this comment since `since`, if any (reconciles a crash after sending). */
  findByComment(comment: string, since: Date): Promise<string | null>;
  invocation(commandId: string, instanceId: string): Promise<InvocationResult | null>;
  cancel(commandId: string, instanceIds?: string[]): Promise<void>;
  instances(): Promise<ManagedInstance[]>;
}

/** Step Functions: start a deployment, complete a waiting state. */
export interface Workflows {
  start(name: string, input: Record<string, unknown>): Promise<string>;
  /** Completes a `.waitForTaskToken` state; false when the token is no longer valid (already used, timed out). */
  complete(token: string, output: Record<string, unknown>): Promise<boolean>;
  consoleUrl(executionArn: string): string;
  /** The status of the execution with this name, or null when there is none. */
  status(name: string): Promise<string | null>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
