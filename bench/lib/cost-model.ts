/**
 * What a deployment costs in Step Functions events, state transitions and dollars: the product's state
 * machine as measured (events and transitions from GetExecutionHistory), against a naive design that runs
 * one Map iteration per task and node and polls each command every 10 s.
 *
 * The naive design, state by state (events as Step Functions records them for a Lambda task: entered,
 * scheduled, started, succeeded, exited = 5; a Choice or Wait: entered, exited = 2; a Map iteration:
 * started, succeeded = 2):
 *   per layer:    an inner Map (entered, started, succeeded, exited = 4) in an outer iteration (2)
 *   per instance: iteration (2) + "Check stop flag" (Lambda, 5) + "Stop requested?" (2) + "Send command"
 *                 (Lambda, 5) + polls x ("Wait 10 s" 2 + "Get command status" Lambda 5 + "Done?" 2) +
 *                 "Record result" (Lambda, 5); polls = max(1, ceil(duration / 10 s))
 *   besides:      ExecutionStarted, "Plan" (Lambda, 5), the outer Map (4), "Finish" (Lambda, 5),
 *                 ExecutionSucceeded
 * DynamoDB per instance: the stop flag read (1 GetItem), the command recorded (1 PutItem), the row and the
 * progress updated with the result (2 UpdateItem). Lambda per instance: 3 + polls invocations.
 */

/** List prices used (us-east-1, on-demand, as of 2025). */
export const PRICES = {
  /** Step Functions Standard, per state transition. */
  transition: 0.025 / 1000,
  /** Lambda, per request. */
  lambdaRequest: 0.2 / 1_000_000,
  /** Lambda (x86), per GB-second. */
  lambdaGbSecond: 0.0000166667,
  /** DynamoDB on-demand, per write request unit (a write of up to 1 KB). */
  dynamoWrite: 0.625 / 1_000_000,
  /** DynamoDB on-demand, per read request unit (a strongly consistent read of up to 4 KB). */
  dynamoRead: 0.125 / 1_000_000,
} as const;

/** What every Lambda invocation is assumed to cost in time: 100 ms at 512 MB (the stack's engine functions). */
export const LAMBDA_GB_SECONDS_PER_INVOCATION = 0.1 * 0.5;

export const NAIVE_POLL_SECONDS = 10;

export interface DeploymentCost {
  events: number;
  transitions: number;
  lambdaInvocations: number;
  dynamoReads: number;
  dynamoWrites: number;
  dollars: { stepFunctions: number; lambda: number; dynamodb: number; total: number };
  /** Whether one Standard execution can hold it (25,000 events). */
  fitsOneExecution: boolean;
}

export function dollarsOf(c: Omit<DeploymentCost, 'dollars' | 'fitsOneExecution'>): DeploymentCost {
  const stepFunctions = c.transitions * PRICES.transition;
  const lambda =
    c.lambdaInvocations * (PRICES.lambdaRequest + LAMBDA_GB_SECONDS_PER_INVOCATION * PRICES.lambdaGbSecond);
  const dynamodb = c.dynamoReads * PRICES.dynamoRead + c.dynamoWrites * PRICES.dynamoWrite;
  return {
    ...c,
    dollars: { stepFunctions, lambda, dynamodb, total: stepFunctions + lambda + dynamodb },
    fitsOneExecution: c.events < 25_000,
  };
}

/** The naive design's cost for instances of these durations (seconds, unscaled) in this many layers. */
export function naiveCost(durations: readonly number[], layers: number): DeploymentCost {
  let events = 1 + 5 + 4 + 5 + 1 + 6 * layers;
  let transitions = 3 + 2 * layers;
  let lambda = 2;
  for (const seconds of durations) {
    const polls = Math.max(1, Math.ceil(seconds / NAIVE_POLL_SECONDS));
    events += 2 + 5 + 2 + 5 + polls * 9 + 5;
    transitions += 4 + polls * 3;
    lambda += 3 + polls;
  }
  return dollarsOf({
    events,
    transitions,
    lambdaInvocations: lambda,
    dynamoReads: durations.length,
    dynamoWrites: 3 * durations.length,
  });
}

/** Events of a measured execution: those of each Map iteration (one per layer), and the rest. */
export interface MeasuredEvents {
  total: number;
  layers: number;
  perLayer: number;
  fixed: number;
  transitions: number;
  transitionsPerLayer: number;
  lambdaInvocations: number;
  byType: Record<string, number>;
}

export function measuredEvents(events: { type?: string }[]): MeasuredEvents {
  const byType: Record<string, number> = {};
  let inIteration = false;
  let iterationEvents = 0;
  let iterationTransitions = 0;
  let layers = 0;
  let transitions = 0;
  for (const event of events) {
    const type = event.type ?? '?';
    byType[type] = (byType[type] ?? 0) + 1;
    const transition = type.endsWith('StateEntered');
    if (transition) transitions++;
    if (type === 'MapIterationStarted') {
      inIteration = true;
      layers++;
    }
    if (inIteration) {
      iterationEvents++;
      if (transition) iterationTransitions++;
    }
    if (type === 'MapIterationSucceeded' || type === 'MapIterationFailed' || type === 'MapIterationAborted')
      inIteration = false;
  }
  const perLayer = layers > 0 ? iterationEvents / layers : 0;
  const lambdaInvocations = (byType.LambdaFunctionScheduled ?? 0) + (byType.TaskScheduled ?? 0);
  return {
    total: events.length,
    layers,
    perLayer,
    fixed: events.length - iterationEvents,
    transitions,
    transitionsPerLayer: layers > 0 ? iterationTransitions / layers : 0,
    lambdaInvocations,
    byType,
  };
}

/** DynamoDB requests of the product, as counted: per node result and per layer. */
export interface DynamoRates {
  readsPerResult: number;
  writesPerResult: number;
  readsPerLayer: number;
  writesPerLayer: number;
}

/**
 * The product's cost for a deployment of `layers` layers and `results` node results, from a measured
 * execution's figures: events and transitions a fixed part plus a constant per layer; Lambda: the state
 * machine's invocations per layer plus one command-status invocation per result (EventBridge's rule passes
 * final statuses only); DynamoDB: the requests counted per result and per layer.
 */
export function productCost(
  m: MeasuredEvents,
  layers: number,
  results: number,
  dynamo: DynamoRates,
): DeploymentCost {
  const lambdaPerLayer = m.layers > 0 ? (m.lambdaInvocations - 2) / m.layers : 0;
  return dollarsOf({
    events: Math.round(m.fixed + m.perLayer * layers),
    transitions: Math.round(
      m.transitions - m.transitionsPerLayer * m.layers + m.transitionsPerLayer * layers,
    ),
    lambdaInvocations: Math.round(2 + lambdaPerLayer * layers + results),
    dynamoReads: Math.round(dynamo.readsPerLayer * layers + dynamo.readsPerResult * results),
    dynamoWrites: Math.round(dynamo.writesPerLayer * layers + dynamo.writesPerResult * results),
  });
}
