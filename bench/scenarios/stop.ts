/**
 * Graceful stops of running deployments: each deployment runs a chain of slow tasks on every node; the stop
 * is requested (PUT clusters/{id}/stop_deployment/) at a different point of a running layer each time. For
 * each stop: the time from its 202 to the deployment settled (the run and its stop task ended, the cluster
 * unlocked), against the longest remainder of what was running at the 202 (the fleet's log: the latest end of
 * a command sent before the 202), and the commands of the deployment sent after the 202.
 */
import type { NodeJson, TaskJson } from '../../lambdas/api/wire.js';
import type { Task } from '../../lambdas/domain/task.js';
import type { Runtime } from '../../local/runtime.js';
import { type Api, clusterUnlocked, pause, startDeployment, until } from '../lib/api.js';
import { commandsOf, ended, stageOfComment } from '../lib/runtime.js';

export interface StopSample {
  runId: number;
  /** Layer and seconds into it when the stop was requested. */
  layer: number;
  offset: number;
  /** Seconds from the 202 (as the client had it) to the run and its stop task ended. */
  settled: number;
  /** Seconds from the 202 to the end of the last command sent before it. */
  remainder: number;
  ratio: number | null;
  commandsSentAfter: number;
  commandsReceivedAfter: number;
  /** Commands the complete deployment sends that were not sent when the stop answered. */
  commandsNotSent: number;
  replyMs: number;
}

/** A chain of `length` tasks on every node, each sleeping `seconds`. */
export function slowChain(length: number, seconds: number): unknown[] {
  return Array.from({ length }, (_, i) => ({
    id: `slow-${i}`,
    type: 'shell',
    version: '2.0.0',
    roles: '*',
    requires: i > 0 ? [`slow-${i - 1}`] : [],
    parameters: { cmd: `sleep ${seconds}`, timeout: 120 },
  }));
}

export async function stopOnce(
  runtime: Runtime,
  api: Api,
  input: {
    clusterId: number;
    nodes: NodeJson[];
    layer: number;
    fraction: number;
    seconds: number;
    fullCommands: number;
  },
  timeoutMs: number,
): Promise<StopSample> {
  const started = await startDeployment(api, input.clusterId, input.nodes, true);
  const runId = started.task.id;
  const stage = `layer-${input.layer}`;
  const running = await until(
    `${stage} of run ${runId} to run on every node`,
    async () => {
      const cs = commandsOf(runtime, runId).filter((c) => stageOfComment(c.comment) === stage && c.startedAt);
      return cs.length >= input.nodes.length && cs;
    },
    timeoutMs,
    10,
  );
  const layerStartedAt = Math.max(...running.map((c) => Date.parse(c.startedAt as string)));
  const offset = input.fraction * input.seconds;
  await pause(Math.max(0, layerStartedAt + offset * 1000 - Date.now()));

  const measured = await stopAndMeasure(runtime, api, input.clusterId, runId, timeoutMs);
  return {
    ...measured,
    layer: input.layer,
    offset,
    commandsNotSent: Math.max(0, input.fullCommands - measured.batchesSentBefore),
  };
}

/** What a stop measures, whatever was running: `stopOnce` adds where in the run it was asked for. */
export type MeasuredStop = Omit<StopSample, 'layer' | 'offset' | 'commandsNotSent'> & {
  /** SendCommand batches of the run sent before the 202. */
  batchesSentBefore: number;
};

/**
 * Asks for a graceful stop of the cluster's running deployment now, and waits for it to settle: the run and
 * its stop task ended, the cluster unlocked. Measured from the 202 as the client had it.
 */
export async function stopAndMeasure(
  runtime: Runtime,
  api: Api,
  clusterId: number,
  runId: number,
  timeoutMs: number,
): Promise<MeasuredStop> {
  const askedAt = Date.now();
  const reply = await api.call<TaskJson>('PUT', `/api/v1/clusters/${clusterId}/stop_deployment/`);
  const ackAt = Date.now();
  if (reply.status !== 202) throw new Error(`stop answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  const run = await ended(runtime, runId, timeoutMs, 10);
  const stopTask = await until<Task>(
    `stop task ${reply.body.id} to end`,
    async () => {
      const t = await runtime.repos.tasks.get(reply.body.id);
      return t !== null && (t.status === 'ready' || t.status === 'error') && t;
    },
    timeoutMs,
    10,
  );
  await clusterUnlocked(api, clusterId, timeoutMs);
  const endOf = (t: Task) => Date.parse(t.timeEnd ?? new Date().toISOString());
  const settledAt = Math.max(endOf(run), endOf(stopTask));

  const commands = commandsOf(runtime, runId);
  const before = commands.filter((c) => Date.parse(c.sentAt) <= ackAt);
  const lastEnd = Math.max(ackAt, ...before.map((c) => (c.endedAt ? Date.parse(c.endedAt) : ackAt)));
  const remainder = (lastEnd - ackAt) / 1000;
  const settled = (settledAt - ackAt) / 1000;
  return {
    runId,
    settled,
    remainder,
    ratio: remainder > 0.05 ? settled / remainder : null,
    commandsSentAfter: commands.filter((c) => Date.parse(c.sentAt) > ackAt).length,
    commandsReceivedAfter: commands.filter((c) => Date.parse(c.receivedAt) > ackAt).length,
    batchesSentBefore: new Set(before.map((c) => c.commandId)).size,
    replyMs: ackAt - askedAt,
  };
}

/** The SendCommand calls a complete deployment of the cluster makes (one run to its end). */
export async function fullDeploymentCommands(
  runtime: Runtime,
  api: Api,
  clusterId: number,
  nodes: NodeJson[],
  timeoutMs: number,
): Promise<{ commands: number; seconds: number; runId: number; executionArn: string | null }> {
  const started = await startDeployment(api, clusterId, nodes, true);
  const run = await ended(runtime, started.task.id, timeoutMs);
  await clusterUnlocked(api, clusterId, timeoutMs);
  const batches = new Set(commandsOf(runtime, run.id).map((c) => c.commandId));
  return {
    commands: batches.size,
    seconds: (Date.parse(run.timeEnd ?? '') - Date.parse(run.timeStart ?? '')) / 1000,
    runId: run.id,
    executionArn: run.executionArn,
  };
}
