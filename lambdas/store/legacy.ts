/**
 * Items written before tasks and history rows had typed records (service 0.1 before the records of
 * `domain/task.ts` and `domain/history.ts`): a task with one bag `result`, a stop as `stopRequestedAt` plus
 * `stop`, child ids as `provisionTaskId` / `deploymentTaskId`; a row's outcome in its `custom` bag. They are
 * read in today's shape, and a legacy task is rewritten in it once, so that the conditional writes on its
 * stop and its dispatch lease hold for it too. Nothing stored is lost by an upgrade.
 */
import type { Item } from './table.js';

type Bag = Record<string, unknown>;

const bag = (value: unknown): Bag => (typeof value === 'object' && value !== null ? (value as Bag) : {});
const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

export function isLegacyTask(item: Item): boolean {
  return item.kind === undefined;
}

function legacyKind(item: Item): 'run' | 'stage' | 'stop' | 'action' {
  const name = item.name;
  if (name === 'stop_deployment') return 'stop';
  if (name === 'deploy' || name === 'provision' || name === 'deployment') {
    return item.parentId === null || item.parentId === undefined ? 'run' : 'stage';
  }
  return 'action';
}

function legacyStop(value: unknown): Bag {
  if (typeof value !== 'object' || value === null) return { phase: 'none' };
  const old = value as Bag;
  const request = {
    cause: old.cause === 'fault_tolerance' ? 'fault_tolerance' : 'operator',
    by: String(old.requestedBy ?? ''),
    at: String(old.requestedAt ?? ''),
    message: orNull(old.message),
    stopTaskId: orNull(old.taskId),
    deadline: String(old.deadline ?? ''),
    timeoutSeconds: Number(old.timeoutSeconds ?? 0),
  };
  if (typeof old.forcedAt !== 'string') return { phase: 'requested', request };
  const cause = old.forcedBecause === 'timeout' ? 'stop_timeout' : 'operator';
  return { phase: 'forced', request, forced: { at: old.forcedAt, cause } };
}

/** The fields a legacy task item lacks, in today's shape (added to it; its other fields stay as they are). */
export function upgradedTaskFields(item: Item): Bag {
  const kind = legacyKind(item);
  const result = bag(item.result);
  const common = { kind, deletedAt: orNull(item.deletedAt as string | undefined) };
  if (kind === 'stop') {
    return {
      ...common,
      deployTaskId: Number(result.deploy_task_id),
      requestedBy: orNull(result.requested_by),
      reason: orNull(result.reason),
    };
  }
  if (kind !== 'run') return common;
  const mode = bag(item.mode);
  const ended = 'stop_task_status' in result || 'cluster_status' in result;
  return {
    ...common,
    children: { provision: orNull(item.provisionTaskId), deployment: orNull(item.deploymentTaskId) },
    mode: {
      force: mode.force === true,
      resume: mode.resume === true,
      scope: mode.scope ?? 'all',
      nodes: orNull(mode.nodes),
    },
    stop: legacyStop(item.stop),
    dispatchLeaseUntil: orNull(item.dispatchLeaseUntil),
    finishingAt: orNull(item.finishingAt),
    nodesBefore: orNull(item.nodesBefore),
    plan: orNull(item.plan),
    outcome: ended
      ? {
          clusterStatus: orNull(result.cluster_status),
          stopTaskStatus: orNull(result.stop_task_status),
          stopMessage: orNull(result.stop_message),
        }
      : null,
  };
}

/** The attributes of a legacy task item that today's shape has no place for. */
export const LEGACY_TASK_ATTRIBUTES = [
  'result',
  'stopRequestedAt',
  'provisionTaskId',
  'deploymentTaskId',
  'graphType',
  'dryRun',
] as const;

/** A history row item in today's shape: typed outcome fields, from its `custom` bag where they are missing. */
export function upgradedRow(item: Item): Item {
  if (!('custom' in item)) return item;
  const custom = bag(item.custom);
  const ran = typeof custom.command_id === 'string';
  return {
    ...item,
    command:
      item.command !== undefined
        ? item.command
        : ran
          ? {
              commandId: custom.command_id,
              instanceId: String(custom.instance_id ?? ''),
              ssmStatus: custom.ssm_status,
              statusDetails: String(custom.status_details ?? ''),
              exitCode: orNull(custom.exit_code),
              outputTail: String(custom.output_tail ?? ''),
              errorTail: String(custom.error_tail ?? ''),
            }
          : null,
    skipReason: item.skipReason !== undefined ? item.skipReason : orNull(custom.skip_reason),
    reason: item.reason !== undefined ? item.reason : orNull(custom.reason),
    errorType: item.errorType !== undefined ? item.errorType : orNull(custom.error_type),
    cancelledByStop:
      item.cancelledByStop !== undefined ? item.cancelledByStop : custom.cancelled_by_stop === true,
  };
}
