import { describe, expect, it } from 'vitest';
import {
  allowedFailures,
  CRITICAL_ROLES,
  criticalRolesOf,
  judgeFailures,
  type ToleranceGroup,
  type ToleranceNode,
  toleranceGroups,
} from '../../lambdas/domain/fault-tolerance';
import type { GraphTask } from '../../lambdas/domain/graph';
import { allRoles, ROLES_WITH_PRIMARY } from '../../lambdas/domain/primary-roles';

function group(id: string, faultTolerance: number | string | undefined, roles?: string[] | '*'): GraphTask {
  const task: GraphTask = { id, type: 'group' };
  if (roles !== undefined) task.roles = roles;
  if (faultTolerance !== undefined) task.fault_tolerance = faultTolerance;
  return task;
}

function nodesWithRole(role: string, firstId: number, count: number): ToleranceNode[] {
  return Array.from({ length: count }, (_, i) => ({ id: firstId + i, roles: [role] }));
}

describe('allowedFailures', () => {
  it('is 0 when fault_tolerance is undefined', () => {
    expect(allowedFailures(undefined, 10)).toBe(0);
  });

  it('takes a non-negative number as is', () => {
    expect(allowedFailures(0, 10)).toBe(0);
    expect(allowedFailures(3, 10)).toBe(3);
    expect(allowedFailures(10, 10)).toBe(10);
  });

  it('never exceeds the member count', () => {
    expect(allowedFailures(5, 2)).toBe(2);
    expect(allowedFailures(1, 0)).toBe(0);
    expect(allowedFailures('150%', 4)).toBe(4);
  });

  it('reads "N%" as floor(N * members / 100)', () => {
    expect(allowedFailures('2%', 100)).toBe(2);
    expect(allowedFailures('10%', 40)).toBe(4);
    expect(allowedFailures('50%', 3)).toBe(1);
    expect(allowedFailures('33%', 10)).toBe(3);
    expect(allowedFailures('2%', 49)).toBe(0);
    expect(allowedFailures('2%', 50)).toBe(1);
    expect(allowedFailures('100%', 7)).toBe(7);
    expect(allowedFailures('0%', 7)).toBe(0);
  });

  it('reads a negative number -n as "n nodes must succeed"', () => {
    expect(allowedFailures(-1, 5)).toBe(4);
    expect(allowedFailures(-3, 5)).toBe(2);
    expect(allowedFailures(-5, 5)).toBe(0);
  });

  it('never goes below zero for a negative number larger than the group', () => {
    expect(allowedFailures(-7, 5)).toBe(0);
    expect(allowedFailures(-1, 0)).toBe(0);
  });

  it('reads numeric strings as numbers', () => {
    expect(allowedFailures('2', 10)).toBe(2);
    expect(allowedFailures('-1', 10)).toBe(9);
    expect(allowedFailures('-20', 10)).toBe(0);
    expect(allowedFailures('20', 10)).toBe(10);
  });

  it('reads "-N%" as N% of the nodes (rounded down) must succeed', () => {
    expect(allowedFailures('-10%', 100)).toBe(90);
    expect(allowedFailures('-50%', 3)).toBe(2);
  });

  it('treats an unreadable string as 0', () => {
    expect(allowedFailures('many', 10)).toBe(0);
    expect(allowedFailures('', 10)).toBe(0);
  });
});

