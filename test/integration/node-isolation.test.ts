/**
 * The local fleet's nodes are isolated from the host and from each other (each has its own copy-on-write
 * view of the file system, hostname, /tmp and processes), carry stand-ins for puppet, rsync from the
 * master, ntpdate and the scripts of Fuel's modules, reboot on the SSM agent's exit code 194, and
 * include a master. Driven through the SSM protocol, as the deployment service drives the fleet.
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  type GetCommandInvocationCommandOutput,
  ListTagsForResourceCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CommandStatusEvent, LocalFleet, type SsmDocument } from '../../local/ssm/fleet.js';
import {
  fleetClient,
  fleetCommands,
  fleetNodeId,
  RUN_TASK,
  sleep,
  waitFor as waitWithin,
} from '../helpers/fleet-client.js';

const runTaskDocument = JSON.parse(
  readFileSync(new URL('../../infra/documents/run-task.json', import.meta.url), 'utf8'),
) as SsmDocument;

const STAND_IN_SECONDS = 0.25;
const REBOOT_SECONDS = 1;
const PROBE = '/etc/fuel-sls-isolation-probe';
const HOST_STAND_IN_LOG = '/var/log/fuel-sls/stand-ins.log';

let baseDir: string;
let fleet: LocalFleet;
let closed = false;
let ssm: SSMClient;
const events: CommandStatusEvent[] = [];
/** The PID namespaces the nodes were seen in: nothing may be left in them once the fleet is closed. */
const namespaces = new Set<string>();
/** Open descriptors of those namespaces: the kernel would otherwise give a freed one's number to a new one. */
const namespaceHolds: number[] = [];

const nodeId = fleetNodeId;
const workDir = (name: string): string => join(baseDir, name);
const commands = fleetCommands(() => ssm);
/** A bounded wait, with the longer limit a node's first start or a reboot needs. */
const waitFor = <T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 8000): Promise<T> =>
  waitWithin(read, done, timeoutMs);
const { getInvocation } = commands;
const finished = (commandId: string, instanceId: string, timeoutMs = 8000) =>
  commands.finished(commandId, instanceId, timeoutMs);

function send(instanceId: string, command: string, extra: Record<string, string[]> = {}): Promise<string> {
  return commands.sendTask([instanceId], { command: [command], ...extra });
}

/** Runs a command on one node and answers its invocation once it has finished. */
async function run(instanceId: string, command: string): Promise<GetCommandInvocationCommandOutput> {
  return finished(await send(instanceId, command), instanceId);
}

/** What a node's command writes for a process: its pid there and its PID namespace. */
const PID_AND_NAMESPACE = (pid: string) => `echo "${pid} $(readlink /proc/$$/ns/pid)"`;

/** Host pids of the processes in a PID namespace, each with its pid inside it. */
function processesIn(namespace: string): { hostPid: number; pid: string }[] {
  const found: { hostPid: number; pid: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== namespace) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      // a zombie, or a process already dead (X) whose entry has not gone yet, runs nothing
      if (/^State:\s+[ZX]/m.test(status)) continue;
      const pid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).at(-1) ?? '';
      found.push({ hostPid: Number(entry), pid });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Waits for a pid file written with PID_AND_NAMESPACE; answers its pid and namespace (recorded). */
async function pidFile(file: string): Promise<{ pid: string; namespace: string }> {
  await waitFor(
    () => existsSync(file) && readFileSync(file, 'utf8').endsWith('\n'),
    (ready) => ready,
  );
  const [pid = '', namespace = ''] = readFileSync(file, 'utf8').trim().split(/\s+/);
  if (!namespaces.has(namespace)) {
    const member = processesIn(namespace)[0];
    if (member === undefined) throw new Error(`No process left in ${namespace}`);
    namespaceHolds.push(openSync(`/proc/${member.hostPid}/ns/pid`, 'r'));
    namespaces.add(namespace);
  }
  return { pid, namespace };
}

/** The process a pid file written with PID_AND_NAMESPACE names: its host pid and its namespace. */
async function processFrom(file: string): Promise<{ hostPid: number; namespace: string }> {
  const { pid, namespace } = await pidFile(file);
  const found = processesIn(namespace).find((item) => item.pid === pid);
  if (found === undefined) throw new Error(`No process ${pid} in ${namespace}`);
  return { hostPid: found.hostPid, namespace };
}

