import { readFile } from 'node:fs/promises';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';

/**
 * Runs an ASL file from `state-machines/` with aws-local-stepfunctions, each Task bound to the same
 * handler code the Lambda runs. The file is the one CDK deploys: its `${...FunctionArn}` placeholders
 * (CDK's definition substitutions) name the handler each Task calls.
 */

export type TaskHandler = (input: unknown) => Promise<unknown>;

export interface LocalRunOptions {
  definitionFile: string;
  /** Placeholder name (e.g. `CopyReportFunctionArn`) → handler. */
  handlers: Record<string, TaskHandler>;
  input: unknown;
  executionName: string;
  stateMachineName?: string;
  /** Shortens every Wait state to this many ms (the twin's fast clock); unset = real waits. */
  waitMs?: number;
  /** Shortens every Retry pause to this many ms; unset = the definition's backoff. */
  retryMs?: number;
  /** Called with each event as it happens (progress display). */
  onEvent?: (event: ExecutionEvent) => void;
}

export interface ExecutionEvent {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input: unknown; output?: unknown };
  Error?: string;
  Cause?: unknown;
  input?: unknown;
  output?: unknown;
  index?: number;
  parentState?: { name: string };
}

export interface LocalRunResult {
  status: 'SUCCEEDED' | 'FAILED';
  executionArn: string;
  output?: unknown;
  error?: string;
  cause?: string;
  events: ExecutionEvent[];
  /** States entered: what Step Functions bills as state transitions (approximately, per state). */
  stateTransitions: number;
  /** An estimate of the execution-history events AWS would record (the 25,000 limit). */
  historyEvents: number;
}

const FAKE_ACCOUNT = '000000000000';
const FAKE_REGION = 'us-east-1';

export async function runLocalExecution(options: LocalRunOptions): Promise<LocalRunResult> {
  const raw = await readFile(options.definitionFile, 'utf8');
  const placeholders = new Set([...raw.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]!));
  for (const name of placeholders) {
    if (!options.handlers[name]) throw new Error(`${options.definitionFile}: no local handler for \${${name}}`);
  }
  const definition = JSON.parse(
    raw.replace(/\$\{(\w+)\}/g, (_, name: string) => `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT}:function:${name}`),
  ) as StateMachineDefinition;

  const taskHandlers: Record<string, TaskHandler> = {};
  const waitOverrides: Record<string, number> = {};
  const retryOverrides: Record<string, number> = {};
  visitStates(definition, (name, state) => {
    if (state.Type === 'Task') {
      const placeholder = /function:(\w+)$/.exec(String(state.Resource))?.[1];
      const handler = placeholder ? options.handlers[placeholder] : undefined;
      if (!handler) throw new Error(`Task state ${name} has no local handler (Resource ${String(state.Resource)})`);
      taskHandlers[name] = handler;
    }
    if (state.Type === 'Wait' && options.waitMs !== undefined) waitOverrides[name] = options.waitMs;
    if (state.Retry && options.retryMs !== undefined) retryOverrides[name] = options.retryMs;
  });

  const machineName = options.stateMachineName ?? 'audit-export';
  const executionArn = `arn:aws:states:${FAKE_REGION}:${FAKE_ACCOUNT}:execution:${machineName}:${options.executionName}`;
  const machine = new StateMachine(definition, { validationOptions: { checkPaths: true, checkArn: true } });
  const execution = machine.run(options.input as never, {
    overrides: {
      taskResourceLocalHandlers: taskHandlers as never,
      waitTimeOverrides: waitOverrides,
      retryIntervalOverrides: retryOverrides,
    },
    context: {
      Execution: {
        Id: executionArn,
        Name: options.executionName,
        Input: options.input as never,
        StartTime: new Date().toISOString(),
      },
      StateMachine: { Id: `arn:aws:states:${FAKE_REGION}:${FAKE_ACCOUNT}:stateMachine:${machineName}`, Name: machineName },
    },
  });

  const events: ExecutionEvent[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      events.push(event as ExecutionEvent);
      options.onEvent?.(event as ExecutionEvent);
    }
  })();

  let result: LocalRunResult;
  try {
    const output = await execution.result;
    await collecting;
    result = { status: 'SUCCEEDED', executionArn, output, events, stateTransitions: 0, historyEvents: 0 };
  } catch (error) {
    await collecting.catch(() => undefined);
    if (!(error instanceof ExecutionError)) throw error;
    const failed = events.findLast((event) => event.type === 'ExecutionFailed');
    result = {
      status: 'FAILED',
      executionArn,
      error: failed?.Error ?? 'States.Runtime',
      cause: typeof failed?.Cause === 'string' ? failed.Cause : JSON.stringify(failed?.Cause ?? error.message),
      events,
      stateTransitions: 0,
      historyEvents: 0,
    };
  }
  result.stateTransitions = events.filter((event) => event.type === 'StateEntered').length;
  result.historyEvents = estimateHistoryEvents(events);
  return result;
}

/**
 * AWS records about: Entered + Exited per state; Scheduled, Started, Succeeded/Failed for each Task attempt;
 * Started + Succeeded for a Wait; start and end of the execution; Map iterations Started + Succeeded.
 */
export function estimateHistoryEvents(events: ExecutionEvent[]): number {
  let count = 0;
  for (const event of events) {
    switch (event.type) {
      case 'StateEntered':
        count += 1;
        if (event.state?.type === 'Task') count += 3;
        if (event.state?.type === 'Wait') count += 1;
        break;
      case 'StateExited':
      case 'ExecutionStarted':
      case 'ExecutionSucceeded':
      case 'ExecutionFailed':
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        count += 1;
        break;
      case 'StateRetried':
        // The failed attempt's TaskFailed, then Scheduled/Started/Succeeded of the next attempt.
        count += 4;
        break;
      default:
        break;
    }
  }
  return count;
}

type AnyState = { Type: string; Resource?: unknown; Retry?: unknown[]; ItemProcessor?: StateMachineDefinition; Iterator?: StateMachineDefinition; Branches?: StateMachineDefinition[] };

function visitStates(definition: StateMachineDefinition, visit: (name: string, state: AnyState) => void): void {
  for (const [name, state] of Object.entries(definition.States) as [string, AnyState][]) {
    visit(name, state);
    const nested = state.ItemProcessor ?? state.Iterator;
    if (nested) visitStates(nested, visit);
    for (const branch of state.Branches ?? []) visitStates(branch, visit);
  }
}
