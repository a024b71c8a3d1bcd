/**
 * The managed nodes of the local fleet: `node-1`..`node-N`, each with an instance id, an address and its
 * own working folder, online unless a test or the operator takes it offline.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface FleetNode {
  index: number;
  name: string;
  instanceId: string;
  ip: string;
  workDir: string;
  online: boolean;
  lastPingAt: Date;
}

/** `mi-` + 17 hex digits of the index. */
const instanceIdFor = (index: number): string => `mi-${index.toString(16).padStart(17, '0')}`;

const ipFor = (index: number): string =>
  `127.0.${1 + Math.floor((index - 1) / 254)}.${((index - 1) % 254) + 1}`;

/** Creates the nodes and their folders `<baseDir>/<nodeName>`. */
export function createNodes(baseDir: string, count: number): FleetNode[] {
  if (!Number.isInteger(count) || count < 0) {
    throw new Error(`nodeCount must be a non-negative integer, got ${count}`);
  }
  const nodes: FleetNode[] = [];
  for (let index = 1; index <= count; index++) {
    const name = `node-${index}`;
    const workDir = join(baseDir, name);
    mkdirSync(workDir, { recursive: true });
    nodes.push({
      index,
      name,
      instanceId: instanceIdFor(index),
      ip: ipFor(index),
      workDir,
      online: true,
      lastPingAt: new Date(),
    });
  }
  return nodes;
}

/** The agent's ping status as DescribeInstanceInformation reports it. */
export const pingStatus = (node: FleetNode): 'Online' | 'ConnectionLost' =>
  node.online ? 'Online' : 'ConnectionLost';
