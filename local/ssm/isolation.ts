/**
 * What keeps a simulated node's commands off the host. Each node has a root of its own: its file system
 * is a copy-on-write view of the host's (changes stay in the node's folder), its hostname is its name,
 * its processes live in their own PID namespace and /tmp is its own: a long-lived node init in new
 * mount, UTS and PID namespaces (`unshare`, see node-root.sh) that every command joins with `nsenter`, so
 * the commands of one node share one overlay. That takes root: mounting the host's root as an overlay's
 * lower layer is not allowed in a user namespace, and in one the node's root could not write where the
 * host's root owns the files (/etc). Where it cannot be set up the fleet refuses to run commands, unless
 * the operator allows them to run on the host as they are (`allowUnisolated`, FUEL_UNISOLATED_NODES=1
 * for `npm start`).
 *
 * The stand-ins (stand-ins/README.md) come first on every node's PATH.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit, { type LimitFunction } from 'p-limit';
import type { FleetNode } from './nodes.js';

/** The stand-ins in this repository, and where a node sees them. */
export const STAND_INS_DIR = fileURLToPath(new URL('./stand-ins', import.meta.url));
const STAND_INS_IN_NODE = '/usr/local/lib/fuel-sls/stand-ins';
const NODE_ROOT_SCRIPT = fileURLToPath(new URL('./node-root.sh', import.meta.url));
/** How long a node may take to come up, from when its start begins. */
const START_TIMEOUT_MS = 15_000;
/**
 * Nodes coming up at once. Each start mounts a dozen file systems; hundreds at once (the first command
 * of a large fleet) make every start and every other spawn wait on the kernel, past the timeout above.
 */
const STARTS_AT_ONCE = 4;
/** A command joins its node's root: it creates and enters its working folder there, then runs the script. */
const ENTER_NODE = 'mkdir -p -- "$0" && cd -- "$0" && exec /bin/bash -c "$1"';

export type IsolationKind = 'namespaces' | 'none';

export interface Isolation {
  kind: IsolationKind;
  /** One line for the operator: how nodes are isolated, or why they are not. */
  description: string;
  /** Why node commands are refused (no isolation and no consent to run unisolated); null when they run. */
  refusal: string | null;
}

/** The process that runs one command on a node. */
export interface Launch {
  file: string;
  args: string[];
  /** The folder on the host the process starts in. */
  cwd: string;
}

/** A node's root: what its commands run in. */
export interface NodeRoot {
  /** Brings the root up unless it is; concurrent calls share one start. Rejects when it cannot. */
  up(): Promise<void>;
  /** The process to start to run `script` in the node's folder `cwd`. */
  launch(cwd: string, script: string): Launch;
  /** What the node's commands find in their environment besides the agent's variables. */
  environment(): Record<string, string>;
  /** Ends every process of the node and takes its root down; what it wrote to its file system stays. */
  down(): Promise<void>;
}

export interface IsolationOptions {
  /** Where the trial node is set up (a folder that is removed afterwards is made in it). */
  baseDir: string;
  /** Run node commands on the host when no isolation can be set up. */
  allowUnisolated: boolean;
  /** Seconds a stand-in takes (FUEL_STANDIN_SECONDS in the nodes). */
  standInSeconds: number;
}

/** The isolation the fleet uses, and the roots of its nodes. */
export interface NodeIsolation {
  isolation: Isolation;
  rootFor(node: FleetNode): NodeRoot;
}

