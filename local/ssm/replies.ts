/**
 * The reply shapes of the local SSM endpoint: a command as SendCommand and ListCommands show it, an
 * invocation as ListCommandInvocations and GetCommandInvocation show it (with its plugins and output),
 * and a node as DescribeInstanceInformation shows it.
 */
import { type Body, epochSeconds } from '../aws-json/fields.js';
import type { SsmDocument } from './documents.js';
import {
  type FleetCommand,
  type Invocation,
  type InvocationStatus,
  isTerminal,
  type StatusDetails,
} from './lifecycle.js';
import {
  CURRENT_AGENT_VERSION,
  compareAgentVersions,
  type FleetNode,
  isReachable,
  pingStatus,
} from './nodes.js';
import { STDERR_LIMIT, STDOUT_LIMIT, tail } from './processes.js';

const PLUGIN_OUTPUT_LIMIT = 2500;

/** What the API shows for an invocation; a result held by an offline node still looks in progress. */
interface InvocationView {
  status: InvocationStatus;
  statusDetails: StatusDetails;
  responseCode: number;
  endedAt: Date | null;
}

export function view(invocation: Invocation): InvocationView {
  if (invocation.held) {
    return { status: 'InProgress', statusDetails: 'InProgress', responseCode: -1, endedAt: null };
  }
  return {
    status: invocation.status,
    statusDetails: invocation.statusDetails,
    responseCode: invocation.responseCode ?? -1,
    endedAt: invocation.endedAt,
  };
}

/** The status of a command, from the statuses of its invocations. */
export function commandStatus(command: FleetCommand): InvocationStatus {
  const statuses = command.invocations.map((invocation) => view(invocation).status);
  if (statuses.some((status) => status === 'Cancelling')) return 'Cancelling';
  if (statuses.every((status) => status === 'Pending')) return 'Pending';
  if (statuses.some((status) => !isTerminal(status))) return 'InProgress';
  if (statuses.some((status) => status === 'Failed')) return 'Failed';
  if (statuses.some((status) => status === 'TimedOut')) return 'TimedOut';
  if (statuses.some((status) => status === 'Cancelled')) return 'Cancelled';
  return 'Success';
}

export function commandShape(command: FleetCommand): Body {
  const views = command.invocations.map((invocation) => view(invocation));
  const status = commandStatus(command);
  const deliveryTimedOut = views.filter((item) => item.statusDetails === 'DeliveryTimedOut').length;
  return {
    CommandId: command.commandId,
    DocumentName: command.documentName,
    DocumentVersion: '1',
    Comment: command.comment,
    ExpiresAfter: epochSeconds(
      new Date(command.requestedAt.getTime() + command.deliveryTimeoutSeconds * 1000),
    ),
    Parameters: command.parameters,
    InstanceIds: command.instanceIds,
    Targets: [],
    RequestedDateTime: epochSeconds(command.requestedAt),
    Status: status,
    StatusDetails: status,
    MaxConcurrency: '50',
    MaxErrors: '0',
    TargetCount: command.invocations.length,
    CompletedCount: views.filter((item) => isTerminal(item.status)).length,
    ErrorCount: views.filter(
      (item) =>
        item.status === 'Failed' || (item.status === 'TimedOut' && item.statusDetails !== 'DeliveryTimedOut'),
    ).length,
    DeliveryTimedOutCount: deliveryTimedOut,
    TimeoutSeconds: command.deliveryTimeoutSeconds,
  };
}

/** An invocation as ListCommandInvocations lists it; with `details`, the plugins (steps) of `document` too. */
export function invocationShape(
  invocation: Invocation,
  details: boolean,
  document: SsmDocument | undefined,
): Body {
  const shown = view(invocation);
  const shape: Body = {
    CommandId: invocation.command.commandId,
    InstanceId: invocation.node.instanceId,
    InstanceName: invocation.node.name,
    Comment: invocation.command.comment,
    DocumentName: invocation.command.documentName,
    DocumentVersion: '1',
    RequestedDateTime: epochSeconds(invocation.command.requestedAt),
    Status: shown.status,
    StatusDetails: shown.statusDetails,
    StandardOutputUrl: '',
    StandardErrorUrl: '',
  };
  if (details) shape.CommandPlugins = pluginShapes(invocation, document?.mainSteps ?? [], shown);
  return shape;
}

