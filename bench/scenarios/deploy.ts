/**
 * A real deployment of the reference graph on the embedded runtime (the same handlers and state machine file
 * as on AWS, commands run as real `sleep`s on the simulated nodes): its makespan against the ideal
 * schedules of the same plan and durations, its Step Functions history, and the DynamoDB requests it made.
 */
import type { NodeJson } from '../../lambdas/api/wire.js';
import type { DeploymentRun } from '../../lambdas/domain/task.js';
import type { Runtime } from '../../local/runtime.js';
import { type Api, startDeployment } from '../lib/api.js';
import { type MeasuredEvents, measuredEvents } from '../lib/cost-model.js';
import { type DynamoCounter, type DynamoRequest, summarize } from '../lib/dynamo-counter.js';
import { sleepArgument } from '../lib/reference.js';
import { commandsOf, ended, executionHistory, stageOfComment } from '../lib/runtime.js';

/** Functions whose requests are not the deployment's: the bench's own reads, discovery's periodic pass. */
const NOT_THE_DEPLOYMENT = new Set(['other', 'discover-nodes']);

export interface DeployedRun {
  runId: number;
  status: string;
  /** Seconds from the run's start (the API's 202) to its end, by the run's own timestamps. */
  makespan: number;
  layers: number;
  /** Node results (rows that ran a command). */
  results: number;
  /** Per layer, the task names of the rows that ran, sorted (to compare with the planner's layers). */
  layerTasks: string[][];
  /** Layers one after another, each as long as its longest nominal duration (typical x scale). */
  nominalLayered: number;
  /** The same with each command's duration as it ran on its node (fleet log: started to ended). */
  asRunLayered: number;
  /** The same, unscaled: typical seconds. */
  typicalLayered: number;
  /** Mean seconds a command took on its node beyond its nominal sleep (process start, isolation). */
  commandOverhead: number;
  /** Mean seconds from SendCommand to the command started on its node (delivery, the node's process start). */
  sendToStart: number;
  /**
   * Mean seconds from the last command of a layer ending on its node to the next layer's first SendCommand:
   * the result path, the stage's end, the state machine's next iteration, the stop check and the dispatch.
   */
  betweenLayers: number;
  events: MeasuredEvents;
  requests: DeploymentRequests;
}

export interface DeploymentRequests {
  total: number;
  byFunction: Record<string, number>;
  byOperation: Record<string, number>;
  /** Requests of the result path (command-status) per node result, and their operations. */
  perResult: number;
  perResultByOperation: Record<string, number>;
  readsPerResult: number;
  writesPerResult: number;
  /** Requests of the state machine's steps (plan, check stop, dispatch, finish) per layer. */
  perLayer: number;
  readsPerLayer: number;
  writesPerLayer: number;
  /** The item written most often in one layer, and how often; the most results a layer had. */
  hottestPerLayer: { item: string; writes: number; layer: number } | null;
  maxResultsPerLayer: number;
  /** Mean milliseconds a request took, sent to answered (dynalite over local HTTP). */
  meanMs: number;
  /** The most writes one item took within one second. */
  hottestPerSecond: { item: string; writes: number } | null;
}

export async function deployOnce(
  runtime: Runtime,
  api: Api,
  counter: DynamoCounter,
  input: {
    clusterId: number;
    nodes: NodeJson[];
    force: boolean;
    scale: number;
    typical: Record<string, number>;
  },
  timeoutMs: number,
): Promise<DeployedRun> {
  const started = await startDeployment(api, input.clusterId, input.nodes, input.force);
  return measuredRun(runtime, counter, { runId: started.task.id, sentAt: started.sentAt }, input, timeoutMs);
}

/**
 * A deployment run measured once it has ended (from the request that started it, at `sentAt`): its layers
 * against their nominal durations, the fleet's log, its Step Functions history and its DynamoDB requests.
 */
