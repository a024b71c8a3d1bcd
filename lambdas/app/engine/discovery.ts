/**
 * Discovery: SSM managed instances become nodes (new ones appear as `discover`), and `online` follows them;
 * a node whose instance SSM no longer lists (deregistered, or no longer tagged as a node) becomes offline.
 * The master node is not a node of any cluster: it is left out.
 */
import type { Context } from '../ports.js';
import { nowIso } from '../ports.js';

export async function discoverNodes(ctx: Context): Promise<{ added: number; updated: number }> {
  const { nodes } = ctx.repos;
  let added = 0;
  let updated = 0;
  const listed = await ctx.commands.instances();
  const present = new Set(listed.map((i) => i.instanceId));
  // one read of the nodes for the whole pass: an instance already a node costs no request of its own
  const all = await nodes.list();
  const byInstance = new Map(all.map((n) => [n.instanceId, n]));
  const hostnames = new Set(all.map((n) => n.hostname));
  for (const gone of all.filter((n) => n.online && !present.has(n.instanceId))) {
    await nodes.update(gone.id, { online: false });
    updated++;
  }
  for (const instance of listed) {
    if (instance.instanceId === ctx.master.instanceId) continue;
    const listedNode = byInstance.get(instance.instanceId);
    const known = listedNode ? listedNode.id : await nodes.idOfInstance(instance.instanceId);
    if (known !== null) {
      const current = listedNode ?? (await nodes.get(known));
      if (current && (current.online !== instance.online || current.ip !== instance.ip)) {
        await nodes.update(known, { online: instance.online, ip: instance.ip });
        updated++;
      }
      if (current) continue;
    }
    const id = known ?? (await nodes.claimInstance(instance.instanceId, await nodes.nextId()));
    if (await nodes.get(id)) continue;
    // a node's hostname is its instance's name, unless another node has it (an operator gave it to one,
    // PUT nodes/{id}/): then one made of its id, or that with a number after it
    const hostname = freeHostname(hostnames, [instance.name, `node-${id}`]);
    hostnames.add(hostname);
    const mac = `52:54:00:${[id >> 16, id >> 8, id].map((b) => (b & 255).toString(16).padStart(2, '0')).join(':')}`;
    await nodes.put({
      id,
      instanceId: instance.instanceId,
      name: instance.name,
      hostname,
      ip: instance.ip,
      mac,
      platformName: instance.platformName,
      osPlatform: instance.platformType.toLowerCase(),
      status: 'discover',
      errorType: null,
      errorMsg: null,
      progress: 0,
      roles: [],
      pendingRoles: [],
      primaryRoles: [],
      pendingAddition: false,
      pendingDeletion: false,
      online: instance.online,
      clusterId: null,
      discoveredAt: nowIso(ctx),
    });
    added++;
  }
  return { added, updated };
}

/** The first of `wanted` no node has, else the last one with a number after it that no node has. */
function freeHostname(taken: ReadonlySet<string>, wanted: string[]): string {
  const free = wanted.find((name) => !taken.has(name));
  if (free !== undefined) return free;
  const last = wanted[wanted.length - 1] as string;
  let n = 2;
  while (taken.has(`${last}-${n}`)) n++;
  return `${last}-${n}`;
}
