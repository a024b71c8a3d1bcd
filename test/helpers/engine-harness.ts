/**
 * Drives the deployment engine without Step Functions, against real parts: dynalite, the local SSM fleet
 * (real shell processes) with the project's task document, and the context the composition root builds
 * (the DynamoDB repositories, the SSM adapter, the service and the engine's steps). Only the Step Functions port (Workflows) is a recording fake: tests call plan / dispatch /
 * finish themselves, as the state machine would, and watch for `complete(token)`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, expect } from 'vitest';
import { checkStop } from '../../lambdas/app/engine/check-stop.js';
import { dispatch, type StageInput } from '../../lambdas/app/engine/dispatch.js';
import { type FinishInput, finish } from '../../lambdas/app/engine/finish.js';
import { plan } from '../../lambdas/app/engine/plan.js';
import { watchdog } from '../../lambdas/app/engine/watchdog.js';
import type {
  Clock,
  Context,
  ExecutionState,
  NodeCommands,
  Repositories,
  StopWorker,
  Workflows,
} from '../../lambdas/app/ports.js';
import { createService, type Service } from '../../lambdas/app/service.js';
import type { Editable } from '../../lambdas/domain/attributes.js';
import type { GraphTask } from '../../lambdas/domain/graph.js';
import type { HistoryRow } from '../../lambdas/domain/history.js';
import type { Node } from '../../lambdas/domain/model.js';
import type { RowScope, Stage } from '../../lambdas/domain/stage.js';
import type { DeploymentRun, StageTask, Task } from '../../lambdas/domain/task.js';
import { commandStatusHandler } from '../../lambdas/handlers/command-status.js';
import { compose } from '../../lambdas/handlers/compose.js';
import { stopHandler } from '../../lambdas/handlers/stop.js';
import { Table } from '../../lambdas/store/table.js';
import { commandStatusEvent, createDelivery } from '../../local/event-delivery.js';
import { LocalLambda } from '../../local/lambda/functions.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalDynamoDb } from '../../local/local-dynamodb.js';
import { type CommandStatusEvent, LocalFleet, type SsmDocument } from '../../local/ssm/fleet.js';
import { openGate } from './gates.js';
export const DOCUMENT_NAME = 'FuelRunTask';
const REGION = LOCAL_REGION;
const credentials = LOCAL_CREDENTIALS;
const runTaskDocument = JSON.parse(
  readFileSync(new URL('../../infra/documents/run-task.json', import.meta.url), 'utf8'),
) as SsmDocument;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `read` until `done` holds; fails after `timeoutMs` with the last value seen. */
export async function waitFor<T>(
  what: string,
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    }
    await sleep(25);
  }
}

/** The Step Functions port, recorded: no state machine runs, tests play its part. */
export class RecordingWorkflows implements Workflows {
  readonly starts: { name: string; input: Record<string, unknown>; arn: string }[] = [];
  readonly completions: { token: string; output: Record<string, unknown> }[] = [];

  async start(name: string, input: Record<string, unknown>): Promise<string> {
    const arn = `arn:aws:states:${REGION}:000000000000:execution:fuel-deployment:${name}`;
    this.starts.push({ name, input, arn });
    return arn;
  }

  async complete(token: string, output: Record<string, unknown>): Promise<boolean> {
    this.completions.push({ token, output });
    return true;
  }

  consoleUrl(executionArn: string): string {
    return `https://console.aws.amazon.com/states/home#/v2/executions/details/${executionArn}`;
  }

  /** Executions as a test set them (e.g. ABORTED from the console, or gone: null). */
  readonly executions = new Map<string, ExecutionState | null>();

  async execution(name: string): Promise<ExecutionState | null> {
    if (this.executions.has(name)) return this.executions.get(name) ?? null;
    return this.starts.some((s) => s.name === name) ? { status: 'RUNNING', error: null, cause: null } : null;
  }

  completionsOf(token: string): { token: string; output: Record<string, unknown> }[] {
    return this.completions.filter((c) => c.token === token);
  }
}

export interface HarnessOptions {
  nodeCount?: number;
  /** Wraps the real SSM adapter (fault injection at the port). */
  wrapCommands?: (real: NodeCommands) => NodeCommands;
  /** Wraps the real repositories (fault injection at the ports). */
  wrapRepos?: (real: Repositories) => Repositories;
  /** How many times each status event is delivered, concurrently (EventBridge delivers at least once). */
  deliveryCopies?: number;
  /** Status events for which this is true are lost (EventBridge delivers best-effort). */
  loseEvent?: (event: CommandStatusEvent) => boolean;
  /** Wraps the stop function's asynchronous invocation (to lose it, as AWS can). */
  wrapStopWorker?: (real: StopWorker) => StopWorker;
  /** The clock of every step (default: the system's). */
  clock?: Clock;
}

export interface ClusterInput {
  graph: GraphTask[];
  /** Roles of each node, in fleet order (node-1, node-2, ...). */
  roles: string[][];
  name?: string;
  /** Cluster settings (Nailgun's editable attributes) stored before the deployment starts. */
  attributes?: Editable;
}

