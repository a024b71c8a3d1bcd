import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import {
  type ConditionContext,
  checkCondition,
  evaluateCondition,
  evaluateYaql,
  flattenSettings,
  formatPlaceholders,
  formatValues,
  fuelSettingsDefaults,
  nailgunPlaceholders,
  renderTaskTemplate,
  type TaskCondition,
  transformLegacyCondition,
} from '../../lambdas/domain/conditions.js';

/** A node's deployment info as Nailgun 9.0 sends it: flattened settings plus node and cluster facts. */
function deploymentInfo(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...flattenSettings(fuelSettingsDefaults()),
    uid: '3',
    roles: ['controller', 'cinder'],
    plugins: [],
    openstack_version: 'mitaka-9.0',
    cluster: { id: 7, name: 'env', mode: 'ha_compact', net_provider: 'neutron', status: 'operational' },
    flags: { t: true, f: false, s: 'text', empty: '', zero: 0, list: ['a', false], none: null },
    ...overrides,
  };
}

function context(info = deploymentInfo(), old?: Record<string, unknown>): ConditionContext {
  return { settings: info, cluster: info.cluster as Record<string, unknown>, node: info, old };
}

const runs = (condition: TaskCondition | undefined, ctx = context()) => evaluateCondition(condition, ctx);
const truth = (condition: TaskCondition, ctx = context()): boolean => {
  const result = runs(condition, ctx);
  if ('error' in result) throw new Error(result.error);
  return result.run;
};
const yaql = (expression: string, ctx: Partial<ConditionContext> = {}) =>
  evaluateYaql(expression, { node: context().node, ...ctx });
const yaqlValue = (expression: string, ctx: Partial<ConditionContext> = {}): unknown => {
  const result = yaql(expression, ctx);
  if ('error' in result) throw new Error(result.error);
  return result.value;
};

describe('conditions that are not expressions', () => {
  it('runs a task without a condition', () => {
    expect(runs(undefined)).toEqual({ run: true });
  });

  it('takes a boolean as it is and null as false, as should_execute returns the condition itself', () => {
    expect(runs(true)).toEqual({ run: true });
    expect(runs(false)).toEqual({ run: false, reason: 'condition is false' });
    expect(runs(null)).toEqual({ run: false, reason: 'condition is false: null' });
  });
});

describe('legacy conditions: operators and literals', () => {
  it('compares with == and != over the settings model', () => {
    expect(truth('settings:storage.volumes_lvm == true')).toBe(true);
    expect(truth('settings:storage.volumes_lvm != true')).toBe(false);
    expect(truth("settings:public_ssl.cert_source == 'self_signed'")).toBe(true);
    expect(truth("settings:storage.osd_pool_size == '3'")).toBe(true);
    expect(truth('settings:storage.osd_pool_size == 3')).toBe(false);
  });

  it("uses Python's equality: true == 1 and false == 0, lists compared deeply", () => {
    expect(truth('settings:flags.t == 1')).toBe(true);
    expect(truth('settings:flags.zero == false')).toBe(true);
    expect(truth('settings:flags.none == false')).toBe(false);
    const info = deploymentInfo({ a: [1, { b: 2 }], c: [1, { b: 2 }] });
    expect(truth('settings:a == settings:c', context(info))).toBe(true);
  });

  it('reads the cluster model', () => {
    expect(truth("cluster:mode == 'ha_compact'")).toBe(true);
    expect(truth("cluster:net_provider != 'neutron'")).toBe(false);
    expect(truth('cluster:id == 7')).toBe(true);
    expect(truth("cluster:status == 'operational' and cluster:name == 'env'")).toBe(true);
  });

  it('reads numbers, negative ones too, and null', () => {
    const info = deploymentInfo({ n: -4 });
    expect(truth('settings:n == -4', context(info))).toBe(true);
    expect(truth('settings:flags.none == null')).toBe(true);
  });

  it('reads single- and double-quoted strings, each holding the other quote', () => {
    const info = deploymentInfo({ q: "it's", d: 'say "hi"' });
    expect(truth('settings:q == "it\'s"', context(info))).toBe(true);
    expect(truth('settings:d == \'say "hi"\'', context(info))).toBe(true);
  });

  it('gives `or` a lower precedence than `and`', () => {
    // (t or f) and f would be false
    expect(truth('settings:flags.t or settings:flags.f and settings:flags.f')).toBe(true);
    expect(truth('(settings:flags.t or settings:flags.f) and settings:flags.f')).toBe(false);
  });

  it('binds `not` tighter than == (Nailgun puts it with `in`): not a == b is (not a) == b', () => {
    // (not 'text') == true is false; not ('text' == true) would be true
    expect(truth('not settings:flags.s == true')).toBe(false);
    expect(truth('not (settings:flags.s == true)')).toBe(true);
  });

  it('binds `not` and `in` at one level, left to right: not a in b is (not a) in b', () => {
    // (not 'a') is false, and false is in ['a', false]; not ('a' in [...]) would be false
    expect(truth("not 'a' in settings:flags.list")).toBe(true);
    expect(truth("not ('a' in settings:flags.list)")).toBe(false);
  });

  it('binds `in` tighter than ==', () => {
    expect(truth("'controller' in settings:roles == true")).toBe(true);
  });

  it("gives Python's `and`/`or` operand values, taken by their truth", () => {
    expect(truth('settings:flags.s or false')).toBe(true);
    expect(truth('settings:flags.empty and true')).toBe(false);
    expect(truth('settings:flags.zero or settings:flags.empty')).toBe(false);
    expect(truth('not settings:flags.empty')).toBe(true);
  });

  it('tests membership in a list, a substring of a string, a key of a dict', () => {
    expect(truth("'controller' in settings:roles")).toBe(true);
    expect(truth("'ceph-osd' in settings:roles")).toBe(false);
    expect(truth("'ex' in settings:flags.s")).toBe(true);
    expect(truth("'volumes_lvm' in settings:storage")).toBe(true);
    expect(truth("'nope' in settings:storage")).toBe(false);
  });

  it('fails `in` on null or with a non-string in a string, as Python raises TypeError', () => {
    expect(runs("'x' in settings:nothing")).toEqual({
      error: "cannot evaluate condition ''x' in settings:nothing': argument of type 'null' is not iterable",
    });
    expect(runs('1 in settings:flags.s')).toMatchObject({ error: expect.stringContaining("'in <string>'") });
  });
});

