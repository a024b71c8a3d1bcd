/**
 * Task conditions of a Fuel 9.0 deployment graph, evaluated per node when the graph is expanded, as
 * Nailgun's LCM task serializer does (nailgun/lcm/task_serializer.py, DefaultTaskSerializer.should_execute
 * and Context):
 * - no condition: the task runs;
 * - a string: a legacy expression (expression.ts) over the models `settings` (the node's deployment info)
 *   and `cluster` (its `cluster` dict), evaluated non-strictly after Nailgun's rewrite of settings paths;
 * - `{yaql_exp: ...}`: a yaql expression (yaql.ts) with `$` = the node's new deployment data;
 * - any other value (a YAML `true`/`false`, null): its Python truth.
 * Before that, Nailgun's `utils.traverse` formats every string of the task with `text_format_safe`
 * (`{CLUSTER_ID}`, `{MASTER_IP}`...) and replaces every `{yaql_exp: ...}` mapping with its value: see
 * `formatPlaceholders`, `formatValues` and `renderTaskTemplate` below.
 *
 * The settings the conditions read are the cluster's attributes flattened as Nailgun sends them
 * (`flattenSettings`, objects/cluster.py Attributes.merged_attrs_values); `fuelSettingsDefaults` gives the
 * Fuel 9.0 defaults of those the fuel-library 9.0 conditions read.
 */
import {
  evaluateLegacy,
  isPlainObject,
  LegacyEvaluationError,
  LegacySyntaxError,
  legacyPaths,
  type PlainObject,
  parseLegacy,
  pyTruthy,
} from './expression.js';
import { compileYaql, runYaql, UNDEFINED, YaqlError } from './yaql.js';

export type TaskCondition = string | boolean | null | { yaql_exp: string };

/** Values for `{NAME}` placeholders; a nested object answers `{NAME.attr}` and `{NAME[key]}`. */
export type FormatValues = Record<string, unknown>;

export interface ConditionContext {
  /** the `settings` model: the node's deployment info, settings flattened (flattenSettings) */
  settings: Record<string, unknown>;
  /** the `cluster` model: the cluster's dict (id, name, mode, net_provider, status...) */
  cluster: Record<string, unknown>;
  /** yaql's `$`: the node's new deployment data */
  node: Record<string, unknown>;
  /** the node's deployment data of the cluster's last successful deployment, if there is one */
  old?: Record<string, unknown>;
  /** placeholders formatted into a legacy condition before it is parsed, as Nailgun's traverse does */
  placeholders?: FormatValues;
}

export type ConditionResult = { run: true } | { run: false; reason: string } | { error: string };

// ---------------------------------------------------------------------------------------------------------
// Legacy conditions
// ---------------------------------------------------------------------------------------------------------

/**
 * Context.legacy_condition_transformers (lcm/task_serializer.py), applied in order with the same patterns:
 * `additional_components.X` becomes `X.enabled`, `common.` goes, and a trailing `.value` goes. The patterns
 * are greedy, as Nailgun's are: the last one removes only the last `.value`-like text of the condition.
 */
const LEGACY_TRANSFORMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/settings:additional_components\.(\w+)(\.value)?/g, 'settings:$1.enabled'],
  [/settings:common\.(.+)(.value)?/g, 'settings:$1'],
  [/settings:(.+)(.value)(?!\.)/g, 'settings:$1'],
];

/** The legacy condition as Nailgun parses it, after its rewrite of settings paths. */
export function transformLegacyCondition(condition: string): string {
  return LEGACY_TRANSFORMS.reduce(
    (text, [pattern, replacement]) => text.replace(pattern, replacement),
    condition,
  );
}

/** The models Nailgun 9.0's get_legacy_interpreter gives a condition. */
export const LEGACY_MODELS: readonly string[] = ['settings', 'cluster'];

/** What checkCondition formats a condition with: values of the shape Nailgun's formatter context has. */
export const SAMPLE_PLACEHOLDERS: FormatValues = {
  CLUSTER_ID: 1,
  MASTER_IP: '10.20.0.2',
  OPENSTACK_VERSION: 'mitaka-9.0',
  CN_HOSTNAME: 'public.fuel.local',
  SETTINGS: { MASTER_IP: '10.20.0.2' },
};

