/**
 * The Nailgun routes: each declares the schemas of its body and query (parsed before its handler runs),
 * calls the service, and shapes the reply.
 */
import type { Service } from '../app/service.js';
import { GRAPH_TYPE_PATTERN } from '../domain/graph-types.js';
import { allPages, type Order, type Page, type PageRequest } from '../domain/page.js';
import { authenticate, equalSecrets, issueToken } from './auth.js';
import { HttpError, type HttpRequest, type HttpResponse, json } from './http.js';
import { type Route, type RouteContext, route } from './router.js';
import {
  assignmentBody,
  attributesBody,
  clusterFilterQuery,
  createClusterBody,
  deleteNodesQuery,
  deleteTaskQuery,
  deploymentTasksQuery,
  deployNodesQuery,
  deployQuery,
  deployTasksBody,
  deployTasksQuery,
  emptyBody,
  graphBody,
  graphDotQuery,
  graphsQuery,
  graphTypeQuery,
  historyQuery,
  keystoneTokensBody,
  nodesQuery,
  noQuery,
  previewQuery,
  provisionNodesQuery,
  redeployQuery,
  resetQuery,
  stopBody,
  stopQuery,
  transactionsQuery,
  typedGraphBody,
  unassignmentBody,
  updateClusterBody,
  updateNodeBody,
} from './schemas.js';
import {
  clusterJson,
  FUEL_VERSION,
  graphJson,
  historyJson,
  nodeJson,
  releaseJson,
  roleJson,
  taskJson,
} from './serialize.js';
import { previewJson, previewTooLarge } from './serialize-preview.js';
import { NEXT_MARKER_HEADER } from './wire.js';

function param(ctx: Pick<RouteContext, 'params'>, name: string): number {
  const value = ctx.params[name];
  if (value === undefined) throw new Error(`route without :${name}`);
  return value;
}

/** A path parameter that is a name (a route's `text`), checked against its pattern by the router. */
function textParam(ctx: Pick<RouteContext, 'text'>, name: string): string {
  const value = ctx.text[name];
  if (value === undefined) throw new Error(`route without text :${name}`);
  return value;
}

/**
 * What in an uploaded graph orders nothing is said, not dropped: one RFC 7234 `Warning` per such relation
 * (ASCII, at most 20).
 */
function warningHeaders(warnings: string[]): Record<string, string> {
  const shown = warnings.slice(0, MAX_WARNINGS).map((w) => `199 fuel-sls ${asciiJson(w)}`);
  if (warnings.length > MAX_WARNINGS) {
    shown.push(`199 fuel-sls ${asciiJson(`and ${warnings.length - MAX_WARNINGS} more`)}`);
  }
  const warning = shown.join(', ');
  return warning === '' ? {} : { warning };
}

/**
 * A list's reply, always a bare JSON list (what python-fuelclient reads). With `limit`, one page of at most
 * `limit` entries, and when more follows the next page's marker in `X-Next-Marker` and its address in `Link`
 * (rel="next"); without, every entry (from `marker` on, if given), read page by page.
 */
async function listReply<T>(
  req: HttpRequest,
  paging: { limit?: number; marker?: string; order_by?: 'id' | '-id' },
  read: (request: PageRequest) => Promise<Page<T>>,
  toJson: (item: T) => unknown,
): Promise<HttpResponse> {
  const marker = paging.marker ?? null;
  const order: Order = paging.order_by === '-id' ? 'desc' : 'asc';
  if (paging.limit === undefined) return json(200, (await allPages(read, { marker, order })).map(toJson));
  const page = await read({ limit: paging.limit, marker, order });
  if (page.next === null) return json(200, page.items.map(toJson));
  const next = new URLSearchParams(
    Object.entries(req.query).filter((e): e is [string, string] => e[1] !== undefined && e[0] !== 'marker'),
  );
  next.set('marker', page.next);
  return json(200, page.items.map(toJson), {
    [NEXT_MARKER_HEADER]: page.next,
    link: `<${req.path}?${next.toString()}>; rel="next"`,
  });
}