describe('legacy conditions: paths, models and rewrites', () => {
  it('reads a missing key as null (Nailgun evaluates non-strictly)', () => {
    expect(truth('settings:nothing.deeper == null')).toBe(true);
    expect(truth('settings:storage.nothing == false')).toBe(false);
    expect(truth('settings:nothing')).toBe(false);
  });

  it('fails to read a key of a value that is not a dict (Python TypeError)', () => {
    expect(runs('settings:roles.first == 1')).toMatchObject({
      error: expect.stringContaining("cannot read 'first' of a list value"),
    });
  });

  it('fails on a model Nailgun does not give, unless the expression never reads it', () => {
    expect(runs('release:version == 1')).toMatchObject({
      error: expect.stringContaining("model with name 'release'"),
    });
    expect(runs('true or release:version == 1')).toEqual({ run: true });
  });

  it('reads settings:release.x, a key of the deployment info', () => {
    const info = deploymentInfo({ release: { version: 'mitaka-9.0' } });
    expect(truth("settings:release.version == 'mitaka-9.0'", context(info))).toBe(true);
  });

  it("rewrites editable paths as Nailgun's Context.legacy_condition_transformers do", () => {
    expect(transformLegacyCondition('settings:additional_components.ceilometer.value == true')).toBe(
      'settings:ceilometer.enabled == true',
    );
    expect(transformLegacyCondition('settings:additional_components.murano == true')).toBe(
      'settings:murano.enabled == true',
    );
    expect(transformLegacyCondition('settings:common.use_vcenter.value == true')).toBe(
      'settings:use_vcenter == true',
    );
    expect(transformLegacyCondition('settings:storage.objects_ceph.value == true')).toBe(
      'settings:storage.objects_ceph == true',
    );
    // the last pattern is greedy: only the last `.value` of the text goes
    expect(transformLegacyCondition('settings:a.value == 1 or settings:b.value == 2')).toBe(
      'settings:a.value == 1 or settings:b == 2',
    );
  });

  it('evaluates editable-style paths on the flattened settings', () => {
    const info = deploymentInfo({ heat: { enabled: true }, use_vcenter: true });
    expect(truth('settings:additional_components.heat.value == true', context(info))).toBe(true);
    expect(truth('settings:common.use_vcenter.value == true', context(info))).toBe(true);
    expect(truth('settings:storage.volumes_lvm.value == true', context(info))).toBe(true);
  });

  it('formats placeholders into a legacy condition before parsing it', () => {
    const ctx = { ...context(), placeholders: { CLUSTER_ID: 7 } };
    expect(evaluateCondition('cluster:id == {CLUSTER_ID}', ctx)).toEqual({ run: true });
  });

  it('names the condition when it is false', () => {
    expect(runs('settings:storage.objects_ceph == true or settings:storage.images_ceph == true')).toEqual({
      run: false,
      reason:
        'condition is false: settings:storage.objects_ceph == true or settings:storage.images_ceph == true',
    });
  });
});

