/**
 * A local SSM Run Command endpoint backed by a simulated fleet of managed nodes.
 *
 * Speaks the AWS JSON 1.1 protocol (`POST /`, `X-Amz-Target: AmazonSSM.<Operation>`) for the calls the
 * deployment service uses, so an unchanged `SSMClient` pointed at `listen()`'s URL drives it. The fleet is
 * `node-1`..`node-N` and a `master`; every one has its own working folder and runs its commands as real
 * bash processes in a root of its own, isolated from the host (isolation.ts), with stand-ins for what a
 * simulated node cannot have (stand-ins/README.md). Nodes can be taken offline to reproduce undelivered
 * commands and lost connections, and reboot when a command asks for it with the agent's exit codes. A node
 * can be given an older SSM Agent (`setAgentVersion`), to see what a document does there.
 */
import { randomUUID } from 'node:crypto';
import { AwsJsonServer } from '../aws-json/server.js';
import type { Chaos } from '../chaos.js';
import { checkDocuments, type SsmDocument } from './documents.js';
import { type Isolation, type NodeIsolation, type NodeRoot, setUpIsolation } from './isolation.js';
import {
  type CommandStatusEvent,
  type FleetCommand,
  type FleetCommandRecord,
  type Invocation,
  InvocationLifecycle,
  isTerminal,
  newInvocation,
} from './lifecycle.js';
import {
  checkAgentVersion,
  createNodes,
  type FleetNode,
  type FleetRole,
  type FleetTag,
  isReachable,
  MASTER_INSTANCE_ID,
} from './nodes.js';
import { type CommandRequest, type FleetState, ssmOperations, unknownSsmOperation } from './protocol.js';

export type { SsmDocument } from './documents.js';
export type { Isolation, IsolationKind } from './isolation.js';
export type { CommandStatusEvent, FleetCommandRecord, InvocationStatus } from './lifecycle.js';
export type { FleetRole, FleetTag } from './nodes.js';
export { CURRENT_AGENT_VERSION, ENV_VAR_MIN_AGENT_VERSION, ROLE_TAG } from './nodes.js';

/** A fleet instance as `instances()` lists it. */
export interface FleetInstance {
  instanceId: string;
  name: string;
  role: FleetRole;
  tags: FleetTag[];
  /** Its agent can be reached: online and not rebooting. */
  online: boolean;
  rebooting: boolean;
  ip: string;
  workDir: string;
  /** The version of its SSM Agent, as DescribeInstanceInformation reports it. */
  agentVersion: string;
}

const DEFAULT_STAND_IN_SECONDS = 1;
const DEFAULT_REBOOT_SECONDS = 2;

export interface LocalFleetOptions {
  /** Node folders are created under it: `<baseDir>/<nodeName>`. */
  baseDir: string;
  /** Nodes `node-1`..`node-N`, instance ids `mi-` + 17 hex digits of the index; and the master, index 0. */
  nodeCount: number;
  /** Documents the fleet can run, by name. */
  documents: Record<string, SsmDocument>;
  /**
   * Called on every invocation status change, like EventBridge's "EC2 Command Invocation Status-change
   * Notification". Awaited; its errors are logged, never thrown.
   */
  onStatusChange?: (event: CommandStatusEvent) => void | Promise<void>;
  /**
   * Run node commands on the host, unisolated, when this machine allows no isolation (the operator's
   * FUEL_UNISOLATED_NODES=1). Without it such a fleet refuses to run them.
   */
  allowUnisolated?: boolean;
  /** Seconds a stand-in (puppet apply, rsync from the master, ...) takes; default 1. */
  standInSeconds?: number;
  /** Seconds a rebooting node stays away (ConnectionLost); default 2. */
  rebootSeconds?: number;
  /** Throttled requests, and results GetCommandInvocation shows late, as AWS may (chaos.ts). */
  chaos?: Chaos;
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
  private readonly options: LocalFleetOptions;
  private isolated: NodeIsolation | null = null;
  private readonly roots = new Map<FleetNode, NodeRoot>();
  private readonly reboots = new Map<FleetNode, Promise<void>>();
  /** Ends the waits of rebooting nodes at once (the fleet closes). */
  private readonly wakeUps = new Set<() => void>();
  private closing = false;
  private commandSeq = 0;
  private invocationSeq = 0;