/** True while the process exists and is not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const describeInstances = async (input: DescribeInstanceInformationCommandInput = {}) =>
  (await ssm.send(new DescribeInstanceInformationCommand(input))).InstanceInformationList ?? [];

const pingOf = async (instanceId: string): Promise<string | undefined> =>
  (await describeInstances({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }))[0]?.PingStatus;

/** Records a node's ping status every 25 ms until `stop()`. */
function watchPing(instanceId: string): { seen: string[]; stop(): Promise<void> } {
  const seen: string[] = [];
  let watching = true;
  const loop = (async () => {
    while (watching) {
      const ping = await pingOf(instanceId);
      if (ping !== undefined && seen.at(-1) !== ping) seen.push(ping);
      await sleep(25);
    }
  })();
  return {
    seen,
    async stop() {
      watching = false;
      await loop;
    },
  };
}

const statusesOf = (commandId: string): string[] =>
  events.filter((event) => event.commandId === commandId).map((event) => event.status);

beforeAll(async () => {
  baseDir = mkdtempSync(join(tmpdir(), 'node-isolation-'));
  fleet = new LocalFleet({
    baseDir,
    nodeCount: 2,
    documents: { [RUN_TASK]: runTaskDocument },
    standInSeconds: STAND_IN_SECONDS,
    rebootSeconds: REBOOT_SECONDS,
    onStatusChange: (event) => {
      events.push(event);
    },
  });
  const endpoint = await fleet.listen(0);
  ssm = fleetClient(endpoint);
});

afterAll(async () => {
  for (const hold of namespaceHolds) closeSync(hold);
  ssm?.destroy();
  if (!closed) await fleet?.close();
  if (baseDir !== undefined) rmSync(baseDir, { recursive: true, force: true });
});

