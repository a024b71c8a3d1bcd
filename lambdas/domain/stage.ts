/**
 * The stages of a deployment, as the state machine runs them: provisioning, then the layers of the graph in
 * order. A history row belongs to one stage; a command intent and the stage's callback state too.
 */
import { targetKeyPart } from './targets.js';

export const PROVISION_STAGE = 'provision';
export type LayerStage = `layer-${number}`;
export type Stage = typeof PROVISION_STAGE | LayerStage;

export function layerStage(layer: number): LayerStage {
  return `layer-${layer}`;
}

export function isProvisionStage(stage: Stage): stage is typeof PROVISION_STAGE {
  return stage === PROVISION_STAGE;
}

/** The layer index of a layer stage. */
export function layerOf(stage: LayerStage): number {
  return Number(stage.slice('layer-'.length));
}

/** A stage name as the state machine passes it, or null when it names no stage. */
export function parseStage(value: string): Stage | null {
  if (value === PROVISION_STAGE) return PROVISION_STAGE;
  return /^layer-(0|[1-9]\d*)$/.test(value) ? (value as LayerStage) : null;
}

/** Which of a deployment's history rows a query reads. */
export type RowScope = 'all' | 'provision' | 'layers' | Stage;

/** One task of the graph on one target: `task@3`, `task@master`, `task@sync`. */
export function instanceKey(taskName: string, nodeId: number): string {
  return `${taskName}@${targetKeyPart(nodeId)}`;
}

/** A requirement on every entry of a task, whatever its node: `task@*` (a stage's requirements). */
export function everyEntryOf(taskName: string): string {
  return `${taskName}@*`;
}

/** The task a `task@*` requirement names, or null for a key of one entry. */
export function taskOfEveryEntry(key: string): string | null {
  return key.endsWith('@*') ? key.slice(0, -2) : null;
}

export function rowKey(row: { taskName: string; nodeId: number }): string {
  return instanceKey(row.taskName, row.nodeId);
}
