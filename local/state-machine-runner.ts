import { readFile } from 'node:fs/promises';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';

/**
 * Runs an ASL definition with aws-local-stepfunctions, each Task bound to a handler, as strictly as Step
 * Functions where it matters to these state machines (the interpreter alone has none of these limits):
 *
 * - 256 KiB per execution input, state input and output, Task input (after Parameters) and Task result:
 *   beyond it the execution fails with `States.DataLimitExceeded`, which no Retry or Catch matches (not even
 *   `States.ALL`), as in Step Functions;
 * - 25,000 history events (counted as Step Functions records them): the execution fails;
 * - the execution's `TimeoutSeconds` (status TIMED_OUT, `States.Timeout`) and each Task's (`States.Timeout`);
 * - a failed Lambda is reported as Step Functions reports it: error = the `errorType` (the thrown error's
 *   name), cause = the Lambda runtime's JSON `{"errorType","errorMessage","trace"}`;
 * - a definition Step Functions would not create is refused: `States.ALL` anywhere but alone in the last
 *   retrier or catcher of its state (the interpreter would match it wherever it stands).
 *
 * The definition is either an ASL file from `state-machines/` (its `${...FunctionArn}` placeholders, CDK's
 * definition substitutions, name the handler each Task calls) or a definition already substituted (the
 * synthesized template's), whose Task resources are the handlers' keys.
 */

export type TaskHandler = (input: unknown) => Promise<unknown>;

export interface LocalRunOptions {
  /** An ASL file with `${Placeholder}` resources; `handlers` are keyed by placeholder. */
  definitionFile?: string;
  /** A definition with concrete resources; `handlers` are keyed by Resource. */
  definition?: StateMachineDefinition;
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
  /** Replaces the definition's TimeoutSeconds (a test's shorter clock); unset = the definition's. */
  executionTimeoutSeconds?: number;
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
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';
  executionArn: string;
  output?: unknown;
  error?: string;
  cause?: string;
  events: ExecutionEvent[];
  /** States entered: what Step Functions bills as state transitions (approximately, per state). */
  stateTransitions: number;
  /** The execution-history events Step Functions would record (the 25,000 limit). */
  historyEvents: number;
  /** The largest input or output of any state, Task or the execution, in UTF-8 bytes (the 256 KiB limit). */
  largestPayloadBytes: number;
  /** Where that largest payload was. */
  largestPayloadAt?: string;
}

/** Step Functions' quotas the engine enforces. */
export const STEP_FUNCTIONS_LIMITS = {
  /** Per execution input, state input/output, Task input and result: 256 KiB as a UTF-8 string. */
  payloadBytes: 256 * 1024,
  historyEvents: 25_000,
} as const;

const FAKE_ACCOUNT = '000000000000';
const FAKE_REGION = 'us-east-1';

/**
 * An error as the engine sees it: its name is what Retry/Catch match; `retryable`/`catchable` false makes it
 * terminal (the engine's own States.Runtime works the same way). The message becomes the Cause.
 */
export class StatesError extends Error {
  constructor(
    name: string,
    cause: string,
    private readonly terminal = false,
  ) {
    super(cause);
    this.name = name;
  }

  get isRetryable(): boolean {
    return !this.terminal;
  }

  get isCatchable(): boolean {
    return !this.terminal;
  }
}

/** What a Lambda invocation reports when the function throws (the Node.js runtime's error payload). */
export interface LambdaErrorPayload {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

/** A handler that already speaks the Lambda error shape (the bundled runner's) throws this. */
export class LambdaFunctionError extends Error {
  constructor(
    readonly errorType: string,
    /** The Cause Step Functions records (for a function error, the runtime's JSON payload). */
    readonly stepFunctionsCause: string,
  ) {
    super(stepFunctionsCause);
    this.name = errorType;
  }
}

/** The payload the Node.js Lambda runtime returns for an error thrown by the handler. */
export function lambdaErrorPayload(error: unknown): LambdaErrorPayload {
  if (error instanceof Error) {
    return { errorType: error.name || 'Error', errorMessage: error.message, trace: error.stack?.split('\n') ?? [] };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

function payloadBytes(value: unknown): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value), 'utf8');
}

function dataLimitExceeded(what: string, bytes: number): StatesError {
  return new StatesError(
    'States.DataLimitExceeded',
    `${what} has a size of ${bytes} bytes, exceeding the maximum of ${STEP_FUNCTIONS_LIMITS.payloadBytes} bytes (256 KiB)`,
    true,
  );
}