function pluginShapes(
  invocation: Invocation,
  steps: SsmDocument['mainSteps'],
  shown: InvocationView,
): Body[] {
  return steps.map((step) => {
    const result = invocation.held ? undefined : invocation.steps.find((item) => item.name === step.name);
    const running = invocation.held ? invocation.startedAt !== null : invocation.status === 'InProgress';
    const status = result?.status ?? (running ? 'InProgress' : shown.status);
    return {
      Name: step.name,
      Status: status,
      StatusDetails: status === 'TimedOut' ? shown.statusDetails : status,
      ResponseCode: result?.responseCode ?? -1,
      ResponseStartDateTime: result === undefined ? undefined : epochSeconds(result.startedAt),
      ResponseFinishDateTime:
        result?.endedAt === null || result === undefined ? undefined : epochSeconds(result.endedAt),
      Output: pluginOutput(invocation.stdout, invocation.stderr),
      StandardOutputUrl: '',
      StandardErrorUrl: '',
    };
  });
}

/** The plugin's Output: the tail of stdout, then the tail of stderr after the agent's error marker. */
function pluginOutput(stdout: string, stderr: string): string {
  if (stderr === '') return tail(stdout, PLUGIN_OUTPUT_LIMIT);
  const errorPart = `\n----------ERROR-------\n${tail(stderr, PLUGIN_OUTPUT_LIMIT / 2)}`;
  return tail(stdout, PLUGIN_OUTPUT_LIMIT - errorPart.length) + errorPart;
}

/** An invocation as GetCommandInvocation answers it. */
export function invocationDetail(invocation: Invocation, document: SsmDocument | undefined): Body {
  const shown = view(invocation);
  const startedAt = invocation.startedAt;
  const endedAt = shown.endedAt;
  const elapsedMs = startedAt === null ? null : (endedAt ?? new Date()).getTime() - startedAt.getTime();
  return {
    CommandId: invocation.command.commandId,
    InstanceId: invocation.node.instanceId,
    Comment: invocation.command.comment,
    DocumentName: invocation.command.documentName,
    DocumentVersion: '1',
    PluginName: document?.mainSteps[0]?.name,
    ResponseCode: shown.responseCode,
    ExecutionStartDateTime: startedAt === null ? '' : startedAt.toISOString(),
    ExecutionElapsedTime: elapsedMs === null ? '' : `PT${(elapsedMs / 1000).toFixed(3)}S`,
    ExecutionEndDateTime: endedAt === null || startedAt === null ? '' : endedAt.toISOString(),
    Status: shown.status,
    StatusDetails: shown.statusDetails,
    StandardOutputContent: tail(invocation.stdout, STDOUT_LIMIT),
    StandardOutputUrl: '',
    StandardErrorContent: tail(invocation.stderr, STDERR_LIMIT),
    StandardErrorUrl: '',
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
}

/** A node as DescribeInstanceInformation lists it. */
export function instanceShape(node: FleetNode, registeredAt: Date, now: Date): Body {
  return {
    InstanceId: node.instanceId,
    PingStatus: pingStatus(node),
    LastPingDateTime: epochSeconds(isReachable(node) ? now : node.lastPingAt),
    AgentVersion: node.agentVersion,
    IsLatestVersion: compareAgentVersions(node.agentVersion, CURRENT_AGENT_VERSION) >= 0,
    PlatformType: 'Linux',
    PlatformName: 'Ubuntu',
    PlatformVersion: '22.04',
    RegistrationDate: epochSeconds(registeredAt),
    ResourceType: 'ManagedInstance',
    Name: node.name,
    IPAddress: node.ip,
    ComputerName: node.name,
    SourceId: node.instanceId,
    SourceType: 'AWS::SSM::ManagedInstance',
  };
}
