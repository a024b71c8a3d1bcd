/**
 * The stop/restart story at 1,000 nodes on the embedded runtime: the reference graph on the large-1000
 * layout of simulated nodes (real shell in isolated roots, short tasks), provisioned, deployed, stopped
 * gracefully in the middle of the deployment, then "Deploy changes" again until the cluster is
 * operational. Measured: wall time of each part, Step Functions events, DynamoDB requests per node result,
 * the stop's ratio to what was running, and the process's memory while it holds the fleet.
 */
import type { ClusterJson, NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { GraphTask } from '../../lambdas/domain/graph.js';
import { layerCountOf } from '../../lambdas/domain/task.js';
import type { Runtime } from '../../local/runtime.js';
import { type Api, provisionedCluster, startDeployment, until } from '../lib/api.js';
import type { DynamoCounter } from '../lib/dynamo-counter.js';
import { commandsOf, stageOfComment } from '../lib/runtime.js';
import { type DeployedRun, measuredRun } from './deploy.js';
import { type MeasuredStop, stopAndMeasure } from './stop.js';

export interface EndToEndResult {
  nodes: number;
  /** Seconds: provisioning (every node's root comes up with it), the first run to its stop, the restart. */
  provisionSeconds: number;
  firstRunSeconds: number;
  restartSeconds: number;
  wallSeconds: number;
  /** The layer running when the stop was asked for, of the plan's layers. */
  stoppedInLayer: number;
  plannedLayers: number;
  stop: MeasuredStop;
  stopped: DeployedRun;
  restart: DeployedRun;
  /** The cluster's status after the restart, and its nodes' (count by status). */
  clusterStatus: string;
  nodeStatuses: Record<string, number>;
  /** Rows of the restart that ran, and those it skipped as already done (the stopped run's ready rows). */
  restartRan: number;
  restartSkipped: number;
  /** Resident memory of the process (MB): before the fleet started, the most seen while it ran. */
  rssBeforeMb: number;
  rssPeakMb: number;
}

/** Samples the process's resident memory until stopped; the most it saw. */
function rssSampler(everyMs = 250): { peakMb: () => number; stop: () => void } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, everyMs);
  return {
    peakMb: () => Math.max(peak, process.memoryUsage().rss) / 1024 / 1024,
    stop: () => clearInterval(timer),
  };
}

export async function endToEnd(
  runtime: Runtime,
  api: Api,
  counter: DynamoCounter,
  input: {
    roles: string[];
    graph: GraphTask[];
    scale: number;
    typical: Record<string, number>;
    rssBeforeMb: number;
    log: (line: string) => void;
  },
  timeoutMs: number,
): Promise<EndToEndResult> {
  const memory = rssSampler();
  try {
    const t0 = Date.now();
    input.log(`e2e: provisioning ${input.roles.length} nodes`);
    const { cluster, nodes } = await provisionedCluster(
      api,
      'bench-e2e',
      input.roles,
      input.graph,
      timeoutMs,
    );
    const t1 = Date.now();

    input.log('e2e: deploying, to stop it in the middle');
    const started = await startDeployment(api, cluster.id, nodes);
    const runId = started.task.id;
    const plannedLayers = await layersOf(runtime, runId, timeoutMs);
    const middle = Math.floor(plannedLayers / 2);
    const stoppedInLayer = await layerReached(runtime, runId, middle, timeoutMs);
    input.log(`e2e: stopping run ${runId} in layer ${stoppedInLayer} of ${plannedLayers}`);
    const stop = await stopAndMeasure(runtime, api, cluster.id, runId, timeoutMs);
    const stopped = await measuredRun(runtime, counter, { runId, sentAt: started.sentAt }, input, timeoutMs);
    const t2 = Date.now();

    input.log('e2e: Deploy changes again');
    const restartSentAt = Date.now();
    const again = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`);
    const restart = await measuredRun(
      runtime,
      counter,
      { runId: again.id, sentAt: restartSentAt },
      input,
      timeoutMs,
    );
    const t3 = Date.now();

    const after = await api.ok<ClusterJson>('GET', `/api/v1/clusters/${cluster.id}/`);
    const members = await api.ok<NodeJson[]>('GET', `/api/v1/nodes/?cluster_id=${cluster.id}`);
    const nodeStatuses: Record<string, number> = {};
    for (const n of members) nodeStatuses[n.status] = (nodeStatuses[n.status] ?? 0) + 1;
    const restartRows = (await runtime.repos.history.rows(again.id, 'layers')).filter((r) => r.noop === null);
    return {
      nodes: nodes.length,
      provisionSeconds: (t1 - t0) / 1000,
      firstRunSeconds: (t2 - t1) / 1000,
      restartSeconds: (t3 - t2) / 1000,
      wallSeconds: (t3 - t0) / 1000,
      stoppedInLayer,
      plannedLayers,
      stop,
      stopped,
      restart,
      clusterStatus: after.status,
      nodeStatuses,
      restartRan: restartRows.filter((r) => r.command !== null).length,
      restartSkipped: restartRows.filter((r) => r.status === 'skipped').length,
      rssBeforeMb: input.rssBeforeMb,
      rssPeakMb: memory.peakMb(),
    };
  } finally {
    memory.stop();
  }
}

/** The layers the run's plan holds, once the plan step has written them. */
async function layersOf(runtime: Runtime, runId: number, timeoutMs: number): Promise<number> {
  return until(
    `run ${runId} to be planned`,
    async () => {
      const run = await runtime.repos.tasks.getRun(runId);
      return run?.plan ? layerCountOf(run.plan) : null;
    },
    timeoutMs,
    100,
  );
}

/** Waits until a command of layer `layer` (or a later one) of the run has started; the layer it found. */
async function layerReached(
  runtime: Runtime,
  runId: number,
  layer: number,
  timeoutMs: number,
): Promise<number> {
  return until(
    `run ${runId} to reach layer ${layer}`,
    async () => {
      const started = commandsOf(runtime, runId)
        .filter((c) => c.startedAt !== null)
        .map((c) => Number(stageOfComment(c.comment).replace('layer-', '')))
        .filter((l) => Number.isInteger(l) && l >= layer);
      return started.length > 0 ? Math.max(...started) : null;
    },
    timeoutMs,
    250,
  );
}