describe('the fuel-library 9.0 conditions', () => {
  const forms = [
    'settings:ceilometer.enabled == true',
    'settings:ceilometer.enabled == true and settings:storage.objects_ceph == true',
    'settings:ironic.enabled == true',
    'settings:murano-cfapi.enabled == true',
    'settings:neutron_advanced_configuration.neutron_l3_ha == false',
    '( settings:storage.objects_ceph == false or settings:storage.images_ceph == false ) and settings:storage.images_vcenter == false',
    'settings:use_vcenter == true',
    "(settings:public_ssl.horizon == true or settings:public_ssl.services == true) and settings:public_ssl.cert_source == 'self_signed'",
    'settings:storage.objects_ceph == true or settings:storage.images_ceph == true or settings:storage.volumes_ceph == true or settings:storage.ephemeral_ceph == true',
    "cluster:mode == 'ha_compact'",
    "'ceph-osd' in settings:roles",
  ];

  it.each(forms)('parses %s', (condition) => {
    expect(checkCondition(condition)).toBeNull();
    expect(runs(condition)).not.toHaveProperty('error');
  });

  it('parses the yaql condition and gives what the defaults say', () => {
    const condition = { yaql_exp: 'changed($.plugins) and (len($.plugins) > 0)' };
    expect(checkCondition(condition)).toBeNull();
    expect(runs(condition)).toEqual({
      run: false,
      reason: 'condition is false: yaql_exp: changed($.plugins) and (len($.plugins) > 0)',
    });
    const withPlugin = deploymentInfo({ plugins: [{ name: 'p', version: '1.0.0' }] });
    expect(runs(condition, context(withPlugin))).toEqual({ run: true });
    expect(runs(condition, context(withPlugin, withPlugin))).toMatchObject({ run: false });
  });

  it('evaluates with the Fuel 9.0 defaults: services off, LVM on, task deploy on', () => {
    expect(truth('settings:ceilometer.enabled == true')).toBe(false);
    expect(truth('settings:heat.enabled == true')).toBe(true);
    expect(truth('settings:task_deploy == true')).toBe(true);
    expect(
      truth(
        '( settings:storage.objects_ceph == false or settings:storage.images_ceph == false ) and settings:storage.images_vcenter == false',
      ),
    ).toBe(true);
    expect(truth('settings:neutron_advanced_configuration.neutron_l3_ha == false')).toBe(true);
  });
});

