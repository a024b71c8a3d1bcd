/** What a bench run measures, and at which sizes: the full run, and `--quick` (smaller, fewer repetitions). */

export interface BenchConfig {
  quick: boolean;
  /** Layout of the real deployment (test/fixtures/reference-graph.json `clusters`), and how many of its nodes. */
  layout: string;
  deployNodes: number;
  /** Seconds a task sleeps per typical second of it. */
  scale: number;
  /** Also deploy a second time, planned with the durations the first run measured (`force`: every task runs). */
  informedRedeploy: boolean;
  /** Graceful stops, on a cluster of `stopNodes` nodes running a chain of `stopTasks` tasks of `stopSeconds`. */
  stops: number;
  stopNodes: number;
  stopTasks: number;
  stopSeconds: number;
  /** Planner timings: runs (median), nodes, graph size. */
  planRuns: number;
  planNodes: number;
  planTasks: number;
  /** Nodes of the seeded deployment at scale (plan step, widest layer, one result per node), and its baseline. */
  scaleNodes: number;
  scaleBaselineNodes: number;
  /** Results delivered at once to the result step (as concurrent Lambda invocations would be). */
  resultConcurrency: number;
  /** Reads: tasks listed, history rows of one run, timed requests. */
  tasks: number;
  historyRows: number;
  repetitions: number;
  historyRepetitions: number;
  /** The stop/restart story on a simulated fleet of the large-1000 layout (`--e2e-1000`, `--only=e2e`). */
  e2eNodes: number;
  e2eScale: number;
}

export function benchConfig(quick: boolean, overrides: Partial<BenchConfig> = {}): BenchConfig {
  const base: BenchConfig = quick
    ? {
        quick,
        layout: 'reference-50',
        deployNodes: 12,
        scale: 0.002,
        informedRedeploy: false,
        stops: 4,
        stopNodes: 3,
        stopTasks: 3,
        stopSeconds: 1.5,
        planRuns: 3,
        planNodes: 1000,
        planTasks: 300,
        scaleNodes: 200,
        scaleBaselineNodes: 50,
        resultConcurrency: 16,
        tasks: 300,
        historyRows: 5_000,
        repetitions: 10,
        historyRepetitions: 3,
        e2eNodes: 100,
        e2eScale: 0.001,
      }
    : {
        quick,
        layout: 'reference-50',
        deployNodes: 50,
        scale: 0.01,
        informedRedeploy: false,
        stops: 8,
        stopNodes: 4,
        stopTasks: 3,
        stopSeconds: 3,
        planRuns: 7,
        planNodes: 1000,
        planTasks: 300,
        scaleNodes: 1000,
        scaleBaselineNodes: 50,
        resultConcurrency: 16,
        tasks: 1000,
        historyRows: 60_000,
        repetitions: 30,
        historyRepetitions: 3,
        e2eNodes: 1000,
        e2eScale: 0.001,
      };
  return { ...base, ...overrides };
}

export const SCENARIOS = ['schedule', 'plan', 'deploy', 'stop', 'scale', 'reads', 'e2e'] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** What `npm run bench` runs unless told otherwise: all but the 1,000-node end-to-end run (`--e2e-1000`). */
export const DEFAULT_SCENARIOS: readonly Scenario[] = SCENARIOS.filter((s) => s !== 'e2e');