/** Runs a program to its end; its exit code and what it wrote (-1 when it could not start). */
function run(file: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.once('error', (error) => resolve({ code: -1, output: error.message }));
    child.once('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

const firstLine = (text: string): string => text.trim().split('\n')[0] ?? '';

function standInEnvironment(seconds: number, binDir: string): Record<string, string> {
  return {
    PATH: `${binDir}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`,
    FUEL_STANDIN_SECONDS: String(seconds),
  };
}

/**
 * A node's init (node-root.sh) in its own mount, UTS and PID namespaces, which prints `ready <host pid>`
 * once the node's file system is mounted; commands join it with `nsenter`. The init ends when its
 * standard input closes; `down` kills it, which ends every process of the node.
 */
class NamespaceRoot implements NodeRoot {
  private init: ChildProcess | null = null;
  private initPid = 0;
  /** The PID namespace of the running root: whatever is in it ends when the root goes down. */
  private namespace: string | null = null;
  /**
   * An open descriptor of that namespace. The kernel reuses a freed namespace's number, so without it
   * a namespace emptied after its init was reaped could be another node's new one.
   */
  private namespaceHold: number | null = null;
  private starting: Promise<void> | null = null;
  private exited: Promise<void> = Promise.resolve();

  private readonly env: Record<string, string>;

  constructor(
    private readonly node: Pick<FleetNode, 'name' | 'workDir'>,
    standInSeconds: number,
    /** The fleet's turns to start a node (STARTS_AT_ONCE). */
    private readonly startTurn: LimitFunction = pLimit(1),
  ) {
    this.env = standInEnvironment(standInSeconds, `${STAND_INS_IN_NODE}/bin`);
  }

  up(): Promise<void> {
    if (this.init !== null && this.starting === null) return Promise.resolve();
    this.starting ??= this.startTurn(() => this.start()).finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        'unshare',
        [
          '--mount',
          '--uts',
          '--pid',
          '--fork',
          '--kill-child',
          '--propagation',
          'private',
          '--',
          '/bin/bash',
          NODE_ROOT_SCRIPT,
          this.node.workDir,
          this.node.name,
          STAND_INS_DIR,
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      this.init = child;
      this.exited = new Promise((done) => child.once('close', () => done()));
      let stdout = '';
      let stderr = '';
      let settled = false;
      const settle = (error: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === null) resolve();
        else {
          this.kill(child);
          reject(error);
        }
      };
      const timer = setTimeout(
        () => settle(new Error(`${this.node.name} did not come up within ${START_TIMEOUT_MS / 1000} s`)),
        START_TIMEOUT_MS,
      );
      // the init's pid on the host comes on its `ready` line
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        if (settled) return;
        stdout += chunk;
        const ready = /^ready (\d+)$/m.exec(stdout);
        if (ready === null) return;
        this.initPid = Number(ready[1]);
        this.holdNamespace();
        settle(null);
      });
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.once('error', (error) =>
        settle(new Error(`${this.node.name} could not start: ${error.message}`)),
      );
      child.once('close', (code, signal) => {
        if (this.init === child) {
          this.init = null;
          this.initPid = 0;
        }
        const why = firstLine(stderr) || `exit ${code ?? signal}`;
        settle(new Error(`${this.node.name} could not come up: ${why}`));
      });
    });
  }

  launch(cwd: string, script: string): Launch {
    if (this.initPid === 0) throw new Error(`${this.node.name} is not up`);
    return {
      file: 'nsenter',
      args: [
        '--target',
        String(this.initPid),
        '--mount',
        '--uts',
        '--pid',
        '--root',
        '--wd',
        '--',
        '/bin/bash',
        '-c',
        ENTER_NODE,
        cwd,
        script,
      ],
      cwd: this.node.workDir,
    };
  }

  environment(): Record<string, string> {
    return this.env;
  }

  async down(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const child = this.init;
    const initPid = this.initPid;
    if (child !== null) {
      this.init = null;
      this.kill(child);
    }
    await this.exited;
    // the launcher can end before the node's init is gone: its PID namespace ends only with it
    if (initPid > 0) await untilGone(initPid);
    if (this.namespace !== null) await emptyNamespace(this.namespace);
    this.releaseNamespace();
    this.initPid = 0;
  }

  private holdNamespace(): void {
    this.releaseNamespace();
    try {
      this.namespaceHold = openSync(`/proc/${this.initPid}/ns/pid`, 'r');
      this.namespace = pidNamespaceOf(this.initPid);
    } catch {
      // the init is already gone: nothing of it is left to end
    }
  }

  private releaseNamespace(): void {
    if (this.namespaceHold !== null) closeSync(this.namespaceHold);
    this.namespaceHold = null;
    this.namespace = null;
  }

  /** The init first (its PID namespace ends with it), then the launcher. */
  private kill(child: ChildProcess): void {
    for (const pid of [this.initPid, child.pid ?? 0]) {
      if (pid <= 0) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    child.stdin?.destroy();
  }
}

/** The PID namespace of a process (`pid:[4026532...]`), or null when it is gone. */
function pidNamespaceOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** The live (not zombie) processes of a PID namespace, by their host pid. */
function processesOf(namespace: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pidNamespaceOf(pid) !== namespace) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (state !== 'Z' && state !== 'X') found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * How long a killed process may take to end. Usually milliseconds; on a loaded machine a process tearing
 * down its overlay mount can stay in the kernel for seconds before SIGKILL takes it.
 */