describe('checkCondition', () => {
  it('accepts what Nailgun can evaluate', () => {
    expect(checkCondition(undefined)).toBeNull();
    expect(checkCondition(true)).toBeNull();
    expect(checkCondition(null)).toBeNull();
    expect(checkCondition('cluster:id == {CLUSTER_ID}')).toBeNull();
    expect(checkCondition({ yaql_exp: '$.toYaml()' })).toBeNull();
  });

  it('names an unexpected token and its offset', () => {
    expect(checkCondition('settings:a == )')).toBe("syntax error: unexpected token ')' at 14");
    expect(checkCondition('(settings:a == true')).toBe('syntax error: unexpected end of expression');
    expect(checkCondition('settings:a == true true')).toBe("syntax error: unexpected token 'true' at 19");
    expect(checkCondition('settings:a.value == )')).toBe(
      "syntax error: unexpected token ')' at 14 (in 'settings:a == )', Nailgun's rewrite of the settings paths)",
    );
  });

  it('says which characters Nailgun ignored when the rest does not parse', () => {
    expect(checkCondition('settings:a = true')).toBe(
      "syntax error: unexpected token 'true' at 13 (Nailgun's lexer ignores the illegal character '=' at 11)",
    );
  });

  it('refuses unknown models, and release: as Nailgun 9.0 cannot evaluate it', () => {
    expect(checkCondition("foo:x == 1 or cluster:mode == 'x'")).toBe(
      "unknown model 'foo' in 'foo:x' at 0 (known: settings, cluster)",
    );
    expect(checkCondition("release:version == '9.0'")).toMatch(
      /^model 'release' .*Nailgun 9\.0 cannot evaluate it/,
    );
    expect(checkCondition("settings:release.version == '9.0'")).toBeNull();
  });

  it('refuses yaql syntax errors, unknown functions and misused ones', () => {
    expect(checkCondition({ yaql_exp: 'len($.a' })).toBe('yaql: unexpected end of expression');
    expect(checkCondition({ yaql_exp: '$.a + )' })).toBe("yaql: unexpected token ')' at 6");
    expect(checkCondition({ yaql_exp: '$.a # 1' })).toBe("yaql: illegal character '#' at 4");
    expect(checkCondition({ yaql_exp: 'frob($)' })).toMatch(/^yaql: unknown function 'frob' at 0/);
    expect(checkCondition({ yaql_exp: '$.frob()' })).toMatch(/^yaql: unknown method 'frob' at 2/);
    expect(checkCondition({ yaql_exp: 'toYaml($)' })).toBe(
      "yaql: 'toYaml' is a method: write <value>.toYaml() (at 0)",
    );
    expect(checkCondition({ yaql_exp: '$.plugins.changed()' })).toMatch(
      /'changed' is a function, not a method/,
    );
    expect(checkCondition({ yaql_exp: 'changed($.a, $.b)' })).toBe(
      "yaql: wrong number of arguments to 'changed' at 0",
    );
    expect(checkCondition({ yaql_exp: "$.a =~ 'x'" })).toBe("yaql: operator '=~' is not supported (at 4)");
    expect(checkCondition({ yaql_exp: 'len(x => 1)' })).toBe(
      'yaql: named arguments are not supported (at 0)',
    );
    expect(checkCondition({ yaql_exp: 'not($.a)' })).toMatch(
      /unknown function 'not' at 0: write 'not \(' with a space/,
    );
  });

  it('refuses what is not a condition', () => {
    expect(checkCondition({ yaql_exp: 1 })).toBe("'yaql_exp' must be a string");
    expect(checkCondition({ yaql_exp: '$', yaql_exp_arg: 1 })).toMatch(/'yaql_exp_arg' is not supported/);
    expect(checkCondition({ expr: 'x' })).toBe("a condition object must have a 'yaql_exp' string");
    expect(checkCondition(3)).toBe('a condition must be a string, a boolean or an object {yaql_exp: string}');
  });
});

