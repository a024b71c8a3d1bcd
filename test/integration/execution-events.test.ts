/**
 * The execution history of a deployment grows with the number of layers, never with the number of nodes:
 * the same graph on 5 and on 50 nodes gives the same number of Step Functions events, and each layer adds
 * the same few, as the plan's limits count them.
 */
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskJson } from '../../lambdas/api/wire.js';
import {
  EXECUTION_EVENT_LIMIT,
  EXECUTION_EVENTS_FIXED,
  EXECUTION_EVENTS_PER_LAYER,
  MAX_LAYERS,
} from '../../lambdas/domain/plan-limits.js';
import { type Runtime, startRuntime } from '../../local/runtime.js';
import { Api, freeNodes, waitForTask } from '../helpers/target.js';

let runtime: Runtime;
let api: Api;

beforeAll(async () => {
  runtime = await startRuntime({ port: 0, nodeCount: 59, demo: false, authToken: 'events' });
  api = new Api(runtime);
});

afterAll(async () => {
  await runtime?.stop();
});

const graph = [
  { id: 'prepare', type: 'shell', roles: '*', parameters: { cmd: 'true', timeout: 30 } },
  {
    id: 'controller-service',
    type: 'shell',
    roles: ['controller'],
    requires: ['prepare'],
    parameters: { cmd: 'true', timeout: 30 },
  },
  {
    id: 'compute-service',
    type: 'shell',
    roles: ['compute'],
    requires: ['prepare'],
    'cross-depends': [{ name: 'controller-service', role: 'controller' }],
    parameters: { cmd: 'true', timeout: 30 },
  },
  {
    id: 'finish',
    type: 'shell',
    roles: '*',
    requires: ['controller-service', 'compute-service'],
    parameters: { cmd: 'true', timeout: 30 },
  },
];

async function deployAndCountEvents(
  nodeCount: number,
  tasks: unknown[] = graph,
): Promise<{ events: HistoryEvent[]; rows: number }> {
  const cluster = await api.ok<{ id: number }>('POST', '/api/v1/clusters/', {
    name: `events-${nodeCount}-${tasks.length}`,
  });
  const nodes = await freeNodes(api, nodeCount);
  await api.ok(
    'POST',
    `/api/v1/clusters/${cluster.id}/assignment/`,
    nodes.map((n, i) => ({ id: n.id, roles: [i === 0 ? 'controller' : 'compute'] })),
  );
  await api.ok('PUT', `/api/v1/clusters/${cluster.id}/deployment_tasks/`, tasks);
  const deploy = await api.ok<TaskJson>('PUT', `/api/v1/clusters/${cluster.id}/changes/`, {});
  expect((await waitForTask(api, deploy.id)).status).toBe('ready');
  const rows = await api.ok<unknown[]>('GET', `/api/v1/transactions/${deploy.id}/deployment_history/`);

  const sfn = new SFNClient({
    endpoint: runtime.endpoints.sfn,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn: String(deploy.execution_arn),
        nextToken,
        maxResults: 100,
      }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return { events, rows: rows.length };
}

describe('execution history size', () => {
  it('is the same for 5 and for 50 nodes', async () => {
    const small = await deployAndCountEvents(5);
    const large = await deployAndCountEvents(50);
    // the work differs tenfold (provisioning rows + 4 tasks per node, minus the role-specific ones)...
    expect(small.rows).toBe(5 + 5 * 3);
    expect(large.rows).toBe(50 + 50 * 3);
    // ...the state machine's history does not
    expect(large.events.length).toBe(small.events.length);
    expect(large.events.map((e) => e.type)).toEqual(small.events.map((e) => e.type));
    expect(small.events.length).toBeGreaterThan(20);
    expect(small.events.at(-1)?.type).toBe('ExecutionSucceeded');
  });

  it('grows by a fixed number of events a layer, within what the plan limits allow for', async () => {
    const chain = (length: number) =>
      Array.from({ length }, (_, i) => ({
        id: `step-${i}`,
        type: 'shell',
        roles: '*',
        requires: i > 0 ? [`step-${i - 1}`] : [],
        parameters: { cmd: 'true', timeout: 30 },
      }));
    const layersOf = (events: HistoryEvent[]) =>
      events.filter((e) => e.type === 'MapIterationStarted').length;
    const short = await deployAndCountEvents(2, chain(2));
    const long = await deployAndCountEvents(2, chain(6));
    expect([layersOf(short.events), layersOf(long.events)]).toEqual([2, 6]);
    const perLayer = (long.events.length - short.events.length) / 4;
    const fixed = short.events.length - 2 * perLayer;
    // the figures lambdas/domain/plan-limits.ts bounds the number of layers with
    expect(Number.isInteger(perLayer)).toBe(true);
    expect(perLayer).toBeLessThanOrEqual(EXECUTION_EVENTS_PER_LAYER);
    expect(fixed).toBeLessThanOrEqual(EXECUTION_EVENTS_FIXED);
    expect(fixed + perLayer * MAX_LAYERS).toBeLessThan(EXECUTION_EVENT_LIMIT);
  });
});
