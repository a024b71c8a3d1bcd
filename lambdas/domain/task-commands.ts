/**
 * What each task type runs on its node, as one shell command sent through the SSM document (the same text
 * runs on AWS and on a simulated node; see docs/graphs.md): Astute's puppet, shell, sync, upload_file,
 * copy_files and reboot tasks, with their default time limits.
 */
import type { GraphTask, TaskType } from './graph.js';

/** Seconds one attempt may run, per type, when the task does not say (Astute's defaults). */
export const DEFAULT_TIMEOUTS: Record<TaskType, number> = {
  puppet: 5400,
  shell: 300,
  sync: 300,
  upload_file: 300,
  copy_files: 300,
  reboot: 240,
  group: 0,
  stage: 0,
  skipped: 0,
};

export const DEFAULT_PUPPET_MODULES = '/etc/puppet/modules';
/** Where a node finds the master's files for copy_files (the master's root, read-only). */
export const MASTER_FILES_ROOT = '/run/fuel-master';
/** The SSM agent reboots the node and runs the command again when it exits with this code. */
export const REBOOT_NOW_EXIT_CODE = 194;
const MARKERS = '/var/lib/fuel-sls';

export interface RenderedCommand {
  cmd: string;
  timeout: number;
  retries: number;
  /** Seconds between attempts. */
  interval: number;
}

/** A word for the shell, single-quoted. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Runs `body` in `cwd` when one is given. */
function inDirectory(cwd: string | undefined, body: string): string {
  return cwd === undefined || cwd === '' ? body : `cd ${shellQuote(cwd)} && ${body}`;
}

/** Puppet's --detailed-exitcodes: 2 means changes were applied, a success. */
function puppetApply(task: GraphTask): string {
  const p = task.parameters ?? {};
  const manifest = p.puppet_manifest ?? '';
  const modules = p.puppet_modules ?? DEFAULT_PUPPET_MODULES;
  const apply =
    `puppet apply --modulepath=${shellQuote(modules)} --logdest syslog --trace --no-report --debug ` +
    `--evaltrace --detailed-exitcodes ${shellQuote(manifest)}`;
  return `(${inDirectory(p.cwd ?? '/', apply)}); rc=$?; if [ "$rc" -eq 2 ]; then rc=0; fi; exit "$rc"`;
}

function uploadFile(path: string, data: string, permissions: string, dirPermissions: string): string {
  const encoded = Buffer.from(data, 'utf8').toString('base64');
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) || '/' : '.';
  return [
    `mkdir -p -m ${shellQuote(dirPermissions)} -- ${shellQuote(dir)}`,
    `printf '%s' ${shellQuote(encoded)} | base64 -d > ${shellQuote(path)}`,
    `chmod ${shellQuote(permissions)} -- ${shellQuote(path)}`,
  ].join(' && ');
}

function copyFiles(task: GraphTask): string {
  const p = task.parameters ?? {};
  return (p.files ?? [])
    .map((file) => {
      const mode = file.permissions ?? p.permissions ?? '0644';
      const dirMode = file.dir_permissions ?? p.dir_permissions ?? '0755';
      const dst = file.dst;
      const dir = dst.slice(0, dst.lastIndexOf('/')) || '/';
      return (
        `mkdir -p -m ${shellQuote(dirMode)} -- ${shellQuote(dir)} && ` +
        `install -m ${shellQuote(mode)} -- ${shellQuote(`${MASTER_FILES_ROOT}${file.src}`)} ${shellQuote(dst)}`
      );
    })
    .join(' && ');
}

/** First run: mark, then ask the agent for a reboot; the run after the reboot finds the mark and succeeds. */
function reboot(task: GraphTask): string {
  const marker = `${MARKERS}/reboot-${task.id.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  return (
    `if [ -f ${shellQuote(marker)} ]; then rm -f ${shellQuote(marker)}; echo "node rebooted"; exit 0; fi; ` +
    `mkdir -p ${shellQuote(MARKERS)} && touch ${shellQuote(marker)} && echo "rebooting" && exit ${REBOOT_NOW_EXIT_CODE}`
  );
}

/**
 * The command of a runnable task, its parameters already formatted (placeholders) and evaluated (`yaql_exp`
 * values, given as `uploadData`).
 */
export function renderCommand(task: GraphTask, uploadData: string | null): RenderedCommand {
  const p = task.parameters ?? {};
  const limits = {
    timeout: p.timeout ?? DEFAULT_TIMEOUTS[task.type],
    retries: p.retries ?? 0,
    interval: p.interval ?? 0,
  };
  return { cmd: commandOf(task, uploadData), ...limits };
}

function commandOf(task: GraphTask, uploadData: string | null): string {
  const p = task.parameters ?? {};
  switch (task.type) {
    case 'shell':
      return inDirectory(p.cwd, p.cmd ?? '');
    case 'puppet':
      return p.puppet_manifest ? puppetApply(task) : inDirectory(p.cwd, p.cmd ?? '');
    case 'sync':
      return `rsync -c -r --delete -- ${shellQuote(p.src ?? '')} ${shellQuote(p.dst ?? '')}`;
    case 'upload_file':
      return uploadFile(p.path ?? '', uploadData ?? '', p.permissions ?? '0644', p.dir_permissions ?? '0755');
    case 'copy_files':
      return copyFiles(task);
    case 'reboot':
      return reboot(task);
    default:
      return '';
  }
}