export async function measuredRun(
  runtime: Runtime,
  counter: DynamoCounter,
  started: { runId: number; sentAt: number },
  input: { scale: number; typical: Record<string, number> },
  timeoutMs: number,
): Promise<DeployedRun> {
  const run = (await ended(runtime, started.runId, timeoutMs, 100)) as DeploymentRun;
  const endAt = Date.now();
  if (run.timeStart === null || run.timeEnd === null)
    throw new Error(`run ${run.id} has no start or end time`);
  const rows = (await runtime.repos.history.rows(run.id, 'layers')).filter((r) => r.noop === null);
  const nominal = (task: string) => Number(sleepArgument((input.typical[task] ?? 0) * input.scale));

  const layerCount = Math.max(0, ...rows.map((r) => (r.layer ?? -1) + 1));
  const layerTasks: string[][] = Array.from({ length: layerCount }, () => []);
  const nominalByLayer = new Array<number>(layerCount).fill(0);
  const typicalByLayer = new Array<number>(layerCount).fill(0);
  for (const row of rows) {
    const layer = row.layer ?? 0;
    layerTasks[layer]?.push(row.taskName);
    nominalByLayer[layer] = Math.max(nominalByLayer[layer] ?? 0, nominal(row.taskName));
    typicalByLayer[layer] = Math.max(typicalByLayer[layer] ?? 0, input.typical[row.taskName] ?? 0);
  }
  for (const list of layerTasks) list.sort();

  // each command's time on its node, from the fleet's log; a command of a layer runs one task on its nodes
  const commands = commandsOf(runtime, run.id);
  const taskOfCommand = new Map<string, string>();
  for (const row of rows) if (row.command) taskOfCommand.set(row.command.commandId, row.taskName);
  const asRunByLayer = new Array<number>(layerCount).fill(0);
  let overhead = 0;
  let timed = 0;
  const layerStart = new Array<number>(layerCount).fill(Number.POSITIVE_INFINITY);
  const layerEnd = new Array<number>(layerCount).fill(Number.NEGATIVE_INFINITY);
  let sendToStart = 0;
  for (const c of commands) {
    const layer = Number(stageOfComment(c.comment).replace('layer-', ''));
    if (!Number.isInteger(layer) || layer >= layerCount) continue;
    layerStart[layer] = Math.min(layerStart[layer] as number, Date.parse(c.sentAt));
    if (c.startedAt === null || c.endedAt === null) continue;
    layerEnd[layer] = Math.max(layerEnd[layer] as number, Date.parse(c.endedAt));
    sendToStart += (Date.parse(c.startedAt) - Date.parse(c.sentAt)) / 1000;
    const seconds = (Date.parse(c.endedAt) - Date.parse(c.startedAt)) / 1000;
    asRunByLayer[layer] = Math.max(asRunByLayer[layer] ?? 0, seconds);
    const task = taskOfCommand.get(c.commandId);
    if (task !== undefined) {
      overhead += seconds - nominal(task);
      timed++;
    }
  }

  const gaps = layerStart
    .map((start, i) => (start - (layerEnd[i - 1] ?? Number.NaN)) / 1000)
    .filter((gap) => Number.isFinite(gap));
  // the rows that ran a command (a stopped run leaves some unsent; Deploy changes skips unchanged work)
  const ran = rows.filter((r) => r.command !== null);
  const events = measuredEvents(await executionHistory(runtime, String(run.executionArn)));
  const startAt = Date.parse(run.timeStart);
  const requests = deploymentRequests(
    counter.between(started.sentAt, endAt).filter((r) => !NOT_THE_DEPLOYMENT.has(r.fn)),
    ran.length,
    layerCount,
    layerStart,
    ran.map((r) => r.layer ?? 0),
  );
  const sum = (list: number[]) => list.reduce((a, b) => a + b, 0);
  return {
    runId: run.id,
    status: run.status,
    makespan: (Date.parse(run.timeEnd) - startAt) / 1000,
    layers: layerTasks.filter((l) => l.length > 0).length,
    results: ran.length,
    layerTasks,
    nominalLayered: sum(nominalByLayer),
    asRunLayered: sum(asRunByLayer),
    typicalLayered: sum(typicalByLayer),
    commandOverhead: timed > 0 ? overhead / timed : 0,
    sendToStart: timed > 0 ? sendToStart / timed : 0,
    betweenLayers: gaps.length > 0 ? sum(gaps) / gaps.length : 0,
    events,
    requests,
  };
}

