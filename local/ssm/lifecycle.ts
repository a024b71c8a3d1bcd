/**
 * The life of an invocation (one command on one node): Pending until its node takes it (TimedOut with
 * DeliveryTimedOut when the node stays away past the command's TimeoutSeconds), InProgress while its
 * steps run, then Success, Failed, TimedOut or Cancelled, through Cancelling when a command that is
 * running is cancelled. Every status change is handed to the listener in order, like EventBridge's
 * status-change notifications; a final status reached while the node is offline is held back until the
 * node is back.
 *
 * Like the SSM agent, a step that exits 194 reboots its node and runs again from the start once the node
 * is back; the invocation's status is that of the run after the reboot. (The agent's other reboot code,
 * 3010, is no exit status a Linux process can have: `exit 3010` exits 194.)
 */
import { type CommandStatus, isCommandFinished } from '../../lambdas/domain/command-status.js';
import {
  type PreparedStep,
  parametersForAgent,
  prepareSteps,
  type ResolvedParameters,
  type SsmDocument,
} from './documents.js';
import type { NodeRoot } from './isolation.js';
import { type FleetNode, interpolatesEnvVars, isReachable } from './nodes.js';
import { kill, runStep, STDERR_LIMIT, shellEnvironment, tail, terminate } from './processes.js';
import type { StepProcess } from './spawner.js';

/** The invocation statuses the local fleet reports: a subset of SSM's. */
export type InvocationStatus = Extract<
  CommandStatus,
  'Pending' | 'InProgress' | 'Cancelling' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled'
>;
export type TerminalStatus = Extract<InvocationStatus, 'Success' | 'Failed' | 'TimedOut' | 'Cancelled'>;
/** StatusDetails: the status, or the kind of timeout. */
export type StatusDetails = Extract<
  CommandStatus,
  InvocationStatus | 'DeliveryTimedOut' | 'ExecutionTimedOut'
>;

export const isTerminal = (status: InvocationStatus): status is TerminalStatus => isCommandFinished(status);

/** setTimeout fires at once for longer delays. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The SSM agent's exit code that reboots the node now and runs the step again after the reboot. */
export const REBOOT_NOW = 194;
/** Reboots one invocation may ask for before it is failed (a step that always exits 194). */
const MAX_REBOOTS = 10;

export interface CommandStatusEvent {
  commandId: string;
  instanceId: string;
  documentName: string;
  status: InvocationStatus;
  requestedAt: Date;
}

/** What a node received, as the fleet's command log shows it. */
export interface FleetCommandRecord {
  commandId: string;
  instanceId: string;
  nodeName: string;
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  /** When SendCommand reached SSM. */
  sentAt: string;
  /** When the node received it. */
  receivedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  status: InvocationStatus;
  responseCode: number | null;
}

export interface FleetCommand extends ResolvedParameters {
  seq: number;
  commandId: string;
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  instanceIds: string[];
  requestedAt: Date;
  deliveryTimeoutSeconds: number;
  invocations: Invocation[];
}

export interface StepResult {
  name: string;
  status: InvocationStatus;
  responseCode: number;
  startedAt: Date;
  endedAt: Date | null;
}

export interface Invocation {
  seq: number;
  command: FleetCommand;
  node: FleetNode;
  status: InvocationStatus;
  statusDetails: StatusDetails;
  responseCode: number | null;
  startedAt: Date | null;
  endedAt: Date | null;
  stdout: string;
  stderr: string;
  steps: StepResult[];
  delivered: boolean;
  deliveryTimer: NodeJS.Timeout | null;
  child: StepProcess | null;
  cancelRequested: boolean;
  /** The node finished it while offline: the result is reported once the node is back. */
  held: boolean;
  record: FleetCommandRecord | null;
  events: Promise<void>;
}

export function newInvocation(seq: number, command: FleetCommand, node: FleetNode): Invocation {
  return {
    seq,
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
  };
}

/** What the lifecycle needs from the fleet. */
export interface LifecycleContext {
  documents: Record<string, SsmDocument>;
  /** Called on every status change; awaited; its errors are logged, never thrown. */
  onStatusChange: ((event: CommandStatusEvent) => void | Promise<void>) | undefined;
  isClosing(): boolean;
  /** A node took a command. */
  received(record: FleetCommandRecord): void;
  /** The root the node's commands run in. */
  rootOf(node: FleetNode): NodeRoot;
  /** Reboots the node; resolves once it is back (or the fleet closes). */
  reboot(node: FleetNode): Promise<void>;
  /** Something changed that `idle()` waits for. */
  changed(): void;
}

