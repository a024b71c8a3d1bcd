/**
 * The managed nodes of the local fleet: `node-1`..`node-N` and the `master` (where tasks of Fuel's master
 * role run), each with an instance id, an address, tags and its own working folder, online unless a test
 * or the operator takes it offline, and unreachable while it reboots.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** What a fleet instance is: a node to discover and deploy, or the master. */
export type FleetRole = 'node' | 'master';

/** The tag that tells the master from the nodes (ListTagsForResource, `tag:` filters). */
export const ROLE_TAG = 'fuel-sls:role';

export interface FleetTag {
  Key: string;
  Value: string;
}

export interface FleetNode {
  index: number;
  name: string;
  role: FleetRole;
  instanceId: string;
  ip: string;
  workDir: string;
  tags: readonly FleetTag[];
  /** Set by the operator (or a test): the node's agent is connected. */
  online: boolean;
  /** The node is rebooting: its agent is away until the reboot is over. */
  rebooting: boolean;
  lastPingAt: Date;
}

/** `mi-` + 17 hex digits of the index; the master is index 0. */
const instanceIdFor = (index: number): string => `mi-${index.toString(16).padStart(17, '0')}`;

const ipFor = (index: number): string =>
  `127.0.${1 + Math.floor((index - 1) / 254)}.${((index - 1) % 254) + 1}`;

export const MASTER_NAME = 'master';
export const MASTER_INSTANCE_ID = instanceIdFor(0);
export const MASTER_IP = '127.0.0.2';

function fleetNode(index: number, name: string, role: FleetRole, ip: string, baseDir: string): FleetNode {
  const workDir = join(baseDir, name);
  mkdirSync(workDir, { recursive: true });
  return {
    index,
    name,
    role,
    instanceId: instanceIdFor(index),
    ip,
    workDir,
    tags: [
      { Key: 'Name', Value: name },
      { Key: ROLE_TAG, Value: role },
    ],
    online: true,
    rebooting: false,
    lastPingAt: new Date(),
  };
}

/** Creates the nodes, then the master, and their folders `<baseDir>/<name>`. */
export function createNodes(baseDir: string, count: number): FleetNode[] {
  if (!Number.isInteger(count) || count < 0) {
    throw new Error(`nodeCount must be a non-negative integer, got ${count}`);
  }
  const nodes: FleetNode[] = [];
  for (let index = 1; index <= count; index++) {
    nodes.push(fleetNode(index, `node-${index}`, 'node', ipFor(index), baseDir));
  }
  nodes.push(fleetNode(0, MASTER_NAME, 'master', MASTER_IP, baseDir));
  return nodes;
}

/** The node's agent can be reached: online and not rebooting. */
export const isReachable = (node: FleetNode): boolean => node.online && !node.rebooting;

/** The agent's ping status as DescribeInstanceInformation reports it. */
export const pingStatus = (node: FleetNode): 'Online' | 'ConnectionLost' =>
  isReachable(node) ? 'Online' : 'ConnectionLost';
