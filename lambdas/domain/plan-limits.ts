/**
 * The limits a deployment's plan must keep to run in one Step Functions execution, checked before anything
 * runs ("Deploy changes" answers 400 naming the limit) and again by the plan step on the rendered commands:
 *
 * - layers: a Standard execution fails outright at 25,000 history events. Each layer adds a fixed number
 *   of events whatever its nodes (test/integration/execution-events.test.ts measures both figures on the
 *   real state machine), so the number of layers is bounded, with room left for retried steps.
 * - commands per layer: the dispatch step sends a layer's SSM commands (at most 50 nodes each) one after
 *   another under the stop's send lease, about four requests a command; it must send them all well within
 *   its 5 minutes.
 *
 * A layer's size in nodes is bounded by these alone: no item holds an entry per node of a layer (each
 * batch of at most 50 nodes has its own intent and shard; the stage item holds the numbers of its open
 * batches, at most MAX_COMMANDS_PER_LAYER).
 */
import { MAX_INSTANCES_PER_COMMAND } from './dispatch.js';

/** A Standard execution fails when its history reaches this many events. */
export const EXECUTION_EVENT_LIMIT = 25_000;
/** Events of an execution besides its layers (start, plan, provisioning, finish), at most (31 measured). */
export const EXECUTION_EVENTS_FIXED = 40;
/** Events each layer adds (stop check, dispatch, the wait for its token, the Map iteration): 15 measured. */
export const EXECUTION_EVENTS_PER_LAYER = 15;
/**
 * At most this many layers: 40 + 15 x 1,000 = 15,040 events, which leaves 9,960 for retried steps (a retry
 * adds 3 to 5 events).
 */
export const MAX_LAYERS = 1000;
/** At most this many SendCommand calls in one layer (at about 0.25 s each, two minutes of sending). */
export const MAX_COMMANDS_PER_LAYER = 500;

/** What the limits look at in one layer: the instances it runs, by task, and their keys. */
export interface LayerLoad {
  /** The keys (`task@target`) of the instances the layer runs. */
  keys: string[];
  /**
   * The SendCommand calls the layer makes: exact once the commands are rendered (one per 50 nodes that
   * run the same command), else at least one per 50 nodes of each task.
   */
  commands: number;
}

/** The SendCommand calls a layer needs at least: its instances grouped by task, 50 nodes per call. */
export function leastCommands(keys: string[]): number {
  const perTask = new Map<string, number>();
  for (const key of keys) {
    const task = key.slice(0, key.lastIndexOf('@'));
    perTask.set(task, (perTask.get(task) ?? 0) + 1);
  }
  let commands = 0;
  for (const count of perTask.values()) commands += Math.ceil(count / MAX_INSTANCES_PER_COMMAND);
  return commands;
}

const ADVICE =
  'use `parallel` with a larger `amount` instead of `one_by_one` on many nodes, or split the deployment with deploy/?nodes=';

/** The first limit the plan goes past, said for the operator; null when it keeps them all. */
export function planLimitProblem(layers: LayerLoad[]): string | null {
  if (layers.length > MAX_LAYERS) {
    return (
      `The deployment would need ${layers.length} layers, at most ${MAX_LAYERS}: a Step Functions execution ` +
      `holds ${EXECUTION_EVENT_LIMIT} events, about ${EXECUTION_EVENTS_PER_LAYER} a layer; ${ADVICE}`
    );
  }
  for (const [index, layer] of layers.entries()) {
    if (layer.commands > MAX_COMMANDS_PER_LAYER) {
      return (
        `Layer ${index + 1} of the deployment would send ${layer.commands} commands, at most ` +
        `${MAX_COMMANDS_PER_LAYER} per layer (one command reaches at most ${MAX_INSTANCES_PER_COMMAND} nodes ` +
        'running the same command): give node-specific commands fewer distinct forms, or deploy fewer nodes at once with deploy/?nodes='
      );
    }
  }
  return null;
}
