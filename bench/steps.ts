/**
 * The bench's scenarios turned into figures (bench/lib/figures.ts): each figure with the target of issue 11's
 * table and a baseline computed in the same run.
 */
import {
  EXECUTION_EVENT_LIMIT,
  EXECUTION_EVENTS_FIXED,
  EXECUTION_EVENTS_PER_LAYER,
} from '../lambdas/domain/plan-limits.js';
import { LAYERS_PER_CHUNK, NODES_PER_CHUNK, TARGETS_PER_CHUNK } from '../lambdas/store/plans.js';
import type { BenchConfig } from './config.js';
import { provisionedCluster } from './lib/api.js';
import { type DeploymentCost, measuredEvents, naiveCost, productCost } from './lib/cost-model.js';
import type { DynamoCounter } from './lib/dynamo-counter.js';
import type { Figures } from './lib/figures.js';
import { PaperFleet } from './lib/paper-ssm.js';
import {
  layoutNodes,
  layoutRoles,
  type ReferenceWorkload,
  scaledLayout,
  sleepingGraph,
  typicalOf,
  validTasks,
} from './lib/reference.js';
import { benchRuntime, commandsOf, executionHistory } from './lib/runtime.js';
import { max, median, round } from './lib/stats.js';
import { type DeployedRun, deployOnce } from './scenarios/deploy.js';
import { type EndToEndResult, endToEnd } from './scenarios/e2e.js';
import { timePlan, widenedGraph } from './scenarios/plan.js';
import { readsScenario } from './scenarios/reads.js';
import { scaleRun } from './scenarios/scale.js';
import { type Schedules, schedulesOf } from './scenarios/schedule.js';
import { fullDeploymentCommands, type StopSample, slowChain, stopOnce } from './scenarios/stop.js';

export interface StepContext {
  cfg: BenchConfig;
  workload: ReferenceWorkload;
  figures: Figures;
  details: Record<string, unknown>;
  counter: DynamoCounter;
  log: (line: string) => void;
}

const seconds = (value: number) => ({ value, unit: 's' });

function scheduleSummary(s: Schedules) {
  return {
    nodes: s.nodes,
    instances: s.instances,
    criticalPathS: s.criticalPath.seconds,
    criticalPath: s.criticalPath.path,
    astuteS: s.astute,
    astuteCapped50S: s.astuteCapped,
    listByPathS: s.listByPath,
    layeredFirstS: s.layeredFirst.seconds,
    layeredInformedS: s.layeredInformed.seconds,
    layers: s.layeredInformed.layers,
    layersFirst: s.layeredFirst.layers,
  };
}

/** Critical path, Astute's schedule and the product's layers of the reference graph, typical durations. */
export function scheduleStep(ctx: StepContext): void {
  const { workload: w, figures } = ctx;
  const typical = (task: string) => typicalOf(w, task);
  const layouts: Record<string, ReturnType<typeof scheduleSummary>> = {};
  for (const layout of Object.keys(w.clusters)) {
    layouts[layout] = scheduleSummary(schedulesOf(w.tasks, layoutNodes(layoutRoles(w, layout)), typical));
  }
  ctx.details.schedule = { durations: 'typical_duration_s of test/fixtures/reference-graph.json', layouts };
  const r = layouts['reference-50'];
  if (!r) return;
  const cp = { name: 'critical path (same plan, typical durations)', ...seconds(r.criticalPathS) };
  figures.add('schedule', {
    id: 'astute-vs-critical-path',
    name: "Astute's schedule / critical path (reference-50)",
    value: r.astuteS,
    unit: 's',
    target: 'reported (the bound the strategies and one task per node allow)',
    baseline: cp,
    note: `Astute simulated on the product's plan: one task per node, one_by_one / parallel amounts, its Task#weight priority. With its 50-busy-node cap: ${round(r.astuteCapped50S)} s; a longest-path-first list scheduler: ${round(r.listByPathS)} s.`,
  });
  figures.add('schedule', {
    id: 'layered-vs-critical-path',
    name: 'layered schedule with zero engine overhead / critical path (reference-50)',
    value: r.layeredInformedS,
    unit: 's',
    target: "the layering's own cost, reported",
    baseline: cp,
    note: `${r.layers} layers, planned with the typical durations (as a deployment plans once it knows them). Planned as a first deployment does (durations unknown, all alike): ${round(r.layeredFirstS)} s in ${r.layersFirst} layers, ${round(r.layeredFirstS / r.criticalPathS, 2)} x the critical path.`,
  });
  figures.add('schedule', {
    id: 'layered-vs-astute',
    name: "layered schedule with zero engine overhead / Astute's schedule (reference-50)",
    value: r.layeredInformedS,
    unit: 's',
    target: '<= 1.15 with the engine overhead on top (issue point 2)',
    check: (ratio) => ratio <= 1.15,
    onRatio: true,
    baseline: { name: "Astute's schedule (same plan, typical durations)", ...seconds(r.astuteS) },
    note: `What the layering alone costs over a dependency-driven schedule. First-deployment layering: ${round(r.layeredFirstS / r.astuteS, 2)} x. At large-1000: ${round((layouts['large-1000']?.layeredInformedS ?? 0) / (layouts['large-1000']?.astuteS ?? 1), 2)} x.`,
  });
}