export interface ClusterSetup {
  clusterId: number;
  deployTask: DeploymentRun;
  /** Cluster nodes in the order of `roles`. */
  nodes: Node[];
}

/** The engine's steps, bound to the harness's context, as the state machine and EventBridge call them. */
export interface EngineSteps {
  plan(input: { taskId: number }): ReturnType<typeof plan>;
  checkStop(input: { taskId: number }): ReturnType<typeof checkStop>;
  dispatch(input: { taskId: number; stage: string; token: string }): ReturnType<typeof dispatch>;
  recordResult(input: { commandId: string; instanceId: string; status: string }): Promise<void>;
  finish(input: FinishInput): ReturnType<typeof finish>;
  watchdog(): ReturnType<typeof watchdog>;
}

export interface Harness {
  /** The context of every step and use case (the decorated ports). */
  context: Context;
  repos: Repositories;
  fleet: LocalFleet;
  service: Service;
  engine: EngineSteps;
  workflows: RecordingWorkflows;
  /** Status events the fleet handed to the engine (terminal and not). */
  events: CommandStatusEvent[];
  /** Deliveries that failed on every attempt. */
  deliveryErrors: Error[];
  /** The local Lambda endpoint running the stop function's asynchronous invocations. */
  lambda: LocalLambda;
  /** The table the repositories use, to read items as they are stored. */
  table: Table;
  /** Creates a cluster with one fleet node per entry of `roles`, uploads the graph and presses "Deploy changes". */
  setupCluster(input: ClusterInput): Promise<ClusterSetup>;
  /** Dispatches a stage with a fresh token and waits until the engine completes that token. */
  runStage(taskId: number, stage: string): Promise<string>;
  /** plan, every stage of the outline, finish: what the state machine does on the happy path. */
  runDeployment(taskId: number): Promise<{ status: string }>;
  waitForCompletion(token: string, timeoutMs?: number): Promise<void>;
  /** Waits until the fleet has no pending or running invocation and every status event is handled. */
  settle(timeoutMs?: number): Promise<void>;
  /** Lets every command waiting on `gate` (see `gated`) go on, on every node. */
  openGate(gate: string): void;
  rows(taskId: number, scope?: RowScope): Promise<HistoryRow[]>;
  row(taskId: number, stage: string, taskName: string, nodeId: number): Promise<HistoryRow>;
  node(id: number): Promise<Node>;
  task(id: number): Promise<Task>;
  run(id: number): Promise<DeploymentRun>;
  stageTask(id: number): Promise<StageTask>;
  close(): Promise<void>;
}