describe('toleranceGroups', () => {
  const nodes: ToleranceNode[] = [
    { id: 1, roles: ['controller'] },
    { id: 2, roles: ['compute'] },
    { id: 3, roles: ['compute', 'ceph-osd'] },
    { id: 4, roles: ['cinder'] },
  ];

  it('keeps only group tasks that have fault_tolerance', () => {
    const tasks: GraphTask[] = [
      group('controller', 0, ['controller']),
      group('compute', undefined, ['compute']),
      { id: 'netconfig', type: 'puppet', roles: ['compute'], fault_tolerance: 1 },
      group('ceph-osd', 1, ['ceph-osd']),
    ];
    const groups = toleranceGroups(tasks, nodes);
    expect(groups.map((g) => g.name)).toEqual(['controller', 'ceph-osd']);
  });

  it('makes members of the nodes having any of the roles, and computes allowed failures', () => {
    const groups = toleranceGroups([group('workers', '-1', ['compute', 'cinder'])], nodes);
    expect(groups).toEqual([
      { name: 'workers', roles: ['compute', 'cinder'], nodeIds: [2, 3, 4], allowedFailures: 2 },
    ]);
  });

  it("uses the group's own id as its role when roles is missing or '*'", () => {
    const groups = toleranceGroups([group('compute', 1), group('controller', 0, '*')], nodes);
    expect(groups).toEqual([
      { name: 'compute', roles: ['compute'], nodeIds: [2, 3], allowedFailures: 1 },
      { name: 'controller', roles: ['controller'], nodeIds: [1], allowedFailures: 0 },
    ]);
  });

  it('yields an empty group when no node has its roles', () => {
    const groups = toleranceGroups([group('mongo', '50%', ['mongo'])], nodes);
    expect(groups).toEqual([{ name: 'mongo', roles: ['mongo'], nodeIds: [], allowedFailures: 0 }]);
  });

  it('puts a node in every group whose roles it has', () => {
    const groups = toleranceGroups(
      [group('compute', 1, ['compute']), group('ceph-osd', 0, ['ceph-osd'])],
      nodes,
    );
    expect(groups.find((g) => g.name === 'compute')?.nodeIds).toEqual([2, 3]);
    expect(groups.find((g) => g.name === 'ceph-osd')?.nodeIds).toEqual([3]);
  });

  it("makes every node a member when the roles array contains '*'", () => {
    expect(toleranceGroups([group('all', 1, ['*'])], nodes)[0]?.nodeIds).toEqual([1, 2, 3, 4]);
  });

  it("reads the members' roles from Nailgun's alias `role` (a string or a list) and from `groups`", () => {
    const tasks: GraphTask[] = [
      { id: 'storage', type: 'group', role: 'cinder', fault_tolerance: 0 },
      { id: 'hypervisors', type: 'group', role: ['compute', 'cinder'], fault_tolerance: 1 },
      { id: 'osds', type: 'group', groups: ['ceph-osd'], fault_tolerance: '50%' },
    ];
    expect(toleranceGroups(tasks, nodes)).toEqual([
      { name: 'storage', roles: ['cinder'], nodeIds: [4], allowedFailures: 0 },
      { name: 'hypervisors', roles: ['compute', 'cinder'], nodeIds: [2, 3, 4], allowedFailures: 1 },
      { name: 'osds', roles: ['ceph-osd'], nodeIds: [3], allowedFailures: 0 },
    ]);
  });

  it('prefers `roles` over `role`, and `role` over `groups`', () => {
    const tasks: GraphTask[] = [
      { id: 'g1', type: 'group', roles: ['controller'], role: ['compute'], fault_tolerance: 0 },
      { id: 'g2', type: 'group', role: 'compute', groups: ['cinder'], fault_tolerance: 0 },
    ];
    expect(toleranceGroups(tasks, nodes).map((g) => [g.name, g.nodeIds])).toEqual([
      ['g1', [1]],
      ['g2', [2, 3]],
    ]);
  });

  it('uses its own id as its role when `role` or `groups` is an empty list', () => {
    const tasks: GraphTask[] = [
      { id: 'cinder', type: 'group', role: [], fault_tolerance: 0 },
      { id: 'compute', type: 'group', groups: [], fault_tolerance: 0 },
    ];
    expect(toleranceGroups(tasks, nodes).map((g) => [g.name, g.roles, g.nodeIds])).toEqual([
      ['cinder', ['cinder'], [4]],
      ['compute', ['compute'], [2, 3]],
    ]);
  });

  it('matches a /regex/ role against the start of role names', () => {
    const groups = toleranceGroups([group('c-roles', 1, ['/c(ompute|inder)/'])], nodes);
    expect(groups[0]?.nodeIds).toEqual([2, 3, 4]);
    // anchored at the start, as Python's re.match: 'ompute' does not match 'compute'
    expect(toleranceGroups([group('none', 1, ['/ompute/'])], nodes)[0]?.nodeIds).toEqual([]);
  });

  it('counts a node of the primary role only in a group naming primary-<role>', () => {
    const withPrimary: ToleranceNode[] = [
      { id: 1, roles: allRoles({ roles: ['controller'], primaryRoles: ['controller'] }, ROLES_WITH_PRIMARY) },
      { id: 2, roles: allRoles({ roles: ['controller'], primaryRoles: [] }, ROLES_WITH_PRIMARY) },
    ];
    const groups = toleranceGroups(
      [group('primary-controller', 0, ['primary-controller']), group('controller', 1, ['controller'])],
      withPrimary,
    );
    expect(groups.map((g) => [g.name, g.nodeIds])).toEqual([
      ['primary-controller', [1]],
      ['controller', [2]],
    ]);
  });

  it('returns no groups for a graph without group tasks', () => {
    expect(toleranceGroups([{ id: 'a', type: 'shell', roles: '*' }], nodes)).toEqual([]);
  });
});