/** The planner on 1,000 nodes and a 300-task graph. */
export function planStep(ctx: StepContext): void {
  const { cfg, workload: w, figures } = ctx;
  const graph = validTasks(widenedGraph(w.tasks, cfg.planTasks), 'the widened reference graph');
  const roles = layoutRoles(w, 'large-1000').slice(0, cfg.planNodes);
  const timing = timePlan(graph, roles, cfg.planRuns);
  const reference = timePlan(w.tasks, roles, cfg.planRuns);
  ctx.details.plan = { widened: timing, reference1000: reference };
  const what = `${timing.nodes} nodes x ${timing.tasks} tasks: ${timing.instances} instances, ${timing.edges} requirements, ${timing.layers} layers`;
  figures.add('plan', {
    id: 'plan-1000x300-time',
    name: `plan ${timing.nodes.toLocaleString('en-US')} nodes x ${timing.tasks} tasks: time (median of ${cfg.planRuns} runs)`,
    value: timing.medianMs,
    unit: 'ms',
    target: '< 150 ms',
    check: (ms) => ms < 150,
    baseline: {
      name: 'indexing the plan and sorting it topologically (the least any planner does)',
      value: timing.topoMedianMs,
      unit: 'ms',
    },
    note: `expandGraph (lambdas/app/engine/plan.ts, as Deploy changes and the plan step run it) on ${what}; runs ${timing.runsMs.map((m) => Math.round(m)).join(', ')} ms. The reference graph (${reference.tasks} tasks) on the same nodes: ${Math.round(reference.medianMs)} ms.`,
  });
  figures.add('plan', {
    id: 'plan-1000x300-memory',
    name: `plan ${timing.nodes.toLocaleString('en-US')} nodes x ${timing.tasks} tasks: memory`,
    value: timing.heapGrowthMb,
    unit: 'MB',
    target: '< 200 MB',
    check: (mb) => mb < 200,
    baseline: {
      name: 'heap the finished plan keeps (after a full GC)',
      value: timing.retainedMb,
      unit: 'MB',
    },
    note: 'Heap grown during one planning (after a full GC, none forced until it returns): a lower bound of its peak.',
  });
}

/** Real deployments on the embedded runtime, and graceful stops. */
export async function runtimeStep(ctx: StepContext, want: { deploy: boolean; stop: boolean }): Promise<void> {
  const { cfg, workload: w, log } = ctx;
  const counts = scaledLayout(w.clusters[cfg.layout] ?? {}, cfg.deployNodes);
  const roles = Object.entries(counts).flatMap(([role, n]) => Array.from({ length: n }, () => role));
  const nodeCount = (want.deploy ? roles.length : 0) + (want.stop ? cfg.stopNodes : 0);
  const memBefore = process.memoryUsage().rss;
  const bench = await benchRuntime({ nodeCount });
  const { runtime, api } = bench;
  try {
    const timeout = 900_000;
    // the stop cluster first: its complete deployment gives the events per layer on few nodes
    if (want.stop) await stopFigures(ctx, runtime, api, timeout);
    if (want.deploy) {
      log(`deploy: provisioning ${roles.length} nodes`);
      const graph = sleepingGraph(w, cfg.scale);
      const { cluster, nodes } = await provisionedCluster(api, 'bench-deploy', roles, graph, timeout);
      log('deploy: first deployment');
      const first = await deployOnce(
        runtime,
        api,
        ctx.counter,
        { clusterId: cluster.id, nodes, force: false, scale: cfg.scale, typical: w.typical },
        timeout,
      );
      let informed: DeployedRun | null = null;
      if (cfg.informedRedeploy) {
        log('deploy: second deployment, planned with the measured durations');
        informed = await deployOnce(
          runtime,
          api,
          ctx.counter,
          { clusterId: cluster.id, nodes, force: true, scale: cfg.scale, typical: w.typical },
          timeout,
        );
      }
      deployFigures(ctx, roles, counts, first, informed, process.memoryUsage().rss - memBefore);
    }
  } finally {
    await bench.stop();
  }
}