/**
 * The largest list of graphs one reply carries: a Lambda function's reply holds at most 6 MB, and up to 21
 * graphs of 400 KB each (an environment's default one and 20 other types) come to about 8 MB. The same bound
 * as the restart preview's (serialize-preview.ts).
 */
export const MAX_GRAPH_LIST_BYTES = 5 * 1024 * 1024;

/**
 * A list of graphs too large for one reply is a 400 that says how to ask for less (`hint`), as the preview
 * says it (previewTooLarge); null when it fits. `field`: the query parameter that asks for less, if any.
 */
export function graphListTooLarge(
  bytes: number,
  graphs: number,
  hint: string,
  field?: string,
): HttpError | null {
  if (bytes <= MAX_GRAPH_LIST_BYTES) return null;
  const mb = (n: number) => (n / (1024 * 1024)).toFixed(1);
  const message =
    `The ${graphs} graphs listed come to ${mb(bytes)} MB, more than one reply holds (${mb(MAX_GRAPH_LIST_BYTES)} MB): ` +
    hint;
  return new HttpError(400, message, field === undefined ? [] : [{ field, message }]);
}

/** A list of graphs as the reply, or the 400 of graphListTooLarge. */
function graphListReply(graphs: unknown[], hint: string, field?: string): HttpResponse {
  const reply = json(200, graphs);
  const tooLarge = graphListTooLarge(Buffer.byteLength(reply.body), graphs.length, hint, field);
  if (tooLarge) throw tooLarge;
  return reply;
}

/** What the Keystone-compatible login checks: the admin's credentials, and the key that signs tokens. */

/** How many `Warning` entries a reply carries at most. */
const MAX_WARNINGS = 20;