describe('LocalFleet nodes isolated from the host', () => {
  it('sets up an isolation (this machine allows one)', () => {
    expect(fleet.isolation().kind).toBe('namespaces');
    expect(fleet.isolation().refusal).toBeNull();
  });

  it('gives each node its own file system and hostname: writes under /etc stay on the node', async () => {
    expect(existsSync(PROBE)).toBe(false);
    const hostHostname = readFileSync('/etc/hostname', 'utf8');
    const written = await run(
      nodeId(1),
      `echo probe > ${PROBE}; hostname; cat /etc/hostname; ${PID_AND_NAMESPACE('$$')} > namespace.pid`,
    );
    expect(written).toMatchObject({ Status: 'Success', StandardOutputContent: 'node-1\nnode-1\n' });
    await pidFile(join(workDir('node-1'), 'namespace.pid'));
    expect(existsSync(PROBE)).toBe(false);
    expect(readFileSync('/etc/hostname', 'utf8')).toBe(hostHostname);

    const other = await run(nodeId(2), `hostname; test -e ${PROBE} && echo seen || echo absent`);
    expect(other).toMatchObject({ Status: 'Success', StandardOutputContent: 'node-2\nabsent\n' });

    const again = await run(nodeId(1), `cat ${PROBE}`);
    expect(again).toMatchObject({ Status: 'Success', StandardOutputContent: 'probe\n' });
    expect(existsSync(PROBE)).toBe(false);
  });

  it("runs Fuel's file changes on the node only: rm -f and ln -sf leave the host's files alone", async () => {
    const hostFile = `/var/tmp/fuel-sls-isolation-${randomBytes(6).toString('hex')}`;
    writeFileSync(hostFile, 'host content\n');
    expect(existsSync('/etc/astute.yaml')).toBe(false);
    try {
      const out = await run(
        nodeId(1),
        [
          `test -e ${hostFile} && rm -f ${hostFile} && test ! -e ${hostFile} && echo removed`,
          'mkdir -p /etc/hiera && touch /etc/hiera/nodes.yaml && rm -f /etc/hiera/nodes.yaml',
          'ln -sf /etc/fuel/cluster/1/astute.yaml /etc/astute.yaml && readlink /etc/astute.yaml',
        ].join('\n'),
      );
      expect(out).toMatchObject({
        Status: 'Success',
        StandardOutputContent: 'removed\n/etc/fuel/cluster/1/astute.yaml\n',
      });
      expect(readFileSync(hostFile, 'utf8')).toBe('host content\n');
      expect(existsSync('/etc/astute.yaml')).toBe(false);
      const later = await run(nodeId(1), `test -e ${hostFile} && echo back || echo still removed`);
      expect(later.StandardOutputContent).toBe('still removed\n');
    } finally {
      rmSync(hostFile, { force: true });
    }
  });

  it("keeps each node's /tmp to itself", async () => {
    const name = `/tmp/fuel-sls-isolation-${randomBytes(6).toString('hex')}`;
    expect((await run(nodeId(1), `echo mine > ${name} && cat ${name}`)).StandardOutputContent).toBe('mine\n');
    expect(existsSync(name)).toBe(false);
    const other = await run(nodeId(2), `test -e ${name} && echo seen || echo absent`);
    expect(other.StandardOutputContent).toBe('absent\n');
  });

  it('runs commands in the node folder, shared with the host, with HOME there', async () => {
    const out = await run(nodeId(2), 'pwd; echo "$HOME"; echo from-node > shared.txt');
    expect(out.StandardOutputContent).toBe(`${workDir('node-2')}\n${workDir('node-2')}\n`);
    expect(readFileSync(join(workDir('node-2'), 'shared.txt'), 'utf8')).toBe('from-node\n');
  });

  it('leaves no process behind when a command is killed by its timeout', async () => {
    const commandId = await send(
      nodeId(2),
      [
        `sleep 300 & ${PID_AND_NAMESPACE('$!')} > timeout.pid`,
        '(sleep 300 &)',
        'timeout 200 sleep 300 &',
        'wait',
      ].join('\n'),
      { executionTimeout: ['1'] },
    );
    const { hostPid, namespace } = await processFrom(join(workDir('node-2'), 'timeout.pid'));
    expect(isAlive(hostPid)).toBe(true);
    const running = processesIn(namespace).length;
    expect(running).toBeGreaterThanOrEqual(5);

    const out = await finished(commandId, nodeId(2));
    expect(out).toMatchObject({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut' });
    expect(isAlive(hostPid)).toBe(false);
    // only the node's init is left in its PID namespace
    const left = await waitFor(
      () => processesIn(namespace),
      (items) => items.length === 1,
    );
    expect(left.map((item) => item.pid)).toEqual(['1']);
  });
});

describe('LocalFleet stand-ins', () => {
  const python = existsSync('/usr/bin/python') ? 'python' : '/usr/bin/python';

  it('stands in for puppet apply: records the manifest in the node log, takes its time, exits 2', async () => {
    const manifest = '/etc/puppet/modules/osnailyfacter/modular/netconfig/netconfig.pp';
    const command =
      'puppet apply --modulepath=/etc/puppet/modules --logdest syslog --trace --no-report --debug ' +
      `--evaltrace --detailed-exitcodes ${manifest}`;
    // as the planner renders a puppet task: exit code 2 (changes were made) is a success
    const out = await run(
      nodeId(1),
      `${command}; rc=$?; echo "puppet exited $rc"; if [ "$rc" -eq 2 ]; then rc=0; fi; exit $rc`,
    );
    expect(out.Status).toBe('Success');
    expect(out.StandardOutputContent).toBe(
      `[stand-in] puppet: would apply ${manifest} (modulepath /etc/puppet/modules)\npuppet exited 2\n`,
    );
    const took = Date.parse(out.ExecutionEndDateTime ?? '') - Date.parse(out.ExecutionStartDateTime ?? '');
    expect(took).toBeGreaterThanOrEqual(STAND_IN_SECONDS * 1000);

    const log = await run(nodeId(1), `cat ${HOST_STAND_IN_LOG}`);
    expect(log.StandardOutputContent).toMatch(
      new RegExp(`^\\S+ node-1 puppet: would apply ${manifest} \\(modulepath /etc/puppet/modules\\)$`, 'm'),
    );
    expect(existsSync(HOST_STAND_IN_LOG)).toBe(false);
    const otherLog = await run(nodeId(2), `test -e ${HOST_STAND_IN_LOG} && echo logged || echo no log`);
    expect(otherLog.StandardOutputContent).toBe('no log\n');
  });

  it("stands in for rsync from the master, ntpdate and the scripts of Fuel's modules", async () => {
    const modular = '/etc/puppet/modules/osnailyfacter/modular';
    const hostHasModules = existsSync('/etc/puppet/modules');
    const out = await run(
      nodeId(1),
      [
        'set -e',
        'rsync -c -r --delete rsync://10.20.0.2:/puppet/mitaka-9.0/modules/ /etc/puppet/modules',
        `ruby ${modular}/astute/enable_quorum.rb`,
        `sh ${modular}/astute/generate_keys.sh -p /var/lib/fuel/keys/ -i 1 -s 'nova mysql'`,
        `${python} ${modular}/vmware/vcenter_hooks.py --create_zones`,
        "timeout -s9 40 ntpdate -u -v -s $(awk '/^server/ {print $2}' /etc/ntp.conf 2>/dev/null)",
        'timeout -s9 40 ntpdate -u 10.20.0.2',
      ].join('\n'),
    );
    expect(out.Status).toBe('Success');
    expect(out.StandardOutputContent).toBe(
      [
        '[stand-in] rsync: would sync rsync://10.20.0.2:/puppet/mitaka-9.0/modules/ to /etc/puppet/modules',
        `[stand-in] ruby: would run ${modular}/astute/enable_quorum.rb`,
        `[stand-in] sh: generates what ${modular}/astute/generate_keys.sh -p /var/lib/fuel/keys/ -i 1 -s nova\\ mysql would`,
        `[stand-in] ${python.replace('/usr/bin/', '')}: would run ${modular}/vmware/vcenter_hooks.py --create_zones`,
        '[stand-in] ntpdate: would set the clock (no server given)',
        '[stand-in] ntpdate: would set the clock from 10.20.0.2',
        '',
      ].join('\n'),
    );
    const took = Date.parse(out.ExecutionEndDateTime ?? '') - Date.parse(out.ExecutionStartDateTime ?? '');
    expect(took).toBeGreaterThanOrEqual(4 * STAND_IN_SECONDS * 1000);
    expect(existsSync('/etc/puppet/modules')).toBe(hostHasModules);

    const log = await run(nodeId(1), `grep -c ' node-1 ' ${HOST_STAND_IN_LOG}`);
    expect(log.StandardOutputContent).toBe('7\n');
  });

  it("generates on the master the keys Fuel's generate_keys.sh would, where copy_files reads them", async () => {
    const modular = '/etc/puppet/modules/osnailyfacter/modular';
    const master = fleet.masterInstanceId;
    const made = await run(
      master,
      `sh ${modular}/astute/generate_keys.sh -p /var/lib/fuel/keys/ -i 7 -o 'mongodb' -s 'neutron nova' -f '0 1' && ` +
        'cd /var/lib/fuel/keys/7 && find . -type f | sort',
    );
    expect(made.Status, made.StandardErrorContent).toBe('Success');
    expect(made.StandardOutputContent?.split('\n').slice(1).join('\n')).toBe(
      [
        './fernet-keys/0',
        './fernet-keys/1',
        './mongodb/mongodb.key',
        './neutron/neutron',
        './neutron/neutron.pub',
        './nova/nova',
        './nova/nova.pub',
        '',
      ].join('\n'),
    );
    // a node reads the master's files, read-only, at /run/fuel-master
    const read = await run(
      nodeId(2),
      'cat /run/fuel-master/var/lib/fuel/keys/7/nova/nova.pub; touch /run/fuel-master/x',
    );
    expect(read.StandardOutputContent).toMatch(/^ssh-rsa \S+ nova\n$/);
    expect(read.StandardErrorContent).toMatch(/Read-only file system/);
    expect(existsSync('/var/lib/fuel/keys/7')).toBe(false);
  });

  it('hands everything else to the real programs', async () => {
    const out = await run(
      nodeId(2),
      [
        "sh -c 'echo real sh'",
        "bash -c 'echo real bash as $0'",
        'mkdir -p /etc/puppet/modules/local && echo "echo ran the real script \\$1" > /etc/puppet/modules/local/x.sh',
        'sh /etc/puppet/modules/local/x.sh arg',
        'bash /etc/puppet/modules/missing/elsewhere.sh',
        'bash /var/tmp/fuel-sls-no-such-script.sh 2>/dev/null || echo "a missing script elsewhere: $?"',
      ].join('\n'),
    );
    expect(out.Status).toBe('Success');
    expect(out.StandardOutputContent).toBe(
      [
        'real sh',
        'real bash as bash',
        'ran the real script arg',
        '[stand-in] bash: would run /etc/puppet/modules/missing/elsewhere.sh',
        'a missing script elsewhere: 127',
        '',
      ].join('\n'),
    );
  });
});

describe('LocalFleet reboots', () => {
  it('reboots the node on exit 194 and runs the step again: Success, background processes gone', async () => {
    const mark = '/var/lib/fuel-sls-reboot-test.mark';
    const script = [
      `if [ -e ${mark} ]; then`,
      `  rm ${mark}`,
      '  if [ -e /tmp/before-reboot ]; then echo "/tmp survived the reboot"; exit 1; fi',
      '  echo "after the reboot on $(hostname)"',
      '  exit 0',
      'fi',
      `touch ${mark} /tmp/before-reboot`,
      `setsid sleep 600 </dev/null >/dev/null 2>&1 & ${PID_AND_NAMESPACE('$!')} > background.pid`,
      'while [ ! -e reboot-gate ]; do sleep 0.05; done',
      'echo rebooting',
      'exit 194',
    ].join('\n');
    const commandId = await send(nodeId(1), script);
    const background = await processFrom(join(workDir('node-1'), 'background.pid'));
    expect(isAlive(background.hostPid)).toBe(true);

    const ping = watchPing(nodeId(1));
    writeFileSync(join(workDir('node-1'), 'reboot-gate'), '');
    const out = await finished(commandId, nodeId(1));
    await ping.stop();
    expect(out).toMatchObject({
      Status: 'Success',
      ResponseCode: 0,
      StandardOutputContent: 'rebooting\nafter the reboot on node-1\n',
      StandardErrorContent: '',
    });
    expect(statusesOf(commandId)).toEqual(['Pending', 'InProgress', 'Success']);
    expect(ping.seen).toEqual(['Online', 'ConnectionLost', 'Online']);
    expect(isAlive(background.hostPid)).toBe(false);
    expect(processesIn(background.namespace)).toEqual([]);
    expect(existsSync(mark)).toBe(false);

    const after = await run(nodeId(1), `hostname; cat ${PROBE}; test -e ${mark} || echo unmarked`);
    expect(after.StandardOutputContent).toBe('node-1\nprobe\nunmarked\n');
  });

  it('ends the other commands of a rebooting node and holds new ones until it is back', async () => {
    const busy = await send(nodeId(2), `${PID_AND_NAMESPACE('$$')} > busy.pid; sleep 30`);
    const busyProcess = await processFrom(join(workDir('node-2'), 'busy.pid'));
    const mark = '/var/lib/fuel-sls-reboot-test-2.mark';
    const reboot = await send(
      nodeId(2),
      `if [ -e ${mark} ]; then rm ${mark}; echo back; else touch ${mark}; exit 194; fi`,
    );
    await waitFor(
      () => pingOf(nodeId(2)),
      (ping) => ping === 'ConnectionLost',
    );
    expect(fleet.instances().find((item) => item.name === 'node-2')).toMatchObject({
      online: false,
      rebooting: true,
    });
    const waiting = await send(nodeId(2), 'hostname');
    await sleep(200);
    expect((await getInvocation(waiting, nodeId(2))).Status).toBe('Pending');
    // ended by the reboot, reported once the node is back
    expect(isAlive(busyProcess.hostPid)).toBe(false);
    expect((await getInvocation(busy, nodeId(2))).Status).toBe('InProgress');

    const [busyOut, rebootOut, waitingOut] = await Promise.all([
      finished(busy, nodeId(2)),
      finished(reboot, nodeId(2)),
      finished(waiting, nodeId(2)),
    ]);
    expect(busyOut).toMatchObject({ Status: 'Failed', ResponseCode: 137 });
    expect(rebootOut).toMatchObject({ Status: 'Success', StandardOutputContent: 'back\n' });
    expect(waitingOut).toMatchObject({ Status: 'Success', StandardOutputContent: 'node-2\n' });
    expect(await pingOf(nodeId(2))).toBe('Online');
    expect(statusesOf(busy)).toEqual(['Pending', 'InProgress', 'Failed']);
    expect(statusesOf(waiting)).toEqual(['Pending', 'InProgress', 'Success']);
  });
});

describe('LocalFleet master', () => {
  it('has a master, isolated like the nodes, that node discovery does not list', async () => {
    expect(fleet.masterInstanceId).toBe('mi-00000000000000000');
    const instances = fleet.instances();
    expect(instances.map((item) => item.name)).toEqual(['node-1', 'node-2', 'master']);
    expect(instances[2]).toMatchObject({
      instanceId: 'mi-00000000000000000',
      role: 'master',
      online: true,
      workDir: workDir('master'),
    });
    expect(instances[2]?.tags).toContainEqual({ Key: 'fuel-sls:role', Value: 'master' });

    expect((await describeInstances()).map((info) => info.ComputerName)).toEqual(['node-1', 'node-2']);
    const byTag = await describeInstances({ Filters: [{ Key: 'tag:fuel-sls:role', Values: ['master'] }] });
    expect(byTag.map((info) => [info.InstanceId, info.ComputerName, info.PingStatus])).toEqual([
      ['mi-00000000000000000', 'master', 'Online'],
    ]);
    const nodes = await describeInstances({ Filters: [{ Key: 'tag:fuel-sls:role', Values: ['node'] }] });
    expect(nodes.map((info) => info.ComputerName)).toEqual(['node-1', 'node-2']);
    const byId = await describeInstances({
      Filters: [{ Key: 'InstanceIds', Values: [fleet.masterInstanceId, nodeId(1)] }],
    });
    expect(byId.map((info) => info.ComputerName)).toEqual(['node-1', 'master']);

    const tags = await ssm.send(
      new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: fleet.masterInstanceId }),
    );
    expect(tags.TagList).toEqual([
      { Key: 'Name', Value: 'master' },
      { Key: 'fuel-sls:role', Value: 'master' },
    ]);
    const nodeTags = await ssm.send(
      new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: nodeId(1) }),
    );
    expect(nodeTags.TagList).toContainEqual({ Key: 'fuel-sls:role', Value: 'node' });
    await expect(
      ssm.send(new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: nodeId(9) })),
    ).rejects.toMatchObject({ name: 'InvalidResourceId' });

    const out = await run(
      fleet.masterInstanceId,
      `hostname; test -e ${PROBE} && echo seen || echo absent; pwd; ${PID_AND_NAMESPACE('$$')} > ns.pid`,
    );
    expect(out).toMatchObject({
      Status: 'Success',
      StandardOutputContent: `master\nabsent\n${workDir('master')}\n`,
    });
    await pidFile(join(workDir('master'), 'ns.pid'));
  });
});

describe('LocalFleet closing', () => {
  it('leaves no node process or mount behind', async () => {
    // a node with a process of its own running at close
    const commandId = await send(
      nodeId(1),
      `setsid sleep 600 </dev/null >/dev/null 2>&1 & ${PID_AND_NAMESPACE('$!')} > last.pid`,
    );
    await finished(commandId, nodeId(1));
    const last = await processFrom(join(workDir('node-1'), 'last.pid'));
    expect(isAlive(last.hostPid)).toBe(true);
    expect(namespaces.size).toBeGreaterThanOrEqual(3);

    closed = true;
    await fleet.close();
    expect(isAlive(last.hostPid)).toBe(false);
    for (const namespace of namespaces) expect(processesIn(namespace)).toEqual([]);
    const mounts = execFileSync('findmnt', ['-rn', '-o', 'TARGET,SOURCE'], { encoding: 'utf8' });
    expect(mounts.split('\n').filter((line) => line.includes(baseDir) || line.includes('rootfs'))).toEqual(
      [],
    );
    rmSync(baseDir, { recursive: true, force: true });
    expect(existsSync(baseDir)).toBe(false);
  });
});