function deployFigures(
  ctx: StepContext,
  roles: string[],
  counts: Record<string, number>,
  first: DeployedRun,
  informed: DeployedRun | null,
  rssGrowth: number,
): void {
  const { cfg, workload: w, figures } = ctx;
  const s = schedulesOf(w.tasks, layoutNodes(roles), (task) => typicalOf(w, task));
  const scaled = (typicalSeconds: number) => typicalSeconds * cfg.scale;
  const layout = `${roles.length} nodes (${Object.entries(counts)
    .map(([r, n]) => `${n} ${r}`)
    .join(', ')})`;
  const plannedLayers = s.plans.first.layers.filter((l) => l.length > 0).length;
  const sameLayers = plannedLayers === first.layers;
  const runNote = (r: DeployedRun) =>
    `run ${r.runId} ended ${r.status}: ${round(r.makespan, 2)} s for ${r.layers} layers, ${r.results} results on ${layout}, 1 typical second = ${cfg.scale} s of sleep`;
  const overheadOf = (r: DeployedRun) => (r.makespan - r.nominalLayered) / r.layers;
  const main = informed ?? first;
  const mainLabel = informed
    ? 'the second deployment (planned with the durations the first one measured)'
    : 'a first deployment (durations unknown: all alike)';

  figures.add('deploy', {
    id: 'makespan-vs-critical-path',
    name: `makespan / critical path (${cfg.layout}${roles.length !== 50 ? `, ${roles.length} nodes` : ''})`,
    value: first.makespan,
    unit: 's',
    target: 'reported',
    baseline: { name: 'critical path, scaled durations', ...seconds(scaled(s.criticalPath.seconds)) },
    note: `${runNote(first)}.${informed ? ` Second deployment: ${round(informed.makespan, 2)} s, ${round(informed.makespan / scaled(s.criticalPath.seconds), 2)} x.` : ''} Its layers ${sameLayers ? 'match' : 'differ from'} planDeployment's (${plannedLayers}).`,
  });
  figures.add('deploy', {
    id: 'makespan-vs-astute',
    name: "makespan / Astute's schedule (measured, scaled durations)",
    value: main.makespan,
    unit: 's',
    target: '<= 1.15',
    check: (ratio) => ratio <= 1.15,
    onRatio: true,
    baseline: { name: "Astute's schedule, scaled durations", ...seconds(scaled(s.astute)) },
    note: `${mainLabel}. At this scale a layer's work is short, so the per-layer overhead weighs ${round(overheadOf(main) / (main.nominalLayered / main.layers), 2)} x a layer's ideal length; see the projection at typical durations.`,
  });
  const projected = main.typicalLayered + overheadOf(main) * main.layers;
  figures.add('deploy', {
    id: 'makespan-vs-astute-typical',
    name: "makespan / Astute's schedule, projected at typical durations",
    value: projected,
    unit: 's',
    target: '<= 1.15',
    check: (ratio) => ratio <= 1.15,
    onRatio: true,
    baseline: { name: "Astute's schedule, typical durations", ...seconds(s.astute) },
    note: `The deployed layers with their typical (unscaled) durations, ${round(main.typicalLayered)} s, plus the measured overhead per layer times ${main.layers} layers: the overhead does not grow with task durations.`,
  });
  figures.add('deploy', {
    id: 'engine-overhead-per-layer',
    name: 'engine overhead per layer (measured - ideal layered, / layers)',
    value: overheadOf(first),
    unit: 's',
    target: '<= 0.15 s locally',
    check: (v) => v <= 0.15,
    baseline: {
      name: 'mean ideal layer length (scaled durations)',
      ...seconds(first.nominalLayered / first.layers),
    },
    note: `Ideal layered ${round(first.nominalLayered, 2)} s with nominal sleeps; with each command's time on its node (fleet log) ${round(first.asRunLayered, 2)} s, leaving ${round((first.makespan - first.asRunLayered) / first.layers, 3)} s a layer to the orchestration; a command took ${round(first.commandOverhead, 3)} s beyond its sleep on its node. From a layer's last command ending to the next layer's first SendCommand: ${round(first.betweenLayers, 3)} s (mean); from SendCommand to the command started on its node: ${round(first.sendToStart, 3)} s. The state machine's steps make ${round(first.requests.perLayer, 1)} DynamoDB requests a layer and the results ${round(first.requests.perResult, 2)} each; a request took ${round(first.requests.meanMs, 1)} ms (mean, dynalite over local HTTP).${informed ? ` Second deployment: ${round(overheadOf(informed), 3)} s a layer.` : ''}`,
  });

  // Step Functions events and cost, against the naive design on the same plan
  const m = first.events;
  const typicalDurations = s.plans.first.instances
    .filter((i) => i.noop === null)
    .map((i) => typicalOf(w, i.task));
  const naive = naiveCost(typicalDurations, plannedLayers);
  const req = first.requests;
  const rates = {
    readsPerResult: req.readsPerResult,
    writesPerResult: req.writesPerResult,
    readsPerLayer: req.readsPerLayer,
    writesPerLayer: req.writesPerLayer,
  };
  const product = productCost(m, m.layers, first.results, rates);
  const meanTypical = typicalDurations.reduce((a, b) => a + b, 0) / Math.max(1, typicalDurations.length);
  const big = { nodes: 1000, layers: 200 };
  const naiveBig = naiveCost(new Array<number>(big.nodes * big.layers).fill(meanTypical), big.layers);
  const productBig = productCost(m, big.layers, big.nodes * big.layers, rates);
  const stopRunEvents = ctx.details.stopEventsPerLayer as number | undefined;
  figures.add('deploy', {
    id: 'events-per-deployment',
    name: 'Step Functions events per deployment',
    value: m.total,
    unit: 'events',
    target: `${EXECUTION_EVENTS_FIXED} + ${EXECUTION_EVENTS_PER_LAYER} x layers at most, flat in nodes: keep`,
    check: () => m.perLayer <= EXECUTION_EVENTS_PER_LAYER && m.fixed <= EXECUTION_EVENTS_FIXED,
    baseline: {
      name: 'naive design (one Map iteration per task and node, 10 s polls), same plan',
      value: naive.events,
      unit: 'events',
    },
    note: `${round(m.fixed)} + ${round(m.perLayer, 2)} x ${m.layers} layers (GetExecutionHistory of run ${first.runId}, ${roles.length} nodes)${stopRunEvents !== undefined ? `; ${round(stopRunEvents, 2)} a layer on the stop cluster's ${cfg.stopNodes} nodes` : ''}. Transitions: ${m.transitions}, naive ${naive.transitions}.`,
    details: { byType: m.byType },
  });
  figures.add('deploy', {
    id: 'events-1000x200',
    name: 'Step Functions events, 1,000 nodes x 200 layers (formula)',
    value: productBig.events,
    unit: 'events',
    target: `< ${EXECUTION_EVENT_LIMIT.toLocaleString('en-US')} (one Standard execution)`,
    check: (v) => v < EXECUTION_EVENT_LIMIT,
    baseline: {
      name: `naive design, ${(big.nodes * big.layers).toLocaleString('en-US')} iterations of ${round(meanTypical, 1)} s`,
      value: naiveBig.events,
      unit: 'events',
    },
    note: `Measured fixed part plus per-layer events times 200, whatever the nodes. The naive design ${naiveBig.fitsOneExecution ? 'fits' : 'does not fit'} one execution.`,
  });
  figures.add('deploy', {
    id: 'dollars-per-deployment',
    name: `cost per deployment, ${cfg.layout} plan (Step Functions + Lambda + DynamoDB)`,
    value: product.dollars.total,
    unit: '$',
    target: 'reported',
    baseline: { name: 'naive design, same plan and durations', value: naive.dollars.total, unit: '$' },
    note: costNote(product, naive),
  });
  figures.add('deploy', {
    id: 'dollars-1000x200',
    name: 'cost per deployment, 1,000 nodes x 200 layers (formula)',
    value: productBig.dollars.total,
    unit: '$',
    target: 'reported',
    baseline: { name: 'naive design, same size', value: naiveBig.dollars.total, unit: '$' },
    note: costNote(productBig, naiveBig),
  });
  figures.add('deploy', {
    id: 'dynamo-requests-per-result',
    name: 'DynamoDB requests per node result (real deployment)',
    value: req.perResult,
    unit: 'requests',
    target: '<= 4',
    check: (v) => v <= 4,
    baseline: { name: 'naive design: stop flag, command, row, progress', value: 4, unit: 'requests' },
    note: `The result path (command-status -> record-result), per node result of run ${first.runId}: ${opsText(req.perResultByOperation)}. Besides, the state machine's steps make ${round(req.perLayer, 1)} requests a layer.`,
    details: { byFunction: req.byFunction, byOperation: req.byOperation },
  });
  if (req.hottestPerLayer) {
    figures.add('deploy', {
      id: 'hot-item-per-layer',
      name: 'writes to one item per layer (real deployment)',
      value: req.hottestPerLayer.writes,
      unit: 'writes',
      target: 'no item written more than a few times a second',
      baseline: { name: 'results in the largest layer', value: req.maxResultsPerLayer, unit: 'results' },
      note: `${req.hottestPerLayer.item} in layer ${req.hottestPerLayer.layer}; within one second at most ${req.hottestPerSecond?.writes ?? 0} writes (${req.hottestPerSecond?.item ?? '-'}). At 1,000 nodes: the scale scenario.`,
    });
  }
  ctx.details.deploy = {
    layout: counts,
    scale: cfg.scale,
    rssGrowthMb: rssGrowth / 1024 / 1024,
    schedules: scheduleSummary(s),
    first: { ...first, layerTasks: undefined },
    informed: informed ? { ...informed, layerTasks: undefined } : null,
    layersMatchPlanner: sameLayers,
    cost: { product, naive, productBig, naiveBig, meanTypicalS: meanTypical },
  };
}

