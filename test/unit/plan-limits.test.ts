import { describe, expect, it } from 'vitest';
import {
  EXECUTION_EVENT_LIMIT,
  EXECUTION_EVENTS_FIXED,
  EXECUTION_EVENTS_PER_LAYER,
  leastCommands,
  MAX_COMMANDS_PER_LAYER,
  MAX_LAYERS,
  planLimitProblem,
} from '../../lambdas/domain/plan-limits.js';

const keysOf = (task: string, nodes: number) => Array.from({ length: nodes }, (_, i) => `${task}@${i + 1}`);

describe('the limits of one execution', () => {
  it('leave room for retried steps within the 25,000 events of an execution', () => {
    const events = EXECUTION_EVENTS_FIXED + EXECUTION_EVENTS_PER_LAYER * MAX_LAYERS;
    expect(events).toBeLessThan(EXECUTION_EVENT_LIMIT);
    // a third of the history is room for retries (each adds 3 to 5 events)
    expect(EXECUTION_EVENT_LIMIT - events).toBeGreaterThan(EXECUTION_EVENT_LIMIT / 3);
  });

  it('counts a layer at its fewest commands: one per 50 nodes of each task', () => {
    expect(leastCommands([])).toBe(0);
    expect(leastCommands(keysOf('a', 50))).toBe(1);
    expect(leastCommands(keysOf('a', 51))).toBe(2);
    expect(leastCommands([...keysOf('a', 10), ...keysOf('b', 101)])).toBe(4);
    // a task name may itself hold '@': the node is after the last one
    expect(leastCommands(['x@y@1', 'x@y@2', 'x@y@master'])).toBe(1);
  });

  it('keeps a plan within every limit, and names the first one it goes past', () => {
    const layer = (keys: string[]) => ({ keys, commands: leastCommands(keys) });
    expect(planLimitProblem([layer(keysOf('a', 1000)), layer(keysOf('b', 3))])).toBeNull();
    expect(planLimitProblem(Array.from({ length: MAX_LAYERS }, () => layer(['a@1'])))).toBeNull();

    expect(planLimitProblem(Array.from({ length: MAX_LAYERS + 1 }, () => layer(['a@1'])))).toMatch(
      /would need 1001 layers, at most 1000: a Step Functions execution holds 25000 events/,
    );
    expect(
      planLimitProblem([layer(['a@1']), { keys: ['a@1'], commands: MAX_COMMANDS_PER_LAYER + 1 }]),
    ).toMatch(/^Layer 2 of the deployment would send 501 commands, at most 500 per layer/);
    expect(planLimitProblem([{ keys: ['a@1'], commands: MAX_COMMANDS_PER_LAYER }])).toBeNull();

    // no item holds a layer's keys: a layer of many instances with long task names is within the limits
    const long = 'x'.repeat(900);
    expect(planLimitProblem([layer(keysOf(long, 10_000))])).toBeNull();
  });
});