export async function runLocalExecution(options: LocalRunOptions): Promise<LocalRunResult> {
  const { definition, handlers } = await loadDefinition(options);
  const refused = statesAllProblems(definition);
  if (refused.length) throw new Error(`Step Functions would refuse this definition (SCHEMA_VALIDATION_FAILED): ${refused.join('; ')}`);
  if (options.executionTimeoutSeconds !== undefined) definition.TimeoutSeconds = options.executionTimeoutSeconds;

  // The engine can only see a violation after the fact; it is recorded here, the execution aborted, and
  // every Task checks it before it runs, so nothing runs after the state that broke a limit.
  let violation: StatesError | undefined;
  let largest = { bytes: 0, at: '' };
  const measure = (value: unknown, what: string): void => {
    const bytes = payloadBytes(value);
    if (bytes > largest.bytes) largest = { bytes, at: what };
    if (bytes > STEP_FUNCTIONS_LIMITS.payloadBytes) violation ??= dataLimitExceeded(what, bytes);
  };

  const taskHandlers: Record<string, TaskHandler> = {};
  const waitOverrides: Record<string, number> = {};
  const retryOverrides: Record<string, number> = {};
  visitStates(definition, (name, state) => {
    if (state.Type === 'Task') {
      const handler = handlers[String(state.Resource)];
      if (!handler) throw new Error(`Task state ${name} has no local handler (Resource ${String(state.Resource)})`);
      taskHandlers[name] = async (input: unknown) => {
        // Let the event monitor catch up with the states before this one.
        await nextMacrotask();
        if (violation) throw violation;
        measure(input, `The input of Task ${name}`);
        if (violation) throw violation;
        let result: unknown;
        try {
          result = await handler(input);
        } catch (error) {
          if (error instanceof LambdaFunctionError) throw new StatesError(error.errorType, error.stepFunctionsCause);
          const payload = lambdaErrorPayload(error);
          throw new StatesError(payload.errorType, JSON.stringify(payload));
        }
        measure(result, `The result of Task ${name}`);
        if (violation) throw violation;
        return result;
      };
    }
    if (state.Type === 'Wait' && options.waitMs !== undefined) waitOverrides[name] = options.waitMs;
    if (state.Retry && options.retryMs !== undefined) retryOverrides[name] = options.retryMs;
  });

  const machineName = options.stateMachineName ?? 'audit-export';
  const executionArn = `arn:aws:states:${FAKE_REGION}:${FAKE_ACCOUNT}:execution:${machineName}:${options.executionName}`;
  const machine = new StateMachine(definition, { validationOptions: { checkPaths: true, checkArn: true } });
  measure(options.input, 'The execution input');
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
  const history = new HistoryCounter();
  const monitoring = (async () => {
    for await (const raw of execution.eventLogs) {
      const event = raw as ExecutionEvent;
      events.push(event);
      history.add(event);
      if (event.type === 'StateEntered' && event.state) measure(event.state.input, `The input of state ${event.state.name}`);
      if (event.type === 'StateExited' && event.state) measure(event.state.output, `The output of state ${event.state.name}`);
      if (history.count > STEP_FUNCTIONS_LIMITS.historyEvents) {
        violation ??= new StatesError(
          'States.Runtime',
          `The execution reached the maximum number of history events (${STEP_FUNCTIONS_LIMITS.historyEvents})`,
          true,
        );
      }
      options.onEvent?.(event);
      if (violation) execution.abort();
    }
  })();

  const finish = (result: Omit<LocalRunResult, 'events' | 'stateTransitions' | 'historyEvents' | 'largestPayloadBytes'>): LocalRunResult => ({
    ...result,
    events,
    stateTransitions: events.filter((event) => event.type === 'StateEntered').length,
    historyEvents: history.count,
    largestPayloadBytes: largest.bytes,
    ...(largest.at ? { largestPayloadAt: largest.at } : {}),
  });

  try {
    const output = await execution.result;
    await monitoring;
    measure(output, 'The execution output');
    if (violation) throw new ExecutionAbortedError();
    return finish({ status: 'SUCCEEDED', executionArn, output });
  } catch (error) {
    await monitoring.catch(() => undefined);
    if (violation) {
      const failed: ExecutionEvent = { type: 'ExecutionFailed', timestamp: Date.now(), Error: violation.name, Cause: violation.message };
      events.push(failed);
      options.onEvent?.(failed);
      return finish({ status: 'FAILED', executionArn, error: violation.name, cause: violation.message });
    }
    if (error instanceof ExecutionTimeoutError) {
      return finish({
        status: 'TIMED_OUT',
        executionArn,
        error: 'States.Timeout',
        cause: `The execution ran longer than its TimeoutSeconds (${definition.TimeoutSeconds} s)`,
      });
    }
    if (!(error instanceof ExecutionError)) throw error;
    const failed = events.findLast((event) => event.type === 'ExecutionFailed');
    return finish({
      status: 'FAILED',
      executionArn,
      error: failed?.Error ?? 'States.Runtime',
      cause: typeof failed?.Cause === 'string' ? failed.Cause : JSON.stringify(failed?.Cause ?? error.message),
    });
  }
}