interface Outcome {
  status: TerminalStatus;
  details: StatusDetails;
  code: number;
}

/** How a step ended, or that it asked for a reboot. */
type StepOutcome = Outcome | 'reboot';

const SUCCESS: Outcome = { status: 'Success', details: 'Success', code: 0 };
const CANCELLED: Outcome = { status: 'Cancelled', details: 'Cancelled', code: -1 };

/** Moves invocations through their statuses and runs them on their nodes. */
export class InvocationLifecycle {
  private pendingEvents = 0;

  constructor(private readonly context: LifecycleContext) {}

  /** Status changes not yet handed to the listener. */
  hasPendingEvents(): boolean {
    return this.pendingEvents > 0;
  }

  /** A command was sent: Pending, delivered once its node is online, timed out if it never is. */
  start(invocation: Invocation): void {
    this.emit(invocation, 'Pending');
    if (isReachable(invocation.node)) {
      setImmediate(() => {
        if (isReachable(invocation.node) && !invocation.delivered && invocation.status === 'Pending') {
          this.deliver(invocation);
        }
      });
    }
    invocation.deliveryTimer = setTimeout(
      () => this.deliveryTimedOut(invocation),
      Math.min(invocation.command.deliveryTimeoutSeconds * 1000, MAX_TIMER_MS),
    );
  }

  /** The invocation's node is back online: report a held result, deliver what waited for it. */
  nodeBack(invocation: Invocation): void {
    if (!invocation.held) return;
    invocation.held = false;
    this.emit(invocation, invocation.status);
  }

  /** Delivers an invocation whose node came back, if it still waits. */
  deliverIfWaiting(invocation: Invocation): void {
    if (!invocation.delivered && invocation.status === 'Pending') this.deliver(invocation);
  }

  cancel(invocation: Invocation): void {
    if (isTerminal(invocation.status) || invocation.cancelRequested) return;
    invocation.cancelRequested = true;
    if (!invocation.delivered) {
      this.clearDeliveryTimer(invocation);
      invocation.endedAt = new Date();
      invocation.responseCode = -1;
      this.transition(invocation, 'Cancelled', 'Cancelled');
      return;
    }
    this.transition(invocation, 'Cancelling', 'Cancelling');
    if (invocation.child !== null) terminate(invocation.child);
  }

  /** The invocation's node reboots: its running process is killed at once. */
  interrupt(invocation: Invocation): void {
    if (invocation.child !== null) kill(invocation.child);
  }

  /** The fleet closes: no more delivery; a running process is killed. Resolves once it has exited. */
  shutdown(invocation: Invocation): Promise<void> | undefined {
    this.clearDeliveryTimer(invocation);
    const child = invocation.child;
    if (child === null || child.closed) return undefined;
    invocation.cancelRequested = true;
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    terminate(child);
    return exited;
  }

  private clearDeliveryTimer(invocation: Invocation): void {
    if (invocation.deliveryTimer !== null) clearTimeout(invocation.deliveryTimer);
    invocation.deliveryTimer = null;
  }