function modelProblem(model: string, path: string, pos: number): string | null {
  if (LEGACY_MODELS.includes(model)) return null;
  if (model === 'release') {
    return (
      `model 'release' in '${path}' at ${pos}: Nailgun 9.0 cannot evaluate it, its task serializer ` +
      `gives conditions only the 'settings' and 'cluster' models`
    );
  }
  return `unknown model '${model}' in '${path}' at ${pos} (known: ${LEGACY_MODELS.join(', ')})`;
}

function rewriteNote(original: string, parsed: string): string {
  return parsed === original ? '' : ` (in '${parsed}', Nailgun's rewrite of the settings paths)`;
}

function checkLegacy(condition: string, placeholders: FormatValues): string | null {
  const text = transformLegacyCondition(formatPlaceholders(condition, placeholders));
  try {
    for (const path of legacyPaths(parseLegacy(text))) {
      const problem = modelProblem(path.model, path.text, path.pos);
      if (problem) return problem + rewriteNote(condition, text);
    }
    return null;
  } catch (error) {
    if (!(error instanceof LegacySyntaxError)) throw error;
    return `syntax error: ${error.message}${rewriteNote(condition, text)}`;
  }
}

function evaluateLegacyCondition(condition: string, ctx: ConditionContext): unknown {
  const text = transformLegacyCondition(formatPlaceholders(condition, ctx.placeholders ?? {}));
  return evaluateLegacy(parseLegacy(text), { settings: ctx.settings, cluster: ctx.cluster });
}

// ---------------------------------------------------------------------------------------------------------
// yaql conditions and values
// ---------------------------------------------------------------------------------------------------------

function isYaqlObject(value: unknown): value is { yaql_exp: unknown } {
  return isPlainObject(value) && Object.hasOwn(value, 'yaql_exp');
}

function checkYaql(value: { yaql_exp: unknown }): string | null {
  if (typeof value.yaql_exp !== 'string') return "'yaql_exp' must be a string";
  // traverse() passes `yaql_exp_arg` as a second argument the interpreter does not take: Nailgun fails
  if (Object.hasOwn(value, 'yaql_exp_arg')) {
    return "'yaql_exp_arg' is not supported by Nailgun 9.0's yaql interpreter";
  }
  try {
    compileYaql(value.yaql_exp);
    return null;
  } catch (error) {
    if (error instanceof YaqlError) return `yaql: ${error.message}`;
    throw error;
  }
}

function runYaqlExpression(expression: string, ctx: Pick<ConditionContext, 'node' | 'old'>): unknown {
  return runYaql(compileYaql(expression), { node: ctx.node, old: ctx.old });
}

/**
 * The value of a yaql expression with `$` = the node's new data, e.g. `$.toYaml()` for a parameter.
 * An `old(...)` value that could not be evaluated on the old data has no JSON form: it is an error here.
 */