const STEP_FUNCTIONS = new Set(['plan', 'check-stop', 'dispatch', 'finish', 'execution-ended']);
const READS = new Set(['GetCommand', 'QueryCommand', 'BatchGetCommand', 'ScanCommand']);

function deploymentRequests(
  requests: DynamoRequest[],
  results: number,
  layers: number,
  layerStart: number[],
  rowLayers: number[],
): DeploymentRequests {
  const all = summarize(requests);
  const resultPath = requests.filter((r) => r.fn === 'command-status');
  const steps = requests.filter((r) => STEP_FUNCTIONS.has(r.fn));
  const per = (list: DynamoRequest[], n: number) => (n > 0 ? list.length / n : 0);
  const readsOf = (list: DynamoRequest[]) => list.filter((r) => READS.has(r.operation));
  const writesOf = (list: DynamoRequest[]) => list.filter((r) => r.write);
  const byOp = summarize(resultPath).byOperation;
  const perResultByOperation = Object.fromEntries(
    Object.entries(byOp).map(([op, count]) => [op, results > 0 ? count / results : 0]),
  );

  // writes per item within each layer (a layer's window runs from its first command to the next layer's)
  const starts = layerStart.map((s, i) => ({ s, i })).filter((x) => Number.isFinite(x.s));
  const layerAt = (at: number): number => {
    let found = -1;
    for (const { s, i } of starts) if (s <= at) found = i;
    return found;
  };
  const perLayerItem = new Map<string, number>();
  for (const r of requests) {
    if (!r.write || r.item === null) continue;
    const key = `${layerAt(r.at)}\n${r.item}`;
    perLayerItem.set(key, (perLayerItem.get(key) ?? 0) + 1);
  }
  let hottestPerLayer: DeploymentRequests['hottestPerLayer'] = null;
  for (const [key, writes] of perLayerItem) {
    const [layer, item] = key.split('\n') as [string, string];
    if (Number(layer) < 0) continue;
    if (!hottestPerLayer || writes > hottestPerLayer.writes)
      hottestPerLayer = { item, writes, layer: Number(layer) };
  }
  const resultsPerLayer = new Map<number, number>();
  for (const l of rowLayers) resultsPerLayer.set(l, (resultsPerLayer.get(l) ?? 0) + 1);

  return {
    total: all.total,
    byFunction: all.byFunction,
    byOperation: all.byOperation,
    perResult: per(resultPath, results),
    perResultByOperation,
    readsPerResult: per(readsOf(resultPath), results),
    writesPerResult: per(writesOf(resultPath), results),
    perLayer: per(steps, layers),
    readsPerLayer: per(readsOf(steps), layers),
    writesPerLayer: per(writesOf(steps), layers),
    hottestPerLayer,
    maxResultsPerLayer: Math.max(0, ...resultsPerLayer.values()),
    meanMs: meanOf(requests.flatMap((r) => (r.ms === null ? [] : [r.ms]))),
    hottestPerSecond: hottestWithinOneSecond(requests),
  };
}

const meanOf = (list: number[]) => (list.length > 0 ? list.reduce((a, b) => a + b, 0) / list.length : 0);

/** The item with the most writes within any one-second window. */
export function hottestWithinOneSecond(requests: DynamoRequest[]): { item: string; writes: number } | null {
  const byItem = new Map<string, number[]>();
  for (const r of requests) {
    if (!r.write || r.item === null) continue;
    const list = byItem.get(r.item);
    if (list) list.push(r.at);
    else byItem.set(r.item, [r.at]);
  }
  let best: { item: string; writes: number } | null = null;
  for (const [item, times] of byItem) {
    times.sort((a, b) => a - b);
    let from = 0;
    for (let to = 0; to < times.length; to++) {
      while ((times[to] as number) - (times[from] as number) >= 1000) from++;
      const writes = to - from + 1;
      if (!best || writes > best.writes) best = { item, writes };
    }
  }
  return best;
}
