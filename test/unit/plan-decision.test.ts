/**
 * What "Deploy changes" runs and skips, and why (domain/plan-decision.ts): the decision the plan step writes
 * into its rows and the restart preview shows. Each reason, the resume rule, provisioning, the nodes as the
 * plan step makes them, the entries whose condition reads the run's id, and the preview's reply size on the
 * reference graph at 1,000 nodes (grouped by the preview's own `previewNodes`).
 */
import { describe, expect, it } from 'vitest';
import { layoutRoles, provisionedNode } from '../../bench/lib/reference.js';
import { previewJson, previewTooLarge } from '../../lambdas/api/serialize-preview.js';
import { previewNodes } from '../../lambdas/app/deployments/preview.js';
import { expandGraph } from '../../lambdas/app/engine/plan.js';
import { defaultAttributes } from '../../lambdas/domain/attributes.js';
import { graphFingerprints, taskFingerprint } from '../../lambdas/domain/fingerprint.js';
import type { GraphTask } from '../../lambdas/domain/graph.js';
import type { Node } from '../../lambdas/domain/model.js';
import {
  type DecisionMode,
  decidedWhenPlanned,
  decideWork,
  type NodeBefore,
  projectNodes,
  provisionDecision,
  skipsUnchangedOn,
  taskDecision,
} from '../../lambdas/domain/plan-decision.js';
import type { NodeErrorType, NodeStatus } from '../../lambdas/domain/status.js';
import { MASTER_NODE, SYNC_NODE } from '../../lambdas/domain/targets.js';
import { reference } from '../helpers/reference-graph.js';

const DEPLOY: DecisionMode = { force: false, resume: false, scope: 'all' };
const RESUME: DecisionMode = { ...DEPLOY, resume: true };

function nodeIn(
  status: NodeStatus,
  lastRuns: Record<string, string> = {},
  more: { errorType?: NodeErrorType; newRoles?: boolean } = {},
): NodeBefore {
  return {
    id: 3,
    status,
    errorType: more.errorType ?? null,
    newRoles: more.newRoles ?? false,
    lastRuns: new Map(Object.entries(lastRuns)),
  };
}

const on3 = (task = 'a') => ({ task, nodeId: 3, noop: null });

const node = (id: number, roles: string[], pendingRoles: string[] = []): Node => ({
  ...provisionedNode({
    id,
    instanceId: `mi-${id}`,
    name: `node-${id}`,
    ip: `10.0.0.${id}`,
    mac: '52:54:00:00:00:00',
    role: 'x',
    online: true,
    clusterId: 1,
    discoveredAt: new Date(0).toISOString(),
  }),
  roles,
  pendingRoles,
});

describe('which nodes are provisioned', () => {
  it('a node that never finished provisioning, unless only deploying', () => {
    expect(provisionDecision(nodeIn('discover'), DEPLOY)).toEqual({
      provision: true,
      reason: 'node is not provisioned yet',
    });
    expect(provisionDecision(nodeIn('error', {}, { errorType: 'provision' }), DEPLOY)).toEqual({
      provision: true,
      reason: 'its provisioning failed',
    });
    expect(provisionDecision(nodeIn('discover'), { ...DEPLOY, scope: 'deploy' }).provision).toBe(false);
    for (const status of ['provisioned', 'stopped', 'ready'] as const) {
      expect(provisionDecision(nodeIn(status), DEPLOY)).toEqual({ provision: false, reason: null });
    }
    expect(provisionDecision(nodeIn('error', {}, { errorType: 'deploy' }), DEPLOY).provision).toBe(false);
  });
});

