import { describe, expect, it } from 'vitest';
import { flattenSettings, fuelSettingsDefaults } from '../../lambdas/domain/conditions.js';
import { DeploymentInfo, type InfoContext } from '../../lambdas/domain/deployment-info.js';
import { MASTER_NODE } from '../../lambdas/domain/targets.js';

const ctx: InfoContext = {
  cluster: { id: 4, name: 'env', status: 'deployment' },
  settings: flattenSettings(fuelSettingsDefaults()),
  nodes: [
    { id: 1, name: 'node-1', hostname: 'node-1', ip: '10.0.0.1', roles: ['primary-controller'] },
    { id: 2, name: 'node-2', hostname: 'node-2', ip: '10.0.0.2', roles: ['compute'] },
  ],
  masterIp: '10.20.0.2',
  openstackVersion: 'mitaka-9.0',
  deploymentId: 12,
};

describe('DeploymentInfo', () => {
  it("gives each target the cluster's settings at the root and its own fields", () => {
    const info = new DeploymentInfo(ctx);
    const node = info.of(2);
    expect(node).toMatchObject({
      uid: '2',
      fqdn: 'node-2',
      roles: ['compute'],
      role: 'compute',
      deployment_id: 12,
    });
    expect((node.storage as Record<string, unknown>).volumes_lvm).toBe(true);
    expect(node.plugins).toEqual([]);
    expect((node.nodes as unknown[]).length).toBe(2);
    expect(info.of(MASTER_NODE)).toMatchObject({ uid: 'master', roles: ['master'] });
    // built once per target
    expect(info.of(2)).toBe(node);
  });

  it("fills placeholders as Nailgun's formatter context: CN_HOSTNAME is public_ssl.hostname, SETTINGS the master's", () => {
    const values = new DeploymentInfo(ctx).placeholdersOf(1);
    expect(values).toMatchObject({
      CLUSTER_ID: 4,
      MASTER_IP: '10.20.0.2',
      OPENSTACK_VERSION: 'mitaka-9.0',
      CN_HOSTNAME: 'public.fuel.local',
      SETTINGS: { MASTER_IP: '10.20.0.2' },
    });
  });
});
