/**
 * The operations of the local SSM Run Command endpoint (AWS JSON 1.1, `AmazonSSM.<Operation>`):
 * SendCommand, ListCommands, ListCommandInvocations, GetCommandInvocation, CancelCommand,
 * DescribeInstanceInformation and ListTagsForResource, with the request checks SSM makes and its error
 * types.
 *
 * The master is not a node to discover: DescribeInstanceInformation lists it only to a request that asks
 * for it, by instance id or by a tag filter (`tag:fuel-sls:role` = `master`). Every instance has the
 * tags `Name` and `fuel-sls:role` (`node` or `master`).
 */
import { AwsJsonError, validationError } from '../aws-json/errors.js';
import {
  type Body,
  isRecord,
  optionalBoolean,
  optionalInteger,
  optionalString,
  optionalStringList,
  requiredString,
  stringList,
} from '../aws-json/fields.js';
import { maxResults, pageAfter } from '../aws-json/paging.js';
import type { Operation } from '../aws-json/server.js';
import { type ResolvedParameters, resolveParameters, type SsmDocument } from './documents.js';
import { type FleetCommand, type Invocation, type InvocationStatus, isTerminal } from './lifecycle.js';
import { type FleetNode, pingStatus } from './nodes.js';
import {
  commandShape,
  commandStatus,
  instanceShape,
  invocationDetail,
  invocationShape,
  view,
} from './replies.js';

const MAX_INSTANCES_PER_COMMAND = 50;
const DEFAULT_DELIVERY_TIMEOUT_SECONDS = 3600;
const MAX_DELIVERY_TIMEOUT_SECONDS = 2_592_000;
const MAX_COMMENT_LENGTH = 100;

/** A checked SendCommand request. */
export interface CommandRequest {
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  resolved: ResolvedParameters;
  nodes: FleetNode[];
  deliveryTimeoutSeconds: number;
}

/** What the operations read and change in the fleet. */
export interface FleetState {
  readonly nodes: readonly FleetNode[];
  readonly documents: Readonly<Record<string, SsmDocument>>;
  readonly registeredAt: Date;
  isClosing(): boolean;
  /** Every command, in the order sent. */
  allCommands(): readonly FleetCommand[];
  command(commandId: string): FleetCommand | undefined;
  send(request: CommandRequest): FleetCommand;
  cancel(invocation: Invocation): void;
  /** Does GetCommandInvocation still show this ended invocation as it was before (eventual consistency)? */
  showsStale?(invocation: Invocation): boolean;
}

export function ssmOperations(fleet: FleetState): Record<string, Operation> {
  return {
    SendCommand: (body) => sendCommand(fleet, body),
    ListCommands: (body) => listCommands(fleet, body),
    ListCommandInvocations: (body) => listCommandInvocations(fleet, body),
    GetCommandInvocation: (body) => getCommandInvocation(fleet, body),
    CancelCommand: (body) => cancelCommand(fleet, body),
    DescribeInstanceInformation: (body) => describeInstanceInformation(fleet, body),
    ListTagsForResource: (body) => listTagsForResource(fleet, body),
  };
}

export function unknownSsmOperation(operation: string): AwsJsonError {
  return new AwsJsonError(
    'InvalidAction',
    `The action ${operation || '(none)'} is not valid for this endpoint.`,
  );
}

const tooLong = (member: string, max: number): AwsJsonError =>
  validationError(
    `1 validation error detected: Value at '${member}' failed to satisfy constraint: ` +
      `Member must have length less than or equal to ${max}`,
  );

function instanceIdList(body: Body): string[] | undefined {
  const ids = optionalStringList(body, 'InstanceIds');
  if (ids !== undefined && ids.length > MAX_INSTANCES_PER_COMMAND) {
    throw tooLong('instanceIds', MAX_INSTANCES_PER_COMMAND);
  }
  return ids;
}

function parametersOf(body: Body): Record<string, string[]> {
  const value = body.Parameters;
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw validationError('Parameters must be a map');
  const result: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(value)) {
    result[name] = stringList(values, `Parameters.${name}`) ?? [];
  }
  return result;
}