describe('what runs on a node, and why', () => {
  it('ready nodes skip what ran ready with the same input; stopped ones only when resuming', () => {
    expect(taskDecision(on3(), nodeIn('ready', { a: 'f1' }), 'f1', DEPLOY)).toEqual({
      action: 'skip',
      kind: 'unchanged',
      reason: 'ran ready with the same input',
    });
    expect(taskDecision(on3(), nodeIn('stopped', { a: 'f1' }), 'f1', DEPLOY)).toEqual({
      action: 'run',
      kind: 'run',
      reason: 'node was stopped',
    });
    expect(taskDecision(on3(), nodeIn('stopped', { a: 'f1' }), 'f1', RESUME)).toEqual({
      action: 'skip',
      kind: 'unchanged',
      reason: 'ran ready with the same input (resume)',
    });
    expect(skipsUnchangedOn(nodeIn('stopped'), DEPLOY)).toBe(false);
    expect(skipsUnchangedOn(nodeIn('stopped'), RESUME)).toBe(true);
    expect(skipsUnchangedOn(nodeIn('error'), RESUME)).toBe(false);
  });

  it('a changed input, a new task and one never run there run', () => {
    expect(taskDecision(on3(), nodeIn('ready', { a: 'old' }), 'f1', DEPLOY).reason).toBe(
      'input changed since its last run',
    );
    expect(taskDecision(on3('b'), nodeIn('ready', { a: 'f1' }), 'f2', DEPLOY).reason).toBe('new task');
    expect(taskDecision(on3('b'), nodeIn('stopped', { a: 'f1' }), 'f2', RESUME).reason).toBe('never ran');
    expect(taskDecision(on3(), nodeIn('stopped', { a: 'old' }), 'f1', RESUME)).toMatchObject({
      action: 'run',
      reason: 'input changed since its last run',
    });
  });

  it('redeploy, provisioning, new roles and other statuses run everything', () => {
    const done = { a: 'f1' };
    const reasonOf = (node: NodeBefore, mode = DEPLOY) => taskDecision(on3(), node, 'f1', mode);
    expect(reasonOf(nodeIn('ready', done), { ...DEPLOY, force: true })).toMatchObject({
      action: 'run',
      reason: 'redeploy runs every task',
    });
    expect(reasonOf(nodeIn('discover', done)).reason).toBe('node is being provisioned');
    expect(reasonOf(nodeIn('error', done, { errorType: 'provision' })).reason).toBe(
      'node is being provisioned',
    );
    expect(reasonOf(nodeIn('ready', done, { newRoles: true })).reason).toBe('node takes on new roles');
    expect(reasonOf(nodeIn('error', done, { errorType: 'deploy' }), RESUME).reason).toBe(
      'node is in error (deploy)',
    );
    expect(reasonOf(nodeIn('provisioned', done)).reason).toBe('node is provisioned, not deployed yet');
    for (const node of [nodeIn('ready', done, { newRoles: true }), nodeIn('error', done)]) {
      expect(reasonOf(node, RESUME).action).toBe('run');
    }
  });

  it('entries that run nothing are skipped as the plan says; the master runs its tasks every time', () => {
    const stage = {
      task: 'deploy_end',
      nodeId: SYNC_NODE,
      noop: { kind: 'stage' as const, reason: 'stage' },
    };
    expect(taskDecision(stage, undefined, 'f', DEPLOY)).toEqual({
      action: 'skip',
      kind: 'noop',
      reason: 'stage',
    });
    const off = { task: 'a', nodeId: 3, noop: { kind: 'condition' as const, reason: 'condition is false' } };
    expect(taskDecision(off, nodeIn('discover'), 'f', DEPLOY)).toEqual({
      action: 'skip',
      kind: 'condition',
      reason: 'condition is false',
    });
    const skipped = { task: 's', nodeId: 3, noop: { kind: 'skipped' as const, reason: 'type skipped' } };
    expect(taskDecision(skipped, nodeIn('ready'), 'f', DEPLOY).kind).toBe('noop');
    expect(taskDecision({ task: 'm', nodeId: MASTER_NODE, noop: null }, undefined, 'f', RESUME)).toEqual({
      action: 'run',
      kind: 'run',
      reason: 'runs on the master node every time',
    });
  });

  it('decideWork decides every entry in order, with its fingerprint, and the nodes provisioned', () => {
    const nodes = [
      { ...nodeIn('ready', { a: 'fa' }), id: 1 },
      { ...nodeIn('discover'), id: 2 },
    ];
    const decision = decideWork({
      mode: DEPLOY,
      nodes,
      instances: [
        { task: 'a', nodeId: 1, noop: null },
        { task: 'b', nodeId: 1, noop: null },
        { task: 'a', nodeId: 2, noop: null },
      ],
      fingerprints: new Map([
        ['a', 'fa'],
        ['b', 'fb'],
      ]),
    });
    expect(decision.tasks.map((t) => [t.action, t.reason])).toEqual([
      ['skip', 'ran ready with the same input'],
      ['run', 'new task'],
      ['run', 'node is being provisioned'],
    ]);
    expect([...decision.provision]).toEqual([[2, 'node is not provisioned yet']]);
  });

  it('a task or a setting changed changes the fingerprint', () => {
    const task: GraphTask = { id: 'a', type: 'shell', roles: '*', parameters: { cmd: 'true', timeout: 60 } };
    const settings = defaultAttributes();
    const base = taskFingerprint(task, settings);
    expect(graphFingerprints([task], settings).get('a')).toBe(base);
    expect(taskFingerprint({ ...task, parameters: { cmd: 'false', timeout: 60 } }, settings)).not.toBe(base);
    expect(taskFingerprint(task, { ...settings, extra: { value: 1 } })).not.toBe(base);
  });
});

