/** The Nailgun routes: each parses its input with a schema, calls the service, and shapes the reply. */
import type { Service } from '../app/service.js';
import { authenticate, equalSecrets, issueToken } from './auth.js';
import { HttpError, json, parseBody, parseQuery } from './http.js';
import type { Route, RouteContext } from './router.js';
import {
  assignmentBody,
  attributesBody,
  clusterFilterQuery,
  createClusterBody,
  deleteTaskQuery,
  deployQuery,
  emptyBody,
  graphBody,
  historyQuery,
  keystoneTokensBody,
  nodesQuery,
  resetQuery,
  selectedNodesQuery,
  stopBody,
  stopQuery,
  transactionsQuery,
  unassignmentBody,
  updateClusterBody,
} from './schemas.js';
import { clusterJson, FUEL_VERSION, historyJson, nodeJson, taskJson } from './serialize.js';

function param(ctx: RouteContext, name: string): number {
  const value = ctx.params[name];
  if (value === undefined) throw new Error(`route without :${name}`);
  return value;
}

/** What the Keystone-compatible login checks: the admin's credentials, and the key that signs tokens. */
export interface LoginConfig {
  user: string;
  password: () => Promise<string>;
  signingKey: () => Promise<string>;
}

export function nailgunRoutes(service: Service, login: LoginConfig): Route[] {
  const task = (t: Parameters<typeof taskJson>[0]) => taskJson(t, service.consoleUrl);

  return [
    {
      method: 'POST',
      path: '/keystone/v2.0/tokens',
      public: true,
      handler: async ({ req }) => {
        const { auth } = parseBody(req, keystoneTokensBody);
        const key = await login.signingKey();
        const now = new Date();
        let principal: { user: string; tenant: string } | null = null;
        if ('passwordCredentials' in auth) {
          const { username, password } = auth.passwordCredentials;
          const ok = equalSecrets(username, login.user) && equalSecrets(password, await login.password());
          if (ok) principal = { user: username, tenant: auth.tenantName ?? auth.tenantId ?? 'admin' };
        } else {
          const known = authenticate(auth.token.id, key, login.user, now);
          if (known)
            principal = { user: known.user, tenant: auth.tenantId ?? auth.tenantName ?? known.tenant };
        }
        if (!principal)
          throw new HttpError(401, 'The request you have made requires authentication: invalid credentials');
        const token = issueToken(key, principal, now);
        return json(200, {
          access: {
            token: {
              id: token.id,
              issued_at: now.toISOString(),
              expires: token.expires,
              tenant: { id: principal.tenant, name: principal.tenant, enabled: true, description: null },
            },
            user: {
              id: principal.user,
              name: principal.user,
              username: principal.user,
              roles: [{ name: 'admin' }],
              roles_links: [],
            },
            serviceCatalog: [],
            metadata: { is_admin: 1, roles: [] },
          },
        });
      },
    },

    {
      method: 'GET',
      path: '/version',
      public: true,
      handler: async () =>
        json(200, {
          release: FUEL_VERSION,
          api: '1',
          openstack_version: 'mitaka-9.0',
          feature_groups: [],
          auth_required: true,
        }),
    },

    // ---- clusters ----
    {
      method: 'GET',
      path: '/clusters',
      handler: async () => json(200, (await service.listClusters()).map(clusterJson)),
    },
    {
      method: 'POST',
      path: '/clusters',
      handler: async ({ req }) => {
        const body = parseBody(req, createClusterBody);
        return json(
          201,
          clusterJson(
            await service.createCluster({ name: body.name, releaseId: body.release ?? body.release_id }),
          ),
        );
      },
    },
    {
      method: 'GET',
      path: '/clusters/:id',
      handler: async (ctx) => json(200, clusterJson(await service.cluster(param(ctx, 'id')))),
    },
    {
      method: 'PUT',
      path: '/clusters/:id',
      handler: async (ctx) => {
        const body = parseBody(ctx.req, updateClusterBody);
        return json(200, clusterJson(await service.renameCluster(param(ctx, 'id'), body.name)));
      },
    },
    {
      method: 'DELETE',
      path: '/clusters/:id',
      handler: async (ctx) => json(202, task(await service.deleteCluster(param(ctx, 'id')))),
    },
    {
      method: 'POST',
      path: '/clusters/:id/assignment',
      handler: async (ctx) => {
        const body = parseBody(ctx.req, assignmentBody);
        return json(200, (await service.assignNodes(param(ctx, 'id'), body)).map(nodeJson));
      },
    },
    {
      method: 'POST',
      path: '/clusters/:id/unassignment',
      handler: async (ctx) => {
        const body = parseBody(ctx.req, unassignmentBody);
        await service.unassignNodes(
          param(ctx, 'id'),
          body.map((b) => b.id),
        );
        return json(200, {});
      },
    },
    {
      method: 'GET',
      path: '/clusters/:id/deployment_tasks',
      handler: async (ctx) => json(200, await service.getGraph(param(ctx, 'id'))),
    },
    {
      method: 'PUT',
      path: '/clusters/:id/deployment_tasks',
      handler: async (ctx) => {
        const body = parseBody(ctx.req, graphBody);
        return json(200, await service.putGraph(param(ctx, 'id'), body));
      },
    },
    {
      method: 'GET',
      path: '/clusters/:id/attributes',
      handler: async (ctx) => json(200, { editable: await service.getAttributes(param(ctx, 'id')) }),
    },
    {
      method: 'PUT',
      path: '/clusters/:id/attributes',
      handler: async (ctx) => {
        const body = parseBody(ctx.req, attributesBody);
        return json(200, { editable: await service.putAttributes(param(ctx, 'id'), body.editable) });
      },
    },
    {
      method: 'PUT',
      path: '/clusters/:id/changes',
      handler: async (ctx) => {
        parseBody(ctx.req, emptyBody);
        const { resume } = parseQuery(ctx.req, deployQuery);
        return json(202, task(await service.deployChanges(param(ctx, 'id'), { force: false, resume })));
      },
    },
    {
      method: 'PUT',
      path: '/clusters/:id/changes/redeploy',
      handler: async (ctx) => {
        parseBody(ctx.req, emptyBody);
        return json(202, task(await service.deployChanges(param(ctx, 'id'), { force: true, resume: false })));
      },
    },
    {
      method: 'PUT',
      path: '/clusters/:id/provision',
      handler: async (ctx) => {
        parseBody(ctx.req, emptyBody);
        const { nodes } = parseQuery(ctx.req, selectedNodesQuery);
        const mode = { force: false, resume: false, scope: 'provision', nodes } as const;
        return json(202, task(await service.deployChanges(param(ctx, 'id'), mode)));
      },
    },
    {
      method: 'PUT',
      path: '/clusters/:id/deploy',
      handler: async (ctx) => {
        parseBody(ctx.req, emptyBody);
        const { nodes } = parseQuery(ctx.req, selectedNodesQuery);
        const mode = { force: false, resume: false, scope: 'deploy', nodes } as const;
        return json(202, task(await service.deployChanges(param(ctx, 'id'), mode)));
      },
    },
    {
      method: 'PUT',
      path: '/clusters/:id/reset',
      handler: async (ctx) => {
        parseBody(ctx.req, emptyBody);
        parseQuery(ctx.req, resetQuery);
        return json(202, task(await service.resetCluster(param(ctx, 'id'))));
      },
    },
    {
      method: 'PUT',
      path: '/clusters/:id/stop_deployment',
      handler: async (ctx) => {
        const query = parseQuery(ctx.req, stopQuery);
        const body = parseBody(ctx.req, stopBody);
        const stop = await service.stopDeployment(param(ctx, 'id'), {
          requestedBy: ctx.principal,
          message: body?.message || null,
          force: query.force,
        });
        return json(202, task(stop));
      },
    },

    // ---- nodes ----
    {
      method: 'GET',
      path: '/nodes',
      handler: async ({ req }) => {
        const query = parseQuery(req, nodesQuery);
        const clusterId =
          query.cluster_id === undefined
            ? undefined
            : query.cluster_id === 'None' || query.cluster_id === ''
              ? null
              : query.cluster_id;
        return json(200, (await service.listNodes(clusterId)).map(nodeJson));
      },
    },
    {
      method: 'GET',
      path: '/nodes/:id',
      handler: async (ctx) => json(200, nodeJson(await service.node(param(ctx, 'id')))),
    },

    // ---- tasks and transactions ----
    {
      method: 'GET',
      path: '/tasks',
      handler: async ({ req }) => {
        const query = parseQuery(req, clusterFilterQuery);
        return json(200, (await service.listTasks({ clusterId: query.cluster_id })).map(task));
      },
    },
    {
      method: 'GET',
      path: '/tasks/:id',
      handler: async (ctx) => json(200, task(await service.task(param(ctx, 'id')))),
    },
    {
      method: 'DELETE',
      path: '/tasks/:id',
      handler: async (ctx) => {
        const { force } = parseQuery(ctx.req, deleteTaskQuery);
        await service.deleteTask(param(ctx, 'id'), { force, requestedBy: ctx.principal });
        return { status: 204, headers: {}, body: '' };
      },
    },
    {
      method: 'GET',
      path: '/transactions',
      handler: async ({ req }) => {
        const query = parseQuery(req, transactionsQuery);
        const tasks = await service.listTasks({
          clusterId: query.cluster_id,
          statuses: query.statuses,
          names: query.transaction_types,
        });
        return json(200, tasks.map(task));
      },
    },
    {
      method: 'GET',
      path: '/transactions/:id',
      handler: async (ctx) => json(200, task(await service.task(param(ctx, 'id')))),
    },
    {
      method: 'GET',
      path: '/transactions/:id/deployment_history',
      handler: async (ctx) => {
        const query = parseQuery(ctx.req, historyQuery);
        const rows = await service.history(param(ctx, 'id'), {
          nodes: query.nodes,
          statuses: query.statuses,
          taskNames: query.tasks_names,
        });
        return json(200, rows.map(historyJson));
      },
    },
  ];
}
