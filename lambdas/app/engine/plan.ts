/**
 * "Plan deployment", the state machine's first step: expands the graph on the run's nodes, decides which
 * nodes need provisioning and which work is unchanged since its last successful run, and stores the pending
 * history rows. Idempotent: a retried plan returns the outline it stored.
 */
import { defaultAttributes, provisionCommand, provisionTimeout } from '../../domain/attributes.js';
import { executionTimeout, stageTimeLimit } from '../../domain/dispatch.js';
import { NotFoundError } from '../../domain/errors.js';
import { taskFingerprint } from '../../domain/fingerprint.js';
import { type HistoryRow, pendingRow } from '../../domain/history.js';
import type { Node } from '../../domain/model.js';
import { layerTimeoutSeconds, planDeployment } from '../../domain/plan.js';
import { defaultGraph } from '../../domain/release.js';
import { layerStage, PROVISION_STAGE } from '../../domain/stage.js';
import { needsProvisioning } from '../../domain/status.js';
import type { DeploymentOutline, DeploymentRun } from '../../domain/task.js';
import type { Context } from '../ports.js';
import { loadRun } from './run.js';

export async function plan(ctx: Context, input: { taskId: number }): Promise<DeploymentOutline> {
  const { repos } = ctx;
  const run = await loadRun(ctx, input.taskId);
  if (run.plan) return run.plan;
  const cluster = await repos.clusters.get(run.clusterId);
  if (!cluster) throw new NotFoundError(`Cluster ${run.clusterId} not found`);
  const graph = (await repos.clusters.getGraph(cluster.id)) ?? defaultGraph();
  const editable = (await repos.clusters.getAttributes(cluster.id)) ?? defaultAttributes();
  const nodes = await takePendingRoles(ctx, run);

  const deployment =
    run.mode.scope === 'provision'
      ? { instances: [], layers: [] }
      : planDeployment(
          graph,
          nodes.map((n) => ({ id: n.id, roles: n.roles })),
        );
  const toProvision =
    run.mode.scope === 'deploy' ? [] : nodes.filter((n) => needsProvisioning(n.status, n.errorType));
  const fingerprints = new Map(graph.map((t) => [t.id, taskFingerprint(t, editable)]));
  const unchangedOn = await unchangedWork(ctx, run, nodes, fingerprints);

  const provisionLimit = provisionTimeout(editable);
  const rows: HistoryRow[] = [
    ...toProvision.map((n) => provisionRow(run.id, n.id, provisionCommand(editable), provisionLimit)),
    ...deployment.instances.map((i) =>
      pendingRow({
        deployTaskId: run.id,
        stage: layerStage(i.layer),
        taskName: i.task,
        nodeId: i.nodeId,
        cmd: i.cmd,
        timeout: i.timeout,
        retries: i.retries,
        failOnError: i.failOnError,
        requires: i.requires,
        layer: i.layer,
        fingerprint: fingerprints.get(i.task) ?? null,
        unchanged: unchangedOn.get(i.nodeId)?.has(i.task) ?? false,
      }),
    ),
  ];
  await repos.history.putRows(rows);

  const byKey = new Map(deployment.instances.map((i) => [i.key, i]));
  const outline: DeploymentOutline = {
    provision: {
      nodeCount: toProvision.length,
      timeoutSeconds: stageTimeLimit(executionTimeout(provisionLimit, 0)),
    },
    layers: deployment.layers.map((keys, index) => ({
      taskId: run.id,
      stage: layerStage(index),
      timeoutSeconds: stageTimeLimit(layerTimeoutSeconds(keys.flatMap((k) => byKey.get(k) ?? []))),
    })),
  };
  if (run.children.provision !== null)
    await repos.tasks.update(run.children.provision, { total: toProvision.length });
  if (run.children.deployment !== null) {
    await repos.tasks.update(run.children.deployment, { total: deployment.instances.length });
  }
  const nodesBefore = Object.fromEntries(nodes.map((n) => [String(n.id), n.status]));
  await repos.tasks.update(run.id, { plan: outline, total: rows.length, nodesBefore });
  ctx.log('planned deployment', {
    taskId: run.id,
    provision: toProvision.length,
    instances: deployment.instances.length,
    layers: deployment.layers.length,
  });
  return outline;
}

function provisionRow(runId: number, nodeId: number, cmd: string, timeout: number): HistoryRow {
  return pendingRow({
    deployTaskId: runId,
    stage: PROVISION_STAGE,
    taskName: 'provision',
    nodeId,
    cmd,
    timeout,
    retries: 0,
    failOnError: true,
    requires: [],
    layer: null,
    fingerprint: null,
    unchanged: false,
  });
}

/** The run's nodes, with their pending roles (and pending addition) taken on. */
async function takePendingRoles(ctx: Context, run: DeploymentRun): Promise<Node[]> {
  const selected = run.mode.nodes ? new Set(run.mode.nodes) : null;
  const members = (await ctx.repos.nodes.listOfCluster(run.clusterId)).filter(
    (n) => !n.pendingDeletion && (selected === null || selected.has(n.id)),
  );
  const nodes: Node[] = [];
  for (const node of members) {
    if (node.pendingAddition || node.pendingRoles.length > 0) {
      const roles = [...new Set([...node.roles, ...node.pendingRoles])];
      // a node given new roles is configured anew: what ran on it before no longer counts
      if (roles.length !== node.roles.length) await ctx.repos.nodes.forgetLastRuns(node.id);
      nodes.push(await ctx.repos.nodes.update(node.id, { roles, pendingRoles: [], pendingAddition: false }));
    } else {
      nodes.push(node);
    }
  }
  return nodes;
}

/**
 * Work already done: on ready nodes (and stopped ones when resuming), a task whose inputs are unchanged since
 * its last successful run there is planned as not needing to run. A forced redeploy runs everything.
 */
async function unchangedWork(
  ctx: Context,
  run: DeploymentRun,
  nodes: Node[],
  fingerprints: Map<string, string>,
): Promise<Map<number, Set<string>>> {
  const unchangedOn = new Map<number, Set<string>>();
  for (const node of nodes) {
    const eligible = node.status === 'ready' || (run.mode.resume && node.status === 'stopped');
    if (run.mode.force || !eligible) continue;
    const same = new Set<string>();
    for (const last of await ctx.repos.nodes.lastRuns(node.id)) {
      if (fingerprints.get(last.taskName) === last.fingerprint) same.add(last.taskName);
    }
    unchangedOn.set(node.id, same);
  }
  return unchangedOn;
}
