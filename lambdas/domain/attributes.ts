/**
 * Cluster attributes (Nailgun's `editable` tree) that the engine reads, with their defaults.
 * Each setting is `{ value, type, label, description }` under a group, as in Fuel.
 */
import { fuelSettingsDefaults } from './conditions.js';

export type Editable = Record<string, unknown>;

export const DEFAULT_PROVISION_CMD = 'uname -a && echo "operating system ready on $(hostname)"';
export const DEFAULT_PROVISION_TIMEOUT_S = 1800;
export const DEFAULT_STOP_TIMEOUT_S = 600;

/** The service's own settings, then Fuel 9.0's settings that the graph's conditions read (storage, components...). */
export function defaultAttributes(): Editable {
  return {
    ...fuelSettingsDefaults(),
    provision: {
      metadata: { label: 'Provisioning', weight: 10 },
      cmd: {
        value: DEFAULT_PROVISION_CMD,
        type: 'text',
        label: 'Provisioning command',
        description: 'Shell command run on each node that has not been provisioned yet.',
      },
      timeout: {
        value: DEFAULT_PROVISION_TIMEOUT_S,
        type: 'number',
        label: 'Provisioning timeout (s)',
        description: 'Seconds the provisioning command may run on one node.',
      },
    },
    deployment: {
      metadata: { label: 'Deployment', weight: 20 },
      stop_timeout: {
        value: DEFAULT_STOP_TIMEOUT_S,
        type: 'number',
        label: 'Stop timeout (s)',
        description: 'Seconds a graceful stop waits for running tasks before it cancels them.',
      },
    },
  };
}

function settingValue(editable: Editable, group: string, name: string): unknown {
  const g = editable[group];
  if (typeof g !== 'object' || g === null) return undefined;
  const setting = (g as Record<string, unknown>)[name];
  if (typeof setting !== 'object' || setting === null) return undefined;
  return (setting as Record<string, unknown>).value;
}

export function provisionCommand(editable: Editable): string {
  const value = settingValue(editable, 'provision', 'cmd');
  return typeof value === 'string' && value.trim() !== '' ? value : DEFAULT_PROVISION_CMD;
}

export function provisionTimeout(editable: Editable): number {
  const value = settingValue(editable, 'provision', 'timeout');
  return typeof value === 'number' && Number.isInteger(value) && value > 0
    ? value
    : DEFAULT_PROVISION_TIMEOUT_S;
}

export function stopTimeout(editable: Editable): number {
  const value = settingValue(editable, 'deployment', 'stop_timeout');
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : DEFAULT_STOP_TIMEOUT_S;
}

/** Deep merge of an edit into the stored tree: settings present in the edit replace stored ones. */
export function mergeAttributes(stored: Editable, edit: Editable): Editable {
  const out: Editable = { ...stored };
  for (const [key, value] of Object.entries(edit)) {
    const current = out[key];
    // a group merges setting by setting; a setting keeps its label, type and description when its value changes
    out[key] =
      isPlainObject(current) && isPlainObject(value)
        ? 'value' in value
          ? { ...current, ...value }
          : mergeAttributes(current, value)
        : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
