/**
 * The composition root: the one place where the application's ports are given their adapters (DynamoDB
 * repositories, SSM Run Command, Step Functions, the stop function, the clock, the log). The AWS handlers (env.ts), the embedded
 * runtime (local/runtime.ts) and the test harness all build their context here; they differ only in the
 * clients and endpoints they pass, and in the decorators they put around a port.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { LambdaStopWorker } from '../adapters/lambda-stop-worker.js';
import { SfnWorkflows } from '../adapters/sfn-workflows.js';
import { SsmNodeCommands } from '../adapters/ssm-commands.js';
import {
  type Clock,
  type Context,
  type Log,
  type MasterNode,
  NO_MASTER,
  type NodeCommands,
  type Repositories,
  type StopWorker,
  systemClock,
  type Workflows,
} from '../app/ports.js';
import { DynamoBookkeeping } from '../store/bookkeeping.js';
import { DynamoClusters } from '../store/clusters.js';
import { DynamoHistory } from '../store/history.js';
import { DynamoNodes } from '../store/nodes.js';
import { DynamoPlans } from '../store/plans.js';
import { Table } from '../store/table.js';
import { DynamoTasks } from '../store/tasks.js';

export interface Infrastructure {
  table: { name: string; client: DynamoDBClient };
  ssm: { documentName: string; client: SSMClient };
  sfn: { stateMachineArn: string; client: SFNClient };
  /** The stop function, invoked asynchronously for a stop's follow-up. */
  lambda: { stopFunctionName: string; client: LambdaClient };
  clock?: Clock;
  log?: Log;
  master?: MasterNode;
}

/** Decorators around the real adapters: to record what crosses a port, or to make it fail as AWS can. */
export interface PortDecorators {
  repos?: (real: Repositories) => Repositories;
  commands?: (real: NodeCommands) => NodeCommands;
  workflows?: (real: Workflows) => Workflows;
  stopWorker?: (real: StopWorker) => StopWorker;
}

export function dynamoRepositories(tableName: string, client: DynamoDBClient): Repositories {
  const table = new Table(tableName, client);
  return {
    clusters: new DynamoClusters(table),
    nodes: new DynamoNodes(table),
    tasks: new DynamoTasks(table),
    history: new DynamoHistory(table),
    bookkeeping: new DynamoBookkeeping(table),
    plans: new DynamoPlans(table),
  };
}

export function compose(infra: Infrastructure, decorate: PortDecorators = {}): Context {
  const repos = dynamoRepositories(infra.table.name, infra.table.client);
  const commands = new SsmNodeCommands(infra.ssm.documentName, infra.ssm.client);
  const workflows = new SfnWorkflows(infra.sfn.stateMachineArn, infra.sfn.client);
  const stopWorker = new LambdaStopWorker(infra.lambda.stopFunctionName, infra.lambda.client);
  return {
    repos: decorate.repos?.(repos) ?? repos,
    commands: decorate.commands?.(commands) ?? commands,
    workflows: decorate.workflows?.(workflows) ?? workflows,
    stopWorker: decorate.stopWorker?.(stopWorker) ?? stopWorker,
    clock: infra.clock ?? systemClock,
    log: infra.log ?? (() => {}),
    master: infra.master ?? NO_MASTER,
  };
}
