/** The demo environment `npm start` seeds: the simulated nodes in one cluster with roles, deployed at once. */
import type { Service } from '../lambdas/app/service.js';

export function demoRoles(count: number): string[][] {
  return Array.from({ length: count }, (_, i) => {
    if (i === 0) return ['controller'];
    if (i === count - 1 && count >= 3) return ['ceph-osd'];
    return ['compute'];
  });
}

export async function seedDemo(service: Service, log: (line: string) => void): Promise<void> {
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
}
