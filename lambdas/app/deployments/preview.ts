/**
 * The restart preview: what "Deploy changes" (`PUT clusters/{id}/changes/[?resume=1]`) would do if pressed
 * now, per node: whether it is provisioned, and for every entry of the plan its layer and whether it runs or
 * is skipped, and why. Nothing is written. It goes through what the deployment goes through: the same
 * refusals (deploy.ts `assertDeployable`, `checkInputs`), the nodes as the plan step will make them
 * (domain/plan-decision.ts `projectNodes`, which the plan step writes), the same expansion and layers
 * (engine/plan.ts `expandGraph`, with the durations the plan step reads), and the same decision of what runs
 * (domain/plan-decision.ts `decideWork`), so it cannot say otherwise than the deployment that follows. What a
 * run decides later (a node that fails blocks what depends on it) is not foreseen; a deployment, or a stop
 * settling, answers 409 (nothing stable to preview).
 *
 * The run's id, `deployment_id`, is the one input the preview cannot know for sure: task conditions read it
 * (legacy `settings:deployment_id`, yaql `$.deployment_id`), and the run takes its id from the task id counter
 * only when "Deploy changes" is pressed. That counter is the whole service's (every cluster's runs, stops,
 * resets and deletions take ids from it; an id taken by a request that then lost, a refused deployment or
 * stop, is never used), so no read of it now tells the id the run will get. The preview therefore expands the
 * graph with the id the next run is expected to get, the newest task's id + 1 (what the run gets when no other
 * task is created first), and marks every entry whose condition read `deployment_id` as decided when the
 * deployment is planned (`decidedWhenPlanned`: its reason says so and names the id previewed). Should the run
 * get another id and such a verdict change, the layers of the entries after it may change too.
 */
import { ValidationError } from '../../domain/errors.js';
import { graphFingerprints } from '../../domain/fingerprint.js';
import type { Node } from '../../domain/model.js';
import type { TaskInstance } from '../../domain/plan.js';
import {
  decidedWhenPlanned,
  decideWork,
  type ProvisionDecision,
  projectNodes,
  type TaskDecision,
  type WorkDecision,
} from '../../domain/plan-decision.js';
import { rolesNeedingPrimary } from '../../domain/primary-roles.js';
import { MASTER_NODE, SYNC_NODE } from '../../domain/targets.js';
import type { DeployMode } from '../../domain/task.js';
import { expandGraph, measuredDurations, nodesAsDecided } from '../engine/plan.js';
import { getCluster } from '../inventory/clusters.js';
import type { Context } from '../ports.js';
import { assertDeployable, checkInputs, readInputs } from './deploy.js';

export interface PreviewTask {
  task: string;
  /** The engine layer (the Map iteration) it runs, or is decided, in. */
  layer: number;
  decision: TaskDecision;
}

export interface PreviewNode {
  /** A cluster node's id, MASTER_NODE or SYNC_NODE. */
  target: number;
  name: string;
  provision: ProvisionDecision;
  /** In the order they are decided: by layer, requirements first. */
  tasks: PreviewTask[];
}

export interface DeploymentPreview {
  clusterId: number;
  resume: boolean;
  /** Layers of the whole plan. */
  layers: number;
  /** The cluster's nodes by id (those selected with `nodes`), then the master and the sync node if the plan has them. */
  nodes: PreviewNode[];
}

export interface PreviewRequest {
  resume: boolean;
  /** Only these nodes of the cluster (the plan is still the whole cluster's); null: every node, the master and the sync node. */
  nodes: number[] | null;
}