describe('yaql values', () => {
  const node = {
    a: { b: [10, 20, 30] },
    nodes: [{ name: 'n1' }, { name: 'n2' }],
    status: 'ready',
    n: 0,
    s: 'text',
  };

  it('reads $, keys, indexes (negative ones too) and keys of every element of a list', () => {
    expect(yaqlValue('$', { node })).toEqual(node);
    expect(yaqlValue('$.a.b', { node })).toEqual([10, 20, 30]);
    expect(yaqlValue('$.a.b[0]', { node })).toBe(10);
    expect(yaqlValue('$.a.b[-1]', { node })).toBe(30);
    expect(yaqlValue("$['status']", { node })).toBe('ready');
    expect(yaqlValue("$['nope', 5]", { node })).toBe(5);
    expect(yaqlValue('$.nodes.name', { node })).toEqual(['n1', 'n2']);
  });

  it("makes `list.key` a lazy iterator, as yaql's collection attribution: true, equal only to itself", () => {
    expect(yaqlValue("'n2' in $.nodes.name", { node })).toBe(true);
    expect(yaqlValue('len($.nodes.name)', { node })).toBe(2);
    expect(yaqlValue("$.nodes.name = ['n1', 'n2']", { node })).toBe(false);
    expect(yaqlValue('not $.nodes.nope', { node: { nodes: [] } })).toBe(false);
    expect(yaqlValue('$.nodes.nope', { node: { nodes: [] } })).toEqual([]);
    expect(yaql('$.nodes.name[0]', { node })).toHaveProperty('error');
    // an element's error comes only when the iterator is consumed
    expect(yaqlValue('not $.nodes.nope', { node })).toBe(false);
    expect(yaql('$.nodes.nope', { node })).toMatchObject({
      error: expect.stringContaining("key 'nope' not found"),
    });
  });

  it('fails on a missing key as yaql 1.1 does (dict[key]), and get() gives a default', () => {
    expect(yaql('$.nope', { node })).toEqual({ error: "yaql '$.nope': key 'nope' not found (at 2)" });
    expect(yaql('$.a.b[3]', { node })).toMatchObject({
      error: expect.stringContaining('list index 3 out of range'),
    });
    expect(yaqlValue("$.get('nope')", { node })).toBeNull();
    expect(yaqlValue("$.get('nope', 'x')", { node })).toBe('x');
    expect(yaqlValue("$.get('status', 'x')", { node })).toBe('ready');
    expect(yaqlValue('$.nope?.deeper', { node: { nope: null } })).toBeNull();
  });

  it('reads literals: numbers, strings in three quotings with escapes, true, false, null, lists and maps', () => {
    expect(yaqlValue('12')).toBe(12);
    expect(yaqlValue('1.5')).toBe(1.5);
    expect(yaqlValue("'it\\'s'")).toBe("it's");
    expect(yaqlValue('"a\\tb"')).toBe('a\tb');
    expect(yaqlValue('`a\\`b\\n`')).toBe('a`b\\n');
    expect(yaqlValue('[true, false, null]')).toEqual([true, false, null]);
    expect(yaqlValue("{a => 1, 'b c' => [2]}")).toEqual({ a: 1, 'b c': [2] });
    expect(yaqlValue('$.status = ready', { node })).toBe(true);
  });

  it('compares with = and != (deep), and orders numbers, strings and null', () => {
    expect(yaqlValue('$.a.b = [10, 20, 30]', { node })).toBe(true);
    expect(yaqlValue('$.status != ready', { node })).toBe(false);
    expect(yaqlValue('1 = true')).toBe(true);
    expect(yaqlValue('len($.a.b) > 2 and 2 >= 2 and 1 < 2', { node })).toBe(true);
    expect(yaqlValue('2 <= 1')).toBe(false);
    expect(yaqlValue("'abc' < 'abd'")).toBe(true);
    expect(yaqlValue('null < 1')).toBe(true);
    expect(yaqlValue('1 < null')).toBe(false);
    expect(yaqlValue('null >= null')).toBe(true);
    expect(yaql("1 < 'a'")).toMatchObject({
      error: expect.stringContaining("operator '<' does not apply to int and string"),
    });
    expect(yaql('true < 1')).toHaveProperty('error');
  });

  it('computes + - * / mod with precedence, integer division as Python //', () => {
    expect(yaqlValue('1 + 2 * 3')).toBe(7);
    expect(yaqlValue('(1 + 2) * 3')).toBe(9);
    expect(yaqlValue('10 - 2 - 3')).toBe(5);
    expect(yaqlValue('-2 * 3')).toBe(-6);
    expect(yaqlValue('7 / 2')).toBe(3);
    expect(yaqlValue('-7 / 2')).toBe(-4);
    // JSON numbers do not tell 7.0 from 7: a division is an integer one when both numbers are integral
    expect(yaqlValue('7.5 / 2')).toBe(3.75);
    expect(yaqlValue('7 mod 3')).toBe(1);
    expect(yaqlValue('-7 mod 3')).toBe(2);
    expect(yaqlValue("'a' + 'b'")).toBe('ab');
    expect(yaqlValue('[1] + [2]')).toEqual([1, 2]);
    expect(yaqlValue("'ab' * 2")).toBe('abab');
    expect(yaqlValue("'ab' * true")).toBe('ab'); // a Python bool is an int
    expect(yaqlValue('[1] * 2')).toEqual([1, 1]);
    expect(yaql('1 / 0')).toMatchObject({ error: expect.stringContaining('division by zero') });
    expect(yaql("'a' + 1")).toHaveProperty('error');
  });

  it('gives `not` a lower precedence than comparisons, and `and` than... `or` the lowest', () => {
    expect(yaqlValue('not $.n = 1', { node })).toBe(true); // not ($.n = 1)
    expect(yaqlValue('not $.n', { node })).toBe(true);
    expect(yaqlValue('true or false and false')).toBe(true);
    expect(yaqlValue('(true or false) and false')).toBe(false);
    expect(yaqlValue('$.n or $.s', { node })).toBe('text');
    expect(yaqlValue('$.n and $.nope', { node })).toBe(0); // the right side is not evaluated
  });

  it('tests membership in a list and a substring of a string, not in a dict', () => {
    expect(yaqlValue('20 in $.a.b', { node })).toBe(true);
    expect(yaqlValue("'ex' in $.s", { node })).toBe(true);
    expect(yaqlValue("'n1' in $.nodes.name", { node })).toBe(true);
    expect(yaql("'b' in $.a", { node })).toHaveProperty('error');
  });

  it('measures lists, dicts and strings with len(), as a function and as a method', () => {
    expect(yaqlValue('len($.a.b)', { node })).toBe(3);
    expect(yaqlValue('$.a.b.len()', { node })).toBe(3);
    expect(yaqlValue('len($)', { node })).toBe(5);
    expect(yaqlValue("len('héllo')")).toBe(5);
    expect(yaql('len($.n)', { node })).toMatchObject({
      error: expect.stringContaining('len() does not apply to a int'),
    });
  });

  it('reads a name followed by a space and a parenthesis as no call, as yaql lexes it', () => {
    expect(yaql('len ($.a)', { node })).toEqual({ error: "yaql 'len ($.a)': unexpected token '(' at 4" });
  });
});