function opsText(ops: Record<string, number>): string {
  return Object.entries(ops)
    .map(([op, n]) => `${round(n, 2)} ${op}`)
    .join(', ');
}

function costNote(product: DeploymentCost, naive: DeploymentCost): string {
  const d = (c: DeploymentCost) =>
    `$${c.dollars.stepFunctions.toPrecision(3)} Step Functions (${c.transitions} transitions) + $${c.dollars.lambda.toPrecision(3)} Lambda (${c.lambdaInvocations}) + $${c.dollars.dynamodb.toPrecision(3)} DynamoDB (${c.dynamoReads} reads, ${c.dynamoWrites} writes)`;
  return `Product: ${d(product)}. Naive: ${d(naive)}.`;
}

async function stopFigures(
  ctx: StepContext,
  runtime: Awaited<ReturnType<typeof benchRuntime>>['runtime'],
  api: Awaited<ReturnType<typeof benchRuntime>>['api'],
  timeout: number,
): Promise<void> {
  const { cfg, figures, log } = ctx;
  const roles = Array.from({ length: cfg.stopNodes }, (_, i) => (i === 0 ? 'controller' : 'compute'));
  const { cluster, nodes } = await provisionedCluster(
    api,
    'bench-stop',
    roles,
    slowChain(cfg.stopTasks, cfg.stopSeconds),
    timeout,
  );
  log('stop: a complete deployment of the stop graph');
  const full = await fullDeploymentCommands(runtime, api, cluster.id, nodes, timeout);
  if (full.executionArn) {
    const m = measuredEvents(await executionHistory(runtime, full.executionArn));
    ctx.details.stopEventsPerLayer = m.perLayer;
  }
  const samples: StopSample[] = [];
  for (let i = 0; i < cfg.stops; i++) {
    // stops spread over the layer: 0.15 .. 0.85 of the running tasks' time, in the first layers
    const fraction = 0.15 + 0.7 * ((i * 0.618034) % 1);
    const layer = i % Math.max(1, cfg.stopTasks - 1);
    log(`stop ${i + 1}/${cfg.stops}: layer ${layer}, ${round(fraction, 2)} into it`);
    samples.push(
      await stopOnce(
        runtime,
        api,
        {
          clusterId: cluster.id,
          nodes,
          layer,
          fraction,
          seconds: cfg.stopSeconds,
          fullCommands: full.commands,
        },
        timeout,
      ),
    );
  }
  const rated = samples.filter((s) => s.ratio !== null);
  const ratios = rated.map((s) => s.ratio as number);
  const worst = rated.reduce<StopSample | null>(
    (a, b) => (a === null || (b.ratio ?? 0) > (a.ratio ?? 0) ? b : a),
    null,
  );
  const sentAfter = samples.reduce((n, s) => n + s.commandsSentAfter, 0);
  const notSent = samples.reduce((n, s) => n + s.commandsNotSent, 0);
  const where = `${samples.length} stops of a ${cfg.stopTasks}-task chain of ${cfg.stopSeconds} s sleeps on ${cfg.stopNodes} nodes`;
  figures.add('stop', {
    id: 'stop-settle-median',
    name: 'stop: 202 to settled / longest in-flight remainder (median)',
    value: median(rated.map((s) => s.settled)),
    unit: 's',
    target: 'median <= 1.03',
    ratio: median(ratios),
    check: (ratio) => ratio <= 1.03,
    onRatio: true,
    baseline: {
      name: 'longest in-flight remainder at the 202 (median)',
      value: median(rated.map((s) => s.remainder)),
      unit: 's',
    },
    note: `${where}; ratio = median of the per-stop ratios (${ratios.map((r) => round(r, 2)).join(', ')}). Settled: the run and its stop task ended (their own timestamps). ${samples.length - rated.length} stop(s) landed with nothing running.`,
  });
  figures.add('stop', {
    id: 'stop-settle-max',
    name: 'stop: 202 to settled / longest in-flight remainder (max)',
    value: worst?.settled ?? null,
    unit: 's',
    target: 'max <= 1.08',
    ratio: ratios.length > 0 ? max(ratios) : null,
    check: (ratio) => ratio <= 1.08,
    onRatio: true,
    baseline: worst ? { name: 'its longest in-flight remainder', value: worst.remainder, unit: 's' } : null,
    note: `The worst of the ${rated.length} stops (run ${worst?.runId ?? '-'}, layer ${worst?.layer ?? '-'}, ${round(worst?.offset ?? 0, 2)} s into it); the stop's reply took ${round(median(samples.map((s) => s.replyMs)))} ms (median).`,
  });
  figures.add('stop', {
    id: 'commands-after-stop',
    name: "commands sent after a stop's 202",
    value: sentAfter,
    unit: 'commands',
    target: '0',
    check: (v) => v === 0,
    baseline: {
      name: 'commands the deployments still had to send at the 202',
      value: notSent,
      unit: 'commands',
    },
    note: `Fleet log: invocations whose SendCommand reached SSM after the client had the 202 (received by a node after it: ${samples.reduce((n, s) => n + s.commandsReceivedAfter, 0)}), over ${where}. A complete deployment sends ${full.commands} commands in ${round(full.seconds, 2)} s.`,
  });
  ctx.details.stop = { samples, full, commandsOfFullRun: commandsOf(runtime, full.runId).length };
}

