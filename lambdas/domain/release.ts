/**
 * The release's default deployment graph: what a new cluster deploys until its graph is replaced.
 * A Fuel-like OpenStack graph of 20 tasks over controller, compute and storage (ceph-osd) roles;
 * each command marks its work in the node's folder and takes a couple of seconds.
 */
import type { GraphTask } from './graph.js';

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