  constructor(options: LocalFleetOptions) {
    checkDocuments(options.documents);
    for (const [name, value] of [
      ['standInSeconds', options.standInSeconds],
      ['rebootSeconds', options.rebootSeconds],
    ] as const) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
        throw new Error(`${name} must be a number of seconds, 0 or more; got ${value}`);
      }
    }
    this.options = options;
    this.documents = options.documents;
    this.nodes = createNodes(options.baseDir, options.nodeCount);
    this.lifecycle = new InvocationLifecycle({
      documents: this.documents,
      onStatusChange: options.onStatusChange,
      isClosing: () => this.closing,
      received: (record) => this.log.push(record),
      changed: () => this.notify(),
      rootOf: (node) => this.rootOf(node),
      reboot: (node) => this.reboot(node),
    });
    this.server = new AwsJsonServer({
      targetPrefix: 'AmazonSSM',
      jsonVersion: '1.1',
      operations: ssmOperations(this.state()),
      unknownOperation: unknownSsmOperation,
      internalError: { type: 'InternalServerError', message: 'Internal error' },
      onUnexpected: (error) => console.error('ssm-fleet: request failed', error),
      throttle: () =>
        options.chaos?.chance('throttling', options.chaos.rates.throttled, 'SSM requests throttled') ?? false,
    });
  }

  /**
   * Finds how the nodes can be isolated from the host (the first call; see `isolation()`), then starts
   * the endpoint; resolves with its URL, e.g. `http://127.0.0.1:41234`.
   */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.isolated === null) {
      const baseDir = this.options.baseDir;
      const isolated = await setUpIsolation({
        baseDir,
        allowUnisolated: this.options.allowUnisolated ?? false,
        standInSeconds: this.options.standInSeconds ?? DEFAULT_STAND_IN_SECONDS,
      });
      this.isolated ??= isolated;
    }
    return this.server.listen(port, host);
  }

  /** How the nodes are isolated from the host, or why they are not; known once `listen()` resolved. */
  isolation(): Isolation {
    if (this.isolated === null) throw new Error('The fleet finds its isolation in listen()');
    return this.isolated.isolation;
  }

  /** The master's instance id: where tasks of Fuel's master role run. */
  get masterInstanceId(): string {
    return MASTER_INSTANCE_ID;
  }

  /**
   * Kills running processes (SIGTERM, then SIGKILL after 2 s), ends reboots, takes every node's root
   * down (their processes and mounts go with it; their folders stay) and closes the server.
   */
  async close(): Promise<void> {
    this.closing = true;
    const exits: Promise<void>[] = [];
    for (const invocation of this.invocations()) {
      const exited = this.lifecycle.shutdown(invocation);
      if (exited !== undefined) exits.push(exited);
    }
    for (const wake of this.wakeUps) wake();
    await Promise.all(exits);
    await Promise.all(this.reboots.values());
    await Promise.all([...this.roots.values()].map((root) => root.down()));
    await this.server.close();
    this.notify();
  }

  /** The nodes, then the master. */
  instances(): FleetInstance[] {
    return this.nodes.map((node) => ({
      instanceId: node.instanceId,
      name: node.name,
      role: node.role,
      tags: node.tags.map((tag) => ({ ...tag })),
      online: isReachable(node),
      rebooting: node.rebooting,
      ip: node.ip,
      workDir: node.workDir,
      agentVersion: node.agentVersion,
    }));
  }

  /** Takes a node offline or brings it back; accepts the instance id or the name (`node-3`, `master`). */
  setOnline(instanceIdOrName: string, online: boolean): void {
    const node = this.node(instanceIdOrName);
    if (node.online === online) return;
    const wasReachable = isReachable(node);
    node.online = online;
    if (wasReachable) node.lastPingAt = new Date();
    if (isReachable(node)) this.nodeBack(node);
  }

  /**
   * Gives a node another SSM Agent version (instance id or name), e.g. one older than 3.3.2746.0, which
   * sets no `SSM_<name>` variables for ENV_VAR parameters. Commands the node takes from then on run as
   * that agent runs them; DescribeInstanceInformation reports the version.
   */
  setAgentVersion(instanceIdOrName: string, version: string): void {
    this.node(instanceIdOrName).agentVersion = checkAgentVersion(version);
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

  private node(instanceIdOrName: string): FleetNode {
    const node = this.nodes.find(
      (item) => item.instanceId === instanceIdOrName || item.name === instanceIdOrName,
    );
    if (node === undefined) throw new Error(`No node ${instanceIdOrName} in the fleet`);
    return node;
  }

  /** Reports held results of a node that is reachable again and delivers what waited for it. */
  private nodeBack(node: FleetNode): void {
    const onNode = this.invocations().filter((invocation) => invocation.node === node);
    for (const invocation of onNode) this.lifecycle.nodeBack(invocation);
    for (const invocation of onNode) this.lifecycle.deliverIfWaiting(invocation);
    this.notify();
  }

  private rootOf(node: FleetNode): NodeRoot {
    if (this.isolated === null) throw new Error('The fleet runs commands once listen() resolved');
    let root = this.roots.get(node);
    if (root === undefined) {
      root = this.isolated.rootFor(node);
      this.roots.set(node, root);
    }
    if (this.closing) throw new Error('The fleet is shutting down');
    return root;
  }

  /** Reboots a node (one reboot at a time: a second request joins the running one). Never rejects. */
  private reboot(node: FleetNode): Promise<void> {
    const running = this.reboots.get(node);
    if (running !== undefined) return running;
    const done = this.rebootNode(node)
      .catch((error: unknown) => console.error(`ssm-fleet: ${node.name} failed to reboot`, error))
      .finally(() => {
        this.reboots.delete(node);
        this.notify();
      });
    this.reboots.set(node, done);
    return done;
  }

  /**
   * The node goes away (ConnectionLost), every process it runs ends and its root is taken down; after
   * the reboot time it is back with a fresh root over the same file system changes.
   */
  private async rebootNode(node: FleetNode): Promise<void> {
    if (isReachable(node)) node.lastPingAt = new Date();
    node.rebooting = true;
    this.notify();
    for (const invocation of this.invocations()) {
      if (invocation.node === node) this.lifecycle.interrupt(invocation);
    }
    await this.roots.get(node)?.down();
    const seconds = this.options.rebootSeconds ?? DEFAULT_REBOOT_SECONDS;
    if (!this.closing) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.wakeUps.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, seconds * 1000);
        this.wakeUps.add(wake);
      });
    }
    node.rebooting = false;
    if (this.closing) return;
    if (isReachable(node)) {
      node.lastPingAt = new Date();
      this.nodeBack(node);
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
      showsStale: (invocation) => this.showsStale(invocation),
    };
  }

  /** Until when each ended invocation shows its previous status (decided once, when first asked). */
  private readonly staleUntil = new WeakMap<Invocation, number>();

  private showsStale(invocation: Invocation): boolean {
    const chaos = this.options.chaos;
    if (!chaos || invocation.endedAt === null) return false;
    let until = this.staleUntil.get(invocation);
    if (until === undefined) {
      const stale = chaos.chance('invocations', chaos.rates.invocationStale, 'results shown late');
      until =
        invocation.endedAt.getTime() +
        (stale ? chaos.delay('invocations', chaos.rates.invocationStaleMaxMs) : 0);
      this.staleUntil.set(invocation, until);
    }
    return Date.now() < until;
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
    if (this.reboots.size > 0 && !this.closing) return false;
    return this.invocations().every((invocation) => isTerminal(invocation.status) || this.closing);
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }
}