/** A deployment at 1,000 nodes on paper SSM, its baseline at 50, and the reads. */
export async function seededStep(ctx: StepContext, want: { scale: boolean; reads: boolean }): Promise<void> {
  const { cfg, workload: w, figures, log } = ctx;
  const paper = new PaperFleet();
  const bench = await benchRuntime({ nodeCount: 1, decorate: { commands: paper.decorate } });
  const { runtime, api } = bench;
  try {
    if (want.scale) {
      const large = layoutRoles(w, 'large-1000').slice(0, cfg.scaleNodes);
      const base = layoutRoles(w, 'reference-50').slice(0, cfg.scaleBaselineNodes);
      const seeded = (name: string, roles: string[], firstNodeIndex: number) => {
        log(`scale: seeded deployment on ${roles.length} nodes`);
        return scaleRun(runtime, api, ctx.counter, paper, {
          name,
          roles,
          graph: w.tasks,
          firstNodeIndex,
          concurrency: cfg.resultConcurrency,
        });
      };
      const small = await seeded('scale-base', base, 100_000);
      const big = await seeded('scale', large, 200_000);
      scaleFigures(ctx, small, big);
    }
    if (want.reads) {
      log(`reads: seeding ${cfg.tasks} tasks and ${cfg.historyRows} history rows`);
      const reads = await readsScenario(runtime, api, {
        tasks: cfg.tasks,
        rows: cfg.historyRows,
        repetitions: cfg.repetitions,
        historyRepetitions: cfg.historyRepetitions,
      });
      ctx.details.reads = reads;
      const tasksValue = reads.tasksPaged.page?.p99 ?? reads.tasksList.p99;
      figures.add('reads', {
        id: 'get-tasks-p99',
        name: `\`GET tasks/\` with ${reads.tasks} tasks: p99`,
        value: tasksValue,
        unit: 'ms',
        target: 'p99 < 50 ms, paged',
        check: (ms) => ms < 50 && reads.tasksPaged.paged,
        baseline: { name: '`GET tasks/{id}/` p99', value: reads.taskById.p99, unit: 'ms' },
        note: `${reads.tasksPaged.paged ? `a page of 100 (${reads.tasksPaged.how}); the whole list page by page: ${Math.round(reads.tasksPaged.allPagesMs ?? 0)} ms in ${reads.tasksPaged.pages} pages` : `not paged: ${reads.tasksPaged.how}`}. The whole list in one reply: p50 ${Math.round(reads.tasksList.p50)} ms, p99 ${Math.round(reads.tasksList.p99)} ms, ${Math.round(reads.tasksList.bytes / 1024)} KB; ${reads.tasksList.samples} requests each.`,
      });
      const historyValue = reads.historyPaged.page?.p99 ?? reads.history.p99;
      figures.add('reads', {
        id: 'get-history-p99',
        name: `\`GET deployment_history/\` with ${reads.rows.toLocaleString('en-US')} rows: p99${reads.historyPaged.paged ? ' a page' : ''}`,
        value: historyValue,
        unit: 'ms',
        target: 'pages (limit / marker), p99 < 100 ms a page',
        check: (ms) => ms < 100 && reads.historyPaged.paged,
        baseline: {
          name: 'the same read of a run with 100 rows, p99',
          value: reads.smallHistory.p99,
          unit: 'ms',
        },
        note: `${reads.historyPaged.paged ? `a page of 100 (${reads.historyPaged.how}); every row page by page: ${Math.round(reads.historyPaged.allPagesMs ?? 0)} ms in ${reads.historyPaged.pages} pages` : `not paged: ${reads.historyPaged.how}`}. The whole history in one reply: p50 ${Math.round(reads.history.p50)} ms, p99 ${Math.round(reads.history.p99)} ms, ${(reads.history.bytes / 1024 / 1024).toFixed(1)} MB (${reads.history.samples} requests). Seeded through the repositories in ${round(reads.seedSeconds, 1)} s.`,
      });
    }
  } finally {
    await bench.stop();
  }
}

