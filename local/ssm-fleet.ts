/**
 * A local SSM Run Command endpoint backed by a simulated fleet of managed nodes.
 *
 * Speaks the AWS JSON 1.1 protocol (`POST /`, `X-Amz-Target: AmazonSSM.<Operation>`) for the calls the
 * deployment service uses, so an unchanged `SSMClient` pointed at `listen()`'s URL drives it. Every node has
 * its own working folder and runs its commands as real bash processes; nodes can be taken offline to
 * reproduce undelivered commands and lost connections.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants as osConstants } from 'node:os';
import { isAbsolute, join } from 'node:path';

export interface SsmDocument {
  schemaVersion: string;
  parameters?: Record<
    string,
    {
      type: string;
      default?: string;
      allowedPattern?: string;
      interpolationType?: string;
      description?: string;
    }
  >;
  mainSteps: {
    action: string;
    name: string;
    inputs: { runCommand: string[]; timeoutSeconds?: string; workingDirectory?: string };
  }[];
}

export interface CommandStatusEvent {
  commandId: string;
  instanceId: string;
  documentName: string;
  /** SSM invocation status: Pending | InProgress | Success | Failed | TimedOut | Cancelling | Cancelled */
  status: string;
  requestedAt: Date;
}

export interface FleetCommandRecord {
  commandId: string;
  instanceId: string;
  nodeName: string;
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  receivedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  status: string;
  responseCode: number | null;
}

export interface LocalFleetOptions {
  /** Node folders are created under it: `<baseDir>/<nodeName>`. */
  baseDir: string;
  /** Nodes `node-1`..`node-N`, instance ids `mi-` + 17 hex digits of the index. */
  nodeCount: number;
  /** Documents the fleet can run, by name. */
  documents: Record<string, SsmDocument>;
  /**
   * Called on every invocation status change, like EventBridge's "EC2 Command Invocation Status-change
   * Notification". Awaited; its errors are logged, never thrown.
   */
  onStatusChange?: (event: CommandStatusEvent) => void | Promise<void>;
}

type InvocationStatus =
  | 'Pending'
  | 'InProgress'
  | 'Cancelling'
  | 'Success'
  | 'Failed'
  | 'TimedOut'
  | 'Cancelled';
type TerminalStatus = 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

const TERMINAL_STATUSES: readonly string[] = ['Success', 'Failed', 'TimedOut', 'Cancelled'];
const isTerminal = (status: InvocationStatus): status is TerminalStatus => TERMINAL_STATUSES.includes(status);

const MAX_INSTANCES_PER_COMMAND = 50;
const DEFAULT_DELIVERY_TIMEOUT_SECONDS = 3600;
const MAX_DELIVERY_TIMEOUT_SECONDS = 2_592_000;
const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 3600;
const MAX_EXECUTION_TIMEOUT_SECONDS = 172_800;
const KILL_GRACE_MS = 2000;
/** setTimeout fires at once for longer delays. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const STDOUT_LIMIT = 24_000;
const STDERR_LIMIT = 8000;
const PLUGIN_OUTPUT_LIMIT = 2500;
const MAX_COMMENT_LENGTH = 100;
const AGENT_VERSION = '3.3.1142.0';
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

interface FleetNode {
  index: number;
  name: string;
  instanceId: string;
  ip: string;
  workDir: string;
  online: boolean;
  lastPingAt: Date;
}

interface PreparedStep {
  name: string;
  script: string;
  timeoutMs: number;
  cwd: string;
}

interface FleetCommand {
  seq: number;
  commandId: string;
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  /** Resolved values (given or default) of parameters without interpolation type. */
  values: Record<string, string>;
  /** `SSM_<name>` variables of ENV_VAR parameters. */
  env: Record<string, string>;
  instanceIds: string[];
  requestedAt: Date;
  deliveryTimeoutSeconds: number;
  invocations: Invocation[];
}

interface StepResult {
  name: string;
  status: InvocationStatus;
  responseCode: number;
  startedAt: Date;
  endedAt: Date | null;
}

interface Invocation {
  seq: number;
  command: FleetCommand;
  node: FleetNode;
  status: InvocationStatus;
  statusDetails: string;
  responseCode: number | null;
  startedAt: Date | null;
  endedAt: Date | null;
  stdout: string;
  stderr: string;
  steps: StepResult[];
  delivered: boolean;
  deliveryTimer: NodeJS.Timeout | null;
  child: ChildProcess | null;
  cancelRequested: boolean;
  /** The node finished it while offline: the result is reported once the node is back. */
  held: boolean;
  record: FleetCommandRecord | null;
  events: Promise<void>;
}

/** What the API shows for an invocation; a result held by an offline node still looks in progress. */
interface InvocationView {
  status: InvocationStatus;
  statusDetails: string;
  responseCode: number;
  endedAt: Date | null;
}

class FleetError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

type Body = Record<string, unknown>;