function commandTargets(fleet: FleetState, body: Body): FleetNode[] {
  const requestedIds = instanceIdList(body);
  if (requestedIds === undefined || requestedIds.length === 0) {
    throw validationError('InstanceIds must name at least one managed node (Targets are not supported)');
  }
  return [...new Set(requestedIds)].map((id) => {
    const node = fleet.nodes.find((item) => item.instanceId === id);
    if (node === undefined)
      throw new AwsJsonError('InvalidInstanceId', `Instance ${id} is not a managed node`);
    return node;
  });
}

function sendCommand(fleet: FleetState, body: Body): unknown {
  if (fleet.isClosing()) throw new AwsJsonError('InternalServerError', 'The fleet is shutting down');
  const documentName = requiredString(body, 'DocumentName');
  const document = fleet.documents[documentName];
  if (document === undefined)
    throw new AwsJsonError('InvalidDocument', `Document ${documentName} does not exist`);
  const nodes = commandTargets(fleet, body);
  const comment = optionalString(body, 'Comment') ?? '';
  if (comment.length > MAX_COMMENT_LENGTH) throw tooLong('comment', MAX_COMMENT_LENGTH);
  const deliveryTimeoutSeconds = optionalInteger(body, 'TimeoutSeconds') ?? DEFAULT_DELIVERY_TIMEOUT_SECONDS;
  if (deliveryTimeoutSeconds < 1 || deliveryTimeoutSeconds > MAX_DELIVERY_TIMEOUT_SECONDS) {
    throw validationError(
      `TimeoutSeconds must be between 1 and ${MAX_DELIVERY_TIMEOUT_SECONDS}, got ${deliveryTimeoutSeconds}`,
    );
  }
  const parameters = parametersOf(body);
  const resolved = resolveParameters(documentName, document, parameters);
  const command = fleet.send({ documentName, comment, parameters, resolved, nodes, deliveryTimeoutSeconds });
  return { Command: commandShape(command) };
}

interface CommandFilter {
  key: string;
  value: string;
}

const FILTER_KEYS = ['InvokedAfter', 'InvokedBefore', 'Status', 'DocumentName', 'ExecutionStage'];

function commandFilter(filter: unknown): CommandFilter {
  if (!isRecord(filter) || typeof filter.key !== 'string' || typeof filter.value !== 'string') {
    throw validationError('Each filter needs a string key and value');
  }
  const { key, value } = filter;
  if (!FILTER_KEYS.includes(key)) throw new AwsJsonError('InvalidFilterKey', `Unknown filter key ${key}`);
  if ((key === 'InvokedAfter' || key === 'InvokedBefore') && Number.isNaN(Date.parse(value))) {
    throw new AwsJsonError('InvalidFilterValue', `${key} needs an ISO 8601 timestamp: ${value}`);
  }
  if (key === 'ExecutionStage' && value !== 'Executing' && value !== 'Complete') {
    throw new AwsJsonError('InvalidFilterValue', `ExecutionStage is Executing or Complete: ${value}`);
  }
  return { key, value };
}

function commandFilters(body: Body): CommandFilter[] {
  const value = body.Filters;
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw validationError('Filters must be a list');
  return value.map(commandFilter);
}

function matchesFilters(
  filters: CommandFilter[],
  item: { requestedAt: Date; documentName: string; status: InvocationStatus },
): boolean {
  return filters.every((filter) => {
    switch (filter.key) {
      case 'InvokedAfter':
        return item.requestedAt.getTime() >= Date.parse(filter.value);
      case 'InvokedBefore':
        return item.requestedAt.getTime() <= Date.parse(filter.value);
      case 'DocumentName':
        return item.documentName === filter.value;
      case 'Status':
        return item.status === filter.value;
      case 'ExecutionStage':
        return (filter.value === 'Complete') === isTerminal(item.status);
      default:
        return false;
    }
  });
}