async function loadDefinition(options: LocalRunOptions): Promise<{ definition: StateMachineDefinition; handlers: Record<string, TaskHandler> }> {
  if (options.definition) return { definition: structuredClone(options.definition), handlers: options.handlers };
  if (!options.definitionFile) throw new Error('runLocalExecution needs a definition or a definitionFile');
  const raw = await readFile(options.definitionFile, 'utf8');
  const placeholders = new Set([...raw.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]!));
  const arn = (name: string) => `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT}:function:${name}`;
  // Handlers are keyed by placeholder: key them by the resource each placeholder becomes.
  const handlers: Record<string, TaskHandler> = {};
  for (const name of placeholders) {
    const handler = options.handlers[name];
    if (!handler) throw new Error(`${options.definitionFile}: no local handler for \${${name}}`);
    handlers[arn(name)] = handler;
  }
  const definition = JSON.parse(raw.replace(/\$\{(\w+)\}/g, (_, name: string) => arn(name))) as StateMachineDefinition;
  return { definition, handlers };
}

/**
 * Counts history events as Step Functions records them for these state machines: ExecutionStarted and the
 * execution's end; <Type>StateEntered and <Type>StateExited per state; for a Lambda Task, Scheduled, Started
 * and Succeeded/Failed/TimedOut per attempt; for a Map, MapStateStarted and MapStateSucceeded, and
 * MapIterationStarted and Succeeded/Failed per item.
 */
export class HistoryCounter {
  count = 0;

  add(event: ExecutionEvent): void {
    switch (event.type) {
      case 'StateEntered':
        this.count += 1;
        if (event.state?.type === 'Task') this.count += 3;
        if (event.state?.type === 'Map') this.count += 1;
        break;
      case 'StateExited':
        this.count += event.state?.type === 'Map' ? 2 : 1;
        break;
      case 'StateRetried':
        this.count += 3;
        break;
      case 'ExecutionStarted':
      case 'ExecutionSucceeded':
      case 'ExecutionFailed':
      case 'ExecutionTimeout':
      case 'ExecutionAborted':
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        this.count += 1;
        break;
      default:
        break;
    }
  }
}

/**
 * Where a failed execution's error began, as an operator reads it in the execution history: the first state
 * that failed with that error, or that caught it into its output (`error: {Error, Cause}`), with that cause.
 * The results the state carries to the end keep only a bounded summary of each window's error.
 */
export function errorOrigin(result: Pick<LocalRunResult, 'events' | 'error'>): { state: string; cause: string } | undefined {
  if (!result.error) return undefined;
  const text = (cause: unknown) => (typeof cause === 'string' ? cause : JSON.stringify(cause));
  for (const event of result.events) {
    if (!event.state) continue;
    if (event.type === 'StateFailed' && event.Error === result.error && event.state.type === 'Task') {
      return { state: event.state.name, cause: text(event.Cause) };
    }
    const caught = (event.state.output as { error?: { Error?: unknown; Cause?: unknown } } | undefined)?.error;
    if (event.type === 'StateExited' && caught?.Error === result.error && caught.Cause !== undefined) {
      return { state: event.state.name, cause: text(caught.Cause) };
    }
  }
  return undefined;
}

export function estimateHistoryEvents(events: ExecutionEvent[]): number {
  const counter = new HistoryCounter();
  for (const event of events) counter.add(event);
  return counter.count;
}

/**
 * Where a definition breaks Step Functions' rule for `States.ALL`: it must appear alone in its ErrorEquals,
 * and only in the last retrier (Retry) or catcher (Catch) of its state.
 */
export function statesAllProblems(definition: StateMachineDefinition): string[] {
  const problems: string[] = [];
  visitStates(definition, (name, state) => {
    for (const field of ['Retry', 'Catch'] as const) {
      const list = (state[field] ?? []) as { ErrorEquals?: string[] }[];
      list.forEach((entry, index) => {
        if (!entry.ErrorEquals?.includes('States.ALL')) return;
        if (entry.ErrorEquals.length !== 1) problems.push(`${name}.${field}[${index}]: States.ALL is not alone in ErrorEquals`);
        if (index !== list.length - 1) problems.push(`${name}.${field}[${index}]: States.ALL is not in the last ${field === 'Retry' ? 'retrier' : 'catcher'}`);
      });
    }
  });
  return problems;
}

type AnyState = { Type: string; Resource?: unknown; Retry?: unknown[]; Catch?: unknown[]; ItemProcessor?: StateMachineDefinition; Iterator?: StateMachineDefinition; Branches?: StateMachineDefinition[] };

function visitStates(definition: StateMachineDefinition, visit: (name: string, state: AnyState) => void): void {
  for (const [name, state] of Object.entries(definition.States) as [string, AnyState][]) {
    visit(name, state);
    const nested = state.ItemProcessor ?? state.Iterator;
    if (nested) visitStates(nested, visit);
    for (const branch of state.Branches ?? []) visitStates(branch, visit);
  }
}