export function evaluateYaql(
  expression: string,
  ctx: Pick<ConditionContext, 'node' | 'old'>,
): { value: unknown } | { error: string } {
  try {
    const value = runYaqlExpression(expression, ctx);
    if (value === UNDEFINED) return { error: `yaql '${expression}': the value is undefined on the old data` };
    return { value };
  } catch (error) {
    if (error instanceof YaqlError) return { error: `yaql '${expression}': ${error.message}` };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Conditions: upload check and evaluation
// ---------------------------------------------------------------------------------------------------------

/**
 * The check at graph upload: null when the condition parses (and names only known models and functions),
 * else a message naming what is wrong and where. `placeholders` stand in for the values Nailgun formats into
 * a legacy condition before parsing it.
 */
export function checkCondition(
  condition: unknown,
  placeholders: FormatValues = SAMPLE_PLACEHOLDERS,
): string | null {
  if (condition === undefined || condition === null || typeof condition === 'boolean') return null;
  if (typeof condition === 'string') return checkLegacy(condition, placeholders);
  if (isYaqlObject(condition)) return checkYaql(condition);
  if (isPlainObject(condition)) return "a condition object must have a 'yaql_exp' string";
  return 'a condition must be a string, a boolean or an object {yaql_exp: string}';
}

function describeCondition(condition: unknown): string {
  if (typeof condition === 'string') return condition;
  if (isYaqlObject(condition)) return `yaql_exp: ${String(condition.yaql_exp)}`;
  return JSON.stringify(condition);
}

function conditionValue(condition: unknown, ctx: ConditionContext): unknown {
  if (typeof condition === 'string') return evaluateLegacyCondition(condition, ctx);
  if (isYaqlObject(condition) && typeof condition.yaql_exp === 'string') {
    return runYaqlExpression(condition.yaql_exp, ctx);
  }
  const problem = checkCondition(condition);
  if (problem) throw new YaqlError(problem);
  return condition;
}

const isEvaluationError = (error: unknown): error is Error =>
  error instanceof YaqlError || error instanceof LegacySyntaxError || error instanceof LegacyEvaluationError;

/**
 * Whether the task runs on the node: a condition is taken by its Python truth (so a legacy `a or b` that
 * gives a non-empty string runs the task). An error is what fails the deployment in Nailgun.
 */
export function evaluateCondition(
  condition: TaskCondition | undefined,
  ctx: ConditionContext,
): ConditionResult {
  if (condition === undefined) return { run: true };
  try {
    if (pyTruthy(conditionValue(condition, ctx))) return { run: true };
    const shown = describeCondition(condition);
    return {
      run: false,
      reason: condition === false ? 'condition is false' : `condition is false: ${shown}`,
    };
  } catch (error) {
    if (isEvaluationError(error)) {
      return { error: `cannot evaluate condition '${describeCondition(condition)}': ${error.message}` };
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Placeholders: Python's str.format with keyword arguments, under Nailgun's text_format_safe
// ---------------------------------------------------------------------------------------------------------

class FormatError extends Error {}

/** Python's str() of a value that may stand in text; other values are refused (Python would give a repr). */
function pyStr(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === null) return 'None';
  throw new FormatError('only strings, numbers, booleans and null are formatted');
}

/** One `.attr` or `[key]` step of a field name (Python's FieldNameIterator). */
function fieldStep(value: unknown, key: string, indexed: boolean): unknown {
  if (key === '') throw new FormatError('Empty attribute in format string');
  const isIndex = indexed && /^\d+$/.test(key);
  if (isIndex && (Array.isArray(value) || typeof value === 'string')) {
    const item = value[Number(key)];
    if (item === undefined) throw new FormatError('index out of range');
    return item;
  }
  if (!isIndex && isPlainObject(value) && Object.hasOwn(value, key)) return value[key];
  throw new FormatError(`no ${indexed ? 'item' : 'attribute'} '${key}'`);
}

function resolveFieldName(name: string, values: FormatValues): unknown {
  const first = /^[^.[]*/.exec(name)?.[0] ?? '';
  // an empty or numeric name is positional, and Nailgun formats with keyword arguments only
  if (first === '' || /^\d+$/.test(first) || !Object.hasOwn(values, first)) {
    throw new FormatError(`no value for '${first}'`);
  }
  let value = values[first];
  let rest = name.slice(first.length);
  while (rest !== '') {
    const step = /^\.([^.[]*)|^\[([^\]]*)\](?=$|[.[])/.exec(rest);
    if (!step) throw new FormatError(`bad field name '${name}'`);
    value = fieldStep(value, step[1] ?? step[2] ?? '', step[1] === undefined);
    rest = rest.slice(step[0].length);
  }
  return value;
}

/** `{name}`, `{name.attr}`, `{name[key]}` and `{name!s}`; a format spec or another conversion is refused. */
function renderField(field: string, values: FormatValues): string {
  const m = /^([^!:]*)(?:!(.))?(?::(.*))?$/s.exec(field);
  if (!m) throw new FormatError(`bad field '${field}'`);
  const [, name = '', conversion, spec] = m;
  if (conversion !== undefined && conversion !== 's') throw new FormatError(`conversion '!${conversion}'`);
  if (spec !== undefined && spec !== '') throw new FormatError(`format spec '${spec}'`);
  return pyStr(resolveFieldName(name, values));
}

function pyFormat(text: string, values: FormatValues): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    const next = text.charAt(i + 1);
    if ((c === '{' || c === '}') && next === c) {
      out += c;
      i += 2;
    } else if (c === '}') {
      throw new FormatError("Single '}' encountered in format string");
    } else if (c === '{') {
      const end = text.indexOf('}', i + 1);
      const nested = text.indexOf('{', i + 1);
      if (end < 0 || (nested >= 0 && nested < end)) throw new FormatError("unmatched '{' in format");
      out += renderField(text.slice(i + 1, end), values);
      i = end + 1;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/**
 * Nailgun's text_format_safe (nailgun/utils/__init__.py): `text.format(**values)`, and on any formatting
 * error (an unmatched brace, an unknown name, a positional `{}`) the text unchanged, whole. Unlike Python,
 * a format spec (`{X:>5}`), a `!r` conversion or a list or dict value also keeps the text unchanged.
 */
export function formatPlaceholders(text: string, values: FormatValues): string {
  try {
    return pyFormat(text, values);
  } catch (error) {
    if (error instanceof FormatError) return text;
    throw error;
  }
}

/**
 * formatPlaceholders on every string of a value, in objects and arrays, as utils.traverse does: keys are not
 * formatted, a `regex` key's value is copied as it is, and `{yaql_exp: ...}` mappings are left to
 * renderTaskTemplate (Nailgun evaluates them instead of formatting them).
 */
export function formatValues(value: unknown, values: FormatValues): unknown {
  if (typeof value === 'string') return formatPlaceholders(value, values);
  if (Array.isArray(value)) return value.map((item) => formatValues(item, values));
  if (!isPlainObject(value) || isYaqlObject(value)) return value;
  const out: PlainObject = {};
  for (const [key, item] of Object.entries(value))
    out[key] = key === 'regex' ? item : formatValues(item, values);
  return out;
}

/** Nailgun's traverse of a task template for a node: strings formatted, `{yaql_exp}` mappings evaluated. */
export function renderTaskTemplate(
  template: unknown,
  ctx: Pick<ConditionContext, 'node' | 'old'> & { placeholders: FormatValues },
): { value: unknown } | { error: string } {
  try {
    return { value: renderValue(template, ctx, '') };
  } catch (error) {
    if (error instanceof YaqlError) return { error: error.message };
    throw error;
  }
}

function renderValue(
  value: unknown,
  ctx: Pick<ConditionContext, 'node' | 'old'> & { placeholders: FormatValues },
  at: string,
): unknown {
  if (isYaqlObject(value)) return renderYaql(value, ctx, at);
  if (typeof value === 'string') return formatPlaceholders(value, ctx.placeholders);
  if (Array.isArray(value)) return value.map((item, i) => renderValue(item, ctx, `${at}[${i}]`));
  if (!isPlainObject(value)) return value;
  const out: PlainObject = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = key === 'regex' ? item : renderValue(item, ctx, at === '' ? key : `${at}.${key}`);
  }
  return out;
}

function renderYaql(
  value: { yaql_exp: unknown },
  ctx: Pick<ConditionContext, 'node' | 'old'>,
  at: string,
): unknown {
  const problem = checkYaql(value);
  if (problem) throw new YaqlError(`${at || 'value'}: ${problem}`);
  const result = evaluateYaql(value.yaql_exp as string, ctx);
  if ('error' in result) throw new YaqlError(`${at || 'value'}: ${result.error}`);
  return result.value;
}

/**
 * Nailgun's formatter context (Context.get_formatter_context) from a node's deployment info and the master's
 * settings; a value the deployment info lacks is left out, so its placeholder stays as written.
 */
export function nailgunPlaceholders(
  deploymentInfo: Record<string, unknown>,
  master: { ip: string; settings?: Record<string, unknown> },
): FormatValues {
  const cluster = isPlainObject(deploymentInfo.cluster) ? deploymentInfo.cluster : {};
  const ssl = isPlainObject(deploymentInfo.public_ssl) ? deploymentInfo.public_ssl : {};
  const values: FormatValues = {
    MASTER_IP: master.ip,
    SETTINGS: { MASTER_IP: master.ip, ...master.settings },
  };
  if (cluster.id !== undefined) values.CLUSTER_ID = cluster.id;
  if (deploymentInfo.openstack_version !== undefined)
    values.OPENSTACK_VERSION = deploymentInfo.openstack_version;
  if (ssl.hostname !== undefined) values.CN_HOSTNAME = ssl.hostname;
  return values;
}

// ---------------------------------------------------------------------------------------------------------
// Settings: Attributes.merged_attrs_values (objects/cluster.py) and the Fuel 9.0 defaults conditions read
// ---------------------------------------------------------------------------------------------------------

/** Each setting `{value, type, label...}` of a group becomes its value; other entries (metadata) stay. */
function unwrapGroup(group: PlainObject): PlainObject {
  const out: PlainObject = {};
  for (const [name, setting] of Object.entries(group)) {
    out[name] = isPlainObject(setting) && Object.hasOwn(setting, 'value') ? setting.value : setting;
  }
  return out;
}

/** `additional_components.X: true` becomes `X: {enabled: true}` (only boolean values). */
function mergeComponents(attrs: PlainObject, components: PlainObject): void {
  for (const [name, enabled] of Object.entries(components)) {
    if (typeof enabled !== 'boolean') continue;
    const current = attrs[name];
    if (current === undefined || isPlainObject(current)) attrs[name] = { ...current, enabled };
  }
}

/**
 * The cluster's editable attributes as Nailgun puts them in the deployment info: every setting replaced by
 * its value, the `common` group's settings at the root, `additional_components.X` as `X.enabled`.
 * The tree given is not changed.
 */
export function flattenSettings(editable: Record<string, unknown>): Record<string, unknown> {
  const attrs: PlainObject = {};
  for (const [name, group] of Object.entries(editable))
    attrs[name] = isPlainObject(group) ? unwrapGroup(group) : group;
  const { common, additional_components: components } = attrs;
  if (isPlainObject(common)) {
    delete attrs.common;
    Object.assign(attrs, common);
  }
  if (isPlainObject(components)) {
    delete attrs.additional_components;
    mergeComponents(attrs, components);
  }
  return attrs;
}

type Setting = { value: unknown; type: string; label: string; weight: number; values?: unknown[] };

const checkbox = (value: boolean, label: string, weight: number): Setting => ({
  value,
  type: 'checkbox',
  label,
  weight,
});

/**
 * The Fuel 9.0 defaults (openstack.yaml of fuel-web 9.0) of the settings the fuel-library 9.0 task
 * conditions read, as an editable tree (group → setting → {value, type, label, weight}) to merge into a
 * cluster's default attributes.
 */
export function fuelSettingsDefaults(): Record<string, unknown> {
  return {
    storage: {
      volumes_lvm: checkbox(true, 'Cinder LVM over iSCSI for volumes', 10),
      volumes_block_device: checkbox(false, 'Cinder Block device driver', 15),
      volumes_ceph: checkbox(false, 'Ceph RBD for volumes (Cinder)', 20),
      images_ceph: checkbox(false, 'Ceph RBD for images (Glance)', 30),
      images_vcenter: checkbox(false, 'VMware vCenter/ESXi datastore for images (Glance)', 35),
      ephemeral_ceph: checkbox(false, 'Ceph RBD for ephemeral volumes (Nova)', 75),
      objects_ceph: checkbox(false, 'Ceph RadosGW for objects (Swift API)', 80),
      osd_pool_size: { value: '3', type: 'text', label: 'Ceph object replication factor', weight: 85 },
    },
    additional_components: {
      sahara: checkbox(false, 'Install Sahara', 10),
      murano: checkbox(false, 'Install Murano', 20),
      'murano-cfapi': checkbox(false, 'Install Murano service broker for Cloud Foundry', 30),
      heat: { value: true, type: 'hidden', label: '', weight: 50 },
      ceilometer: checkbox(false, 'Install Ceilometer and Aodh', 60),
      mongo: checkbox(false, 'Use external Mongo DB', 70),
      ironic: checkbox(false, 'Install Ironic', 80),
    },
    common: {
      task_deploy: { value: true, type: 'hidden', label: 'Enable task based deploy', weight: 11 },
      use_vcenter: { value: false, type: 'hidden', label: '', weight: 30 },
    },
    public_ssl: {
      services: checkbox(false, 'TLS for OpenStack public endpoints', 10),
      horizon: checkbox(false, 'HTTPS for Horizon', 20),
      cert_source: {
        value: 'self_signed',
        type: 'radio',
        label: 'Select source for certificate',
        weight: 30,
        values: [
          { data: 'self_signed', label: 'Self-signed' },
          { data: 'user_uploaded', label: 'I have my own keypair with certificate' },
        ],
      },
      hostname: {
        value: 'public.fuel.local',
        type: 'text',
        label: 'DNS hostname for public TLS endpoints',
        weight: 50,
      },
    },
    neutron_advanced_configuration: {
      neutron_l3_ha: checkbox(false, 'Neutron L3 HA', 30),
    },
  };
}