describe('yaql: the datadiff functions', () => {
  const now = { plugins: [{ name: 'a' }], roles: ['controller'], text: 'l1\nl2\n' };

  it('says changed() when there is no old data, or the old data lacks the key', () => {
    expect(yaqlValue('changed($.plugins)', { node: now })).toBe(true);
    expect(yaqlValue('changed($.plugins)', { node: now, old: {} })).toBe(true);
  });

  it('compares the new and the old values deeply', () => {
    expect(yaqlValue('changed($.plugins)', { node: now, old: structuredClone(now) })).toBe(false);
    expect(yaqlValue('changed($.plugins)', { node: now, old: { ...now, plugins: [] } })).toBe(true);
    expect(
      yaqlValue('changed(len($.plugins))', { node: now, old: { ...now, plugins: [{ name: 'b' }] } }),
    ).toBe(false);
  });

  it('combines several with changedAll() and changedAny()', () => {
    const old = { ...now, roles: ['compute'] };
    expect(yaqlValue('changedAny($.plugins, $.roles)', { node: now, old })).toBe(true);
    expect(yaqlValue('changedAll($.plugins, $.roles)', { node: now, old })).toBe(false);
  });

  it('evaluates on the new or the old data with new() and old(); isUndef() tells a failed old()', () => {
    const old = { ...now, roles: ['compute'] };
    expect(yaqlValue('new($.roles)', { node: now, old })).toEqual(['controller']);
    expect(yaqlValue('old($.roles)', { node: now, old })).toEqual(['compute']);
    expect(yaqlValue('old($.roles).isUndef()', { node: now })).toBe(true);
    expect(yaqlValue('old($.roles).isUndef()', { node: now, old })).toBe(false);
    expect(yaql('old($.roles)', { node: now })).toMatchObject({
      error: expect.stringContaining('undefined'),
    });
    expect(truth({ yaql_exp: 'old($.roles)' }, { ...context(), node: now })).toBe(true);
  });

  it("lists what was added and deleted, lists matched as difflib's SequenceMatcher does", () => {
    const node = { l: ['a', 'b', 'c', 'e'] };
    const old = { l: ['a', 'x', 'c', 'd'] };
    expect(yaqlValue('added($.l)', { node, old })).toEqual(['b', 'e']);
    expect(yaqlValue('deleted($.l)', { node, old })).toEqual(['x', 'd']);
  });

  it('diffs dicts by key, strings by line, and scalars as a whole', () => {
    const node = { d: { a: 1, b: 2, c: 3 }, t: 'l1\nl3\n', n: 2 };
    const old = { d: { a: 1, b: 5, z: 0 }, t: 'l1\nl2\n', n: 1 };
    expect(yaqlValue('added($.d)', { node, old })).toEqual({ b: 2, c: 3 });
    expect(yaqlValue('deleted($.d)', { node, old })).toEqual({ b: 5, z: 0 });
    expect(yaqlValue('added($.t)', { node, old })).toEqual(['l3']);
    expect(yaqlValue('added($.n)', { node, old })).toBe(2);
    expect(yaqlValue('added($.n)', { node, old: node })).toBeNull();
  });

  it('gives everything as added and nothing as deleted without old data', () => {
    expect(yaqlValue('added($.roles)', { node: now })).toEqual(['controller']);
    expect(yaqlValue('deleted($.roles)', { node: now })).toBeNull();
  });

  it('fails when the new data lacks the key (only the old side is forgiven)', () => {
    expect(yaql('changed($.nope)', { node: now, old: now })).toMatchObject({
      error: expect.stringContaining("'nope'"),
    });
    expect(runs({ yaql_exp: 'changed($.nope)' }, { ...context(), node: now })).toEqual({
      error: "cannot evaluate condition 'yaql_exp: changed($.nope)': key 'nope' not found (at 10)",
    });
  });
});