const isRecord = (value: unknown): value is Body =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const epochSeconds = (date: Date): number => date.getTime() / 1000;

const tail = (text: string, limit: number): string => (text.length > limit ? text.slice(-limit) : text);

const instanceIdFor = (index: number): string => `mi-${index.toString(16).padStart(17, '0')}`;

const ipFor = (index: number): string =>
  `127.0.${1 + Math.floor((index - 1) / 254)}.${((index - 1) % 254) + 1}`;

function optString(body: Body, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new FleetError('ValidationException', `${key} must be a string`);
  return value;
}

function optInteger(body: Body, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new FleetError('ValidationException', `${key} must be an integer`);
  }
  return value;
}

function optBoolean(body: Body, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new FleetError('ValidationException', `${key} must be a boolean`);
  return value;
}

function optStringList(value: unknown, what: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new FleetError('ValidationException', `${what} must be a list of strings`);
  }
  return value;
}

function optParameters(body: Body): Record<string, string[]> {
  const value = body.Parameters;
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new FleetError('ValidationException', 'Parameters must be a map');
  const result: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(value)) {
    result[name] = optStringList(values, `Parameters.${name}`) ?? [];
  }
  return result;
}

function maxResults(body: Body, min: number, max: number): number {
  const value = optInteger(body, 'MaxResults') ?? max;
  if (value < min || value > max) {
    throw new FleetError(
      'ValidationException',
      `1 validation error detected: Value '${value}' at 'maxResults' failed to satisfy constraint: ` +
        `Member must have value between ${min} and ${max}`,
    );
  }
  return value;
}

/** A page of `items` after the item whose key the token names; tokens stay valid as items are added. */
function paginate<T>(
  items: T[],
  keyOf: (item: T) => string,
  limit: number,
  nextToken: string | undefined,
): { page: T[]; nextToken: string | undefined } {
  let start = 0;
  if (nextToken !== undefined) {
    const after = Buffer.from(nextToken, 'base64url').toString('utf8');
    const index = items.findIndex((item) => keyOf(item) === after);
    if (index < 0) throw new FleetError('InvalidNextToken', 'The specified token is not valid.');
    start = index + 1;
  }
  const page = items.slice(start, start + limit);
  const last = page[page.length - 1];
  const more = start + limit < items.length && last !== undefined;
  return { page, nextToken: more ? Buffer.from(keyOf(last), 'utf8').toString('base64url') : undefined };
}

interface CommandFilter {
  key: string;
  value: string;
}

function commandFilters(body: Body): CommandFilter[] {
  const value = body.Filters;
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new FleetError('ValidationException', 'Filters must be a list');
  return value.map((filter) => {
    if (!isRecord(filter) || typeof filter.key !== 'string' || typeof filter.value !== 'string') {
      throw new FleetError('ValidationException', 'Each filter needs a string key and value');
    }
    const known = ['InvokedAfter', 'InvokedBefore', 'Status', 'DocumentName', 'ExecutionStage'];
    if (!known.includes(filter.key))
      throw new FleetError('InvalidFilterKey', `Unknown filter key ${filter.key}`);
    if (
      (filter.key === 'InvokedAfter' || filter.key === 'InvokedBefore') &&
      Number.isNaN(Date.parse(filter.value))
    ) {
      throw new FleetError(
        'InvalidFilterValue',
        `${filter.key} needs an ISO 8601 timestamp: ${filter.value}`,
      );
    }
    if (filter.key === 'ExecutionStage' && filter.value !== 'Executing' && filter.value !== 'Complete') {
      throw new FleetError('InvalidFilterValue', `ExecutionStage is Executing or Complete: ${filter.value}`);
    }
    return { key: filter.key, value: filter.value };
  });
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

function signalNumber(signal: NodeJS.Signals | null): number {
  if (signal === null) return 0;
  const value: unknown = (osConstants.signals as Record<string, unknown>)[signal];
  return typeof value === 'number' ? value : 0;
}

/**
 * Signals every process of the session the command's shell leads. A session, unlike a process group, also
 * holds children that moved to their own group (coreutils `timeout` does), so none of them outlives a kill.
 */
function killSession(child: ChildProcess, signal: NodeJS.Signals): void {
  const sid = child.pid;
  if (sid === undefined) return;
  const send = (target: number): void => {
    try {
      process.kill(target, signal);
    } catch {
      // already gone
    }
  };
  send(-sid);
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name: state ppid pgrp session ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[3]) === sid) send(Number(entry));
  }
}