describe('the nodes as the plan step will make them', () => {
  it('takes pending roles on (a node whose roles grow takes on new roles) and elects primaries', () => {
    const members = [node(1, [], ['controller']), node(2, ['compute']), node(3, ['compute'], ['compute'])];
    const { nodes, newRoles } = projectNodes(members, members, ['controller']);
    expect(nodes.map((n) => [n.id, n.roles, n.pendingRoles, n.primaryRoles])).toEqual([
      [1, ['controller'], [], ['controller']],
      [2, ['compute'], [], []],
      [3, ['compute'], [], []],
    ]);
    expect([...newRoles]).toEqual([1]);
    // nothing of the members was changed
    expect(members[0]?.pendingRoles).toEqual(['controller']);
  });

  it('says which members change primary roles, those outside the run too (what the plan step writes)', () => {
    // node 1 held the primary and is leaving; node 3, outside the run, is elected over it: not a candidate,
    // node 2 is; node 4 is outside the run and untouched
    const leaving = { ...node(1, ['controller']), primaryRoles: ['controller'], pendingDeletion: true };
    const members = [leaving, node(2, ['controller']), node(3, ['compute']), node(4, ['controller'])];
    const run = members.filter((n) => n.id === 2 || n.id === 3);
    const projection = projectNodes(members, run, ['controller']);
    expect([...projection.primaryRoles]).toEqual([
      [1, []],
      [2, ['controller']],
    ]);
    expect(projection.nodes.map((n) => [n.id, n.primaryRoles])).toEqual([
      [2, ['controller']],
      [3, []],
    ]);
    expect(projectNodes(members, run, []).primaryRoles.size).toBe(0);
  });
});

