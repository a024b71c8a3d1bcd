/**
 * The executions of the local Step Functions endpoint: starting a run of the machine with its context
 * object and Task handlers, recording its history, stopping it, settling its final status, and telling
 * the listener when it has ended (EventBridge's "Step Functions Execution Status Change").
 */
import type { StateMachine } from 'aws-local-stepfunctions';
import type { TaskTokens } from './callbacks.js';
import { TOKEN_PLACEHOLDER } from './callbacks.js';
import type { TaskSpec } from './definition.js';
import { type ExecutionStatus, failureOutcome, type TaskHandlers } from './engine.js';
import { errorMessage } from './errors.js';
import { HistoryRecorder } from './history.js';
import type { Json } from './json.js';

export interface ExecutionStatusDetail {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  startDate: number;
  stopDate: number;
  input: string;
  output: string | null;
  error: string | null;
  cause: string | null;
}

export interface ExecutionRecord {
  arn: string;
  name: string;
  input: string;
  startMs: number;
  stopMs?: number;
  status: ExecutionStatus;
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryRecorder;
  historyDone: Promise<void>;
  abort: () => void;
}

export const isTerminal = (status: ExecutionStatus): boolean => status !== 'RUNNING';

type Outcome = Pick<ExecutionRecord, 'status' | 'output' | 'error' | 'cause'>;

export interface ExecutionsOptions {
  stateMachineArn: string;
  machine: StateMachine;
  tasks: Map<string, TaskSpec>;
  handlers: (executionArn: string) => TaskHandlers;
  tokens: TaskTokens;
  log: (line: string) => void;
  onExecutionEnd: ((detail: ExecutionStatusDetail) => void) | undefined;
}

export class Executions {
  private readonly records = new Map<string, ExecutionRecord>();

  constructor(private readonly options: ExecutionsOptions) {}

  get(arn: string): ExecutionRecord | undefined {
    return this.records.get(arn);
  }

  /** Every execution, in the order started. */
  all(): ExecutionRecord[] {
    return [...this.records.values()];
  }

  running(): number {
    return this.all().filter((record) => record.status === 'RUNNING').length;
  }

  start(arn: string, name: string, inputText: string, input: Json): ExecutionRecord {
    const { machine, stateMachineArn, tasks, log } = this.options;
    const startMs = Date.now();
    const context = {
      Execution: {
        Id: arn,
        Name: name,
        Input: input,
        StartTime: new Date(startMs).toISOString(),
        RoleArn: 'arn:aws:iam::000000000000:role/local-step-functions',
      },
      StateMachine: { Id: stateMachineArn, Name: stateMachineArn.split(':').pop() ?? 'state-machine' },
      Task: { Token: TOKEN_PLACEHOLDER },
    };
    const record: ExecutionRecord = {
      arn,
      name,
      input: inputText,
      startMs,
      status: 'RUNNING',
      history: new HistoryRecorder(tasks, () => ({ error: record.error, cause: record.cause })),
      historyDone: Promise.resolve(),
      abort: () => undefined,
    };
    this.records.set(arn, record);
    const execution = machine.run(input, {
      overrides: { taskResourceLocalHandlers: this.options.handlers(arn) },
      context,
    });
    record.abort = execution.abort;
    record.historyDone = (async () => {
      for await (const event of execution.eventLogs) record.history.record(event);
    })().catch((error: unknown) => log(`sfn: ${name}: history stopped: ${errorMessage(error)}`));
    log(`sfn: ${name} started`);
    execution.result
      .then(
        (output) => this.finish(record, { status: 'SUCCEEDED', output: JSON.stringify(output) }),
        (error: unknown) => this.finish(record, failureOutcome(error)),
      )
      .catch((error: unknown) => log(`sfn: ${name}: could not settle: ${errorMessage(error)}`));
    return record;
  }

  /** StopExecution: ABORTED at once; its pending tasks end, and so does the run. */
  stop(record: ExecutionRecord, error: string | undefined, cause: string | undefined): void {
    record.status = 'ABORTED';
    record.stopMs = Date.now();
    record.error = error;
    record.cause = cause;
    this.options.tokens.endExecution(record.arn, 'The execution was stopped');
    record.abort();
    this.options.log(`sfn: ${record.name} ABORTED`);
    this.announceEnd(record);
  }

  /** Stops every running execution (the endpoint closes). */
  stopAll(error: string, cause: string): void {
    for (const record of this.records.values()) {
      if (record.status === 'RUNNING') this.stop(record, error, cause);
    }
  }

  private async finish(record: ExecutionRecord, outcome: Outcome): Promise<void> {
    const stopMs = Date.now();
    await Promise.race([record.historyDone, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    this.options.tokens.endExecution(record.arn, 'The execution has ended');
    if (record.status !== 'RUNNING') return;
    record.status = outcome.status;
    record.stopMs = stopMs;
    record.output = outcome.output;
    record.error = outcome.error;
    record.cause = outcome.cause;
    this.options.log(`sfn: ${record.name} ${record.status}${record.error ? ` (${record.error})` : ''}`);
    this.announceEnd(record);
  }

  private announceEnd(record: ExecutionRecord): void {
    const listener = this.options.onExecutionEnd;
    if (!listener || record.status === 'RUNNING') return;
    try {
      listener({
        executionArn: record.arn,
        stateMachineArn: this.options.stateMachineArn,
        name: record.name,
        status: record.status,
        startDate: record.startMs,
        stopDate: record.stopMs ?? Date.now(),
        input: record.input,
        output: record.output ?? null,
        error: record.error ?? null,
        cause: record.cause ?? null,
      });
    } catch (error) {
      this.options.log(`sfn: ${record.name}: execution-end listener failed: ${errorMessage(error)}`);
    }
  }
}