export class LocalFleet {
  private readonly nodes: FleetNode[] = [];
  private readonly documents: Record<string, SsmDocument>;
  private readonly onStatusChange: LocalFleetOptions['onStatusChange'];
  private readonly commands: FleetCommand[] = [];
  private readonly commandsById = new Map<string, FleetCommand>();
  private readonly log: FleetCommandRecord[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly registeredAt = new Date();
  private server: Server | null = null;
  private closing = false;
  private commandSeq = 0;
  private invocationSeq = 0;
  private pendingEvents = 0;

  constructor(options: LocalFleetOptions) {
    if (!Number.isInteger(options.nodeCount) || options.nodeCount < 0) {
      throw new Error(`nodeCount must be a non-negative integer, got ${options.nodeCount}`);
    }
    for (const [name, document] of Object.entries(options.documents)) {
      for (const step of document.mainSteps) {
        if (step.action !== 'aws:runShellScript') {
          throw new Error(
            `Document ${name}: step ${step.name} uses ${step.action}; only aws:runShellScript runs here`,
          );
        }
      }
    }
    this.documents = options.documents;
    this.onStatusChange = options.onStatusChange;
    for (let index = 1; index <= options.nodeCount; index++) {
      const name = `node-${index}`;
      const workDir = join(options.baseDir, name);
      mkdirSync(workDir, { recursive: true });
      this.nodes.push({
        index,
        name,
        instanceId: instanceIdFor(index),
        ip: ipFor(index),
        workDir,
        online: true,
        lastPingAt: new Date(),
      });
    }
  }

  /** Starts the endpoint; resolves with its URL, e.g. `http://127.0.0.1:41234`. */
  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server !== null) throw new Error('The fleet is already listening');
    const server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        console.error('ssm-fleet: request failed', error);
        if (!response.headersSent)
          this.send(response, 500, { __type: 'InternalServerError', message: 'Internal error' });
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

  /** Kills running processes (SIGTERM, then SIGKILL after 2 s) and closes the server. */
  async close(): Promise<void> {
    this.closing = true;
    const exits: Promise<void>[] = [];
    for (const command of this.commands) {
      for (const invocation of command.invocations) {
        if (invocation.deliveryTimer !== null) clearTimeout(invocation.deliveryTimer);
        invocation.deliveryTimer = null;
        const child = invocation.child;
        if (child !== null && child.exitCode === null && child.signalCode === null) {
          invocation.cancelRequested = true;
          exits.push(new Promise((resolve) => child.once('close', () => resolve())));
          this.terminate(child);
        }
      }
    }
    await Promise.all(exits);
    const server = this.server;
    this.server = null;
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    this.notify();
  }

  instances(): { instanceId: string; name: string; online: boolean; ip: string; workDir: string }[] {
    return this.nodes.map((node) => ({
      instanceId: node.instanceId,
      name: node.name,
      online: node.online,
      ip: node.ip,
      workDir: node.workDir,
    }));
  }

  /** Takes a node offline or brings it back; accepts the instance id or the node name (`node-3`). */
  setOnline(instanceIdOrName: string, online: boolean): void {
    const node = this.nodes.find(
      (item) => item.instanceId === instanceIdOrName || item.name === instanceIdOrName,
    );
    if (node === undefined) throw new Error(`No node ${instanceIdOrName} in the fleet`);
    if (node.online === online) return;
    node.online = online;
    node.lastPingAt = new Date();
    if (!online) return;
    const onNode = this.commands.flatMap((command) => command.invocations.filter((inv) => inv.node === node));
    for (const invocation of onNode) {
      if (invocation.held) {
        invocation.held = false;
        this.emit(invocation, invocation.status);
      }
    }
    for (const invocation of onNode) {
      if (!invocation.delivered && invocation.status === 'Pending') this.deliver(invocation);
    }
    this.notify();
  }

  /** Every command each node received, in the order received. */
  commandLog(): FleetCommandRecord[] {
    return this.log.map((record) => ({ ...record, parameters: { ...record.parameters } }));
  }

  /** Resolves when no invocation is pending or running and every status change has been handed over. */
  async idle(): Promise<void> {
    while (!this.isIdle()) {
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  private isIdle(): boolean {
    if (this.pendingEvents > 0) return false;
    return this.commands.every((command) =>
      command.invocations.every((invocation) => isTerminal(invocation.status) || this.closing),
    );
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }

  // HTTP

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (request.method !== 'POST') {
      this.send(response, 400, { __type: 'UnknownOperationException', message: 'Only POST is supported' });
      return;
    }
    const target = request.headers['x-amz-target'];
    const operation =
      typeof target === 'string' && target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : '';
    let body: unknown;
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      body = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      this.send(response, 400, { __type: 'SerializationException', message: 'The request body is not JSON' });
      return;
    }
    if (!isRecord(body)) {
      this.send(response, 400, {
        __type: 'SerializationException',
        message: 'The request body is not an object',
      });
      return;
    }
    try {
      this.send(response, 200, this.dispatch(operation, body));
    } catch (error) {
      if (error instanceof FleetError) {
        this.send(response, 400, { __type: error.type, message: error.message });
        return;
      }
      throw error;
    }
  }