function scaleFigures(
  ctx: StepContext,
  small: Awaited<ReturnType<typeof scaleRun>>,
  big: Awaited<ReturnType<typeof scaleRun>>,
): void {
  const { figures } = ctx;
  const row = (r: typeof big) => r.largest.history ?? { bytes: 0, key: '-' };
  figures.add('scale', {
    id: 'largest-history-row-1000',
    name: `largest history row at ${big.nodes.toLocaleString('en-US')} nodes`,
    value: row(big).bytes,
    unit: 'bytes',
    target: '< 2 KB, independent of nodes',
    check: (bytes) => bytes < 2048 && bytes <= row(small).bytes * 1.1,
    baseline: { name: `the same at ${small.nodes} nodes`, value: row(small).bytes, unit: 'bytes' },
    note: `${row(big).key}, written by the plan step (${big.instances} rows, ${round(big.planStep, 1)} s, ${big.planStepRequests} requests); at ${small.nodes} nodes: ${row(small).key}.`,
  });
  const stage = (r: typeof big) => r.stageItemAtOpen ?? { bytes: 0, key: '-' };
  figures.add('scale', {
    id: 'largest-stage-item-1000',
    name: `largest stage item at ${big.nodes.toLocaleString('en-US')} nodes`,
    value: stage(big).bytes,
    unit: 'bytes',
    target: 'no O(nodes) item (reported)',
    baseline: { name: `the same at ${small.nodes} nodes`, value: stage(small).bytes, unit: 'bytes' },
    note: `${stage(big).key} when its layer opened (${big.layerInstances} instances, a 1 KB task token). The run's largest items of each kind at ${big.nodes} nodes when the layer opened: ${Object.entries(
      big.atOpen,
    )
      .map(([kind, v]) => `${kind} ${v.bytes} B`)
      .join(', ')}; at its end: ${Object.entries(big.largest)
      .map(([kind, v]) => `${kind} ${v.bytes} B`)
      .join(', ')}.`,
  });
  const isChunk = (kind: string) => kind.startsWith('plan-');
  const largestOf = (r: typeof big, keep: (kind: string) => boolean) =>
    Object.entries(r.largest)
      .filter(([kind]) => keep(kind))
      .reduce<{ kind: string; bytes: number; key: string } | null>(
        (a, [kind, v]) => (a === null || v.bytes > a.bytes ? { kind, ...v } : a),
        null,
      ) ?? { kind: '-', bytes: 0, key: '-' };
  const largestOther = (r: typeof big) => largestOf(r, (kind) => kind !== 'history' && !isChunk(kind));
  const largestChunk = largestOf(big, isChunk);
  figures.add('scale', {
    id: 'largest-run-item-1000',
    name: `largest item of a deployment besides its rows, at ${big.nodes.toLocaleString('en-US')} nodes`,
    value: largestOther(big).bytes,
    unit: 'bytes',
    target: 'no O(nodes) item',
    check: (ratio) => ratio <= 1.5,
    onRatio: true,
    baseline: { name: `the same at ${small.nodes} nodes`, value: largestOther(small).bytes, unit: 'bytes' },
    note: `${largestOther(big).kind} ${largestOther(big).key} (at ${small.nodes} nodes: ${largestOther(small).kind} ${largestOther(small).key}), among the run's task item, stage items, outstanding shards, command intents and failure markers. Met when it grows less than 1.5 x from ${small.nodes} to ${big.nodes} nodes.`,
  });
  figures.add('scale', {
    id: 'largest-plan-chunk-1000',
    name: `largest chunk of a deployment's plan, at ${big.nodes.toLocaleString('en-US')} nodes`,
    value: largestChunk.bytes,
    unit: 'bytes',
    target: 'bounded by its count (lambdas/store/plans.ts), far below the 400 KB of an item',
    check: (bytes) => bytes < 64 * 1024,
    baseline: {
      name: `the same at ${small.nodes} nodes`,
      value: largestOf(small, isChunk).bytes,
      unit: 'bytes',
    },
    note: `${largestChunk.kind} ${largestChunk.key}. A chunk holds at most ${NODES_PER_CHUNK} nodes, ${LAYERS_PER_CHUNK} layers or ${TARGETS_PER_CHUNK} members of target sets: more nodes add chunks, none grows past its count. Met under 64 KB.`,
  });
  figures.add('scale', {
    id: 'dynamo-requests-per-result-1000',
    name: `DynamoDB requests per node result, layer of ${big.results.toLocaleString('en-US')} results`,
    value: big.perResult,
    unit: 'requests',
    target: '<= 4',
    check: (v) => v <= 4,
    baseline: { name: 'naive design: stop flag, command, row, progress', value: 4, unit: 'requests' },
    note: `The product's result step (record-result) for each node of layer ${big.layer}, ${ctx.cfg.resultConcurrency} at a time: ${opsText(big.perResultByOperation)}; ${round(big.deliverySeconds, 1)} s for all. At ${small.nodes} nodes: ${round(small.perResult, 2)}.`,
  });
  const hot = big.hottestItem;
  const hotBytes = hot?.bytes ?? null;
  figures.add('scale', {
    id: 'hot-item-1000',
    name: `writes to one item per layer of ${big.results.toLocaleString('en-US')} results`,
    value: hot?.writes ?? 0,
    unit: 'writes',
    target: 'no item written more than a few times a second',
    check: (ratio) => ratio <= 0.01,
    onRatio: true,
    baseline: { name: 'results in the layer', value: big.results, unit: 'results' },
    note: `Most written: ${hot?.item ?? '-'}${hotBytes ? ` (${Math.round(hotBytes / 1024)} KB: ${Math.ceil(hotBytes / 1024)} write units a write)` : ''}; next: ${big.secondHottest?.item ?? '-'} (${big.secondHottest?.writes ?? 0}). Met when the hottest item takes at most 10 writes per 1,000 results, so that a layer whose results all land within one second writes no item more than 10 times that second.`,
  });
  ctx.details.scale = { small, big };
}

