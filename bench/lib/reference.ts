/**
 * The project's reference workload (test/fixtures/reference-graph.json): a Fuel 9-style OpenStack graph in
 * the upload format, its cluster layouts and each task's typical duration on one node. The benchmarks run
 * it with every command replaced by `sleep <typical seconds x scale>`.
 */
import { readFileSync } from 'node:fs';
import { type GraphTask, validateGraph } from '../../lambdas/domain/graph.js';
import type { Node } from '../../lambdas/domain/model.js';
import type { PlanNode } from '../../lambdas/domain/plan.js';

export interface ReferenceWorkload {
  tasks: GraphTask[];
  /** Role counts per layout name (`small`, `reference-50`, `large-1000`). */
  clusters: Record<string, Record<string, number>>;
  /** Typical seconds of each runnable task on one node. */
  typical: Record<string, number>;
  provisionTypical: number;
}

interface Fixture {
  clusters: Record<string, Record<string, number>>;
  tasks: unknown[];
  typical_duration_s: Record<string, number>;
  provision_typical_duration_s: number;
}

export const REFERENCE_GRAPH_FILE = 'test/fixtures/reference-graph.json';

export function loadReference(): ReferenceWorkload {
  const fixture = JSON.parse(
    readFileSync(new URL(`../../${REFERENCE_GRAPH_FILE}`, import.meta.url), 'utf8'),
  ) as Fixture;
  return {
    tasks: validTasks(fixture.tasks, REFERENCE_GRAPH_FILE),
    clusters: fixture.clusters,
    typical: fixture.typical_duration_s,
    provisionTypical: fixture.provision_typical_duration_s,
  };
}

/** The tasks of an uploaded graph as the service accepts them; a graph it would refuse stops the bench. */
export function validTasks(input: unknown, what: string): GraphTask[] {
  const result = validateGraph(input);
  if (!result.ok) {
    throw new Error(`${what} is not a valid graph: ${result.problems.map((p) => p.message).join('; ')}`);
  }
  return result.tasks;
}

/** The roles of a layout, one role per node, in the layout's order. */
export function layoutRoles(workload: ReferenceWorkload, layout: string): string[] {
  const counts = workload.clusters[layout];
  if (!counts) throw new Error(`no layout '${layout}' in ${REFERENCE_GRAPH_FILE}`);
  const roles: string[] = [];
  for (const [role, count] of Object.entries(counts)) for (let i = 0; i < count; i++) roles.push(role);
  return roles;
}

/** A layout scaled down to `nodes` nodes, keeping at least one node of each role and the controllers. */
export function scaledLayout(counts: Record<string, number>, nodes: number): Record<string, number> {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (nodes >= total) return { ...counts };
  const out: Record<string, number> = {};
  let left = nodes;
  const entries = Object.entries(counts);
  // controllers (and every role) keep at least one node; the biggest role (compute) takes what is left
  for (const [role, count] of entries) {
    const share =
      role === 'controller' ? Math.min(count, 3) : Math.max(1, Math.floor((count * nodes) / total));
    out[role] = share;
    left -= share;
  }
  const biggest = entries.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  out[biggest] = Math.max(1, (out[biggest] ?? 0) + left);
  return out;
}

/** Plan nodes 1..N of a layout, one role per node. */
export function layoutNodes(roles: string[]): PlanNode[] {
  return roles.map((role, i) => ({ id: i + 1, roles: [role] }));
}

/** What tells one seeded node from another: its identity, its role, and where and since when it is. */
export interface NodeSeed {
  id: number;
  instanceId: string;
  /** The node's name and hostname. */
  name: string;
  ip: string;
  mac: string;
  role: string;
  online: boolean;
  clusterId: number | null;
  discoveredAt: string;
}

/** A node assigned its one role and provisioned, as the plan step and a deployment read it. */
export function provisionedNode(seed: NodeSeed): Node {
  return {
    id: seed.id,
    instanceId: seed.instanceId,
    name: seed.name,
    hostname: seed.name,
    ip: seed.ip,
    mac: seed.mac,
    platformName: 'Ubuntu',
    osPlatform: 'linux',
    status: 'provisioned',
    errorType: null,
    errorMsg: null,
    progress: 0,
    roles: [seed.role],
    pendingRoles: [],
    primaryRoles: [],
    pendingAddition: false,
    pendingDeletion: false,
    online: seed.online,
    clusterId: seed.clusterId,
    discoveredAt: seed.discoveredAt,
  };
}

/** Typical seconds of a task (0 for a task that runs nothing). */
export function typicalOf(workload: ReferenceWorkload, task: string): number {
  return workload.typical[task] ?? 0;
}

/** The graph with each runnable task's command replaced by a sleep of its typical duration times `scale`. */
export function sleepingGraph(workload: ReferenceWorkload, scale: number): GraphTask[] {
  return workload.tasks.map((task) => {
    const seconds = workload.typical[task.id];
    if (seconds === undefined || task.parameters?.cmd === undefined) return task;
    return { ...task, parameters: { ...task.parameters, cmd: `sleep ${sleepArgument(seconds * scale)}` } };
  });
}

/** Seconds as `sleep` takes them: at most 3 decimals, never negative. */
export function sleepArgument(seconds: number): string {
  return String(Math.max(0, Math.round(seconds * 1000) / 1000));
}
