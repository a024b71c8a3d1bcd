/**
 * What "Deploy changes" runs and what it skips, and why: which nodes are provisioned, and for each entry of
 * the plan whether it runs or is skipped as unchanged since its last successful run (or runs nothing: a
 * stage, a `skipped` task, a false condition). The plan step decides its pending rows with these functions,
 * and the restart preview (`GET clusters/{id}/changes/preview/`) answers with them, so the preview says
 * what the deployment will do. Failures during the run (a node that fails, a requirement that does not
 * succeed) are decided later, layer by layer (dispatch.ts), and are not foreseen here.
 */
import type { Node } from './model.js';
import type { TaskInstance } from './plan.js';
import { electPrimaries } from './primary-roles.js';
import { type NodeErrorType, type NodeStatus, needsProvisioning } from './status.js';
import { isClusterNode, MASTER_NODE } from './targets.js';
import type { DeployMode } from './task.js';

/** What of a run's mode the decision looks at. */
export type DecisionMode = Pick<DeployMode, 'force' | 'resume' | 'scope'>;

/** A node of the run as the decision sees it, before the run changes it. */
export interface NodeBefore {
  id: number;
  status: NodeStatus;
  errorType: NodeErrorType | null;
  /**
   * It takes on new roles in this run (`projectNodes`): what ran on it before no longer counts, so its last
   * runs are not read (the plan step forgets them too).
   */
  newRoles: boolean;
  /** Its last successful runs: task name to the fingerprint of the inputs it ran with. */
  lastRuns: ReadonlyMap<string, string>;
}

export type ProvisionDecision = { provision: true; reason: string } | { provision: false; reason: null };

/** Whether the run provisions the node: one that never finished provisioning, unless only deploying. */
export function provisionDecision(
  node: Pick<NodeBefore, 'status' | 'errorType'>,
  mode: Pick<DecisionMode, 'scope'>,
): ProvisionDecision {
  if (mode.scope === 'deploy' || !needsProvisioning(node.status, node.errorType)) {
    return { provision: false, reason: null };
  }
  if (node.status === 'error') return { provision: true, reason: 'its provisioning failed' };
  return { provision: true, reason: 'node is not provisioned yet' };
}

/**
 * Whether unchanged work may be skipped on the node: on ready nodes, and on stopped ones when resuming; a
 * forced redeploy runs everything. Only these nodes' last runs need reading.
 */
export function skipsUnchangedOn(node: Pick<NodeBefore, 'status'>, mode: DecisionMode): boolean {
  if (mode.force) return false;
  return node.status === 'ready' || (mode.resume && node.status === 'stopped');
}

/**
 * What becomes of a plan entry: `run`; `unchanged` (skipped: it ran ready there with the same inputs);
 * `condition` / `noop` (skipped: it runs nothing). `reason` says why, in the operator's words.
 */
export type TaskDecision =
  | { action: 'run'; kind: 'run'; reason: string }
  | { action: 'skip'; kind: 'unchanged' | 'condition' | 'noop'; reason: string };

const run = (reason: string): TaskDecision => ({ action: 'run', kind: 'run', reason });

/** The decision for one entry of the plan, on its node (undefined for the master and the sync node). */
export function taskDecision(
  instance: Pick<TaskInstance, 'task' | 'nodeId' | 'noop'>,
  node: NodeBefore | undefined,
  fingerprint: string | null,
  mode: DecisionMode,
): TaskDecision {
  if (instance.noop !== null) {
    const kind = instance.noop.kind === 'condition' ? 'condition' : 'noop';
    return { action: 'skip', kind, reason: instance.noop.reason };
  }
  if (!isClusterNode(instance.nodeId) || node === undefined) {
    return run(
      instance.nodeId === MASTER_NODE ? 'runs on the master node every time' : 'not a node of the run',
    );
  }
  if (mode.force) return run('redeploy runs every task');
  if (provisionDecision(node, mode).provision) return run('node is being provisioned');
  if (node.newRoles) return run('node takes on new roles');
  if (!skipsUnchangedOn(node, mode)) {
    if (node.status === 'stopped') return run('node was stopped');
    if (node.status === 'error')
      return run(`node is in error${node.errorType ? ` (${node.errorType})` : ''}`);
    if (node.status === 'provisioned') return run('node is provisioned, not deployed yet');
    return run(`node is ${node.status}`);
  }
  const last = node.lastRuns.get(instance.task);
  // a ready node finished its last deployment: a task it has no record of is one that deployment did not have
  if (last === undefined) return run(node.status === 'ready' ? 'new task' : 'never ran');
  if (fingerprint === null || last !== fingerprint) return run('input changed since its last run');
  return {
    action: 'skip',
    kind: 'unchanged',
    reason:
      node.status === 'ready' ? 'ran ready with the same input' : 'ran ready with the same input (resume)',
  };
}