/** The stop/restart story end to end on a 1,000-node simulated fleet (`--e2e-1000`). */
export async function endToEndStep(ctx: StepContext): Promise<void> {
  const { cfg, workload: w, figures, log } = ctx;
  const roles = layoutRoles(w, 'large-1000').slice(0, cfg.e2eNodes);
  const rssBeforeMb = process.memoryUsage().rss / 1024 / 1024;
  const bench = await benchRuntime({ nodeCount: roles.length });
  let result: EndToEndResult;
  try {
    result = await endToEnd(
      bench.runtime,
      bench.api,
      ctx.counter,
      {
        roles,
        graph: sleepingGraph(w, cfg.e2eScale),
        scale: cfg.e2eScale,
        typical: w.typical,
        rssBeforeMb,
        log,
      },
      3_600_000,
    );
  } finally {
    await bench.stop();
  }
  const r = result;
  const n = r.nodes.toLocaleString('en-US');
  const where = `${n} nodes (large-1000${r.nodes < 1000 ? `, first ${n}` : ''}), 1 typical second = ${cfg.e2eScale} s of sleep`;
  const ready = r.nodeStatuses.ready ?? 0;
  figures.add('e2e', {
    id: 'e2e-wall-time',
    name: `${n} nodes end to end: provision, deploy, stop, Deploy changes to operational`,
    value: r.wallSeconds,
    unit: 's',
    target: 'reported (the fleet and runtime hold the load on this machine)',
    baseline: {
      name: 'the same two runs with no engine overhead (their layers, nominal sleeps)',
      ...seconds(r.stopped.nominalLayered + r.restart.nominalLayered),
    },
    note: `${where}. Provisioning ${round(r.provisionSeconds)} s (every node's root comes up with it), the first run to its stop ${round(r.firstRunSeconds)} s (${r.stopped.results} results, stopped in layer ${r.stoppedInLayer} of ${r.plannedLayers}), Deploy changes ${round(r.restartSeconds)} s (${r.restartRan} results, ${r.restartSkipped} rows skipped as done, ${r.restart.layers} layers).`,
    details: {
      ...r,
      stopped: { ...r.stopped, layerTasks: undefined },
      restart: { ...r.restart, layerTasks: undefined },
    },
  });
  figures.add('e2e', {
    id: 'e2e-restart-operational',
    name: `${n} nodes: nodes ready after Deploy changes following the stop`,
    value: ready,
    unit: 'nodes',
    target: 'every node ready, the cluster operational',
    check: (v) => v === r.nodes && r.clusterStatus === 'operational' && r.restart.status === 'ready',
    baseline: { name: 'nodes of the cluster', value: r.nodes, unit: 'nodes' },
    note: `Cluster ${r.clusterStatus}; nodes by status: ${Object.entries(r.nodeStatuses)
      .map(([s, c]) => `${c} ${s}`)
      .join(', ')}; the restart run ended ${r.restart.status}.`,
  });
  figures.add('e2e', {
    id: 'e2e-stop-ratio',
    name: `${n} nodes: stop, 202 to settled / longest in-flight remainder`,
    value: r.stop.settled,
    unit: 's',
    target: '<= 1.08 (the max of the stop figures)',
    check: (ratio) => ratio <= 1.08,
    onRatio: true,
    baseline: { name: 'longest in-flight remainder at the 202', ...seconds(r.stop.remainder) },
    note: `The stop's reply took ${r.stop.replyMs} ms; commands sent after the 202: ${r.stop.commandsSentAfter}.`,
  });
  figures.add('e2e', {
    id: 'e2e-events',
    name: `${n} nodes: Step Functions events of Deploy changes after the stop`,
    value: r.restart.events.total,
    unit: 'events',
    target: `${EXECUTION_EVENTS_FIXED} + ${EXECUTION_EVENTS_PER_LAYER} x layers at most, flat in nodes`,
    check: () =>
      r.restart.events.perLayer <= EXECUTION_EVENTS_PER_LAYER &&
      r.restart.events.fixed <= EXECUTION_EVENTS_FIXED,
    baseline: {
      name: `${EXECUTION_EVENTS_FIXED} + ${EXECUTION_EVENTS_PER_LAYER} x its ${r.restart.events.layers} layers`,
      value: EXECUTION_EVENTS_FIXED + EXECUTION_EVENTS_PER_LAYER * r.restart.events.layers,
      unit: 'events',
    },
    note: `${round(r.restart.events.fixed)} + ${round(r.restart.events.perLayer, 2)} x ${r.restart.events.layers} layers; the stopped run: ${r.stopped.events.total} events.`,
  });
  figures.add('e2e', {
    id: 'e2e-requests-per-result',
    name: `${n} nodes: DynamoDB requests per node result`,
    value: r.restart.requests.perResult,
    unit: 'requests',
    target: '<= 4',
    check: (v) => v <= 4,
    baseline: { name: 'naive design: stop flag, command, row, progress', value: 4, unit: 'requests' },
    note: `Deploy changes after the stop: ${opsText(r.restart.requests.perResultByOperation)}; the stopped run: ${round(r.stopped.requests.perResult, 2)}.`,
  });
  figures.add('e2e', {
    id: 'e2e-memory',
    name: `${n} nodes: resident memory of the runtime's process (peak)`,
    value: r.rssPeakMb,
    unit: 'MB',
    target: 'reported (what holding the fleet costs)',
    baseline: { name: 'the bench process before the runtime started', value: r.rssBeforeMb, unit: 'MB' },
    note: `Dynalite, the state machine, every handler and the fleet's bookkeeping in one Node process; each node's root is a bash init and its commands real processes (not counted here).`,
  });
}