let tokenSeq = 0;
export const newToken = (label: string): string => `token-${label}-${++tokenSeq}`;

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const baseDir = mkdtempSync(join(tmpdir(), 'fuel-engine-test-'));
  const dynamo = await startLocalDynamoDb();
  const { tableName, client: dynamoClient } = dynamo;

  let context: Context | undefined;
  const theContext = (): Context => {
    if (!context) throw new Error('step invoked before the harness started');
    return context;
  };
  const onCommandStatus = commandStatusHandler(theContext);
  const events: CommandStatusEvent[] = [];
  const deliveryErrors: Error[] = [];
  // as local/runtime.ts delivers: asynchronously, retried with backoff, like EventBridge -> Lambda
  const delivery = createDelivery({
    attempts: 6,
    backoffMs: 50,
    copies: options.deliveryCopies ?? 1,
    onGiveUp: (_what, err) => deliveryErrors.push(err),
  });
  const deliver = (event: CommandStatusEvent): void => {
    events.push(event);
    if (options.loseEvent?.(event)) return;
    delivery.deliver('command-status', () => onCommandStatus(commandStatusEvent(event)));
  };

  const fleet = new LocalFleet({
    baseDir,
    nodeCount: options.nodeCount ?? 3,
    documents: { [DOCUMENT_NAME]: runTaskDocument },
    onStatusChange: deliver,
  });
  const ssmUrl = await fleet.listen(0, '127.0.0.1');
  const workflows = new RecordingWorkflows();
  // the stop's follow-up runs in the stop function, invoked asynchronously through a local Lambda endpoint
  const lambda = new LocalLambda({
    functions: {
      'fuel-stop': stopHandler(() => ({
        context: theContext(),
        authToken: async () => 'harness',
        signingKey: async () => 'harness-signing-key',
        principal: 'admin',
      })),
    },
  });
  const lambdaUrl = await lambda.listen(0, '127.0.0.1');
  context = compose(
    {
      table: { name: tableName, client: dynamoClient },
      ssm: {
        documentName: DOCUMENT_NAME,
        client: new SSMClient({ endpoint: ssmUrl, region: REGION, credentials }),
      },
      // no state machine runs: tests play its part, and the recording port stands in for Step Functions
      sfn: { stateMachineArn: 'unused', client: new SFNClient({ region: REGION, credentials }) },
      lambda: {
        stopFunctionName: 'fuel-stop',
        client: new LambdaClient({ endpoint: lambdaUrl, region: REGION, credentials }),
      },
      clock: options.clock,
    },
    {
      repos: options.wrapRepos,
      commands: options.wrapCommands,
      workflows: () => workflows,
      stopWorker: options.wrapStopWorker,
    },
  );
  const ctx = context;
  const service = createService(ctx);
  const engine: EngineSteps = {
    plan: (input) => plan(ctx, input),
    checkStop: (input) => checkStop(ctx, input),
    dispatch: (input) => dispatch(ctx, input as StageInput),
    recordResult: (input) =>
      onCommandStatus({
        detail: { 'command-id': input.commandId, 'instance-id': input.instanceId, status: input.status },
      }),
    finish: (input) => finish(ctx, input),
    watchdog: () => watchdog(ctx),
  };

  const must = <T>(value: T | null, what: string): T => {
    if (value === null) throw new Error(`${what} not found`);
    return value;
  };

  const harness: Harness = {
    context: ctx,
    repos: ctx.repos,
    fleet,
    service,
    engine,
    workflows,
    events,
    deliveryErrors,
    lambda,
    table: new Table(tableName, dynamoClient),

    async setupCluster({ graph, roles, name = 'env', attributes }) {
      await service.discoverNodes();
      const free = (await service.listNodes(null)).sort((a, b) => a.id - b.id);
      if (free.length < roles.length) throw new Error(`need ${roles.length} free nodes, have ${free.length}`);
      const cluster = await service.createCluster({ name, releaseId: 1 });
      await service.putGraph(cluster.id, graph);
      if (attributes) await service.putAttributes(cluster.id, attributes);
      const chosen = free.slice(0, roles.length);
      await service.assignNodes(
        cluster.id,
        chosen.map((n, i) => ({ id: n.id, roles: roles[i] ?? [] })),
      );
      const deployTask = await service.deployChanges(cluster.id);
      const nodes = await Promise.all(chosen.map((n) => harness.node(n.id)));
      return { clusterId: cluster.id, deployTask, nodes };
    },

    async waitForCompletion(token, timeoutMs = 15_000) {
      await waitFor(
        `complete(${token})`,
        () => workflows.completionsOf(token).length,
        (n) => n > 0,
        timeoutMs,
      );
    },

    async runStage(taskId, stage) {
      const token = newToken(stage);
      await engine.dispatch({ taskId, stage, token });
      await harness.waitForCompletion(token);
      return token;
    },

    async runDeployment(taskId) {
      const outline = await engine.plan({ taskId });
      if (outline.provision.nodeCount > 0) await harness.runStage(taskId, 'provision');
      for (const layer of outline.layers) await harness.runStage(taskId, layer.stage);
      await harness.settle();
      return engine.finish({ taskId, failure: null });
    },

    async settle(timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`fleet not idle within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([fleet.idle(), timeout]);
        await waitFor(
          'status deliveries',
          () => delivery.inFlight,
          (n) => n === 0,
          timeoutMs,
        );
      } finally {
        clearTimeout(timer);
      }
    },

    openGate(gate) {
      openGate(fleet, gate);
    },

    rows: (taskId, scope = 'all') => ctx.repos.history.rows(taskId, scope),
    row: async (taskId, stage, taskName, nodeId) =>
      must(
        await ctx.repos.history.getRow({ deployTaskId: taskId, stage: stage as Stage, taskName, nodeId }),
        `row ${taskName}@${nodeId} (${stage})`,
      ),
    node: async (id) => must(await ctx.repos.nodes.get(id), `node ${id}`),
    task: async (id) => must(await ctx.repos.tasks.get(id), `task ${id}`),
    run: async (id) => must(await ctx.repos.tasks.getRun(id), `deployment run ${id}`),
    stageTask: async (id) => {
      const task = await harness.task(id);
      if (task.kind !== 'stage') throw new Error(`task ${id} is not a stage task`);
      return task;
    },

    async close() {
      await lambda.close();
      await fleet.close();
      await delivery.drained();
      await dynamo.close();
      dynamoClient.destroy();
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/**
 * Harnesses for the tests of a file: the function returned starts one for the running test; after the test,
 * no delivery of it may have failed on every attempt, and it is closed.
 */
export function harnessPerTest(): (options?: HarnessOptions) => Promise<Harness> {
  let current: Harness | null = null;
  afterEach(async () => {
    const h = current;
    current = null;
    if (h) {
      expect(h.deliveryErrors).toEqual([]);
      await h.close();
    }
  });
  return async (options = {}) => {
    current = await startHarness(options);
    return current;
  };
}

/** A shell task of the graph. */
export function shell(
  id: string,
  roles: GraphTask['roles'],
  cmd: string,
  extra: Partial<GraphTask> = {},
): GraphTask {
  return { id, type: 'shell', roles, parameters: { cmd, timeout: 30 }, ...extra };
}

export { gated } from './gates.js';
