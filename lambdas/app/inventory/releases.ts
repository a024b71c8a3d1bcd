/** The release (one: every environment is of it) and the roles of a release or of an environment. */
import { NotFoundError } from '../../domain/errors.js';
import { graphRoles, RELEASE_ROLES } from '../../domain/graph.js';
import { ROLES_WITH_PRIMARY } from '../../domain/primary-roles.js';
import { RELEASE, type RoleMeta, roleMeta } from '../../domain/release.js';
import type { Context } from '../ports.js';
import { getCluster } from './clusters.js';
import { graphOf } from './config.js';

export type Release = typeof RELEASE;

export interface Role {
  name: string;
  meta: RoleMeta;
}

export function listReleases(): Release[] {
  return [RELEASE];
}

export function getRelease(id: number): Release {
  if (id !== RELEASE.id) throw new NotFoundError(`Release ${id} not found`);
  return RELEASE;
}

const rolesOf = (names: readonly string[]): Role[] =>
  names.map((name) => ({ name, meta: roleMeta(name, ROLES_WITH_PRIMARY) }));

export function releaseRoles(id: number): Role[] {
  getRelease(id);
  return rolesOf(RELEASE_ROLES);
}

/** The roles nodes of the environment can be given: the release's, and those its graph names. */
export async function clusterRoles(ctx: Context, clusterId: number): Promise<Role[]> {
  await getCluster(ctx, clusterId);
  const names = new Set([...RELEASE_ROLES, ...graphRoles(await graphOf(ctx, clusterId))]);
  return rolesOf([...names]);
}