describe('judgeFailures', () => {
  // no critical role here: only the groups decide
  const nodes: ToleranceNode[] = [
    { id: 1, roles: ['mongo'] },
    { id: 2, roles: ['mongo'] },
    { id: 3, roles: ['compute'] },
    { id: 4, roles: ['compute'] },
    { id: 5, roles: ['compute', 'cinder'] },
    { id: 6, roles: ['cinder'] },
    { id: 7, roles: ['base-os'] },
  ];
  const tasks: GraphTask[] = [
    group('mongo', 1, ['mongo']),
    group('compute', 1, ['compute']),
    group('cinder', 0, ['cinder']),
  ];
  const groups = toleranceGroups(tasks, nodes);

  it('is not exceeded with no failures', () => {
    expect(judgeFailures(groups, nodes, [])).toEqual({ exceeded: false, reason: null });
  });

  it('is not exceeded while every group stays within its tolerance', () => {
    expect(judgeFailures(groups, nodes, [1, 3])).toEqual({ exceeded: false, reason: null });
  });

  it('is exceeded when a group has more failed members than it tolerates', () => {
    expect(judgeFailures(groups, nodes, [1, 2])).toEqual({
      exceeded: true,
      reason: "2 of 2 nodes of group 'mongo' failed; it tolerates 1",
    });
  });

  it('is not exceeded at exactly the tolerance', () => {
    const many = nodesWithRole('compute', 1, 40);
    const computeGroups = toleranceGroups([group('compute', 2, ['compute'])], many);
    expect(judgeFailures(computeGroups, many, [1, 2]).exceeded).toBe(false);
    expect(judgeFailures(computeGroups, many, [1, 2, 3])).toEqual({
      exceeded: true,
      reason: "3 of 40 nodes of group 'compute' failed; it tolerates 2",
    });
  });

  it('counts a node in two groups against each of them', () => {
    // Node 5 is compute and cinder: cinder tolerates 0, so its failure alone exceeds.
    expect(judgeFailures(groups, nodes, [5])).toEqual({
      exceeded: true,
      reason: "1 of 2 nodes of group 'cinder' failed; it tolerates 0",
    });
    // With cinder tolerant, node 5 still counts against compute.
    const lenient = toleranceGroups(
      [group('compute', 1, ['compute']), group('cinder', 2, ['cinder'])],
      nodes,
    );
    expect(judgeFailures(lenient, nodes, [5]).exceeded).toBe(false);
    expect(judgeFailures(lenient, nodes, [4, 5])).toEqual({
      exceeded: true,
      reason: "2 of 3 nodes of group 'compute' failed; it tolerates 1",
    });
  });

  it('lets a node outside every group fail without stopping the deployment', () => {
    expect(judgeFailures(groups, nodes, [7])).toEqual({ exceeded: false, reason: null });
    // it counts against no group either: with it, the compute group is still within its tolerance
    expect(judgeFailures(groups, nodes, [7, 3])).toEqual({ exceeded: false, reason: null });
  });

  it('lets non-critical nodes fail when the graph has no fault-tolerance groups', () => {
    expect(judgeFailures([], nodes, [1, 2, 3, 4, 5, 6, 7])).toEqual({ exceeded: false, reason: null });
    expect(judgeFailures([], nodes, [])).toEqual({ exceeded: false, reason: null });
  });

  it('lets a node fail whose only group has no fault_tolerance', () => {
    const only = toleranceGroups([group('compute', undefined, ['compute'])], nodes);
    expect(only).toEqual([]);
    expect(judgeFailures(only, nodes, [3, 4])).toEqual({ exceeded: false, reason: null });
  });

  it('ignores failed ids of unknown nodes', () => {
    expect(judgeFailures(groups, nodes, [99, 100])).toEqual({ exceeded: false, reason: null });
    expect(judgeFailures(groups, nodes, [3, 99]).exceeded).toBe(false);
    // an unknown node is judged by no role either
    expect(judgeFailures(groups, [{ id: 1, roles: ['compute'] }], [2]).exceeded).toBe(false);
  });

  it('counts a repeated failed id once', () => {
    expect(judgeFailures(groups, nodes, [3, 3]).exceeded).toBe(false);
    expect(judgeFailures(groups, nodes, [3, 3, 4]).exceeded).toBe(true);
  });

  it('is never exceeded by an empty group', () => {
    const withEmpty: ToleranceGroup[] = [
      ...groups,
      { name: 'mongo', roles: ['mongo'], nodeIds: [], allowedFailures: 0 },
    ];
    expect(judgeFailures(withEmpty, nodes, [3])).toEqual({ exceeded: false, reason: null });
  });

  it('honours negative tolerance: n nodes must succeed', () => {
    const five = nodesWithRole('compute', 1, 5);
    const mustSucceed = toleranceGroups([group('compute', -2, ['compute'])], five);
    expect(mustSucceed[0]?.allowedFailures).toBe(3);
    expect(judgeFailures(mustSucceed, five, [1, 2, 3]).exceeded).toBe(false);
    expect(judgeFailures(mustSucceed, five, [1, 2, 3, 4])).toEqual({
      exceeded: true,
      reason: "4 of 5 nodes of group 'compute' failed; it tolerates 3",
    });
  });
});

