/**
 * The managed nodes of the local fleet: `node-1`..`node-N` and the `master` (where tasks of Fuel's master
 * role run), each with an instance id, an address, tags and its own working folder, online unless a test
 * or the operator takes it offline, and unreachable while it reboots. Each runs an SSM Agent of some version
 * (the current one unless a test sets an older one), which DescribeInstanceInformation reports and which
 * decides whether the node's commands get ENV_VAR parameters as environment variables.
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
  /** The version of the node's SSM Agent, e.g. `3.3.3572.0`. */
  agentVersion: string;
}

/** The agent version every node runs unless a test gives it another one (`LocalFleet.setAgentVersion`). */
export const CURRENT_AGENT_VERSION = '3.3.3572.0';
/** The first SSM Agent that passes `interpolationType: ENV_VAR` parameters as `SSM_<name>` variables. */
export const ENV_VAR_MIN_AGENT_VERSION = '3.3.2746.0';

const AGENT_VERSION = /^[0-9]+(\.[0-9]+){1,3}$/;

/** Checks an agent version: 2 to 4 numbers separated by dots, e.g. `3.3.1142.0`. */
export function checkAgentVersion(version: string): string {
  if (!AGENT_VERSION.test(version)) {
    throw new Error(`An SSM Agent version is numbers separated by dots, e.g. 3.3.1142.0; got ${version}`);
  }
  return version;
}

/** Compares two agent versions number by number (a missing number is 0): negative, 0 or positive. */
export function compareAgentVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** The node's agent passes ENV_VAR parameters as environment variables (3.3.2746.0 or later). */
export const interpolatesEnvVars = (node: Pick<FleetNode, 'agentVersion'>): boolean =>
  compareAgentVersions(node.agentVersion, ENV_VAR_MIN_AGENT_VERSION) >= 0;

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
    agentVersion: CURRENT_AGENT_VERSION,
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
