/** One schema per request body and query of the API. */
import { z } from 'zod';
import { HISTORY_STATUSES, TASK_NAMES, TASK_STATUSES } from '../domain/status.js';

export const idParam = z.coerce
  .number({ message: 'must be a number' })
  .int('must be an integer')
  .positive('must be positive')
  .max(2_147_483_647, 'is too large');

const name = z
  .string({ message: 'must be a string' })
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters');

export const createClusterBody = z
  .object({
    name,
    release_id: z.number().int().positive().default(1),
    release: z.number().int().positive().optional(),
    mode: z.string().optional(),
    net_provider: z.string().optional(),
  })
  .strict();

export const updateClusterBody = z.object({ name }).loose();

export const assignmentBody = z
  .array(
    z.object({
      id: z.number({ message: 'must be a node id (number)' }).int().positive(),
      roles: z.array(z.string().min(1).max(64)).min(1, 'must name at least one role').max(16),
    }),
    { message: 'must be a list of {"id", "roles"}' },
  )
  .min(1, 'must assign at least one node')
  .max(1000);

export const unassignmentBody = z
  .array(z.object({ id: z.number({ message: 'must be a node id (number)' }).int().positive() }), {
    message: 'must be a list of {"id"}',
  })
  .min(1, 'must name at least one node')
  .max(1000);

export const attributesBody = z
  .object({
    editable: z.record(z.string(), z.unknown(), { message: 'must be an object of setting groups' }),
  })
  .loose()
  .superRefine((body, ctx) => {
    const provision = body.editable.provision as Record<string, { value?: unknown }> | undefined;
    const cmd = provision?.cmd?.value;
    if (cmd !== undefined && (typeof cmd !== 'string' || cmd.trim() === '')) {
      ctx.addIssue({
        code: 'custom',
        path: ['editable', 'provision', 'cmd', 'value'],
        message: 'must be a non-empty string',
      });
    }
    const timeout = provision?.timeout?.value;
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

export const graphBody = z.unknown();
export const emptyBody = z.unknown();

/** A comma-separated query parameter as a list of validated items. */
const csv = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? v.split(',').map((p) => p.trim()) : undefined),
    z.array(item).optional(),
  );

export const clusterFilterQuery = z.object({ cluster_id: idParam.optional() }).loose();

export const nodesQuery = z
  .object({ cluster_id: z.union([z.literal('None'), z.literal(''), idParam]).optional() })
  .loose();

export const transactionsQuery = z
  .object({
    cluster_id: idParam.optional(),
    statuses: csv(z.enum(TASK_STATUSES)),
    transaction_types: csv(z.enum(TASK_NAMES)),
  })
  .loose();

export const historyQuery = z
  .object({
    nodes: csv(z.coerce.number().int().positive()),
    statuses: csv(z.enum(HISTORY_STATUSES)),
    tasks_names: csv(z.string().min(1)),
  })
  .loose();