/** The decisions of a whole plan: the nodes provisioned (with why) and one decision per entry, in order. */
export interface WorkDecision {
  provision: Map<number, string>;
  tasks: TaskDecision[];
}

export function decideWork(input: {
  mode: DecisionMode;
  nodes: readonly NodeBefore[];
  instances: readonly Pick<TaskInstance, 'task' | 'nodeId' | 'noop'>[];
  /** Task id to the fingerprint of its inputs in this run. */
  fingerprints: ReadonlyMap<string, string>;
}): WorkDecision {
  const byId = new Map(input.nodes.map((n) => [n.id, n]));
  const provision = new Map<number, string>();
  for (const node of input.nodes) {
    const decision = provisionDecision(node, input.mode);
    if (decision.provision) provision.set(node.id, decision.reason);
  }
  const tasks = input.instances.map((i) =>
    taskDecision(i, byId.get(i.nodeId), input.fingerprints.get(i.task) ?? null, input.mode),
  );
  return { provision, tasks };
}

/**
 * An entry whose condition read `deployment_id` (legacy `settings:deployment_id`, yaql `$.deployment_id`):
 * the run's id is only given when "Deploy changes" is pressed, so the preview's verdict, evaluated with the
 * id the next run is expected to get, is decided for good when the deployment is planned. Said in the reason.
 */
export function decidedWhenPlanned(decision: TaskDecision, expectedRunId: number): TaskDecision {
  const note = `the condition reads deployment_id, previewed as ${expectedRunId}`;
  return { ...decision, reason: `${decision.reason} (decided when the deployment is planned: ${note})` };
}

/** The run's nodes as its plan step makes them (`projectNodes`). */
export interface NodeProjection {
  /** The run's nodes, in the order given, with their roles and primary roles as they will be. */
  nodes: Node[];
  /** The run's nodes whose roles grow: they take on new roles. */
  newRoles: Set<number>;
  /** The cluster's nodes whose primary roles change (a member outside the run may lose one), by id. */
  primaryRoles: Map<number, string[]>;
}

/**
 * The run's nodes as its plan step will make them, without writing anything: pending roles taken on (a node
 * whose roles grow takes on new roles) and the graph's primaries elected among the cluster's members. The plan
 * step writes what changes (engine/plan.ts); the restart preview and the deployment's checks only read it.
 */
export function projectNodes(
  members: readonly Node[],
  selected: readonly Node[],
  primaryRolesUsed: readonly string[],
): NodeProjection {
  const newRoles = new Set<number>();
  const projected = selected.map((n) => {
    if (!n.pendingAddition && n.pendingRoles.length === 0) return n;
    const roles = [...new Set([...n.roles, ...n.pendingRoles])];
    if (roles.length !== n.roles.length) newRoles.add(n.id);
    return { ...n, roles, pendingRoles: [], pendingAddition: false };
  });
  const byId = new Map(projected.map((n) => [n.id, n]));
  const primaryRoles = electPrimaries(
    members.map((m) => byId.get(m.id) ?? m),
    new Set(selected.map((n) => n.id)),
    primaryRolesUsed,
  );
  return {
    nodes: projected.map((n) => ({ ...n, primaryRoles: primaryRoles.get(n.id) ?? n.primaryRoles })),
    newRoles,
    primaryRoles,
  };
}
