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