function listCommands(fleet: FleetState, body: Body): unknown {
  const commandId = optionalString(body, 'CommandId');
  const instanceId = optionalString(body, 'InstanceId');
  const filters = commandFilters(body);
  const limit = maxResults(body, 'MaxResults', { min: 1, max: 50 });
  if (commandId !== undefined && fleet.command(commandId) === undefined) {
    throw new AwsJsonError('InvalidCommandId', `Command ${commandId} does not exist`);
  }
  const selected = [...fleet.allCommands()]
    .reverse()
    .filter((command) => commandId === undefined || command.commandId === commandId)
    .filter((command) => instanceId === undefined || command.instanceIds.includes(instanceId))
    .filter((command) =>
      matchesFilters(filters, {
        requestedAt: command.requestedAt,
        documentName: command.documentName,
        status: commandStatus(command),
      }),
    );
  const page = pageAfter(selected, (command) => command.commandId, limit, optionalString(body, 'NextToken'));
  return { Commands: page.items.map(commandShape), NextToken: page.nextToken };
}

function listCommandInvocations(fleet: FleetState, body: Body): unknown {
  const commandId = optionalString(body, 'CommandId');
  const instanceId = optionalString(body, 'InstanceId');
  const details = optionalBoolean(body, 'Details') ?? false;
  const filters = commandFilters(body);
  const limit = maxResults(body, 'MaxResults', { min: 1, max: 50 });
  const selected = [...fleet.allCommands()]
    .reverse()
    .filter((command) => commandId === undefined || command.commandId === commandId)
    .flatMap((command) => command.invocations)
    .filter((invocation) => instanceId === undefined || invocation.node.instanceId === instanceId)
    .filter((invocation) =>
      matchesFilters(filters, {
        requestedAt: invocation.command.requestedAt,
        documentName: invocation.command.documentName,
        status: view(invocation).status,
      }),
    );
  const page = pageAfter(selected, (inv) => String(inv.seq), limit, optionalString(body, 'NextToken'));
  return {
    CommandInvocations: page.items.map((inv) =>
      invocationShape(inv, details, fleet.documents[inv.command.documentName]),
    ),
    NextToken: page.nextToken,
  };
}

function getCommandInvocation(fleet: FleetState, body: Body): unknown {
  const commandId = requiredString(body, 'CommandId');
  const instanceId = requiredString(body, 'InstanceId');
  const invocation = fleet
    .command(commandId)
    ?.invocations.find((item) => item.node.instanceId === instanceId);
  if (invocation === undefined) {
    throw new AwsJsonError(
      'InvocationDoesNotExist',
      `No invocation of command ${commandId} on ${instanceId}`,
    );
  }
  const detail = invocationDetail(invocation, fleet.documents[invocation.command.documentName]);
  if (!fleet.showsStale?.(invocation)) return detail;
  return {
    ...detail,
    Status: 'InProgress',
    StatusDetails: 'InProgress',
    ResponseCode: -1,
    ExecutionEndDateTime: '',
  };
}

function cancelCommand(fleet: FleetState, body: Body): unknown {
  const commandId = requiredString(body, 'CommandId');
  const command = fleet.command(commandId);
  if (command === undefined)
    throw new AwsJsonError('InvalidCommandId', `Command ${commandId} does not exist`);
  const instanceIds = instanceIdList(body);
  for (const id of instanceIds ?? []) {
    if (!command.instanceIds.includes(id)) {
      throw new AwsJsonError('InvalidInstanceId', `Command ${commandId} was not sent to ${id}`);
    }
  }
  const all = instanceIds === undefined || instanceIds.length === 0;
  for (const invocation of command.invocations) {
    if (all || instanceIds.includes(invocation.node.instanceId)) fleet.cancel(invocation);
  }
  return {};
}

interface InstanceSelection {
  ids?: string[];
  pings?: string[];
  /** `PlatformTypes`: Windows, Linux or MacOS (every simulated node is Linux). */
  platforms?: string[];
  /** `tag:<key>` filters: the key and the values it may have. */
  tags: { key: string; values: string[] }[];
  /** `tag-key` filters: keys the instance must have one of. */
  tagKeys: string[][];
}

const PLATFORM_TYPES = ['Windows', 'Linux', 'MacOS'];
/** The platform of every simulated node (`PlatformType` in replies.ts `instanceShape`). */
const NODE_PLATFORM_TYPE = 'Linux';