const GONE_WAIT_MS = 30_000;

/** Kills whatever is left in a node's PID namespace and waits (at most GONE_WAIT_MS) until nothing is. */
async function emptyNamespace(namespace: string): Promise<void> {
  const deadline = Date.now() + GONE_WAIT_MS;
  for (
    let left = processesOf(namespace);
    left.length > 0 && Date.now() < deadline;
    left = processesOf(namespace)
  ) {
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits (at most GONE_WAIT_MS) until a killed process has ended: no longer in /proc, or a zombie. */
async function untilGone(pid: number): Promise<void> {
  const deadline = Date.now() + GONE_WAIT_MS;
  while (Date.now() < deadline) {
    let state: string;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    const fields = state.slice(state.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** With the operator's consent only: commands run on the host, in the node's folder, as today's user. */
function hostRoot(node: Pick<FleetNode, 'workDir'>, standInSeconds: number): NodeRoot {
  const env = {
    ...standInEnvironment(standInSeconds, join(STAND_INS_DIR, 'bin')),
    FUEL_STANDIN_LOG: join(node.workDir, 'stand-ins.log'),
  };
  return {
    up: () => Promise.resolve(),
    launch(cwd, script) {
      mkdirSync(cwd, { recursive: true });
      return { file: 'bash', args: ['-c', script], cwd };
    },
    environment: () => env,
    down: () => Promise.resolve(),
  };
}

function refusedRoot(refusal: string): NodeRoot {
  return {
    up: () => Promise.reject(new Error(refusal)),
    launch() {
      throw new Error(refusal);
    },
    environment: () => ({}),
    down: () => Promise.resolve(),
  };
}

/** Sets up a throwaway node and runs `hostname` in it: null when that works, else why not. */
async function trial(baseDir: string): Promise<string | null> {
  const workDir = join(baseDir, `.isolation-trial-${process.pid}-${Date.now()}`);
  mkdirSync(workDir, { recursive: true });
  const root = new NamespaceRoot({ name: 'trial-node', workDir }, 0);
  try {
    await root.up();
    const launch = root.launch(workDir, 'hostname');
    const result = await run(launch.file, launch.args);
    if (result.code !== 0 || result.output.trim() !== 'trial-node') {
      return firstLine(result.output) || `a command in it exited ${result.code}`;
    }
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await root.down();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Finds whether this machine allows isolated nodes (root, Linux, util-linux's unshare and nsenter, an
 * overlay over /), by trying it on a throwaway node. Without it node commands run on the host only if
 * the operator allows it.
 */
export async function setUpIsolation(options: IsolationOptions): Promise<NodeIsolation> {
  const seconds = options.standInSeconds;
  const startTurn = pLimit(STARTS_AT_ONCE);
  const reasons: string[] = [];
  if (process.platform !== 'linux') {
    reasons.push(`${process.platform} has no Linux namespaces`);
  } else if (process.getuid?.() === 0) {
    const failed = await trial(options.baseDir);
    if (failed === null) {
      return {
        isolation: {
          kind: 'namespaces',
          description:
            'each node in its own mount, UTS and PID namespaces (unshare + nsenter): a copy-on-write ' +
            'view of / kept in its folder, its own hostname, processes and /tmp',
          refusal: null,
        },
        rootFor: (node) => new NamespaceRoot(node, seconds, startTurn),
      };
    }
    reasons.push(failed);
  } else {
    reasons.push("not running as root, which mounting a node's file system takes");
  }
  const why = reasons.join('; ');
  if (options.allowUnisolated) {
    return {
      isolation: {
        kind: 'none',
        description: `NONE, node commands run on this host itself (FUEL_UNISOLATED_NODES=1; ${why})`,
        refusal: null,
      },
      rootFor: (node) => hostRoot(node, seconds),
    };
  }
  const refusal =
    `node commands are refused: the nodes cannot be isolated from this host (${why}); ` +
    'run as root, or set FUEL_UNISOLATED_NODES=1 to run them on this host';
  return {
    isolation: { kind: 'none', description: refusal, refusal },
    rootFor: () => refusedRoot(refusal),
  };
}
