/** `node ...`: the discovered nodes, and their place and roles in environments. */
import type { NodeJson, TaskJson } from '../lambdas/api/wire.js';
import { query } from './api.js';
import { type Command, command, ENV_FLAG } from './command.js';
import { started, WAIT } from './env.js';
import { NODE_COLUMNS, printList } from './output.js';
import { safeJson } from './sanitize.js';

const NODES = { kind: 'ids', value: 'ID,ID', required: true, help: 'node ids, comma-separated' } as const;

export const nodeCommands: Command[] = [
  command({
    name: 'node list',
    summary: 'nodes, of one environment or all',
    description: 'Lists the nodes, of one environment or all of them.',
    api: 'GET /api/v1/nodes/[?cluster_id=ENV]',
    flags: { env: { ...ENV_FLAG, required: false, help: 'only the nodes of this environment' } },
    example: 'node list --env 1',
    async run(v, ctx) {
      const nodes = await ctx.api.call<NodeJson[]>('GET', `/nodes/${query({ cluster_id: v.env })}`);
      printList(ctx, nodes, NODE_COLUMNS);
    },
  }),
  command({
    name: 'node assign',
    summary: 'add nodes to an environment with roles',
    description:
      'Adds free nodes to an environment (or changes the roles of its own nodes); the roles stay pending ' +
      'until the next deployment. Prints the nodes.',
    api: 'POST /api/v1/clusters/ENV/assignment/ [{"id", "roles"}]',
    flags: {
      env: ENV_FLAG,
      node: NODES,
      roles: { kind: 'list', value: 'ROLE,ROLE', required: true, help: 'roles given to every listed node' },
    },
    example: 'node assign --env 1 --node 1,2 --roles controller,compute',
    async run(v, ctx) {
      const body = v.node.map((id) => ({ id, roles: v.roles }));
      printList(
        ctx,
        await ctx.api.call<NodeJson[]>('POST', `/clusters/${v.env}/assignment/`, body),
        NODE_COLUMNS,
      );
    },
  }),
  command({
    name: 'node unassign',
    summary: 'remove nodes from an environment',
    description:
      'Removes nodes from an environment: they go back to the free pool in `discover`, without roles.',
    api: 'POST /api/v1/clusters/ENV/unassignment/ [{"id"}]',
    flags: { env: ENV_FLAG, node: NODES },
    example: 'node unassign --env 1 --node 2',
    async run(v, ctx) {
      const reply = await ctx.api.call<unknown>(
        'POST',
        `/clusters/${v.env}/unassignment/`,
        v.node.map((id) => ({ id })),
      );
      ctx.io.out(ctx.json ? safeJson(reply) : `Nodes ${v.node.join(',')} left environment ${v.env}.`);
    },
  }),
  command({
    name: 'node provision',
    summary: 'provision selected nodes of an environment',
    description:
      'Provisions only the listed nodes (they must not be provisioned yet); they end `provisioned` and ' +
      'the environment `partially_deployed`. Stops like any deployment. Prints the `provision` task.',
    api: 'PUT /api/v1/clusters/ENV/provision/?nodes=ID,ID',
    flags: { env: ENV_FLAG, node: NODES, wait: WAIT },
    example: 'node provision --env 1 --node 3,4 --wait',
    async run(v, ctx) {
      const path = `/clusters/${v.env}/provision/${query({ nodes: v.node })}`;
      return started(ctx, await ctx.api.call<TaskJson>('PUT', path, {}), v.wait);
    },
  }),
  command({
    name: 'node deploy',
    summary: 'deploy selected nodes of an environment',
    description:
      'Runs the deployment graph on the listed nodes only (they must be provisioned); the other nodes are ' +
      'left alone. Prints the top-level `deployment` task.',
    api: 'PUT /api/v1/clusters/ENV/deploy/?nodes=ID,ID',
    flags: { env: ENV_FLAG, node: NODES, wait: WAIT },
    example: 'node deploy --env 1 --node 3,4 --wait',
    async run(v, ctx) {
      const path = `/clusters/${v.env}/deploy/${query({ nodes: v.node })}`;
      return started(ctx, await ctx.api.call<TaskJson>('PUT', path, {}), v.wait);
    },
  }),
];
