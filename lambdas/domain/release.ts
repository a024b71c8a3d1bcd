/**
 * The release's default deployment graph: what a new cluster deploys until its graph is replaced.
 * A Fuel-like OpenStack graph of 20 tasks over controller, compute and storage (ceph-osd) roles;
 * each command marks its work in the node's folder and takes a couple of seconds.
 */
import type { GraphTask, ReleaseRole } from './graph.js';

interface Step {
  id: string;
  roles: string[] | '*';
  requires?: string[];
  cross?: { name: string; role: string }[];
  seconds: number;
  strategy?: GraphTask['strategy'];
}

const ALL = ['controller', 'compute', 'ceph-osd'];

const STEPS: Step[] = [
  { id: 'hiera', roles: ALL, seconds: 1 },
  { id: 'globals', roles: ALL, requires: ['hiera'], seconds: 1 },
  { id: 'netconfig', roles: ALL, requires: ['globals'], seconds: 2 },
  { id: 'hosts', roles: ALL, requires: ['netconfig'], seconds: 1 },
  { id: 'firewall', roles: ALL, requires: ['netconfig'], seconds: 2 },
  { id: 'ntp-client', roles: ALL, requires: ['hosts'], seconds: 1 },
  {
    id: 'cluster',
    roles: ['controller'],
    requires: ['firewall', 'hosts'],
    seconds: 2,
    strategy: { type: 'one_by_one' },
  },
  { id: 'database', roles: ['controller'], requires: ['cluster'], seconds: 3 },
  { id: 'rabbitmq', roles: ['controller'], requires: ['cluster'], seconds: 2 },
  { id: 'keystone', roles: ['controller'], requires: ['database'], seconds: 3 },
  { id: 'glance', roles: ['controller'], requires: ['keystone'], seconds: 2 },
  { id: 'openstack-controller', roles: ['controller'], requires: ['keystone', 'rabbitmq'], seconds: 3 },
  { id: 'openstack-network-server', roles: ['controller'], requires: ['openstack-controller'], seconds: 2 },
  { id: 'ceph-mon', roles: ['controller'], requires: ['firewall'], seconds: 2 },
  { id: 'horizon', roles: ['controller'], requires: ['keystone'], seconds: 1 },
  {
    id: 'top-role-compute',
    roles: ['compute'],
    requires: ['firewall', 'ntp-client'],
    cross: [{ name: 'openstack-controller', role: 'controller' }],
    seconds: 3,
  },
  {
    id: 'openstack-network-compute',
    roles: ['compute'],
    requires: ['top-role-compute'],
    cross: [{ name: 'openstack-network-server', role: 'controller' }],
    seconds: 2,
  },
  {
    id: 'top-role-ceph-osd',
    roles: ['ceph-osd'],
    requires: ['firewall', 'ntp-client'],
    cross: [{ name: 'ceph-mon', role: 'controller' }],
    seconds: 3,
  },
  {
    id: 'enable_nova_compute_service',
    roles: ['controller'],
    requires: ['openstack-controller'],
    cross: [{ name: 'openstack-network-compute', role: 'compute' }],
    seconds: 1,
  },
  {
    id: 'upload_cirros',
    roles: ['controller'],
    requires: ['glance', 'enable_nova_compute_service'],
    seconds: 2,
  },
];

export function defaultGraph(): GraphTask[] {
  return STEPS.map((step) => ({
    id: step.id,
    type: 'shell',
    version: '2.1.0',
    roles: step.roles,
    requires: step.requires ?? [],
    ...(step.cross ? { 'cross-depends': step.cross } : {}),
    ...(step.strategy ? { strategy: step.strategy } : {}),
    parameters: {
      cmd: `echo "${step.id} on $(hostname)"; sleep ${step.seconds}; echo done > ${step.id}.done`,
      timeout: 300,
    },
  }));
}

/** The release's OpenStack version, as Fuel 9.0 names it (`{OPENSTACK_VERSION}` in task parameters). */
export const OPENSTACK_VERSION = 'mitaka-9.0';