describe('yaql: toYaml() and toJson()', () => {
  const node = {
    storage: { volumes_lvm: true, osd_pool_size: '3' },
    roles: ['controller'],
    nodes: [{ uid: '1', name: 'node-1' }],
    answer: 'yes',
    url: 'http://10.20.0.2:8080/x',
    empty: {},
  };

  it("lays out yaml as PyYAML's safe_dump: sorted keys, leaf collections in flow style", () => {
    expect(yaqlValue('$.toYaml()', { node })).toBe(
      [
        "answer: 'yes'",
        'empty: {}',
        'nodes:',
        "- {name: node-1, uid: '1'}",
        'roles: [controller]',
        "storage: {osd_pool_size: '3', volumes_lvm: true}",
        'url: http://10.20.0.2:8080/x',
        '',
      ].join('\n'),
    );
  });

  it('reads back as the same data, quoting what a flow collection cannot hold plain', () => {
    const data = { m: { url: 'http://a:1', list: [1] }, l: ['a:b', 'c,d', '<<', '=', 'on', 'two\nlines'] };
    const text = yaqlValue('$.toYaml()', { node: data });
    expect(text).toContain(`l: ['a:b', 'c,d', '<<', '=', 'on', "two\\nlines"]`);
    expect(YAML.parse(text as string, { version: '1.1' })).toEqual(data);
  });

  it('ends a plain scalar document with ...', () => {
    expect(yaqlValue("'abc'.toYaml()")).toBe('abc\n...\n');
    expect(yaqlValue("'yes'.toYaml()")).toBe("'yes'\n");
  });

  it("writes json as Python's json.dumps", () => {
    expect(yaqlValue('$.storage.toJson()', { node })).toBe('{"volumes_lvm": true, "osd_pool_size": "3"}');
    expect(yaqlValue("['é', null, 1.5].toJson()")).toBe('["\\u00e9", null, 1.5]');
  });

  it('cannot serialize an undefined old value', () => {
    expect(yaql('old($.x).toYaml()', { node })).toMatchObject({
      error: expect.stringContaining('undefined'),
    });
  });
});

describe('formatPlaceholders', () => {
  const values = {
    CLUSTER_ID: 7,
    MASTER_IP: '10.20.0.2',
    OPENSTACK_VERSION: 'mitaka-9.0',
    CN_HOSTNAME: 'public.fuel.local',
    SETTINGS: { MASTER_IP: '10.20.0.2', list: ['x', 'y'] },
  };

  it('substitutes the names, numbers included', () => {
    expect(formatPlaceholders('/etc/fuel/cluster/{CLUSTER_ID}/astute.yaml', values)).toBe(
      '/etc/fuel/cluster/7/astute.yaml',
    );
    expect(formatPlaceholders('http://{MASTER_IP}:8080/{OPENSTACK_VERSION}/', values)).toBe(
      'http://10.20.0.2:8080/mitaka-9.0/',
    );
    expect(formatPlaceholders('{CN_HOSTNAME!s}', values)).toBe('public.fuel.local');
  });

  it('reads attributes and items', () => {
    expect(formatPlaceholders('{SETTINGS.MASTER_IP}', values)).toBe('10.20.0.2');
    expect(formatPlaceholders('{SETTINGS.list[1]}', values)).toBe('y');
    expect(formatPlaceholders('{MASTER_IP[0]}', values)).toBe('1');
  });

  it('turns doubled braces into single ones', () => {
    expect(formatPlaceholders('{{CLUSTER_ID}} is {CLUSTER_ID}', values)).toBe('{CLUSTER_ID} is 7');
  });

  it('keeps the whole text unchanged on any formatting error (text_format_safe)', () => {
    for (const text of [
      'a { b',
      'a } b',
      '{CLUSTER_ID} and {unknown}',
      "awk '{print $1}' /etc/hosts",
      '{}',
      '{0}',
      '{CLUSTER_ID:>5}',
      '{CLUSTER_ID!r}',
      '{SETTINGS}',
      '{SETTINGS.nope}',
      '{SETTINGS.list[9]}',
      '{SETTINGS.list[1]x}',
      '{CLUSTER_ID',
    ]) {
      expect(formatPlaceholders(text, values)).toBe(text);
    }
  });
});