function platformTypes(values: string[]): string[] {
  const unknown = values.find((value) => !PLATFORM_TYPES.includes(value));
  if (unknown !== undefined) {
    throw new AwsJsonError(
      'InvalidInstanceInformationFilterValue',
      `PlatformTypes value ${unknown} is not one of ${PLATFORM_TYPES.join(', ')}`,
    );
  }
  return values;
}

/**
 * What either filter form asks for: InstanceIds, PingStatus and PlatformTypes (key/valueSet or Key/Values),
 * and tags (`tag:<key>`, `tag-key`: Key/Values only, as SSM accepts them).
 */
function instanceFilters(body: Body): InstanceSelection {
  const selection: InstanceSelection = { tags: [], tagKeys: [] };
  const apply = (key: unknown, values: unknown, tagsAllowed: boolean): void => {
    const list = stringList(values, 'filter values') ?? [];
    if (key === 'InstanceIds') selection.ids = list;
    else if (key === 'PingStatus') selection.pings = list;
    else if (key === 'PlatformTypes') selection.platforms = platformTypes(list);
    else if (tagsAllowed && key === 'tag-key') selection.tagKeys.push(list);
    else if (tagsAllowed && typeof key === 'string' && key.startsWith('tag:') && key.length > 4) {
      selection.tags.push({ key: key.slice(4), values: list });
    } else
      throw new AwsJsonError(
        'InvalidInstanceInformationFilterValue',
        `Unsupported filter key ${String(key)}`,
      );
  };
  for (const [list, tagsAllowed] of [
    [body.InstanceInformationFilterList, false],
    [body.Filters, true],
  ] as const) {
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw validationError('Filters must be a list');
    for (const filter of list) {
      if (!isRecord(filter)) throw validationError('Each filter must be an object');
      if ('key' in filter) apply(filter.key, filter.valueSet, false);
      else apply(filter.Key, filter.Values, tagsAllowed);
    }
  }
  return selection;
}

function hasTags(node: FleetNode, selection: InstanceSelection): boolean {
  const tagValue = (key: string): string | undefined => node.tags.find((tag) => tag.Key === key)?.Value;
  return (
    selection.tags.every(({ key, values }) => {
      const value = tagValue(key);
      return value !== undefined && values.includes(value);
    }) && selection.tagKeys.every((keys) => keys.some((key) => tagValue(key) !== undefined))
  );
}

/** The master is listed to a request that asks for it by instance id or by tag, never to a plain one. */
function asksForMaster(selection: InstanceSelection): boolean {
  return selection.ids !== undefined || selection.tags.length > 0 || selection.tagKeys.length > 0;
}

function describeInstanceInformation(fleet: FleetState, body: Body): unknown {
  const limit = maxResults(body, 'MaxResults', { min: 5, max: 50 });
  const selection = instanceFilters(body);
  const { ids, pings, platforms } = selection;
  const selected = fleet.nodes
    .filter((node) => node.role !== 'master' || asksForMaster(selection))
    .filter((node) => ids === undefined || ids.includes(node.instanceId))
    .filter((node) => pings === undefined || pings.includes(pingStatus(node)))
    .filter(() => platforms === undefined || platforms.includes(NODE_PLATFORM_TYPE))
    .filter((node) => hasTags(node, selection));
  const page = pageAfter(selected, (node) => node.instanceId, limit, optionalString(body, 'NextToken'));
  const now = new Date();
  return {
    InstanceInformationList: page.items.map((node) => instanceShape(node, fleet.registeredAt, now)),
    NextToken: page.nextToken,
  };
}

function listTagsForResource(fleet: FleetState, body: Body): unknown {
  const resourceType = requiredString(body, 'ResourceType');
  const resourceId = requiredString(body, 'ResourceId');
  if (resourceType !== 'ManagedInstance') {
    throw new AwsJsonError('InvalidResourceType', `Resource type ${resourceType} has no tags here`);
  }
  const node = fleet.nodes.find((item) => item.instanceId === resourceId);
  if (node === undefined) {
    throw new AwsJsonError('InvalidResourceId', `Managed instance ${resourceId} does not exist`);
  }
  return { TagList: node.tags.map((tag) => ({ Key: tag.Key, Value: tag.Value })) };
}
