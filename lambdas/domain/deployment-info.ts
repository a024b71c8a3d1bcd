/**
 * A node's deployment data: what Nailgun's `settings:` model and yaql's `$` read when a task's condition is
 * evaluated, and what `{yaql_exp: '$.toYaml()'}` uploads as astute.yaml. The cluster's settings (flattened as
 * Nailgun's `merged_attrs_values`) at the root, then the node's own fields and the list of nodes.
 */
import { type FormatValues, nailgunPlaceholders } from './conditions.js';
import { targetKeyPart } from './targets.js';

export interface InfoCluster {
  id: number;
  name: string;
  status: string;
}

export interface InfoNode {
  id: number;
  name: string;
  hostname: string;
  ip: string;
  /** Nailgun's `all_roles`. */
  roles: string[];
}

export interface InfoContext {
  cluster: InfoCluster;
  /** Flattened cluster settings. */
  settings: Record<string, unknown>;
  nodes: InfoNode[];
  masterIp: string;
  openstackVersion: string;
  deploymentId: number;
}

/** The cluster as the legacy `cluster:` model reads it (Nailgun's `Cluster.to_dict`, the fields tasks read). */
export function clusterModel(ctx: InfoContext): Record<string, unknown> {
  return {
    id: ctx.cluster.id,
    name: ctx.cluster.name,
    status: ctx.cluster.status,
    mode: 'ha_compact',
    net_provider: 'neutron',
  };
}

/**
 * The deployment data of every target, built once per deployment: the parts all nodes share (the settings,
 * the list of nodes) are made once, each target's data once, so that planning stays linear in tasks x nodes.
 */
export class DeploymentInfo {
  private readonly shared: Record<string, unknown>;
  private readonly byTarget = new Map<number, Record<string, unknown>>();
  private readonly placeholders = new Map<number, FormatValues>();

  constructor(private readonly ctx: InfoContext) {
    this.shared = {
      ...ctx.settings,
      deployment_id: ctx.deploymentId,
      deployment_mode: 'ha_compact',
      openstack_version: ctx.openstackVersion,
      master_ip: ctx.masterIp,
      cluster: { id: ctx.cluster.id, name: ctx.cluster.name, status: ctx.cluster.status },
      network_metadata: {
        nodes: Object.fromEntries(
          ctx.nodes.map((n) => [
            n.hostname,
            {
              uid: String(n.id),
              fqdn: n.hostname,
              node_roles: n.roles,
              name: n.name,
              network_roles: { admin: n.ip },
            },
          ]),
        ),
      },
      nodes: ctx.nodes.map((n) => ({
        uid: String(n.id),
        fqdn: n.hostname,
        name: n.name,
        role: n.roles[0] ?? null,
        roles: n.roles,
        internal_address: n.ip,
      })),
      plugins: [],
    };
  }

  /** The data of one target (a node, or the master): `settings:` in legacy conditions, `$` in yaql. */
  of(target: number): Record<string, unknown> {
    let data = this.byTarget.get(target);
    if (!data) {
      const node = this.ctx.nodes.find((n) => n.id === target);
      const roles = node?.roles ?? ['master'];
      data = {
        ...this.shared,
        uid: targetKeyPart(target),
        fqdn: node?.hostname ?? 'master',
        name: node?.name ?? 'master',
        roles,
        role: roles[0] ?? null,
      };
      this.byTarget.set(target, data);
    }
    return data;
  }

  /** The placeholders of task parameters on a target, as Nailgun's formatter context fills them. */
  placeholdersOf(target: number): FormatValues {
    let values = this.placeholders.get(target);
    if (!values) {
      values = nailgunPlaceholders(this.of(target), { ip: this.ctx.masterIp });
      this.placeholders.set(target, values);
    }
    return values;
  }
}