describe('formatValues and renderTaskTemplate', () => {
  const values = { CLUSTER_ID: 7 };

  it('formats every string in objects and arrays, not keys, not a regex, not a yaql mapping', () => {
    const template = {
      path: '/etc/{CLUSTER_ID}',
      '{CLUSTER_ID}': 1,
      list: ['{CLUSTER_ID}', 2, true, null],
      regex: '^{CLUSTER_ID}$',
      data: { yaql_exp: "'{CLUSTER_ID}'" },
    };
    expect(formatValues(template, values)).toEqual({
      path: '/etc/7',
      '{CLUSTER_ID}': 1,
      list: ['7', 2, true, null],
      regex: '^{CLUSTER_ID}$',
      data: { yaql_exp: "'{CLUSTER_ID}'" },
    });
  });

  it('evaluates yaql mappings and formats the strings, as Nailgun traverses a task', () => {
    const template = {
      parameters: {
        path: '/etc/fuel/cluster/{CLUSTER_ID}/astute.yaml',
        data: { yaql_exp: '$.roles.toJson()' },
      },
    };
    expect(renderTaskTemplate(template, { node: { roles: ['controller'] }, placeholders: values })).toEqual({
      value: { parameters: { path: '/etc/fuel/cluster/7/astute.yaml', data: '["controller"]' } },
    });
    expect(renderTaskTemplate({ p: [{ yaql_exp: '$.x' }] }, { node: {}, placeholders: values })).toEqual({
      error: "p[0]: yaql '$.x': key 'x' not found (at 2)",
    });
  });

  it("builds Nailgun's formatter context from a node's deployment info", () => {
    expect(nailgunPlaceholders(deploymentInfo(), { ip: '10.20.0.2' })).toEqual({
      CLUSTER_ID: 7,
      MASTER_IP: '10.20.0.2',
      OPENSTACK_VERSION: 'mitaka-9.0',
      CN_HOSTNAME: 'public.fuel.local',
      SETTINGS: { MASTER_IP: '10.20.0.2' },
    });
  });
});

describe('flattenSettings', () => {
  it('replaces each setting by its value and keeps what is not a setting', () => {
    const editable = {
      storage: { metadata: { label: 'Storage', weight: 60 }, volumes_lvm: { value: true, type: 'checkbox' } },
      odd: 'kept',
    };
    expect(flattenSettings(editable)).toEqual({
      storage: { metadata: { label: 'Storage', weight: 60 }, volumes_lvm: true },
      odd: 'kept',
    });
  });

  it("puts the common group's settings at the root", () => {
    const editable = {
      common: { use_vcenter: { value: true }, debug: { value: false } },
      debug: { other: { value: 1 } },
    };
    expect(flattenSettings(editable)).toEqual({ use_vcenter: true, debug: false });
  });

  it('turns additional_components.X into X.enabled, for boolean values only', () => {
    const editable = {
      additional_components: {
        metadata: { label: 'Additional Components' },
        sahara: { value: true },
        murano: { value: false },
        odd: { value: 'x' },
      },
      murano: { repo: { value: 'r' } },
    };
    expect(flattenSettings(editable)).toEqual({
      sahara: { enabled: true },
      murano: { repo: 'r', enabled: false },
    });
  });

  it('does not change the tree it flattens', () => {
    const editable = fuelSettingsDefaults();
    const copy = structuredClone(editable);
    flattenSettings(editable);
    expect(editable).toEqual(copy);
  });

  it('gives the Fuel 9.0 defaults the conditions read', () => {
    expect(flattenSettings(fuelSettingsDefaults())).toEqual({
      storage: {
        volumes_lvm: true,
        volumes_block_device: false,
        volumes_ceph: false,
        images_ceph: false,
        images_vcenter: false,
        ephemeral_ceph: false,
        objects_ceph: false,
        osd_pool_size: '3',
      },
      sahara: { enabled: false },
      murano: { enabled: false },
      'murano-cfapi': { enabled: false },
      heat: { enabled: true },
      ceilometer: { enabled: false },
      mongo: { enabled: false },
      ironic: { enabled: false },
      task_deploy: true,
      use_vcenter: false,
      public_ssl: {
        services: false,
        horizon: false,
        cert_source: 'self_signed',
        hostname: 'public.fuel.local',
      },
      neutron_advanced_configuration: { neutron_l3_ha: false },
    });
  });

  it('gives each default a value, a type and a label', () => {
    for (const group of Object.values(fuelSettingsDefaults())) {
      for (const setting of Object.values(group as Record<string, Record<string, unknown>>)) {
        expect(setting).toEqual(
          expect.objectContaining({ value: expect.anything(), type: expect.any(String) }),
        );
        expect(typeof setting.label).toBe('string');
      }
    }
  });
});