  private send(response: ServerResponse, statusCode: number, payload: unknown): void {
    const text = JSON.stringify(payload);
    response.writeHead(statusCode, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    response.end(text);
  }

  private dispatch(operation: string, body: Body): unknown {
    switch (operation) {
      case 'SendCommand':
        return this.sendCommand(body);
      case 'ListCommands':
        return this.listCommands(body);
      case 'ListCommandInvocations':
        return this.listCommandInvocations(body);
      case 'GetCommandInvocation':
        return this.getCommandInvocation(body);
      case 'CancelCommand':
        return this.cancelCommand(body);
      case 'DescribeInstanceInformation':
        return this.describeInstanceInformation(body);
      default:
        throw new FleetError(
          'InvalidAction',
          `The action ${operation || '(none)'} is not valid for this endpoint.`,
        );
    }
  }

  // Operations

  private sendCommand(body: Body): unknown {
    if (this.closing) throw new FleetError('InternalServerError', 'The fleet is shutting down');
    const documentName = optString(body, 'DocumentName');
    if (documentName === undefined) throw new FleetError('ValidationException', 'DocumentName is required');
    const document = this.documents[documentName];
    if (document === undefined)
      throw new FleetError('InvalidDocument', `Document ${documentName} does not exist`);
    const requestedIds = optStringList(body.InstanceIds, 'InstanceIds');
    if (requestedIds === undefined || requestedIds.length === 0) {
      throw new FleetError(
        'ValidationException',
        'InstanceIds must name at least one managed node (Targets are not supported)',
      );
    }
    if (requestedIds.length > MAX_INSTANCES_PER_COMMAND) {
      throw new FleetError(
        'ValidationException',
        `1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: ` +
          `Member must have length less than or equal to ${MAX_INSTANCES_PER_COMMAND}`,
      );
    }
    const instanceIds = [...new Set(requestedIds)];
    const nodes = instanceIds.map((id) => {
      const node = this.nodes.find((item) => item.instanceId === id);
      if (node === undefined)
        throw new FleetError('InvalidInstanceId', `Instance ${id} is not a managed node`);
      return node;
    });
    const comment = optString(body, 'Comment') ?? '';
    if (comment.length > MAX_COMMENT_LENGTH) {
      throw new FleetError(
        'ValidationException',
        `1 validation error detected: Value at 'comment' failed to satisfy constraint: ` +
          `Member must have length less than or equal to ${MAX_COMMENT_LENGTH}`,
      );
    }
    const deliveryTimeoutSeconds = optInteger(body, 'TimeoutSeconds') ?? DEFAULT_DELIVERY_TIMEOUT_SECONDS;
    if (deliveryTimeoutSeconds < 1 || deliveryTimeoutSeconds > MAX_DELIVERY_TIMEOUT_SECONDS) {
      throw new FleetError(
        'ValidationException',
        `TimeoutSeconds must be between 1 and ${MAX_DELIVERY_TIMEOUT_SECONDS}, got ${deliveryTimeoutSeconds}`,
      );
    }
    const parameters = optParameters(body);
    const { values, env } = resolveParameters(documentName, document, parameters);

    const command: FleetCommand = {
      seq: ++this.commandSeq,
      commandId: randomUUID(),
      documentName,
      comment,
      parameters,
      values,
      env,
      instanceIds,
      requestedAt: new Date(),
      deliveryTimeoutSeconds,
      invocations: [],
    };
    for (const node of nodes) {
      command.invocations.push({
        seq: ++this.invocationSeq,
        command,
        node,
        status: 'Pending',
        statusDetails: 'Pending',
        responseCode: null,
        startedAt: null,
        endedAt: null,
        stdout: '',
        stderr: '',
        steps: [],
        delivered: false,
        deliveryTimer: null,
        cancelRequested: false,
        held: false,
        child: null,
        record: null,
        events: Promise.resolve(),
      });
    }
    this.commands.push(command);
    this.commandsById.set(command.commandId, command);
    const shown = this.commandShape(command);
    for (const invocation of command.invocations) {
      this.emit(invocation, 'Pending');
      if (invocation.node.online) {
        setImmediate(() => {
          if (invocation.node.online && !invocation.delivered && invocation.status === 'Pending') {
            this.deliver(invocation);
          }
        });
      }
      invocation.deliveryTimer = setTimeout(
        () => this.deliveryTimedOut(invocation),
        Math.min(deliveryTimeoutSeconds * 1000, MAX_TIMER_MS),
      );
    }
    return { Command: shown };
  }

  private listCommands(body: Body): unknown {
    const commandId = optString(body, 'CommandId');
    const instanceId = optString(body, 'InstanceId');
    const filters = commandFilters(body);
    const limit = maxResults(body, 1, 50);
    if (commandId !== undefined && !this.commandsById.has(commandId)) {
      throw new FleetError('InvalidCommandId', `Command ${commandId} does not exist`);
    }
    const selected = [...this.commands]
      .reverse()
      .filter((command) => commandId === undefined || command.commandId === commandId)
      .filter((command) => instanceId === undefined || command.instanceIds.includes(instanceId))
      .filter((command) =>
        matchesFilters(filters, {
          requestedAt: command.requestedAt,
          documentName: command.documentName,
          status: this.commandStatus(command),
        }),
      );
    const { page, nextToken } = paginate(
      selected,
      (command) => command.commandId,
      limit,
      optString(body, 'NextToken'),
    );
    return { Commands: page.map((command) => this.commandShape(command)), NextToken: nextToken };
  }

  private listCommandInvocations(body: Body): unknown {
    const commandId = optString(body, 'CommandId');
    const instanceId = optString(body, 'InstanceId');
    const details = optBoolean(body, 'Details') ?? false;
    const filters = commandFilters(body);
    const limit = maxResults(body, 1, 50);
    const selected = [...this.commands]
      .reverse()
      .filter((command) => commandId === undefined || command.commandId === commandId)
      .flatMap((command) => command.invocations)
      .filter((invocation) => instanceId === undefined || invocation.node.instanceId === instanceId)
      .filter((invocation) =>
        matchesFilters(filters, {
          requestedAt: invocation.command.requestedAt,
          documentName: invocation.command.documentName,
          status: this.view(invocation).status,
        }),
      );
    const { page, nextToken } = paginate(
      selected,
      (inv) => String(inv.seq),
      limit,
      optString(body, 'NextToken'),
    );
    return {
      CommandInvocations: page.map((inv) => this.invocationShape(inv, details)),
      NextToken: nextToken,
    };
  }

  private getCommandInvocation(body: Body): unknown {
    const commandId = optString(body, 'CommandId');
    const instanceId = optString(body, 'InstanceId');
    if (commandId === undefined || instanceId === undefined) {
      throw new FleetError('ValidationException', 'CommandId and InstanceId are required');
    }
    const invocation = this.commandsById
      .get(commandId)
      ?.invocations.find((item) => item.node.instanceId === instanceId);
    if (invocation === undefined) {
      throw new FleetError(
        'InvocationDoesNotExist',
        `No invocation of command ${commandId} on ${instanceId}`,
      );
    }
    const view = this.view(invocation);
    const document = this.documents[invocation.command.documentName];
    const startedAt = invocation.startedAt;
    const endedAt = view.endedAt;
    const elapsedMs = startedAt === null ? null : (endedAt ?? new Date()).getTime() - startedAt.getTime();
    return {
      CommandId: invocation.command.commandId,
      InstanceId: invocation.node.instanceId,
      Comment: invocation.command.comment,
      DocumentName: invocation.command.documentName,
      DocumentVersion: '1',
      PluginName: document?.mainSteps[0]?.name,
      ResponseCode: view.responseCode,
      ExecutionStartDateTime: startedAt === null ? '' : startedAt.toISOString(),
      ExecutionElapsedTime: elapsedMs === null ? '' : `PT${(elapsedMs / 1000).toFixed(3)}S`,
      ExecutionEndDateTime: endedAt === null || startedAt === null ? '' : endedAt.toISOString(),
      Status: view.status,
      StatusDetails: view.statusDetails,
      StandardOutputContent: tail(invocation.stdout, STDOUT_LIMIT),
      StandardOutputUrl: '',
      StandardErrorContent: tail(invocation.stderr, STDERR_LIMIT),
      StandardErrorUrl: '',
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    };
  }

  private cancelCommand(body: Body): unknown {
    const commandId = optString(body, 'CommandId');
    if (commandId === undefined) throw new FleetError('ValidationException', 'CommandId is required');
    const command = this.commandsById.get(commandId);
    if (command === undefined)
      throw new FleetError('InvalidCommandId', `Command ${commandId} does not exist`);
    const instanceIds = optStringList(body.InstanceIds, 'InstanceIds');
    if (instanceIds !== undefined && instanceIds.length > MAX_INSTANCES_PER_COMMAND) {
      throw new FleetError(
        'ValidationException',
        `1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: ` +
          `Member must have length less than or equal to ${MAX_INSTANCES_PER_COMMAND}`,
      );
    }
    for (const id of instanceIds ?? []) {
      if (!command.instanceIds.includes(id)) {
        throw new FleetError('InvalidInstanceId', `Command ${commandId} was not sent to ${id}`);
      }
    }
    for (const invocation of command.invocations) {
      if (
        instanceIds !== undefined &&
        instanceIds.length > 0 &&
        !instanceIds.includes(invocation.node.instanceId)
      ) {
        continue;
      }
      this.cancel(invocation);
    }
    return {};
  }

  private describeInstanceInformation(body: Body): unknown {
    const limit = maxResults(body, 5, 50);
    let ids: string[] | undefined;
    let pings: string[] | undefined;
    const applyFilter = (key: unknown, values: unknown): void => {
      const list = optStringList(values, 'filter values') ?? [];
      if (key === 'InstanceIds') ids = list;
      else if (key === 'PingStatus') pings = list;
      else
        throw new FleetError(
          'InvalidInstanceInformationFilterValue',
          `Unsupported filter key ${String(key)}`,
        );
    };
    for (const list of [body.InstanceInformationFilterList, body.Filters]) {
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) throw new FleetError('ValidationException', 'Filters must be a list');
      for (const filter of list) {
        if (!isRecord(filter)) throw new FleetError('ValidationException', 'Each filter must be an object');
        if ('key' in filter) applyFilter(filter.key, filter.valueSet);
        else applyFilter(filter.Key, filter.Values);
      }
    }
    const selected = this.nodes
      .filter((node) => ids === undefined || ids.includes(node.instanceId))
      .filter((node) => pings === undefined || pings.includes(node.online ? 'Online' : 'ConnectionLost'));
    const { page, nextToken } = paginate(
      selected,
      (node) => node.instanceId,
      limit,
      optString(body, 'NextToken'),
    );
    const now = new Date();
    return {
      InstanceInformationList: page.map((node) => ({
        InstanceId: node.instanceId,
        PingStatus: node.online ? 'Online' : 'ConnectionLost',
        LastPingDateTime: epochSeconds(node.online ? now : node.lastPingAt),
        AgentVersion: AGENT_VERSION,
        IsLatestVersion: true,
        PlatformType: 'Linux',
        PlatformName: 'Ubuntu',
        PlatformVersion: '22.04',
        RegistrationDate: epochSeconds(this.registeredAt),
        ResourceType: 'ManagedInstance',
        Name: node.name,
        IPAddress: node.ip,
        ComputerName: node.name,
        SourceId: node.instanceId,
        SourceType: 'AWS::SSM::ManagedInstance',
      })),
      NextToken: nextToken,
    };
  }

