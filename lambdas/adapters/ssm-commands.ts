import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvalidCommandId,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  type ListCommandInvocationsCommandOutput,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import type { InvocationStatus, ManagedInstance, NodeCommands, SendCommandInput } from '../app/ports.js';
import type { InvocationResult } from '../domain/command-result.js';
import { isCommandStatus } from '../domain/command-status.js';

const OUTPUT_TAIL_CHARS = 2000;
/** The tag that makes a managed instance one of the project's: `node`, or `master` for Fuel's master node. */
export const ROLE_TAG = 'fuel-sls:role';
/**
 * A SendCommand (with the SDK's retries) is given up after this long, well inside the send lease that a stop
 * waits for: a send cannot outlive the lease and reach a node after the stop was acknowledged.
 */
export const SEND_TIMEOUT_MS = 15_000;

function tail(text: string | undefined, max = OUTPUT_TAIL_CHARS): string {
  if (!text) return '';
  return text.length > max ? text.slice(text.length - max) : text;
}

function isoOrNull(value: string | undefined): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/**
 * NodeCommands on SSM Run Command, with the project's task document. With a log group (COMMAND_LOG_GROUP,
 * set by infra/stack.ts), each command's full output also goes to CloudWatch Logs, written by the nodes' SSM
 * Agent (docs/aws.md: the policy the nodes' instance profile needs); the API keeps showing its last 2,000
 * characters either way.
 */
export class SsmNodeCommands implements NodeCommands {
  constructor(
    private readonly documentName: string,
    private readonly client: SSMClient = new SSMClient({}),
    private readonly commandLogGroup: string | undefined = process.env.COMMAND_LOG_GROUP || undefined,
  ) {}

  async send(input: SendCommandInput): Promise<string> {
    const out = await this.client.send(
      new SendCommandCommand({
        DocumentName: this.documentName,
        InstanceIds: input.instanceIds,
        Parameters: input.parameters,
        Comment: input.comment,
        TimeoutSeconds: input.deliveryTimeoutSeconds,
        MaxConcurrency: '50',
        MaxErrors: '100%',
        ...(this.commandLogGroup
          ? {
              CloudWatchOutputConfig: {
                CloudWatchOutputEnabled: true,
                CloudWatchLogGroupName: this.commandLogGroup,
              },
            }
          : {}),
      }),
      { abortSignal: AbortSignal.timeout(SEND_TIMEOUT_MS) },
    );
    const id = out.Command?.CommandId;
    if (!id) throw new Error('SendCommand returned no command id');
    return id;
  }

  async findByComment(comment: string, since: Date): Promise<string | null> {
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(
        new ListCommandsCommand({
          Filters: [
            { key: 'InvokedAfter', value: since.toISOString() },
            { key: 'DocumentName', value: this.documentName },
          ],
          NextToken: nextToken,
        }),
      );
      const match = out.Commands?.find((c) => c.Comment === comment);
      if (match?.CommandId) return match.CommandId;
      nextToken = out.NextToken;
    } while (nextToken);
    return null;
  }

  async invocation(commandId: string, instanceId: string): Promise<InvocationResult | null> {
    try {
      const out = await this.client.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
      );
      return {
        commandId,
        instanceId,
        comment: out.Comment ?? '',
        status: isCommandStatus(out.Status) ? out.Status : 'Pending',
        statusDetails: out.StatusDetails ?? '',
        responseCode: typeof out.ResponseCode === 'number' && out.ResponseCode >= 0 ? out.ResponseCode : null,
        startedAt: isoOrNull(out.ExecutionStartDateTime),
        endedAt: isoOrNull(out.ExecutionEndDateTime),
        stdoutTail: tail(out.StandardOutputContent),
        stderrTail: tail(out.StandardErrorContent),
      };
    } catch (err) {
      if (err instanceof InvocationDoesNotExist) return null;
      throw err;
    }
  }

  async invocations(commandId: string): Promise<InvocationStatus[]> {
    const found: InvocationStatus[] = [];
    let nextToken: string | undefined;
    do {
      let out: ListCommandInvocationsCommandOutput;
      try {
        out = await this.client.send(
          new ListCommandInvocationsCommand({ CommandId: commandId, NextToken: nextToken, MaxResults: 50 }),
        );
      } catch (err) {
        // a command SSM no longer knows (purged after 30 days, or lost with a local endpoint) runs nowhere
        if (err instanceof InvalidCommandId) return found;
        throw err;
      }
      for (const each of out.CommandInvocations ?? []) {
        if (!each.InstanceId) continue;
        found.push({
          instanceId: each.InstanceId,
          status: isCommandStatus(each.Status) ? each.Status : 'Pending',
        });
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return found;
  }

  async cancel(commandId: string, instanceIds?: string[]): Promise<void> {
    await this.client.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: instanceIds }));
  }

  /**
   * The project's nodes: Linux managed instances tagged `fuel-sls:role` = `node` (the master is tagged
   * `master`; SendCommand is allowed only on instances tagged with one of the two, infra/stack.ts).
   */
  async instances(): Promise<ManagedInstance[]> {
    const found: ManagedInstance[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.client.send(
        new DescribeInstanceInformationCommand({
          Filters: [
            { Key: `tag:${ROLE_TAG}`, Values: ['node'] },
            { Key: 'PlatformTypes', Values: ['Linux'] },
          ],
          NextToken: nextToken,
          MaxResults: 50,
        }),
      );
      for (const info of out.InstanceInformationList ?? []) {
        if (!info.InstanceId) continue;
        found.push({
          instanceId: info.InstanceId,
          name: info.ComputerName ?? info.Name ?? info.InstanceId,
          ip: info.IPAddress ?? '',
          online: info.PingStatus === 'Online',
          platformName: info.PlatformName ?? '',
          platformType: info.PlatformType ?? '',
        });
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return found;
  }
}