describe('critical roles (Nailgun 9.x DeploymentHASerializer.critical_roles)', () => {
  it('are the five roles of Fuel 9.x', () => {
    expect([...CRITICAL_ROLES].sort()).toEqual(
      ['ceph-osd', 'controller', 'primary-controller', 'primary-mongo', 'primary-swift-proxy'].sort(),
    );
  });

  it('make a failed node stop the deployment even when it belongs to no group', () => {
    for (const role of CRITICAL_ROLES) {
      const nodes: ToleranceNode[] = [
        { id: 3, roles: [role] },
        { id: 4, roles: ['compute'] },
      ];
      expect(judgeFailures([], nodes, [3]), role).toEqual({
        exceeded: true,
        reason: `node 3 (${role}) failed: its role ${role} is critical`,
      });
      expect(judgeFailures([], nodes, [4]), role).toEqual({ exceeded: false, reason: null });
    }
  });

  it('override a group that tolerates the failure', () => {
    const nodes: ToleranceNode[] = [
      { id: 1, roles: ['controller'] },
      { id: 2, roles: ['controller'] },
      { id: 3, roles: ['controller'] },
    ];
    const groups = toleranceGroups([group('controller', 2, ['controller'])], nodes);
    expect(groups[0]?.allowedFailures).toBe(2);
    expect(judgeFailures(groups, nodes, [2])).toEqual({
      exceeded: true,
      reason: 'node 2 (controller) failed: its role controller is critical',
    });
  });

  it("are read among all of a node's roles, and all of them are named", () => {
    const nodes: ToleranceNode[] = [
      { id: 5, roles: ['compute', 'ceph-osd'] },
      { id: 6, roles: ['controller', 'cinder', 'ceph-osd'] },
    ];
    expect(criticalRolesOf(nodes[0] as ToleranceNode)).toEqual(['ceph-osd']);
    expect(judgeFailures([], nodes, [5])).toEqual({
      exceeded: true,
      reason: 'node 5 (compute, ceph-osd) failed: its role ceph-osd is critical',
    });
    expect(judgeFailures([], nodes, [6])).toEqual({
      exceeded: true,
      reason: 'node 6 (controller, cinder, ceph-osd) failed: its roles controller, ceph-osd are critical',
    });
  });

  it('count a primary role as primary-<role>: the primary mongo is critical, another mongo is not', () => {
    const asGraphSees = (id: number, roles: string[], primaryRoles: string[]): ToleranceNode => ({
      id,
      roles: allRoles({ roles, primaryRoles }, ROLES_WITH_PRIMARY),
    });
    const nodes = [
      asGraphSees(1, ['mongo'], ['mongo']),
      asGraphSees(2, ['mongo'], []),
      asGraphSees(3, ['controller'], ['controller']),
    ];
    expect(nodes.map((n) => n.roles)).toEqual([['primary-mongo'], ['mongo'], ['primary-controller']]);
    expect(judgeFailures([], nodes, [2])).toEqual({ exceeded: false, reason: null });
    expect(judgeFailures([], nodes, [1])).toEqual({
      exceeded: true,
      reason: 'node 1 (primary-mongo) failed: its role primary-mongo is critical',
    });
    expect(judgeFailures([], nodes, [3])).toEqual({
      exceeded: true,
      reason: 'node 3 (primary-controller) failed: its role primary-controller is critical',
    });
  });

  it('are reported before an exceeded group, the lowest failed id first', () => {
    const nodes: ToleranceNode[] = [
      { id: 1, roles: ['compute'] },
      { id: 4, roles: ['ceph-osd'] },
      { id: 9, roles: ['controller'] },
    ];
    const groups = toleranceGroups([group('compute', 0, ['compute'])], nodes);
    expect(judgeFailures(groups, nodes, [9, 1, 4])).toEqual({
      exceeded: true,
      reason: 'node 4 (ceph-osd) failed: its role ceph-osd is critical',
    });
    expect(judgeFailures(groups, nodes, [1])).toEqual({
      exceeded: true,
      reason: "1 of 1 nodes of group 'compute' failed; it tolerates 0",
    });
  });
});