/** The one release this service deploys (Nailgun's `releases/1`): every environment is of it. */
export const RELEASE = {
  id: 1,
  name: 'Mitaka on Ubuntu 14.04',
  version: OPENSTACK_VERSION,
  operating_system: 'Ubuntu',
  description: 'The Fuel 9.0 release: deploys the default graph (or the uploaded one) over SSM Run Command',
  state: 'available',
} as const;

/** What Nailgun's role metadata says of a role (`roles_metadata` of the release), as fuelclient reads it. */
export interface RoleMeta {
  name: string;
  description: string;
  group: 'base' | 'compute' | 'storage' | 'other';
  conflicts: string[];
  has_primary: boolean;
}

/** The release's roles and their metadata, in the release's order: one entry for each of RELEASE_ROLES. */
const ROLE_META: Record<ReleaseRole, Omit<RoleMeta, 'has_primary'>> = {
  controller: {
    name: 'Controller',
    description: 'The Controller initiates orchestration activities and provides an external API.',
    group: 'base',
    conflicts: ['compute', 'ceph-osd'],
  },
  'primary-controller': {
    name: 'Primary controller',
    description: 'The controller elected to run the tasks of the first controller (elected by the service).',
    group: 'base',
    conflicts: ['compute', 'ceph-osd'],
  },
  compute: {
    name: 'Compute',
    description: 'A Compute node creates, manages, and terminates virtual machine instances.',
    group: 'compute',
    conflicts: ['controller', 'cinder', 'ceph-osd'],
  },
  'ceph-osd': {
    name: 'Ceph OSD',
    description: 'Ceph storage can be configured to provide storage for block volumes and images.',
    group: 'storage',
    conflicts: ['compute', 'controller'],
  },
  cinder: {
    name: 'Cinder',
    description: 'Cinder provides scheduling of block storage resources.',
    group: 'storage',
    conflicts: ['compute'],
  },
  'cinder-block-device': {
    name: 'Cinder Block Device',
    description: 'Host node for Cinder Block Devices.',
    group: 'storage',
    conflicts: [],
  },
  'cinder-vmware': {
    name: 'Cinder Proxy to VMware Datastore',
    description:
      'Cinder-VMware provides scheduling of block storage resources delivered over VMware vCenter.',
    group: 'storage',
    conflicts: [],
  },
  'compute-vmware': {
    name: 'Compute VMware',
    description:
      'A node that runs nova-compute with VCDriver, that manages ESXi computing resources via VMware vCenter.',
    group: 'compute',
    conflicts: ['controller', 'compute', 'cinder', 'ceph-osd'],
  },
  mongo: {
    name: 'Telemetry - MongoDB',
    description:
      'A feature-complete and recommended database for storage of metering data from OpenStack Telemetry.',
    group: 'other',
    conflicts: ['compute', 'ceph-osd'],
  },
  'primary-mongo': {
    name: 'Primary Telemetry - MongoDB',
    description: 'The MongoDB node elected to run the tasks of the first one (elected by the service).',
    group: 'other',
    conflicts: ['compute', 'ceph-osd'],
  },
  'base-os': {
    name: 'Operating System',
    description: 'Install base Operating System without additional packages and configuration.',
    group: 'other',
    conflicts: ['virt'],
  },
  ironic: {
    name: 'Ironic',
    description: 'Ironic conductor.',
    group: 'other',
    conflicts: ['compute', 'ceph-osd'],
  },
  virt: {
    name: 'Virtual',
    description:
      'ADVANCED: Make available possibilities to spawn vms on this node that can be assign as a normal nodes.',
    group: 'other',
    conflicts: ['base-os'],
  },
};

/**
 * The metadata of a role: the release's, or for a role only an uploaded graph names (which assignment
 * accepts too), a plain entry saying so.
 */
export function roleMeta(role: string, withPrimary: readonly string[]): RoleMeta {
  const known = Object.hasOwn(ROLE_META, role) ? ROLE_META[role as ReleaseRole] : undefined;
  const has_primary = withPrimary.includes(role);
  if (known) return { ...known, conflicts: [...known.conflicts], has_primary };
  return {
    name: role,
    description: "A role the environment's deployment graph names (not a role of the release).",
    group: 'other',
    conflicts: [],
    has_primary,
  };
}
