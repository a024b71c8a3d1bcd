/**
 * The processes of the local fleet: each step runs as a real `bash -c` in its node's root (isolation.ts),
 * in a session of its own so that a kill reaches every process it started; its output is kept within the
 * limits the SSM agent reports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Launch } from './isolation.js';
import type { FleetNode } from './nodes.js';
import { type StepProcess, spawnStep } from './spawner.js';

/** What GetCommandInvocation keeps of stdout and stderr. */
export const STDOUT_LIMIT = 24_000;
export const STDERR_LIMIT = 8000;
/** Between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;

/** The last `limit` characters of `text`. */
export const tail = (text: string, limit: number): string =>
  text.length > limit ? text.slice(-limit) : text;

/** Where a running step keeps its process and output (an invocation). */
export interface ProcessSlot {
  child: StepProcess | null;
  stdout: string;
  stderr: string;
}

export interface StepExit {
  /** The exit code; 128 + the signal number when a signal ended it; -1 when it could not start. */
  code: number;
  timedOut: boolean;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  if (signal === null) return 0;
  const value: unknown = (osConstants.signals as Record<string, unknown>)[signal];
  return typeof value === 'number' ? value : 0;
}

/**
 * Signals every process of the session the command's launcher leads. A session, unlike a process group,
 * also holds children that moved to their own group (coreutils `timeout` does), so none of them outlives a
 * kill; the processes a command starts in its node's PID namespace are in that session too, and the
 * host's /proc shows them with their host pids.
 */
function killSession(child: StepProcess, signal: NodeJS.Signals): void {
  // a process still starting is signalled once it has started
  child.whenRunning((sid) => signalSession(sid, signal));
}

function signalSession(sid: number, signal: NodeJS.Signals): void {
  const send = (target: number): void => {
    try {
      process.kill(target, signal);
    } catch {
      // already gone
    }
  };
  send(-sid);
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name: state ppid pgrp session ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[3]) === sid) send(Number(entry));
  }
}

/** SIGKILL to the command's processes at once (its node reboots). */
export function kill(child: StepProcess): void {
  killSession(child, 'SIGKILL');
}

/** SIGTERM to the command's processes, SIGKILL if it is still there after the grace period. */
export function terminate(child: StepProcess): void {
  killSession(child, 'SIGTERM');
  const timer = setTimeout(() => killSession(child, 'SIGKILL'), KILL_GRACE_MS);
  child.once('close', () => clearTimeout(timer));
}

/**
 * The environment of a command on a node: the agent's variables, what the node's root adds (PATH with the
 * stand-ins first, their settings) and the command's `SSM_*` variables.
 */
export function shellEnvironment(
  node: FleetNode,
  rootEnv: Record<string, string>,
  commandEnv: Record<string, string>,
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    ...rootEnv,
    HOME: node.workDir,
    LANG: 'C.UTF-8',
    FUEL_NODE_NAME: node.name,
    AWS_SSM_INSTANCE_ID: node.instanceId,
    AWS_SSM_REGION_NAME: 'us-east-1',
    ...commandEnv,
  };
}

/**
 * Runs one step as `launch` says; `slot.child` holds its process from the moment this returns until it has
 * exited, and its output goes to `slot.stdout` / `slot.stderr`. A step that outlives `timeoutMs` is
 * terminated.
 */
export function runStep(
  launch: Launch,
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
  slot: ProcessSlot,
): Promise<StepExit> {
  return new Promise((resolve) => {
    const child = spawnStep({ file: launch.file, args: launch.args, cwd: launch.cwd, env, detached: true });
    slot.child = child;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      terminate(child);
    }, timeoutMs);
    child.on('stdout', (chunk: string) => {
      slot.stdout = tail(slot.stdout + chunk, STDOUT_LIMIT);
    });
    child.on('stderr', (chunk: string) => {
      slot.stderr = tail(slot.stderr + chunk, STDERR_LIMIT);
    });
    let settled = false;
    const finish = (code: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      slot.child = null;
      resolve({ code, timedOut });
    };
    child.once('error', (error) => {
      slot.stderr = tail(`${slot.stderr}${error.message}\n`, STDERR_LIMIT);
      finish(-1);
    });
    child.once('close', (code, signal) => finish(code ?? 128 + signalNumber(signal)));
  });
}