/** A JSON string with every character outside printable ASCII escaped (a header value must be ASCII). */
function asciiJson(text: string): string {
  return JSON.stringify(text).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
export interface LoginConfig {
  user: string;
  password: () => Promise<string>;
  /** The key that signs issued tokens. */
  signingKey: () => Promise<string>;
  /** The static token, which the token flow accepts as the admin's. */
  staticToken: () => Promise<string>;
}

/** The routes of lambdas/api/stop-routes.ts `STOP_ROUTES`: what the stop function serves. */
export function stopRoutes(service: Service): Route[] {
  const task = (t: Parameters<typeof taskJson>[0]) => taskJson(t, service.consoleUrl);
  return [
    route({
      method: 'PUT',
      path: '/clusters/:id/stop_deployment',
      body: stopBody,
      query: stopQuery,
      handler: async (ctx) => {
        const stop = await service.stopDeployment(param(ctx, 'id'), {
          requestedBy: ctx.principal,
          message: ctx.body?.message || null,
          force: ctx.query.force,
        });
        return json(202, task(stop));
      },
    }),

    // python-fuelclient deletes through `transactions/`, Nailgun's own UI through `tasks/`
    ...['/tasks/:id', '/transactions/:id'].map((path) =>
      route({
        method: 'DELETE',
        path,
        body: emptyBody,
        query: deleteTaskQuery,
        handler: async (ctx) => {
          await service.deleteTask(param(ctx, 'id'), { force: ctx.query.force, requestedBy: ctx.principal });
          return { status: 204, headers: {}, body: '' };
        },
      }),
    ),
  ];
}

export function nailgunRoutes(service: Service, login: LoginConfig): Route[] {
  const task = (t: Parameters<typeof taskJson>[0]) => taskJson(t, service.consoleUrl);

  return [
    route({
      method: 'POST',
      path: '/keystone/v2.0/tokens',
      public: true,
      body: keystoneTokensBody,
      query: noQuery,
      handler: async ({ body: { auth } }) => {
        const key = await login.signingKey();
        const now = new Date();
        let principal: { user: string; tenant: string } | null = null;
        if ('passwordCredentials' in auth) {
          const { username, password } = auth.passwordCredentials;
          const ok = equalSecrets(username, login.user) && equalSecrets(password, await login.password());
          if (ok) principal = { user: username, tenant: auth.tenantName ?? auth.tenantId ?? 'admin' };
        } else {
          const known = authenticate(auth.token.id, await login.staticToken(), key, login.user, now);
          if (known) principal = { ...known, tenant: auth.tenantId ?? auth.tenantName ?? known.tenant };
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
    }),

    route({
      method: 'GET',
      path: '/version',
      public: true,
      body: emptyBody,
      query: noQuery,
      handler: async () =>
        json(200, {
          release: FUEL_VERSION,
          api: '1',
          openstack_version: 'mitaka-9.0',
          feature_groups: [],
          auth_required: true,
        }),
    }),

    // ---- clusters ----
    route({
      method: 'GET',
      path: '/clusters',
      body: emptyBody,
      query: noQuery,
      handler: async () => json(200, (await service.listClusters()).map(clusterJson)),
    }),
    route({
      method: 'POST',
      path: '/clusters',
      body: createClusterBody,
      query: noQuery,
      handler: async ({ body }) =>
        json(
          201,
          clusterJson(
            await service.createCluster({ name: body.name, releaseId: body.release ?? body.release_id }),
          ),
        ),
    }),
    route({
      method: 'GET',
      path: '/clusters/:id',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(200, clusterJson(await service.cluster(param(ctx, 'id')))),
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id',
      body: updateClusterBody,
      query: noQuery,
      handler: async (ctx) =>
        json(200, clusterJson(await service.renameCluster(param(ctx, 'id'), ctx.body.name))),
    }),
    route({
      method: 'DELETE',
      path: '/clusters/:id',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(202, task(await service.deleteCluster(param(ctx, 'id')))),
    }),
    route({
      method: 'POST',
      path: '/clusters/:id/assignment',
      body: assignmentBody,
      query: noQuery,
      handler: async (ctx) =>
        json(200, (await service.assignNodes(param(ctx, 'id'), ctx.body)).map(nodeJson)),
    }),
    route({
      method: 'POST',
      path: '/clusters/:id/unassignment',
      body: unassignmentBody,
      query: noQuery,
      handler: async (ctx) => {
        await service.unassignNodes(
          param(ctx, 'id'),
          ctx.body.map((b) => b.id),
        );
        return json(200, {});
      },
    }),
    route({
      method: 'GET',
      path: '/clusters/:id/deployment_tasks',
      body: emptyBody,
      query: deploymentTasksQuery,
      handler: async ({ query, ...ctx }) => {
        const part = { start: query.start, end: query.end, include: query.include };
        return json(200, await service.graphPart(param(ctx, 'id'), query.graph_type, part));
      },
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id/deployment_tasks',
      body: graphBody,
      query: graphTypeQuery,
      handler: async (ctx) => {
        const id = param(ctx, 'id');
        const type = ctx.query.graph_type;
        const stored =
          type === 'default'
            ? await service.putGraph(id, ctx.body)
            : (await service.putGraphOfType(id, type, { tasks: ctx.body }, 'any')).stored;
        return json(200, stored.tasks, warningHeaders(stored.warnings));
      },
    }),
    route({
      method: 'GET',
      path: '/clusters/:id/deployment_graphs',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => {
        const id = param(ctx, 'id');
        return graphListReply(
          (await service.listGraphs(id)).map(graphJson),
          `read them one type at a time with GET clusters/${id}/deployment_graphs/{type}/`,
        );
      },
    }),
    route({
      method: 'GET',
      path: '/clusters/:id/deployment_graphs/:type',
      text: { type: GRAPH_TYPE_PATTERN },
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) =>
        json(200, graphJson(await service.getGraphOfType(param(ctx, 'id'), textParam(ctx, 'type')))),
    }),
    ...(['POST', 'PUT'] as const).map((method) =>
      route({
        method,
        path: '/clusters/:id/deployment_graphs/:type',
        text: { type: GRAPH_TYPE_PATTERN },
        body: typedGraphBody,
        query: noQuery,
        handler: async (ctx) => {
          const expect = method === 'POST' ? 'new' : 'existing';
          const { view, stored } = await service.putGraphOfType(
            param(ctx, 'id'),
            textParam(ctx, 'type'),
            ctx.body,
            expect,
          );
          return json(200, graphJson(view), warningHeaders(stored.warnings));
        },
      }),
    ),
    route({
      method: 'DELETE',
      path: '/clusters/:id/deployment_graphs/:type',
      text: { type: GRAPH_TYPE_PATTERN },
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => {
        await service.deleteGraphOfType(param(ctx, 'id'), textParam(ctx, 'type'));
        return { status: 204, headers: {}, body: '' };
      },
    }),
    route({
      method: 'GET',
      path: '/clusters/:id/deploy_tasks/graph.gv',
      body: emptyBody,
      query: graphDotQuery,
      handler: async ({ query, ...ctx }) => {
        const dot = await service.graphDot(param(ctx, 'id'), query.graph_type, {
          tasks: query.tasks,
          parentsFor: query.parents_for,
          remove: query.remove,
        });
        return { status: 200, headers: { 'content-type': 'text/vnd.graphviz; charset=utf-8' }, body: dot };
      },
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id/deploy_tasks',
      body: deployTasksBody,
      query: deployTasksQuery,
      handler: async ({ query, ...ctx }) =>
        json(202, task(await service.deployTasks(param(ctx, 'id'), query.nodes, ctx.body, query.graph_type))),
    }),
    route({
      method: 'GET',
      path: '/clusters/:id/roles',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(200, (await service.clusterRoles(param(ctx, 'id'))).map(roleJson)),
    }),
    // ---- releases and graphs of every environment ----
    route({
      method: 'GET',
      path: '/releases',
      body: emptyBody,
      query: noQuery,
      handler: async () => json(200, service.listReleases().map(releaseJson)),
    }),
    route({
      method: 'GET',
      path: '/releases/:id',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(200, releaseJson(service.release(param(ctx, 'id')))),
    }),
    route({
      method: 'GET',
      path: '/releases/:id/roles',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(200, service.releaseRoles(param(ctx, 'id')).map(roleJson)),
    }),
    route({
      method: 'GET',
      path: '/graphs',
      body: emptyBody,
      query: graphsQuery,
      handler: async ({ query }) => {
        const filter = { clusterIds: query.clusters_ids, types: query.graph_types };
        return graphListReply(
          (await service.listAllGraphs(filter)).map(graphJson),
          'ask for fewer with ?clusters_ids=1,2 and ?graph_types=a,b, or read them one type at a time with GET clusters/{id}/deployment_graphs/{type}/',
          'graph_types',
        );
      },
    }),
    route({
      method: 'GET',
      path: '/clusters/:id/attributes',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(200, { editable: await service.getAttributes(param(ctx, 'id')) }),
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id/attributes',
      body: attributesBody,
      query: noQuery,
      handler: async (ctx) =>
        json(200, { editable: await service.putAttributes(param(ctx, 'id'), ctx.body.editable) }),
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id/changes',
      body: emptyBody,
      query: deployQuery,
      handler: async (ctx) => {
        const mode = { force: false, resume: ctx.query.resume };
        return json(202, task(await service.deployChanges(param(ctx, 'id'), mode)));
      },
    }),
    route({
      method: 'GET',
      path: '/clusters/:id/changes/preview',
      body: emptyBody,
      query: previewQuery,
      handler: async (ctx) => {
        const request = { resume: ctx.query.resume, nodes: ctx.query.nodes ?? null };
        const preview = previewJson(await service.previewChanges(param(ctx, 'id'), request));
        const reply = json(200, preview);
        const tooLarge = previewTooLarge(Buffer.byteLength(reply.body), preview.nodes.length);
        if (tooLarge) throw tooLarge;
        return reply;
      },
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id/changes/redeploy',
      body: emptyBody,
      query: redeployQuery,
      handler: async (ctx) =>
        json(202, task(await service.deployChanges(param(ctx, 'id'), { force: true, resume: false }))),
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id/provision',
      body: emptyBody,
      query: provisionNodesQuery,
      handler: async (ctx) => {
        const mode = { force: false, resume: false, scope: 'provision', nodes: ctx.query.nodes } as const;
        return json(202, task(await service.deployChanges(param(ctx, 'id'), mode)));
      },
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id/deploy',
      body: emptyBody,
      query: deployNodesQuery,
      handler: async (ctx) => {
        // without nodes: every node of the environment (a graph of another type only: deployChanges says so)
        const { nodes = null, force, graph_type: graphType } = ctx.query;
        const mode = { force, resume: false, scope: 'deploy', nodes, graphType } as const;
        return json(202, task(await service.deployChanges(param(ctx, 'id'), mode)));
      },
    }),
    route({
      method: 'PUT',
      path: '/clusters/:id/reset',
      body: emptyBody,
      query: resetQuery,
      handler: async (ctx) => json(202, task(await service.resetCluster(param(ctx, 'id')))),
    }),
    // ---- nodes ----
    route({
      method: 'GET',
      path: '/nodes',
      body: emptyBody,
      query: nodesQuery,
      handler: async ({ query }) => json(200, (await service.listNodes(query.cluster_id)).map(nodeJson)),
    }),
    route({
      method: 'GET',
      path: '/nodes/:id',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(200, nodeJson(await service.node(param(ctx, 'id')))),
    }),
    route({
      method: 'PUT',
      path: '/nodes/:id',
      body: updateNodeBody,
      query: noQuery,
      handler: async (ctx) => {
        const id = param(ctx, 'id');
        const { id: bodyId, name, hostname, labels } = ctx.body;
        // python-fuelclient may send the node's id: the same as the path's, or the request names two nodes
        if (bodyId !== undefined && bodyId !== id) {
          throw new HttpError(
            400,
            `The body's id ${bodyId} is not the node of the path (${id}): send id ${id}, or no id; nothing was changed`,
            [{ field: 'id', message: `must be ${id}, the node of the path, or left out` }],
          );
        }
        return json(200, nodeJson(await service.updateNode(id, { name, hostname, labels })));
      },
    }),
    route({
      method: 'DELETE',
      path: '/nodes',
      body: emptyBody,
      query: deleteNodesQuery,
      handler: async ({ query }) => {
        await service.deleteNodes(query.ids);
        return { status: 204, headers: {}, body: '' };
      },
    }),

    // ---- tasks and transactions ----
    route({
      method: 'GET',
      path: '/tasks',
      body: emptyBody,
      query: clusterFilterQuery,
      handler: async ({ req, query }) =>
        listReply(req, query, (page) => service.listTasksPage({ clusterId: query.cluster_id }, page), task),
    }),
    route({
      method: 'GET',
      path: '/tasks/:id',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(200, task(await service.task(param(ctx, 'id')))),
    }),
    // stop_deployment, and DELETE of a task (after its GET: the order of `Allow`)
    ...stopRoutes(service),
    route({
      method: 'GET',
      path: '/transactions',
      body: emptyBody,
      query: transactionsQuery,
      handler: async ({ req, query }) => {
        const filter = {
          clusterId: query.cluster_id,
          statuses: query.statuses,
          names: query.transaction_types,
        };
        return listReply(req, query, (page) => service.listTasksPage(filter, page), task);
      },
    }),
    route({
      method: 'GET',
      path: '/transactions/:id',
      body: emptyBody,
      query: noQuery,
      handler: async (ctx) => json(200, task(await service.task(param(ctx, 'id')))),
    }),
    route({
      method: 'GET',
      path: '/transactions/:id/deployment_history',
      body: emptyBody,
      query: historyQuery,
      handler: async (ctx) => {
        const id = param(ctx, 'id');
        const filter = {
          nodes: ctx.query.nodes,
          statuses: ctx.query.statuses,
          taskNames: ctx.query.tasks_names,
        };
        return listReply(ctx.req, ctx.query, (page) => service.historyPage(id, filter, page), historyJson);
      },
    }),
  ];
}