  private emit(invocation: Invocation, status: InvocationStatus): void {
    const listener = this.context.onStatusChange;
    if (listener === undefined || this.context.isClosing()) return;
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
        this.context.changed();
      });
  }

  /** Moves an invocation to a new status; a final status reached on an offline node waits for the node. */
  private transition(invocation: Invocation, status: InvocationStatus, details: StatusDetails): void {
    invocation.status = status;
    invocation.statusDetails = details;
    if (invocation.record !== null) {
      invocation.record.status = status;
      invocation.record.responseCode = invocation.responseCode;
      invocation.record.endedAt = invocation.endedAt?.toISOString() ?? null;
    }
    if (isTerminal(status) && invocation.delivered && !isReachable(invocation.node)) {
      invocation.held = true;
    } else {
      this.emit(invocation, status);
    }
    this.context.changed();
  }

  private deliver(invocation: Invocation): void {
    if (this.context.isClosing()) return;
    invocation.delivered = true;
    this.clearDeliveryTimer(invocation);
    const command = invocation.command;
    const record: FleetCommandRecord = {
      commandId: command.commandId,
      instanceId: invocation.node.instanceId,
      nodeName: invocation.node.name,
      documentName: command.documentName,
      comment: command.comment,
      parameters: command.parameters,
      sentAt: command.requestedAt.toISOString(),
      receivedAt: new Date().toISOString(),
      startedAt: null,
      endedAt: null,
      status: 'Pending',
      responseCode: null,
    };
    invocation.record = record;
    this.context.received(record);
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

  private stopping(invocation: Invocation): boolean {
    return invocation.cancelRequested || this.context.isClosing();
  }

  /**
   * Runs the steps in order until one does not succeed; the last outcome is the invocation's. A step that
   * asks for a reboot runs again once its node is back.
   */
  private async execute(invocation: Invocation): Promise<void> {
    const { command, node } = invocation;
    const document = this.context.documents[command.documentName];
    if (document === undefined) throw new Error(`Document ${command.documentName} disappeared`);
    // the node's agent applies the parameters: an agent older than 3.3.2746.0 sets no SSM_<name> variables
    const steps = prepareSteps(
      document,
      parametersForAgent(command, interpolatesEnvVars(node)),
      node.workDir,
    );
    invocation.startedAt = new Date();
    if (invocation.record !== null) invocation.record.startedAt = invocation.startedAt.toISOString();
    this.transition(invocation, 'InProgress', 'InProgress');

    let final = SUCCESS;
    for (const step of steps) {
      final = await this.executeWithReboots(invocation, step);
      if (final.status !== 'Success') break;
    }
    invocation.endedAt = new Date();
    invocation.responseCode = final.code;
    this.transition(invocation, final.status, final.details);
  }

  /** Runs a step, again after each reboot it asks for (at most MAX_REBOOTS). */
  private async executeWithReboots(invocation: Invocation, step: PreparedStep): Promise<Outcome> {
    for (let reboots = 0; ; reboots++) {
      if (this.stopping(invocation)) return CANCELLED;
      const ended = await this.executeStep(invocation, step);
      if (ended !== 'reboot') return ended;
      if (reboots === MAX_REBOOTS) {
        invocation.stderr = tail(
          `${invocation.stderr}the step asked for a reboot again after ${MAX_REBOOTS} reboots; it is not run again\n`,
          STDERR_LIMIT,
        );
        const failed: Outcome = { status: 'Failed', details: 'Failed', code: REBOOT_NOW };
        const result = invocation.steps.at(-1);
        if (result !== undefined) Object.assign(result, { status: failed.status, responseCode: failed.code });
        return failed;
      }
      invocation.steps.pop();
      await this.context.reboot(invocation.node);
    }
  }

  private async executeStep(invocation: Invocation, step: PreparedStep): Promise<StepOutcome> {
    const root = this.context.rootOf(invocation.node);
    try {
      await root.up();
    } catch (error) {
      // the node cannot run commands (refused, or its root would not come up): the step fails
      const why = error instanceof Error ? error.message : String(error);
      invocation.stderr = tail(`${invocation.stderr}${why}\n`, STDERR_LIMIT);
      return { status: 'Failed', details: 'Failed', code: -1 };
    }
    if (this.stopping(invocation)) return CANCELLED;
    const result: StepResult = {
      name: step.name,
      status: 'InProgress',
      responseCode: -1,
      startedAt: new Date(),
      endedAt: null,
    };
    invocation.steps.push(result);
    const env = shellEnvironment(invocation.node, root.environment(), step.env);
    const running = runStep(root.launch(step.cwd, step.script), step.timeoutMs, env, invocation);
    if (this.stopping(invocation) && invocation.child !== null) terminate(invocation.child);
    const exit = await running;
    result.endedAt = new Date();
    let outcome: Outcome;
    if (this.stopping(invocation)) outcome = CANCELLED;
    else if (exit.timedOut) outcome = { status: 'TimedOut', details: 'ExecutionTimedOut', code: -1 };
    else if (exit.code === REBOOT_NOW) return 'reboot';
    else if (exit.code !== 0) outcome = { status: 'Failed', details: 'Failed', code: exit.code };
    else outcome = SUCCESS;
    result.status = outcome.status;
    result.responseCode = outcome.code;
    return outcome;
  }
}
