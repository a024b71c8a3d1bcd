/**
 * The state machine definition as the local endpoint runs it: `${Var}` placeholders substituted, every
 * Task state found and classified (a Lambda ARN, lambda:invoke, lambda:invoke.waitForTaskToken), and
 * callback states rewritten so that this endpoint, not the engine, times them.
 */
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { isRecord } from '../aws-json/fields.js';

export type TaskKind = 'lambda' | 'invoke' | 'callback' | 'unsupported';

export interface TaskSpec {
  kind: TaskKind;
  resource: string;
}

/**
 * Callback states are timed by this module (TimeoutSeconds(Path) as AWS reads them); the engine's own
 * timer is pushed out of the way (the engine defaults to 60 s; Node timers cap at ~24.8 days).
 */
const ENGINE_TIMEOUT_SECONDS = 2_000_000;

const LAMBDA_ARN = /^arn:aws[\w-]*:lambda:[^:]+:\d{12}:function:[^:]+(:[^:]+)?$/;
const INVOKE = 'arn:aws:states:::lambda:invoke';
const INVOKE_CALLBACK = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

function taskKind(resource: string): TaskKind {
  if (LAMBDA_ARN.test(resource)) return 'lambda';
  if (resource === INVOKE) return 'invoke';
  if (resource === INVOKE_CALLBACK) return 'callback';
  return 'unsupported';
}

/** Replaces every `${Var}` with its substitution (JSON-escaped); a placeholder without one is an error. */
export function substitute(text: string, substitutions: Record<string, string>): string {
  const missing = new Set<string>();
  const result = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, name: string) => {
    const value = substitutions[name];
    if (value === undefined) {
      missing.add(name);
      return whole;
    }
    return JSON.stringify(value).slice(1, -1);
  });
  if (missing.size > 0)
    throw new Error(`No substitution for ${[...missing].map((n) => `\${${n}}`).join(', ')}`);
  return result;
}

/** Visits every state map: the top level, Map iterators / item processors, and Parallel branches. */
function forEachState(states: unknown, visit: (name: string, state: Record<string, unknown>) => void): void {
  if (!isRecord(states)) return;
  for (const [name, state] of Object.entries(states)) {
    if (!isRecord(state)) continue;
    visit(name, state);
    if (state.Type === 'Map') {
      const processor = state.ItemProcessor ?? state.Iterator;
      if (isRecord(processor)) forEachState(processor.States, visit);
    }
    if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
      for (const branch of state.Branches) if (isRecord(branch)) forEachState(branch.States, visit);
    }
  }
}

/** The handler of a callback state receives `{ request, timeoutSeconds }`: its Parameters and timeout. */
function wrapCallbackState(state: Record<string, unknown>): void {
  const wrapped: Record<string, unknown> = {};
  if (state.Parameters === undefined) wrapped['request.$'] = '$';
  else wrapped.request = state.Parameters;
  if (typeof state.TimeoutSecondsPath === 'string') wrapped['timeoutSeconds.$'] = state.TimeoutSecondsPath;
  else if (typeof state.TimeoutSeconds === 'number') wrapped.timeoutSeconds = state.TimeoutSeconds;
  state.Parameters = wrapped;
  delete state.TimeoutSecondsPath;
  state.TimeoutSeconds = ENGINE_TIMEOUT_SECONDS;
}

/**
 * Finds the Task states and prepares callback states for the engine: their Parameters are wrapped so
 * the handler also receives the resolved timeout, and the engine's own timer is disabled for them.
 */
export function prepareDefinition(text: string): {
  definition: StateMachineDefinition;
  tasks: Map<string, TaskSpec>;
} {
  const parsed: unknown = JSON.parse(text);
  if (!isRecord(parsed) || !isRecord(parsed.States)) throw new Error('Definition has no States');
  const tasks = new Map<string, TaskSpec>();
  forEachState(parsed.States, (name, state) => {
    if (state.Type !== 'Task') return;
    const resource = typeof state.Resource === 'string' ? state.Resource : '';
    const previous = tasks.get(name);
    if (previous && previous.resource !== resource) throw new Error(`Two Task states are named '${name}'`);
    const kind = taskKind(resource);
    tasks.set(name, { kind, resource });
    if (kind === 'callback') wrapCallbackState(state);
  });
  return { definition: parsed as unknown as StateMachineDefinition, tasks };
}