  // Shapes

  private view(invocation: Invocation): InvocationView {
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

  private commandStatus(command: FleetCommand): InvocationStatus {
    const statuses = command.invocations.map((invocation) => this.view(invocation).status);
    if (statuses.some((status) => status === 'Cancelling')) return 'Cancelling';
    if (statuses.every((status) => status === 'Pending')) return 'Pending';
    if (statuses.some((status) => !isTerminal(status))) return 'InProgress';
    if (statuses.some((status) => status === 'Failed')) return 'Failed';
    if (statuses.some((status) => status === 'TimedOut')) return 'TimedOut';
    if (statuses.some((status) => status === 'Cancelled')) return 'Cancelled';
    return 'Success';
  }

  private commandShape(command: FleetCommand): Body {
    const views = command.invocations.map((invocation) => this.view(invocation));
    const status = this.commandStatus(command);
    const deliveryTimedOut = views.filter((view) => view.statusDetails === 'DeliveryTimedOut').length;
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
      CompletedCount: views.filter((view) => isTerminal(view.status)).length,
      ErrorCount: views.filter(
        (view) =>
          view.status === 'Failed' ||
          (view.status === 'TimedOut' && view.statusDetails !== 'DeliveryTimedOut'),
      ).length,
      DeliveryTimedOutCount: deliveryTimedOut,
      TimeoutSeconds: command.deliveryTimeoutSeconds,
    };
  }

