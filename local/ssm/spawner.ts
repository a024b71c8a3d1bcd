/**
 * Starts the fleet's step processes from a small process of its own (process-starter.cjs). Node starts a
 * child synchronously: the starting thread waits until the child has exec'd, and the kernel copies the
 * starting process's page tables, tens of milliseconds each from a service of several hundred megabytes on
 * a busy machine. Started from the service's thread, every command of a 1,000-node layer would stall the
 * engine, the handlers and the local endpoints that long in turn.
 *
 * A `StepProcess` is what the fleet uses of a ChildProcess: the pid (for the signals that end its session),
 * its output, its end.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';

export interface SpawnRequest {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** A session of its own (setsid), which the signals that end the step reach as a whole. */
  detached: boolean;
}

type WorkerReply =
  | { id: number; type: 'spawned'; pid: number }
  | { id: number; type: 'stdout' | 'stderr'; data: string }
  | { id: number; type: 'error'; message: string }
  | { id: number; type: 'close'; code: number | null; signal: NodeJS.Signals | null };

export interface StepProcessEvents {
  stdout: [data: string];
  stderr: [data: string];
  error: [error: Error];
  close: [code: number | null, signal: NodeJS.Signals | null];
}

/** A process the spawner started, or is starting. */
export class StepProcess extends EventEmitter<StepProcessEvents> {
  /** Its pid on the host, once it has started; null before, and when it could not start. */
  pid: number | null = null;
  /** Set once it has ended (or could not start). */
  closed = false;
  private readonly started: Promise<number | null>;
  private markStarted: (pid: number | null) => void = () => {};

  constructor() {
    super();
    this.started = new Promise((resolve) => {
      this.markStarted = resolve;
    });
  }

  /** Runs `use` with the pid once the process has started and while it has not ended. */
  whenRunning(use: (pid: number) => void): void {
    if (this.pid !== null && !this.closed) {
      use(this.pid);
      return;
    }
    void this.started.then((pid) => {
      if (pid !== null && !this.closed) use(pid);
    });
  }

  /** @internal the spawner's replies */
  receive(reply: WorkerReply): void {
    switch (reply.type) {
      case 'spawned':
        this.pid = reply.pid;
        this.markStarted(reply.pid);
        return;
      case 'stdout':
      case 'stderr':
        this.emit(reply.type, reply.data);
        return;
      case 'error':
        this.emit('error', new Error(reply.message));
        return;
      case 'close':
        this.closed = true;
        this.markStarted(null);
        this.emit('close', reply.code, reply.signal);
    }
  }
}

const STARTER_FILE = new URL('./process-starter.cjs', import.meta.url);

class Spawner {
  private starterProcess: ChildProcess | null = null;
  private readonly running = new Map<number, StepProcess>();
  private nextId = 1;

  spawn(request: SpawnRequest): StepProcess {
    const process = new StepProcess();
    const id = this.nextId++;
    this.running.set(id, process);
    this.starter().send({ op: 'spawn', id, ...request });
    return process;
  }

  private starter(): ChildProcess {
    if (this.starterProcess !== null) return this.starterProcess;
    // no TypeScript loader in it (it is plain JavaScript), none of the host's flags either
    const starter = fork(STARTER_FILE, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    starter.on('message', (reply: WorkerReply) => {
      const process = this.running.get(reply.id);
      if (process === undefined) return;
      if (reply.type === 'close') this.running.delete(reply.id);
      process.receive(reply);
    });
    // a starter that dies takes its processes' reports with it: they end as processes that could not run
    const lost = (why: string) => {
      if (this.starterProcess === starter) this.starterProcess = null;
      const orphans = [...this.running];
      this.running.clear();
      for (const [id, process] of orphans) {
        process.receive({ id, type: 'error', message: `the fleet's process starter ended: ${why}` });
        process.receive({ id, type: 'close', code: -1, signal: null });
      }
    };
    starter.on('error', (error) => lost(error.message));
    starter.on('exit', (code) => lost(`exit ${code}`));
    // the fleet's servers keep the service alive, not its starter
    starter.unref();
    starter.channel?.unref();
    this.starterProcess = starter;
    return starter;
  }
}

/** The one spawner of this process. */
const spawner = new Spawner();

export function spawnStep(request: SpawnRequest): StepProcess {
  return spawner.spawn(request);
}