describe('a Fuel-like graph', () => {
  const tasks: GraphTask[] = [
    group('primary-controller', 0, ['primary-controller']),
    group('controller', 0, ['controller']),
    group('compute', '2%', ['compute']),
    { id: 'hiera', type: 'puppet', roles: '*', parameters: { cmd: 'puppet apply hiera.pp' } },
  ];
  const nodes: ToleranceNode[] = [
    { id: 1, roles: ['primary-controller'] },
    { id: 2, roles: ['controller'] },
    { id: 3, roles: ['controller'] },
    ...nodesWithRole('compute', 100, 100),
  ];
  const groups = toleranceGroups(tasks, nodes);

  it('builds the three groups', () => {
    expect(groups.map((g) => [g.name, g.nodeIds.length, g.allowedFailures])).toEqual([
      ['primary-controller', 1, 0],
      ['controller', 2, 0],
      ['compute', 100, 2],
    ]);
  });

  it('tolerates two failed computes but not three', () => {
    expect(judgeFailures(groups, nodes, [100, 150])).toEqual({ exceeded: false, reason: null });
    expect(judgeFailures(groups, nodes, [100, 150, 199])).toEqual({
      exceeded: true,
      reason: "3 of 100 nodes of group 'compute' failed; it tolerates 2",
    });
  });

  it('stops on any failed controller, the primary one included', () => {
    expect(judgeFailures(groups, nodes, [1])).toEqual({
      exceeded: true,
      reason: 'node 1 (primary-controller) failed: its role primary-controller is critical',
    });
    expect(judgeFailures(groups, nodes, [3, 100])).toEqual({
      exceeded: true,
      reason: 'node 3 (controller) failed: its role controller is critical',
    });
  });

  it('lets a node of a role without a group fail alone', () => {
    const withCinder: ToleranceNode[] = [...nodes, { id: 300, roles: ['cinder'] }];
    const cinderGroups = toleranceGroups(tasks, withCinder);
    expect(cinderGroups.some((g) => g.nodeIds.includes(300))).toBe(false);
    expect(judgeFailures(cinderGroups, withCinder, [300, 100])).toEqual({ exceeded: false, reason: null });
  });
});