export async function previewChanges(
  ctx: Context,
  clusterId: number,
  request: PreviewRequest,
): Promise<DeploymentPreview> {
  const mode: DeployMode = { force: false, resume: request.resume, scope: 'all', nodes: null };
  const c = await getCluster(ctx, clusterId);
  await assertDeployable(ctx, c, 'preview the deployment');
  const inputs = await readInputs(ctx, c);
  const selected = checkInputs(ctx, c, inputs, mode);
  const wanted = request.nodes === null ? null : shownNodes(c.id, selected, request.nodes);

  const { nodes, newRoles } = projectNodes(inputs.members, selected, rolesNeedingPrimary(inputs.graph));
  const runId = await expectedRunId(ctx);
  const { deployment, readsDeploymentId } = expandGraph(ctx, {
    cluster: { ...c, status: 'deployment' },
    editable: inputs.editable,
    graph: inputs.graph,
    nodes,
    runId,
    onlyTasks: mode.tasks,
    // the next run's plan orders its layers by the cluster's last finished run, as here
    durations: await measuredDurations(ctx, { id: Number.MAX_SAFE_INTEGER, clusterId }),
  });
  const decided = nodes.filter((n) => wanted === null || wanted.has(n.id));
  const instances = deployment.instances.filter((i) => (wanted === null ? true : wanted.has(i.nodeId)));
  const decision = decideWork({
    mode,
    nodes: await nodesAsDecided(ctx, decided, mode, newRoles),
    instances,
    fingerprints: graphFingerprints(inputs.graph, inputs.editable),
  });
  const tasks = decision.tasks.map((d, k) => {
    const key = instances[k]?.key;
    return key !== undefined && readsDeploymentId.has(key) ? decidedWhenPlanned(d, runId) : d;
  });
  return {
    clusterId: c.id,
    resume: request.resume,
    layers: deployment.layers.length,
    nodes: previewNodes(decided, instances, { provision: decision.provision, tasks }),
  };
}

/**
 * The id the next run is expected to get: the newest task's + 1. Exact unless another task is created first
 * (or an id was taken and never used since): see the header.
 */
async function expectedRunId(ctx: Context): Promise<number> {
  const newest = await ctx.repos.tasks.page({}, { limit: 1, marker: null, order: 'desc' });
  return (newest.items[0]?.id ?? 0) + 1;
}

/**
 * The preview's nodes from a plan's entries and their decisions (one per entry, in the same order): every node
 * decided, with whether it is provisioned, then every target an entry names (the master, the sync node); each
 * with its entries in the plan's order. The cluster's nodes by id, then the master, then the sync node.
 */
export function previewNodes(
  nodes: readonly Pick<Node, 'id' | 'name'>[],
  instances: readonly Pick<TaskInstance, 'task' | 'nodeId' | 'layer'>[],
  decision: WorkDecision,
): PreviewNode[] {
  const byTarget = new Map<number, PreviewNode>();
  for (const node of [...nodes].sort((a, b) => a.id - b.id)) {
    const reason = decision.provision.get(node.id);
    byTarget.set(node.id, {
      target: node.id,
      name: node.name,
      provision: reason === undefined ? { provision: false, reason: null } : { provision: true, reason },
      tasks: [],
    });
  }
  instances.forEach((instance, k) => {
    let entry = byTarget.get(instance.nodeId);
    if (!entry) {
      const name = instance.nodeId === MASTER_NODE ? 'master' : instance.nodeId === SYNC_NODE ? 'sync' : '?';
      entry = { target: instance.nodeId, name, provision: { provision: false, reason: null }, tasks: [] };
      byTarget.set(instance.nodeId, entry);
    }
    entry.tasks.push({
      task: instance.task,
      layer: instance.layer,
      decision: decision.tasks[k] as TaskDecision,
    });
  });
  // the cluster's nodes by id, then the master, then the sync node
  const rank = (target: number) => (target > 0 ? target : Number.MAX_SAFE_INTEGER - 1 - target);
  return [...byTarget.values()].sort((a, b) => rank(a.target) - rank(b.target));
}

/** The nodes asked for, each a node the deployment acts on (400 naming those that are not). */
function shownNodes(clusterId: number, selected: Node[], asked: number[]): Set<number> {
  const known = new Set(selected.map((n) => n.id));
  const unknown = [...new Set(asked)].filter((id) => !known.has(id));
  if (unknown.length > 0) {
    const problems = unknown.map((id) => ({
      field: 'nodes',
      message: `node ${id} is not in environment ${clusterId}`,
    }));
    throw new ValidationError(problems.map((p) => p.message).join('; '), problems);
  }
  return new Set(asked);
}