  private invocationShape(invocation: Invocation, details: boolean): Body {
    const view = this.view(invocation);
    const shape: Body = {
      CommandId: invocation.command.commandId,
      InstanceId: invocation.node.instanceId,
      InstanceName: invocation.node.name,
      Comment: invocation.command.comment,
      DocumentName: invocation.command.documentName,
      DocumentVersion: '1',
      RequestedDateTime: epochSeconds(invocation.command.requestedAt),
      Status: view.status,
      StatusDetails: view.statusDetails,
      StandardOutputUrl: '',
      StandardErrorUrl: '',
    };
    if (details) {
      const document = this.documents[invocation.command.documentName];
      shape.CommandPlugins = (document?.mainSteps ?? []).map((step) => {
        const result = invocation.held ? undefined : invocation.steps.find((item) => item.name === step.name);
        const running = invocation.held ? invocation.startedAt !== null : invocation.status === 'InProgress';
        const status = result?.status ?? (running ? 'InProgress' : view.status);
        return {
          Name: step.name,
          Status: status,
          StatusDetails: status === 'TimedOut' ? view.statusDetails : status,
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
    return shape;
  }

  // Execution

  private emit(invocation: Invocation, status: InvocationStatus): void {
    const listener = this.onStatusChange;
    if (listener === undefined || this.closing) return;
    const event: CommandStatusEvent = {
      commandId: invocation.command.commandId,
      instanceId: invocation.node.instanceId,
      documentName: invocation.command.documentName,
      status,
      requestedAt: invocation.command.requestedAt,
    };
    this.pendingEvents++;
    invocation.events = invocation.events
      .then(() => listener(event))
      .catch((error: unknown) => {
        console.error(`ssm-fleet: status listener failed for ${event.commandId}/${event.instanceId}`, error);
      })
      .finally(() => {
        this.pendingEvents--;
        this.notify();
      });
  }

  /** Moves an invocation to a new status; a final status reached on an offline node waits for the node. */
  private transition(invocation: Invocation, status: InvocationStatus, details: string): void {
    invocation.status = status;
    invocation.statusDetails = details;
    if (invocation.record !== null) {
      invocation.record.status = status;
      invocation.record.responseCode = invocation.responseCode;
      invocation.record.endedAt = invocation.endedAt?.toISOString() ?? null;
    }
    if (isTerminal(status) && invocation.delivered && !invocation.node.online) {
      invocation.held = true;
    } else {
      this.emit(invocation, status);
    }
    this.notify();
  }

  private deliver(invocation: Invocation): void {
    if (this.closing) return;
    invocation.delivered = true;
    if (invocation.deliveryTimer !== null) clearTimeout(invocation.deliveryTimer);
    invocation.deliveryTimer = null;
    const command = invocation.command;
    const record: FleetCommandRecord = {
      commandId: command.commandId,
      instanceId: invocation.node.instanceId,
      nodeName: invocation.node.name,
      documentName: command.documentName,
      comment: command.comment,
      parameters: command.parameters,
      receivedAt: new Date().toISOString(),
      startedAt: null,
      endedAt: null,
      status: 'Pending',
      responseCode: null,
    };
    invocation.record = record;
    this.log.push(record);
    this.execute(invocation).catch((error: unknown) => {
      console.error(`ssm-fleet: invocation ${command.commandId} on ${invocation.node.name} broke`, error);
      invocation.stderr = tail(`${invocation.stderr}${String(error)}\n`, STDERR_LIMIT);
      invocation.endedAt = new Date();
      invocation.responseCode = -1;
      this.transition(invocation, 'Failed', 'Failed');
    });
  }

  private deliveryTimedOut(invocation: Invocation): void {
    invocation.deliveryTimer = null;
    if (invocation.delivered || invocation.status !== 'Pending') return;
    invocation.endedAt = new Date();
    invocation.responseCode = -1;
    this.transition(invocation, 'TimedOut', 'DeliveryTimedOut');
  }

  private cancel(invocation: Invocation): void {
    if (isTerminal(invocation.status) || invocation.cancelRequested) return;
    invocation.cancelRequested = true;
    if (!invocation.delivered) {
      if (invocation.deliveryTimer !== null) clearTimeout(invocation.deliveryTimer);
      invocation.deliveryTimer = null;
      invocation.endedAt = new Date();
      invocation.responseCode = -1;
      this.transition(invocation, 'Cancelled', 'Cancelled');
      return;
    }
    this.transition(invocation, 'Cancelling', 'Cancelling');
    if (invocation.child !== null) this.terminate(invocation.child);
  }

  /** SIGTERM to the command's processes, SIGKILL if it is still there after the grace period. */
  private terminate(child: ChildProcess): void {
    killSession(child, 'SIGTERM');
    const timer = setTimeout(() => killSession(child, 'SIGKILL'), KILL_GRACE_MS);
    child.once('close', () => clearTimeout(timer));
  }

  private async execute(invocation: Invocation): Promise<void> {
    const document = this.documents[invocation.command.documentName];
    if (document === undefined) throw new Error(`Document ${invocation.command.documentName} disappeared`);
    const steps = prepareSteps(document, invocation.command, invocation.node.workDir);
    invocation.startedAt = new Date();
    if (invocation.record !== null) invocation.record.startedAt = invocation.startedAt.toISOString();
    this.transition(invocation, 'InProgress', 'InProgress');

    let final: { status: TerminalStatus; details: string; code: number } = {
      status: 'Success',
      details: 'Success',
      code: 0,
    };
    for (const step of steps) {
      if (invocation.cancelRequested || this.closing) {
        final = { status: 'Cancelled', details: 'Cancelled', code: -1 };
        break;
      }
      const result: StepResult = {
        name: step.name,
        status: 'InProgress',
        responseCode: -1,
        startedAt: new Date(),
        endedAt: null,
      };
      invocation.steps.push(result);
      const outcome = await this.runStep(invocation, step);
      result.endedAt = new Date();
      if (invocation.cancelRequested || this.closing) {
        final = { status: 'Cancelled', details: 'Cancelled', code: -1 };
      } else if (outcome.timedOut) {
        final = { status: 'TimedOut', details: 'ExecutionTimedOut', code: -1 };
      } else if (outcome.code !== 0) {
        final = { status: 'Failed', details: 'Failed', code: outcome.code };
      } else {
        final = { status: 'Success', details: 'Success', code: 0 };
      }
      result.status = final.status;
      result.responseCode = final.code;
      if (final.status !== 'Success') break;
    }
    invocation.endedAt = new Date();
    invocation.responseCode = final.code;
    this.transition(invocation, final.status, final.details);
  }

  private runStep(invocation: Invocation, step: PreparedStep): Promise<{ code: number; timedOut: boolean }> {
    const node = invocation.node;
    return new Promise((resolve) => {
      mkdirSync(step.cwd, { recursive: true });
      const child = spawn('bash', ['-c', step.script], {
        cwd: step.cwd,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
          HOME: node.workDir,
          LANG: 'C.UTF-8',
          FUEL_NODE_NAME: node.name,
          AWS_SSM_INSTANCE_ID: node.instanceId,
          AWS_SSM_REGION_NAME: 'us-east-1',
          ...invocation.command.env,
        },
      });
      invocation.child = child;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.terminate(child);
      }, step.timeoutMs);
      child.stdout?.setEncoding('utf8');
      child.stderr?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        invocation.stdout = tail(invocation.stdout + chunk, STDOUT_LIMIT);
      });
      child.stderr?.on('data', (chunk: string) => {
        invocation.stderr = tail(invocation.stderr + chunk, STDERR_LIMIT);
      });
      let settled = false;
      const finish = (code: number): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        invocation.child = null;
        resolve({ code, timedOut });
      };
      child.once('error', (error) => {
        invocation.stderr = tail(`${invocation.stderr}${error.message}\n`, STDERR_LIMIT);
        finish(-1);
      });
      child.once('close', (code, signal) => finish(code ?? 128 + signalNumber(signal)));
      if (invocation.cancelRequested || this.closing) this.terminate(child);
    });
  }
}

