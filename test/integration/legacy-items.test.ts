/**
 * Items stored by the service before tasks and history rows had typed records are read in today's shape
 * (and a legacy run is rewritten once, so that the stop and the dispatch lease hold for it): an upgrade over
 * a kept table (AWS, or FUEL_DATA_DIR) loses nothing. Real dynalite; the items are written as the earlier
 * codecs wrote them.
 */
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyJson, taskJson } from '../../lambdas/api/serialize.js';
import type { Repositories } from '../../lambdas/app/ports.js';
import { requestedStop } from '../../lambdas/domain/stop.js';
import { dynamoRepositories } from '../../lambdas/handlers/compose.js';
import { type LocalDynamoDb, startLocalDynamoDb } from '../../local/local-dynamodb.js';

let dynamo: LocalDynamoDb;
let doc: DynamoDBDocumentClient;
let repos: Repositories;

const at = '2026-11-30T10:00:00.000Z';
const pad = (n: number) => String(n).padStart(10, '0');

const legacyTask = (id: number, fields: Record<string, unknown>) => ({
  pk: 'TASK',
  sk: `T#${pad(id)}`,
  entity: 'task',
  id,
  uuid: `uuid-${id}`,
  status: 'running',
  progress: 0,
  message: null,
  clusterId: 1,
  parentId: null,
  result: {},
  timeStart: at,
  timeEnd: null,
  graphType: 'default',
  dryRun: false,
  executionArn: `arn:aws:states:us-east-1:000000000000:execution:fuel-deployment:uuid-${id}`,
  done: 0,
  total: 0,
  provisionTaskId: null,
  deploymentTaskId: null,
  stopRequestedAt: null,
  stop: null,
  dispatchLeaseUntil: null,
  finishingAt: null,
  nodesBefore: null,
  plan: null,
  mode: null,
  deletedAt: null,
  ...fields,
});

const legacyRow = (taskName: string, status: string, custom: Record<string, unknown>) => ({
  pk: `TX#${pad(1)}`,
  sk: `ROW#L000000#${taskName}#${pad(2)}`,
  entity: 'history',
  deployTaskId: 1,
  stage: 'layer-0',
  taskName,
  nodeId: 2,
  status,
  timeStart: status === 'pending' ? null : at,
  timeEnd: status === 'pending' || status === 'running' ? null : at,
  custom,
  cmd: 'true',
  timeout: 60,
  retries: 0,
  failOnError: true,
  requires: [],
  layer: 0,
  fingerprint: 'f',
  unchanged: false,
});

/** The custom bag of a failed row, as the earlier engine wrote it. */
const failedCustom = {
  exit_code: 3,
  ssm_status: 'Failed',
  status_details: 'Failed',
  command_id: 'c-1',
  instance_id: 'mi-2',
  output_tail: 'out',
  error_tail: 'boom',
  error_type: 'deploy',
};

const put = (Item: Record<string, unknown>) =>
  doc.send(new PutCommand({ TableName: dynamo.tableName, Item }));
const raw = async (id: number) =>
  (await doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk: 'TASK', sk: `T#${pad(id)}` } })))
    .Item;

const rawItem = async (pk: string, sk: string) =>
  (await doc.send(new GetCommand({ TableName: dynamo.tableName, Key: { pk, sk } }))).Item;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
  doc = DynamoDBDocumentClient.from(dynamo.client);
  repos = dynamoRepositories(dynamo.tableName, dynamo.client);
  // a finished deploy that was stopped by an operator, its deployment child and its stop task
  await put(
    legacyTask(1, {
      name: 'deploy',
      status: 'ready',
      progress: 100,
      timeEnd: at,
      done: 3,
      total: 4,
      deploymentTaskId: 2,
      result: { cluster_status: 'stopped', stop_task_status: 'ready', stop_message: 'stopped.' },
      stopRequestedAt: at,
      stop: {
        cause: 'user',
        taskId: 3,
        requestedAt: at,
        requestedBy: 'admin',
        message: 'wrong VLAN',
        deadline: at,
        timeoutSeconds: 600,
        forcedAt: null,
        forcedBecause: null,
      },
      mode: { force: false, resume: false },
      finishingAt: at,
    }),
  );
  await put(legacyTask(2, { name: 'deployment', parentId: 1, status: 'ready', done: 3, total: 4 }));
  await put(
    legacyTask(3, {
      name: 'stop_deployment',
      status: 'ready',
      result: { deploy_task_id: 1, requested_by: 'admin', reason: 'wrong VLAN' },
    }),
  );
  await put(legacyTask(4, { name: 'reset_environment', status: 'ready' }));
  // a run that was still running when the service was upgraded
  await put(
    legacyTask(5, {
      name: 'deploy',
      mode: { force: true, resume: false, scope: 'all', nodes: null },
      done: 1,
    }),
  );
  // its history: a row that ran and failed, one never started because of the stop, one still pending
  await put(legacyRow('netconfig', 'error', failedCustom));
  await put(
    legacyRow('ntp', 'skipped', {
      reason: 'not started: the deployment was stopped',
      skip_reason: 'stopped',
    }),
  );
  await put(legacyRow('hosts', 'pending', {}));
});

afterAll(async () => {
  await dynamo?.close();
});

