/** The demo environment `npm start` seeds: the simulated nodes in one cluster with roles, deployed at once. */
import type { Service } from '../lambdas/app/service.js';
import { isTaskFinished } from '../lambdas/domain/status.js';

export function demoRoles(count: number): string[][] {
  return Array.from({ length: count }, (_, i) => {
    if (i === 0) return ['controller'];
    if (i === count - 1 && count >= 3) return ['ceph-osd'];
    return ['compute'];
  });
}

/** The demo's environment and the deployment it started. */
export interface Demo {
  clusterId: number;
  taskId: number;
}

export async function seedDemo(service: Service, log: (line: string) => void): Promise<Demo> {
  const cluster = await service.createCluster({ name: 'demo', releaseId: 1 });
  const nodes = (await service.listNodes(null)).sort((a, b) => a.id - b.id);
  const roles = demoRoles(nodes.length);
  await service.assignNodes(
    cluster.id,
    nodes.map((n, i) => ({ id: n.id, roles: roles[i] ?? ['compute'] })),
  );
  const task = await service.deployChanges(cluster.id);
  log(
    `demo: environment '${cluster.name}' (id ${cluster.id}) with ${nodes.length} nodes is deploying as task ${task.id}`,
  );
  return { clusterId: cluster.id, taskId: task.id };
}

/**
 * Called every few seconds until it returns true: once the demo's deployment has ended, says so in one line
 * (how it ended and the environment's status), and is done.
 */
export async function reportDemoEnd(
  service: Service,
  demo: Demo,
  log: (line: string) => void,
): Promise<boolean> {
  const task = await service.task(demo.taskId).catch(() => null);
  if (task === null) return true;
  if (!isTaskFinished(task.status)) return false;
  const cluster = await service.cluster(demo.clusterId).catch(() => null);
  log(
    `demo: deployment task ${task.id} ended ${task.status}` +
      (cluster ? `; environment '${cluster.name}' is ${cluster.status}` : '') +
      (task.message ? ` (${task.message})` : ''),
  );
  return true;
}
