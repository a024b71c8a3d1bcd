import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';

/** The state machine file with its CDK substitutions filled in, as Step Functions receives it. */
function definition(): Record<string, unknown> {
  const text = readFileSync(new URL('../../statemachines/deployment.asl.json', import.meta.url), 'utf8');
  return JSON.parse(
    text.replace(
      /\$\{(\w+)FunctionArn\}/g,
      (_, name: string) => `arn:aws:lambda:us-east-1:123456789012:function:fuel-${name}`,
    ),
  ) as Record<string, unknown>;
}

describe('statemachines/deployment.asl.json', () => {
  it('is valid Amazon States Language: every state reachable, every target, path and ARN well-formed', () => {
    const result = aslValidator(definition(), { checkPaths: true, checkArn: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('the validator refuses a definition with a missing target', () => {
    const broken = { ...definition(), StartAt: 'No such state' };
    const result = aslValidator(broken, { checkPaths: true, checkArn: true });
    expect(result.isValid).toBe(false);
    expect(result.errors.map((e) => e['Error code'])).toContain('MISSING_TRANSITION_TARGET');
  });

  it('retries every step killed at its timeout or throttled (each step is idempotent)', () => {
    const tasks: [string, Record<string, unknown>][] = [];
    const walk = (states: Record<string, Record<string, unknown>>) => {
      for (const [name, state] of Object.entries(states)) {
        if (state.Type === 'Task') tasks.push([name, state]);
        for (const key of ['Iterator', 'ItemProcessor'] as const) {
          const inner = state[key] as { States: Record<string, Record<string, unknown>> } | undefined;
          if (inner) walk(inner.States);
        }
      }
    };
    walk(definition().States as Record<string, Record<string, unknown>>);
    expect(tasks.length).toBeGreaterThanOrEqual(6);
    for (const [name, state] of tasks) {
      const retried = ((state.Retry ?? []) as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals);
      const covers = (error: string) => retried.includes(error) || retried.includes('States.ALL');
      for (const error of [
        'Sandbox.Timedout',
        'Lambda.Unknown',
        'ThrottlingException',
        'Lambda.TooManyRequestsException',
      ])
        expect(covers(error), `${name} retries ${error}`).toBe(true);
    }
  });
});
