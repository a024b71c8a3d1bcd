/** A history row as the planner writes it, for the domain's unit tests: pending defaults, overridable. */
import { type HistoryRow, NO_OUTCOME } from '../../lambdas/domain/history.js';

export function historyRow(extra: Partial<HistoryRow> = {}): HistoryRow {
  return {
    deployTaskId: 1,
    stage: 'layer-0',
    taskName: 'a',
    taskType: 'shell',
    nodeId: 1,
    status: 'pending',
    timeStart: null,
    timeEnd: null,
    cmd: 'true',
    timeout: 60,
    retries: 0,
    interval: 0,
    failOnError: true,
    requires: [],
    layer: 0,
    order: null,
    noop: null,
    fingerprint: null,
    unchanged: false,
    ...NO_OUTCOME,
    ...extra,
  };
}

/** A pending row of `taskName` on `nodeId` in layer 1, its command `run <task>`: the dispatch decisions' tests. */
export function taskRow(taskName: string, nodeId: number, extra: Partial<HistoryRow> = {}): HistoryRow {
  return historyRow({
    stage: 'layer-1',
    taskName,
    nodeId,
    cmd: `run ${taskName}`,
    timeout: 300,
    layer: 1,
    ...extra,
  });
}