describe('tasks stored before typed records', () => {
  it('are listed in today’s shape, and the API shows them as before', async () => {
    const tasks = await repos.tasks.list();
    expect(tasks.map((t) => [t.id, t.kind])).toEqual([
      [1, 'run'],
      [2, 'stage'],
      [3, 'stop'],
      [4, 'action'],
      [5, 'run'],
    ]);
    const [deploy, child, stop] = tasks;
    expect(deploy).toMatchObject({
      children: { provision: null, deployment: 2 },
      mode: { force: false, resume: false, scope: 'all', nodes: null },
      stop: {
        phase: 'requested',
        request: { cause: 'operator', by: 'admin', message: 'wrong VLAN', stopTaskId: 3 },
      },
      outcome: { clusterStatus: 'stopped', stopTaskStatus: 'ready', stopMessage: 'stopped.' },
    });
    expect(child).toMatchObject({ kind: 'stage', parentId: 1, done: 3, total: 4 });
    if (!deploy || !stop) throw new Error('tasks missing');
    expect(taskJson(deploy).result).toEqual({
      cluster_status: 'stopped',
      stop_task_status: 'ready',
      stop_message: 'stopped.',
      // what the legacy stop state says, as a run's stop is shown today
      stop: {
        stop_task_id: 3,
        requested_by: 'admin',
        requested_at: '2026-11-30T10:00:00.000Z',
        forced_at: null,
      },
    });
    expect(taskJson(stop).result).toEqual({ deploy_task_id: 1, requested_by: 'admin', reason: 'wrong VLAN' });
  });

  it('a legacy run is rewritten once when read, so its dispatch lease and its stop hold', async () => {
    const run = await repos.tasks.getRun(5);
    expect(run).toMatchObject({ kind: 'run', stop: { phase: 'none' }, mode: { force: true }, done: 1 });
    const stored = await raw(5);
    expect(stored).toMatchObject({ kind: 'run', stop: { phase: 'none' }, done: 1 });
    for (const legacy of ['result', 'stopRequestedAt', 'provisionTaskId', 'deploymentTaskId']) {
      expect(stored).not.toHaveProperty(legacy);
    }
    expect(await repos.tasks.takeDispatchLease(5, at)).toBe(true);
    await repos.tasks.releaseDispatchLease(5);
    const stop = requestedStop({
      cause: 'operator',
      by: 'admin',
      message: null,
      stopTaskId: 9,
      at: new Date(at),
      timeoutSeconds: 60,
    });
    expect((await repos.tasks.requestStop(5, stop)).stop).toEqual(stop);
    expect(await repos.tasks.takeDispatchLease(5, at)).toBe(false);
  });
});

describe('tasks stored before the per-environment pointers', () => {
  it('are listed by environment, page by page: their pointers are written once, at the first such list', async () => {
    expect(await rawItem('MIGRATION', 'cluster-task-pointers')).toBeUndefined();
    const first = await repos.tasks.page({ clusterId: 1 }, { limit: 3, marker: null });
    expect(first.items.map((t) => [t.id, t.kind])).toEqual([
      [1, 'run'],
      [2, 'stage'],
      [3, 'stop'],
    ]);
    const rest = await repos.tasks.page({ clusterId: 1 }, { limit: 3, marker: first.next });
    expect(rest.items.map((t) => [t.id, t.kind])).toEqual([
      [4, 'action'],
      [5, 'run'],
    ]);
    expect(rest.next).toBeNull();
    expect(await rawItem(`CTASK#${pad(1)}`, `T#${pad(4)}`)).toMatchObject({ taskId: 4 });
    expect(await rawItem('MIGRATION', 'cluster-task-pointers')).toMatchObject({ tasks: 5 });
    // newest first, and nothing for an environment without tasks
    const newest = await repos.tasks.page({ clusterId: 1 }, { limit: 2, marker: null, order: 'desc' });
    expect(newest.items.map((t) => t.id)).toEqual([5, 4]);
    expect((await repos.tasks.page({ clusterId: 2 }, { limit: 10, marker: null })).items).toEqual([]);
  });
});

describe('history rows stored before typed records', () => {
  it('are read with typed outcomes, and the API shows the same custom as before', async () => {
    const rows = await repos.history.rows(1, 'all');
    const byName = new Map(rows.map((r) => [r.taskName, r]));
    expect(byName.get('netconfig')).toMatchObject({
      command: { commandId: 'c-1', exitCode: 3, ssmStatus: 'Failed', errorTail: 'boom' },
      errorType: 'deploy',
      cancelledByStop: false,
    });
    expect(byName.get('ntp')).toMatchObject({ skipReason: 'stopped', command: null });
    const failed = byName.get('netconfig');
    if (!failed) throw new Error('row missing');
    // the API shows exactly the custom the row was stored with
    expect(historyJson(failed).custom).toEqual(failedCustom);
  });

  it('a legacy row moves along the transitions like any other', async () => {
    const pending = (await repos.history.rows(1, 'layer-0')).find((r) => r.taskName === 'hosts');
    if (!pending) throw new Error('row missing');
    expect(
      await repos.history.moveRow(pending, 'skipped', { skipReason: 'stopped', reason: 'not started' }),
    ).toBe(true);
    const moved = await repos.history.getRow(pending);
    expect(moved).toMatchObject({ status: 'skipped', skipReason: 'stopped', reason: 'not started' });
    expect(await repos.history.moveRow(pending, 'skipped')).toBe(false);
  });
});