describe('entries whose condition reads the run id', () => {
  const cluster = {
    id: 1,
    name: 'c',
    status: 'deployment' as const,
    releaseId: 1,
    isCustomized: true,
    deploymentTaskId: null,
    createdAt: '',
  };
  const task = (id: string, condition?: GraphTask['condition']): GraphTask => ({
    id,
    type: 'shell',
    roles: '*',
    parameters: { cmd: 'true', timeout: 60 },
    ...(condition === undefined ? {} : { condition }),
  });
  const graph = [
    task('plain'),
    task('by-setting', 'settings:deployment.stop_timeout.value == 600'),
    task('legacy', 'settings:deployment_id == 42'),
    task('yaql', { yaql_exp: '$.deployment_id = 42' }),
    task('whole', { yaql_exp: "$.toYaml() != ''" }),
  ];
  const nodes = [node(7, ['compute'])];
  const expand = (runId: number) =>
    expandGraph(
      { master: { instanceId: null, ip: '10.20.0.2' } },
      { cluster, editable: defaultAttributes(), graph, nodes, runId },
    );

  it('are found, legacy and yaql, and the verdict is the run id given', () => {
    const at42 = expand(42);
    expect([...at42.readsDeploymentId].sort()).toEqual(['legacy@7', 'whole@7', 'yaql@7']);
    const runs = (e: ReturnType<typeof expand>) =>
      e.deployment.instances.filter((i) => i.noop === null).map((i) => i.task);
    expect(runs(at42).sort()).toEqual(['by-setting', 'legacy', 'plain', 'whole', 'yaql']);
    expect(runs(expand(7)).sort()).toEqual(['by-setting', 'plain', 'whole']);
    // the node's data itself is left as it was
    expect(at42.data.of(7).deployment_id).toBe(42);
  });

  it('say in their reason that the deployment decides, with the id previewed', () => {
    const d = decidedWhenPlanned({ action: 'run', kind: 'run', reason: 'node was stopped' }, 42);
    expect(d).toEqual({
      action: 'run',
      kind: 'run',
      reason:
        'node was stopped (decided when the deployment is planned: the condition reads deployment_id, previewed as 42)',
    });
  });
});

describe('the size of a preview', () => {
  it('the reference graph on 1,000 nodes fits one reply, and a larger one is a 400 naming ?nodes=', () => {
    const nodes = layoutRoles(reference, 'large-1000').map((role, i) =>
      provisionedNode({
        id: i + 1,
        instanceId: `mi-${i + 1}`,
        name: `node-${i + 1}`,
        ip: `10.20.${(i + 1) >> 8}.${(i + 1) & 255}`,
        mac: '52:54:00:00:00:00',
        role,
        online: true,
        clusterId: 1,
        discoveredAt: new Date(0).toISOString(),
      }),
    );
    const editable = defaultAttributes();
    const { deployment } = expandGraph(
      { master: { instanceId: null, ip: '10.20.0.2' } },
      {
        cluster: {
          id: 1,
          name: 'large',
          status: 'deployment',
          releaseId: 1,
          isCustomized: true,
          deploymentTaskId: null,
          createdAt: '',
        },
        editable,
        graph: reference.tasks,
        nodes,
        runId: 0,
      },
    );
    const fingerprints = graphFingerprints(reference.tasks, editable);
    // stopped nodes resumed with everything done: the longest reasons
    const done = new Map(reference.tasks.map((t) => [t.id, fingerprints.get(t.id) as string]));
    const decision = decideWork({
      mode: RESUME,
      nodes: nodes.map((n) => ({
        id: n.id,
        status: 'stopped',
        errorType: null,
        newRoles: false,
        lastRuns: done,
      })),
      instances: deployment.instances,
      fingerprints,
    });
    const json = previewJson({
      clusterId: 1,
      resume: true,
      layers: deployment.layers.length,
      nodes: previewNodes(nodes, deployment.instances, decision),
    });
    const bytes = Buffer.byteLength(JSON.stringify(json));
    expect(json.summary.run + json.summary.skip).toBe(deployment.instances.length);
    // the nodes by id, then the sync node (the reference graph has no master task)
    expect(json.nodes.map((n) => n.node_id)).toEqual([...nodes.map((n) => String(n.id)), null]);
    expect(json.summary.run).toBe(0);
    expect(deployment.instances.length).toBeGreaterThan(15_000);
    expect(bytes).toBeLessThan(3 * 1024 * 1024);
    expect(previewTooLarge(bytes, json.nodes.length)).toBeNull();
    const tooLarge = previewTooLarge(bytes * 3, json.nodes.length);
    expect(tooLarge?.status).toBe(400);
    expect(tooLarge?.message).toContain('?nodes=');
  });
});