/** Checks the given parameters against the document and resolves every value (given or default). */
function resolveParameters(
  documentName: string,
  document: SsmDocument,
  given: Record<string, string[]>,
): { values: Record<string, string>; env: Record<string, string> } {
  const declared = document.parameters ?? {};
  for (const name of Object.keys(given)) {
    if (!(name in declared)) {
      throw new FleetError(
        'InvalidParameters',
        `Parameter ${name} is not declared by document ${documentName}`,
      );
    }
  }
  const values: Record<string, string> = {};
  const env: Record<string, string> = {};
  for (const [name, definition] of Object.entries(declared)) {
    const list = given[name];
    let value: string;
    if (list === undefined) {
      if (definition.default === undefined) {
        throw new FleetError(
          'InvalidParameters',
          `Parameter ${name} of document ${documentName} is required`,
        );
      }
      value = definition.default;
    } else {
      if (definition.type === 'String' && list.length !== 1) {
        throw new FleetError(
          'InvalidParameters',
          `Parameter ${name} takes exactly one value, got ${list.length}`,
        );
      }
      if (definition.allowedPattern !== undefined) {
        const pattern = new RegExp(definition.allowedPattern);
        const bad = list.find((item) => !pattern.test(item));
        if (bad !== undefined) {
          throw new FleetError(
            'InvalidParameters',
            `Parameter ${name} value ${JSON.stringify(bad)} does not match ${definition.allowedPattern}`,
          );
        }
      }
      value = list.join(',');
    }
    if (definition.interpolationType === 'ENV_VAR') env[`SSM_${name}`] = value;
    else values[name] = value;
  }
  return { values, env };
}

