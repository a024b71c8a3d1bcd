/**
 * A local SSM Run Command endpoint backed by a simulated fleet of managed nodes.
 *
 * Speaks the AWS JSON 1.1 protocol (`POST /`, `X-Amz-Target: AmazonSSM.<Operation>`) for the calls the
 * deployment service uses, so an unchanged `SSMClient` pointed at `listen()`'s URL drives it. Every node has
 * its own working folder and runs its commands as real bash processes; nodes can be taken offline to
 * reproduce undelivered commands and lost connections.
 */
import { randomUUID } from 'node:crypto';
import { AwsJsonServer } from '../aws-json/server.js';
import { checkDocuments, type SsmDocument } from './documents.js';
import {
  type CommandStatusEvent,
  type FleetCommand,
  type FleetCommandRecord,
  type Invocation,
  InvocationLifecycle,
  isTerminal,
  newInvocation,
} from './lifecycle.js';
import { createNodes, type FleetNode } from './nodes.js';
import { type CommandRequest, type FleetState, ssmOperations, unknownSsmOperation } from './protocol.js';

export type { SsmDocument } from './documents.js';
export type { CommandStatusEvent, FleetCommandRecord, InvocationStatus } from './lifecycle.js';

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

export class LocalFleet {
  private readonly nodes: readonly FleetNode[];
  private readonly documents: Record<string, SsmDocument>;
  private readonly registeredAt = new Date();
  private readonly commands: FleetCommand[] = [];
  private readonly commandsById = new Map<string, FleetCommand>();
  private readonly log: FleetCommandRecord[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly lifecycle: InvocationLifecycle;
  private readonly server: AwsJsonServer;
  private closing = false;
  private commandSeq = 0;
  private invocationSeq = 0;

  constructor(options: LocalFleetOptions) {
    checkDocuments(options.documents);
    this.documents = options.documents;
    this.nodes = createNodes(options.baseDir, options.nodeCount);
    this.lifecycle = new InvocationLifecycle({
      documents: this.documents,
      onStatusChange: options.onStatusChange,
      isClosing: () => this.closing,
      received: (record) => this.log.push(record),
      changed: () => this.notify(),
    });
    this.server = new AwsJsonServer({
      targetPrefix: 'AmazonSSM',
      jsonVersion: '1.1',
      operations: ssmOperations(this.state()),
      unknownOperation: unknownSsmOperation,
      internalError: { type: 'InternalServerError', message: 'Internal error' },
      onUnexpected: (error) => console.error('ssm-fleet: request failed', error),
    });
  }

  /** Starts the endpoint; resolves with its URL, e.g. `http://127.0.0.1:41234`. */
  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    return this.server.listen(port, host);
  }

  /** Kills running processes (SIGTERM, then SIGKILL after 2 s) and closes the server. */
  async close(): Promise<void> {
    this.closing = true;
    const exits: Promise<void>[] = [];
    for (const invocation of this.invocations()) {
      const exited = this.lifecycle.shutdown(invocation);
      if (exited !== undefined) exits.push(exited);
    }
    await Promise.all(exits);
    await this.server.close();
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
    const onNode = this.invocations().filter((invocation) => invocation.node === node);
    for (const invocation of onNode) this.lifecycle.nodeBack(invocation);
    for (const invocation of onNode) this.lifecycle.deliverIfWaiting(invocation);
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

  /** What the operations read and change. */
  private state(): FleetState {
    return {
      nodes: this.nodes,
      documents: this.documents,
      registeredAt: this.registeredAt,
      isClosing: () => this.closing,
      allCommands: () => this.commands,
      command: (commandId) => this.commandsById.get(commandId),
      send: (request) => this.send(request),
      cancel: (invocation) => this.lifecycle.cancel(invocation),
    };
  }

  private send(request: CommandRequest): FleetCommand {
    const command: FleetCommand = {
      seq: ++this.commandSeq,
      commandId: randomUUID(),
      documentName: request.documentName,
      comment: request.comment,
      parameters: request.parameters,
      values: request.resolved.values,
      env: request.resolved.env,
      instanceIds: request.nodes.map((node) => node.instanceId),
      requestedAt: new Date(),
      deliveryTimeoutSeconds: request.deliveryTimeoutSeconds,
      invocations: [],
    };
    for (const node of request.nodes) {
      command.invocations.push(newInvocation(++this.invocationSeq, command, node));
    }
    this.commands.push(command);
    this.commandsById.set(command.commandId, command);
    for (const invocation of command.invocations) this.lifecycle.start(invocation);
    return command;
  }

  private invocations(): Invocation[] {
    return this.commands.flatMap((command) => command.invocations);
  }

  private isIdle(): boolean {
    if (this.lifecycle.hasPendingEvents()) return false;
    return this.invocations().every((invocation) => isTerminal(invocation.status) || this.closing);
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }
}
