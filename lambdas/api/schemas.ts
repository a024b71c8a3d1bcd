/** One schema per request body and query of the API. */
import { z } from 'zod';
import { keyTextProblem, storableProblem } from '../domain/dynamo-limits.js';
import { MAX_PAGE_SIZE } from '../domain/page.js';
import { HISTORY_STATUSES, TASK_NAMES, TASK_STATUSES } from '../domain/status.js';

const MAX_ID = 2_147_483_647;

/** Why a text is not an id, or null when it is one: a positive decimal integer (no `0x3`, `3e0` or spaces). */
function idProblem(text: string): string | null {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return 'must be a number';
  const value = Number(text);
  if (value <= 0) return 'must be positive';
  if (!Number.isInteger(value)) return 'must be an integer';
  if (!/^[1-9]\d*$/.test(text)) return 'must be written as a plain decimal integer';
  if (value > MAX_ID) return 'is too large';
  return null;
}

/** An id in a path or query. */
export const idParam = z
  .union([z.number(), z.string()], { message: 'must be a number' })
  .transform((v, ctx) => {
    const text = String(v);
    const problem = idProblem(text);
    if (problem !== null) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return Number(text);
  });

/** A positive integer id in a JSON body, like the ids of paths and queries. */
const bodyId = (what: string) =>
  z.number({ message: `must be a ${what} id (number)` }).superRefine((value, ctx) => {
    const problem =
      value <= 0
        ? `must be a positive ${what} id`
        : !Number.isInteger(value)
          ? `must be an integer ${what} id`
          : value > MAX_ID
            ? `is too large for a ${what} id (at most ${MAX_ID})`
            : null;
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * A cluster name: any Unicode text of 1 to 100 characters (code points, not UTF-16 units), trimmed and
 * NFC-normalized so that one name has one spelling; no control characters and no lone surrogates
 * (DynamoDB keeps UTF-8 only).
 */
const name = z
  .string({ message: 'must be a string' })
  .trim()
  .normalize('NFC')
  .min(1, 'must not be empty')
  .refine((s) => !/[\ud800-\udfff]/u.test(s), 'must be valid Unicode (it has a lone surrogate)')
  .refine((s) => !/\p{Cc}/u.test(s), 'must not contain control characters')
  .refine((s) => [...s].length <= 100, 'must be at most 100 characters')
  // the name is the key of its claim (one cluster per name): within a sort key's bytes
  .superRefine((s, ctx) => {
    const problem = keyTextProblem(s, 'a cluster name');
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * Refuses what DynamoDB cannot keep anywhere in an uploaded JSON value (`domain/dynamo-limits.ts`): numbers
 * out of its range, nesting over 32 levels. `at` is where the value is in the body.
 */
function addStorableIssue(value: unknown, ctx: z.RefinementCtx, at: (string | number)[] = []): void {
  const problem = storableProblem(value, at);
  if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
}

/** python-fuelclient's `env create` also sends `nodes`, `tasks` and `net_segment_type`: known fields are typed, others kept out. */
export const createClusterBody = z
  .object({
    name,
    release_id: z.number().int().positive().default(1),
    release: z.number().int().positive().optional(),
    mode: z.string().optional(),
    net_provider: z.string().optional(),
    net_segment_type: z.string().optional(),
    nodes: z
      .array(z.number().int().positive())
      .max(0, 'nodes are assigned with POST clusters/{id}/assignment/')
      .optional(),
    tasks: z.array(z.unknown()).optional(),
  })
  .loose();

export const updateClusterBody = z.object({ name }).loose();

export const assignmentBody = z
  .array(
    z.object({
      id: bodyId('node'),
      roles: z
        .array(
          z
            .string({ message: 'must be a role name (string)' })
            .min(1, 'must not be empty')
            .max(64, 'must be at most 64 characters'),
          { message: 'must be a list of role names' },
        )
        .min(1, 'must name at least one role')
        .max(16, 'must name at most 16 roles'),
    }),
    { message: 'must be a list of {"id", "roles"}' },
  )
  .min(1, 'must assign at least one node')
  .max(1000, 'must assign at most 1000 nodes');

export const unassignmentBody = z
  .array(z.object({ id: bodyId('node') }), { message: 'must be a list of {"id"}' })
  .min(1, 'must name at least one node')
  .max(1000, 'must name at most 1000 nodes');

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Cluster settings: `{ editable: { <group>: { metadata?, <setting>: { value, ... } } } }`.
 * Every group and every setting must be an object and every setting must carry a `value`.
 */
export const attributesBody = z
  .object({
    editable: z.record(z.string(), z.unknown(), { message: 'must be an object of setting groups' }),
  })
  .loose()
  .superRefine((body, ctx) => {
    addStorableIssue(body.editable, ctx, ['editable']);
    for (const [groupName, group] of Object.entries(body.editable)) {
      if (!isObject(group)) {
        ctx.addIssue({
          code: 'custom',
          path: ['editable', groupName],
          message: 'must be an object of settings',
        });
        continue;
      }
      for (const [settingName, setting] of Object.entries(group)) {
        if (settingName === 'metadata') continue;
        if (!isObject(setting) || !('value' in setting)) {
          ctx.addIssue({
            code: 'custom',
            path: ['editable', groupName, settingName],
            message: 'must be an object with a "value"',
          });
        }
      }
    }
    const provision = isObject(body.editable.provision) ? body.editable.provision : {};
    const cmd = isObject(provision.cmd) ? provision.cmd.value : undefined;
    if (cmd !== undefined && (typeof cmd !== 'string' || cmd.trim() === '')) {
      ctx.addIssue({
        code: 'custom',
        path: ['editable', 'provision', 'cmd', 'value'],
        message: 'must be a non-empty string',
      });
    }
    const timeout = isObject(provision.timeout) ? provision.timeout.value : undefined;
    if (
      timeout !== undefined &&
      (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['editable', 'provision', 'timeout', 'value'],
        message: 'must be a positive integer',
      });
    }
  });

export const stopBody = z
  .object(
    { message: z.string().trim().max(1000, 'must be at most 1000 characters').optional() },
    {
      message: 'must be an object like {"message": "why"}',
    },
  )
  .loose()
  .nullish();

const flag = z
  .enum(['0', '1', 'true', 'false', ''], { message: "must be 1 or 0 ('true' / 'false' also accepted)" })
  .optional()
  .transform((v) => v === '1' || v === 'true');

export const stopQuery = z.object({ force: flag }).loose();
/** Dry and noop runs (python-fuelclient 10 sends `?dry_run=0&noop_run=0`) are not supported: 1 is refused. */
const unsupported = (what: string) =>
  z.enum(['0', 'false', ''], { message: `${what} are not supported: send 0 or leave it out` }).optional();

/** `?resume=1`: also skip, on stopped nodes, tasks already done there with unchanged inputs. */
export const deployQuery = z
  .object({ resume: flag, dry_run: unsupported('dry runs'), noop_run: unsupported('noop runs') })
  .loose();
export const redeployQuery = z
  .object({ dry_run: unsupported('dry runs'), noop_run: unsupported('noop runs') })
  .loose();
export const resetQuery = z.object({ force: flag }).loose();

/** Keystone v2.0 `POST /v2.0/tokens`: the password flow, or the token flow that re-scopes a token. */
export const keystoneTokensBody = z.object({
  auth: z.union(
    [
      z.object({
        passwordCredentials: z.object({ username: z.string().min(1), password: z.string() }),
        tenantName: z.string().optional(),
        tenantId: z.string().optional(),
      }),
      z.object({
        token: z.object({ id: z.string().min(1) }),
        tenantName: z.string().optional(),
        tenantId: z.string().optional(),
      }),
    ],
    { message: 'must hold passwordCredentials {username, password} or token {id}' },
  ),
});

/**
 * The graph is validated by the service (`validateGraph`): its problems need the whole graph (cycles, ids).
 * Here only what DynamoDB could not keep: numbers, nesting, and task ids, which become part of the keys of
 * history rows and last runs.
 */
export const graphBody = z.unknown().superRefine((graph, ctx) => {
  addStorableIssue(graph, ctx);
  if (!Array.isArray(graph)) return;
  for (const [index, task] of graph.entries()) {
    const id = typeof task === 'object' && task !== null ? (task as { id?: unknown }).id : undefined;
    const problem = typeof id === 'string' ? keyTextProblem(id, 'a task id') : null;
    if (problem) ctx.addIssue({ code: 'custom', path: [index, 'id'], message: problem });
  }
});

/**
 * The body of an action that takes none: absent, `null` or a JSON object whose fields are ignored, as Nailgun
 * ignores them (python-fuelclient and the web UI send `{}`). Any other JSON value is refused.
 */
export const emptyBody = z
  .unknown()
  .refine((value) => value === undefined || value === null || isObject(value), {
    message: 'must be empty or a JSON object: this action takes no body',
  });

/**
 * The query of a route without parameters. On every route, parameters the route does not know are ignored, as
 * Nailgun ignores them: python-fuelclient sends some this service has no use for (`include_summary`).
 */
export const noQuery = z.object({}).loose();

/** A comma-separated query parameter as a list of validated items. */
const splitCommas = (v: unknown) =>
  typeof v === 'string' && v.trim() !== '' ? v.split(',').map((p) => p.trim()) : undefined;
const csv = <T extends z.ZodType>(item: T) => z.preprocess(splitCommas, z.array(item).optional());

/**
 * Paging of a list (not in Nailgun 9.0, whose clients send neither): `limit` answers one page of at most that
 * many entries, with the marker of the next in `X-Next-Marker`; `marker` starts after the entry it names.
 * Without either, the reply is the whole list.
 */
const paging = {
  limit: z
    .string()
    .transform((text, ctx) => {
      const value = /^\d{1,7}$/.test(text) ? Number(text) : Number.NaN;
      if (!(value >= 1 && value <= MAX_PAGE_SIZE)) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` });
        return z.NEVER;
      }
      return value;
    })
    .optional(),
  marker: z
    .string()
    .min(1, 'must not be empty: leave it out for the first page')
    .max(2048, 'is too long to be a marker of this service')
    .regex(/^[A-Za-z0-9_-]+$/, 'must be a marker a reply of this list gave (X-Next-Marker)')
    .optional(),
};

/** `order_by=-id`: newest first (by id, as by default oldest first). */
const taskOrder = {
  order_by: z
    .enum(['id', '-id'], { message: "must be 'id' (oldest first) or '-id' (newest first)" })
    .optional(),
};

export const clusterFilterQuery = z
  .object({ cluster_id: idParam.optional(), ...paging, ...taskOrder })
  .loose();

/** `?cluster_id=None` (or empty) lists the unassigned nodes: null. */
export const nodesQuery = z
  .object({
    cluster_id: z.preprocess((v) => (v === 'None' || v === '' ? null : v), idParam.nullable().optional()),
  })
  .loose();

export const transactionsQuery = z
  .object({
    cluster_id: idParam.optional(),
    statuses: csv(z.enum(TASK_STATUSES)),
    transaction_types: csv(z.enum(TASK_NAMES)),
    ...paging,
    ...taskOrder,
  })
  .loose();

export const historyQuery = z
  .object({
    nodes: csv(idParam),
    statuses: csv(z.enum(HISTORY_STATUSES)),
    tasks_names: csv(z.string().min(1, 'must not be empty')),
    ...paging,
  })
  .loose();

/**
 * The restart preview: `resume` as for `changes/`; `nodes` lists only these nodes of the environment (the
 * plan and its layers are still the whole environment's).
 */
export const previewQuery = z
  .object({
    resume: flag,
    nodes: z.preprocess(
      splitCommas,
      z
        .array(idParam, { message: 'must list node ids, like ?nodes=1,2' })
        .max(1000, 'must list at most 1000 nodes')
        .optional(),
    ),
  })
  .loose();

const selectedNodes = z.preprocess(
  splitCommas,
  z
    .array(idParam, { message: 'must list node ids, like ?nodes=1,2' })
    .min(1)
    .max(1000, 'must list at most 1000 nodes'),
);

/** A graph type in a query (`graph_type=`): a name as Nailgun's URLs take it; empty means `default`. */
const graphTypeName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{0,50}$/, 'must be a graph type: letters, digits, - and _ (at most 50)')
  .optional()
  .transform((v) => (v === undefined || v === '' ? 'default' : v));

/**
 * `provision/?nodes=1,2`: the nodes to provision, at least one. Provisioning runs no graph: `graph_type`, which
 * python-fuelclient may send, can only name the default one.
 */
export const provisionNodesQuery = z
  .object({
    nodes: selectedNodes,
    graph_type: z
      .enum(['default', ''], {
        message:
          "provisioning runs no graph: send 'default' or leave it out (a graph of another type runs on provisioned nodes with PUT clusters/{id}/deploy/?graph_type=)",
      })
      .optional(),
    dry_run: unsupported('dry runs'),
    noop_run: unsupported('noop runs'),
  })
  .loose();

/**
 * `deploy/?nodes=1,2[&force=1][&graph_type=T]`: the nodes to deploy; `force` runs every task, as
 * `changes/redeploy` does. `graph_type` (`fuel2 graph execute`) runs the environment's graph of that type,
 * every task of it, on the nodes listed, or on all its nodes without `nodes` (which the default graph needs:
 * the use case says so, once the environment is known to exist). python-fuelclient also sends `noop_run=0`.
 */
export const deployNodesQuery = z
  .object({
    nodes: selectedNodes.optional(),
    force: flag,
    graph_type: graphTypeName,
    dry_run: unsupported('dry runs'),
    noop_run: unsupported('noop runs'),
  })
  .loose();

/** `DELETE tasks/{id}/?force=1`: a running task is deleted only with force. */
export const deleteTaskQuery = z.object({ force: flag }).loose();

/**
 * `deployment_graphs/{type}` (POST and PUT): `{"name"?, "tasks": [...]}`, as Nailgun 9.0 takes it. Its
 * graph-level callbacks and node filter (`on_success`, `on_error`, `on_stop`, `node_filter`) are refused:
 * nothing here would run them.
 */
export const typedGraphBody = z.strictObject(
  {
    name: z.string().max(255, 'must be at most 255 characters').nullable().optional(),
    tasks: graphBody.optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `only "name" and "tasks" are taken (${issue.keys.join(', ')}: not supported)`
        : 'must be an object like {"name": "...", "tasks": [...]}',
  },
);

/** `GET deployment_tasks/?graph_type=&start=&end=&include=` (fuelclient's `fuel graph`, `fuel node --end`). */
export const deploymentTasksQuery = z
  .object({
    graph_type: graphTypeName,
    start: z.string().min(1, 'must name a task').optional(),
    end: z.string().min(1, 'must name a task').optional(),
    include: csv(z.string().min(1, 'must name a task')),
  })
  .loose();

/** `GET deploy_tasks/graph.gv?tasks=&parents_for=&remove=&graph_type=`. */
export const graphDotQuery = z
  .object({
    graph_type: graphTypeName,
    tasks: csv(z.string().min(1, 'must name a task')),
    parents_for: z.string().min(1, 'must name a task').optional(),
    remove: csv(
      z.enum(['group', 'stage', 'skipped'], {
        message: 'must be group, stage or skipped (task types to leave out)',
      }),
    ),
  })
  .loose();

/** `GET graphs/?clusters_ids=1,2&graph_types=a,b` (`fetch_related` has nothing more to add here). */
export const graphsQuery = z
  .object({
    clusters_ids: csv(idParam),
    graph_types: csv(z.string().regex(/^[A-Za-z0-9_-]{1,50}$/, 'must be a graph type')),
  })
  .loose();

/**
 * `PUT deploy_tasks/?nodes=1,2[&force=1][&graph_type=T]` with the tasks to run as the body (`["hiera",
 * "netconfig"]`, as python-fuelclient's `fuel node --node 1,2 --tasks ...` sends them), of the default graph or
 * of the environment's graph of `graph_type`.
 */
export const deployTasksQuery = z
  .object({
    nodes: selectedNodes,
    force: flag,
    graph_type: graphTypeName,
    dry_run: unsupported('dry runs'),
    noop_run: unsupported('noop runs'),
  })
  .loose();
export const deployTasksBody = z
  .array(z.string({ message: 'must be a task id (string)' }).min(1, 'must not be empty'), {
    message: 'must be a list of task ids, like ["hiera", "netconfig"]',
  })
  .min(1, 'Tasks list must be specified')
  .max(1000, 'must list at most 1000 tasks');

/** A label: a key of 1 to 100 characters, a value of at most 100 or null (a label without a value). */
const labels = z
  .record(
    z.string().min(1, 'a label key must not be empty').max(100, 'a label key must be at most 100 characters'),
    z.string({ message: 'must be a string or null' }).max(100, 'must be at most 100 characters').nullable(),
    { message: 'must be an object of labels, like {"rack": "r1"}' },
  )
  .refine((l) => Object.keys(l).length <= 50, 'must hold at most 50 labels');

/**
 * `PUT nodes/{id}/`: what `fuel2 node update` and `fuel2 node label set/delete` send; `id`, when sent (as
 * python-fuelclient may), must be the path's (the route checks it).
 */
export const updateNodeBody = z.strictObject(
  {
    id: z
      .number({ message: "must be the node's id (an integer), as in the path" })
      .int("must be the node's id (an integer), as in the path")
      .optional(),
    name: name.optional(),
    hostname: z
      .string({ message: 'must be a string' })
      .regex(
        /^(?!-)[a-z0-9-]{1,63}(?<!-)$/,
        'must be a hostname: lower-case letters, digits and -, at most 63, not starting or ending with -',
      )
      .optional(),
    labels: labels.optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `only "name", "hostname" and "labels" of a node can be changed here (not ${issue.keys.join(', ')})`
        : 'must be an object like {"name": "..."}',
  },
);

/** `DELETE nodes/?ids=1,2`. */
export const deleteNodesQuery = z
  .object({
    ids: z.preprocess(
      splitCommas,
      z
        .array(idParam, { message: 'must list node ids, like ?ids=1,2' })
        .min(1)
        .max(1000, 'must list at most 1000 nodes'),
    ),
  })
  .loose();

/** `PUT deployment_tasks/?graph_type=`: the default graph, or the environment's graph of that type. */
export const graphTypeQuery = z.object({ graph_type: graphTypeName }).loose();