/**
 * Substitutes `{{ name }}` placeholders. Parameters interpolated as ENV_VAR never enter the script text:
 * their placeholders become a reference to the `SSM_<name>` variable.
 */
function substitute(text: string, command: FleetCommand): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    const value = command.values[name];
    if (value !== undefined) return value;
    if (command.env[`SSM_${name}`] !== undefined) return `\${SSM_${name}}`;
    return whole;
  });
}

function prepareSteps(document: SsmDocument, command: FleetCommand, workDir: string): PreparedStep[] {
  return document.mainSteps.map((step) => {
    const rawTimeout =
      step.inputs.timeoutSeconds === undefined ? '' : substitute(step.inputs.timeoutSeconds, command);
    const parsed = Number.parseInt(rawTimeout, 10);
    const seconds =
      Number.isFinite(parsed) && parsed > 0
        ? Math.min(parsed, MAX_EXECUTION_TIMEOUT_SECONDS)
        : DEFAULT_EXECUTION_TIMEOUT_SECONDS;
    const directory =
      step.inputs.workingDirectory === undefined ? '' : substitute(step.inputs.workingDirectory, command);
    return {
      name: step.name,
      script: step.inputs.runCommand.map((line) => substitute(line, command)).join('\n'),
      timeoutMs: seconds * 1000,
      cwd: directory === '' ? workDir : isAbsolute(directory) ? directory : join(workDir, directory),
    };
  });
}

/** The plugin's Output: the tail of stdout, then the tail of stderr after the agent's error marker. */
function pluginOutput(stdout: string, stderr: string): string {
  if (stderr === '') return tail(stdout, PLUGIN_OUTPUT_LIMIT);
  const errorPart = `\n----------ERROR-------\n${tail(stderr, PLUGIN_OUTPUT_LIMIT / 2)}`;
  return tail(stdout, PLUGIN_OUTPUT_LIMIT - errorPart.length) + errorPart;
}
