import { setTimeout as sleep } from 'node:timers/promises';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../functions/common/errors.js';
import { runLocalExecution, STEP_FUNCTIONS_LIMITS, type LocalRunOptions, type LocalRunResult } from '../../local/state-machine-runner.js';

/**
 * The local engine enforces the Step Functions limits these state machines can meet; the interpreter it wraps
 * has none of them. Each test breaks one limit and checks the execution ends as it would in AWS.
 */

const ARN = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;
const KiB = 1024;
const text = (bytes: number) => 'x'.repeat(bytes);

/** Every Task retries everything and catches everything: a limit must still end the execution. */
const forgiving = { Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 2, IntervalSeconds: 1 }], Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Caught' }] };
const caught = { Caught: { Type: 'Pass', End: true } };

function run(definition: object, handlers: Record<string, LocalRunOptions['handlers'][string]>, input: unknown = {}): Promise<LocalRunResult> {
  return runLocalExecution({
    definition: definition as StateMachineDefinition,
    handlers: Object.fromEntries(Object.entries(handlers).map(([name, handler]) => [ARN(name), handler])),
    input,
    executionName: 'strict',
    retryMs: 1,
  });
}

const entered = (result: LocalRunResult, state: string) => result.events.some((event) => event.type === 'StateEntered' && event.state?.name === state);

describe('256 KiB per payload (States.DataLimitExceeded, not caught by States.ALL)', () => {
  it('a Task result over the limit fails the execution: no retry, no catch', async () => {
    let calls = 0;
    const result = await run(
      { StartAt: 'Big', States: { Big: { Type: 'Task', Resource: ARN('big'), ...forgiving, End: true }, ...caught } },
      { big: async () => (calls++, { data: text(STEP_FUNCTIONS_LIMITS.payloadBytes) }) },
    );
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.DataLimitExceeded');
    expect(result.cause).toMatch(/The result of Task Big has a size of 262155 bytes, exceeding the maximum of 262144 bytes/);
    expect(calls).toBe(1);
    expect(entered(result, 'Caught')).toBe(false);
  });

  it("a state's output over the limit (results that fit, adding up) fails it before the next state runs", async () => {
    let third = 0;
    const result = await run(
      {
        StartAt: 'First',
        States: {
          First: { Type: 'Task', Resource: ARN('part'), ResultPath: '$.a', Next: 'Second' },
          Second: { Type: 'Task', Resource: ARN('part'), ResultPath: '$.b', ...forgiving, Next: 'Third' },
          Third: { Type: 'Task', Resource: ARN('third'), ...forgiving, End: true },
          ...caught,
        },
      },
      { part: async () => text(140 * KiB), third: async () => (third++, {}) },
    );
    expect([result.status, result.error]).toEqual(['FAILED', 'States.DataLimitExceeded']);
    expect(result.cause).toMatch(/^The output of state Second has a size of \d+ bytes/);
    expect(third).toBe(0);
    expect(entered(result, 'Caught')).toBe(false);
  });

  it('a Task input over the limit after Parameters is never sent to the function', async () => {
    let calls = 0;
    const result = await run(
      {
        StartAt: 'Send',
        States: {
          Send: { Type: 'Task', Resource: ARN('send'), Parameters: { 'one.$': '$.data', 'two.$': '$.data' }, ...forgiving, End: true },
          ...caught,
        },
      },
      { send: async () => (calls++, {}) },
      { data: text(130 * KiB) },
    );
    expect([result.status, result.error]).toEqual(['FAILED', 'States.DataLimitExceeded']);
    expect(result.cause).toMatch(/^The input of Task Send/);
    expect(calls).toBe(0);
  });

  it('an execution input over the limit does not start', async () => {
    const result = await run({ StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } }, {}, { data: text(257 * KiB) });
    expect([result.status, result.error]).toEqual(['FAILED', 'States.DataLimitExceeded']);
    expect(result.cause).toMatch(/^The execution input/);
  });

  it('just under the limit passes, and the largest payload is reported', async () => {
    const result = await run(
      { StartAt: 'Fits', States: { Fits: { Type: 'Task', Resource: ARN('fits'), End: true } } },
      { fits: async () => ({ data: text(STEP_FUNCTIONS_LIMITS.payloadBytes - 100) }) },
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(result.largestPayloadBytes).toBe(STEP_FUNCTIONS_LIMITS.payloadBytes - 100 + 11);
  });
});

describe('25,000 history events', () => {
  it('counts events as Step Functions records them', async () => {
    const result = await run({ StartAt: 'One', States: { One: { Type: 'Task', Resource: ARN('one'), End: true } } }, { one: async () => ({}) });
    // ExecutionStarted, TaskStateEntered, LambdaFunctionScheduled/Started/Succeeded, TaskStateExited, ExecutionSucceeded.
    expect(result.historyEvents).toBe(7);
  });

  it('a loop that would record more fails the execution at the limit', async () => {
    let calls = 0;
    const result = await run(
      {
        StartAt: 'Step',
        States: {
          Step: { Type: 'Task', Resource: ARN('step'), ...forgiving, Next: 'Again' },
          Again: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericLessThan: 100_000, Next: 'Step' }], Default: 'Caught' },
          ...caught,
        },
      },
      { step: async () => ({ n: ++calls }) },
      { n: 0 },
    );
    expect([result.status, result.error]).toEqual(['FAILED', 'States.Runtime']);
    expect(result.cause).toBe('The execution reached the maximum number of history events (25000)');
    // 7 events per round (Task 5, Choice 2): the loop stops after about 25,000 / 7 rounds.
    expect(calls).toBeGreaterThan(3500);
    expect(calls).toBeLessThan(3600);
  }, 120_000);
});

describe('timeouts', () => {
  it("the execution's TimeoutSeconds ends it as TIMED_OUT (States.Timeout)", async () => {
    const result = await run({ TimeoutSeconds: 1, StartAt: 'Wait', States: { Wait: { Type: 'Wait', Seconds: 30, End: true } } }, {});
    expect([result.status, result.error]).toEqual(['TIMED_OUT', 'States.Timeout']);
  });

  it("a Task's TimeoutSeconds fails the attempt with States.Timeout, which Retry and Catch match", async () => {
    let calls = 0;
    const result = await run(
      {
        StartAt: 'Slow',
        States: {
          Slow: {
            Type: 'Task',
            Resource: ARN('slow'),
            TimeoutSeconds: 1,
            Retry: [{ ErrorEquals: ['States.Timeout'], MaxAttempts: 1 }],
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            End: true,
          },
          ...caught,
        },
      },
      { slow: async () => (calls++, await sleep(2_500), {}) },
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(calls).toBe(2);
    expect(result.output).toEqual({ Error: 'States.Timeout', Cause: 'States.Timeout' });
  });
});

describe('Lambda errors', () => {
  it('are reported as Step Functions reports them: error = errorType, cause = the runtime payload', async () => {
    let calls = 0;
    const result = await run(
      {
        StartAt: 'Flaky',
        States: {
          Flaky: {
            Type: 'Task',
            Resource: ARN('flaky'),
            Retry: [{ ErrorEquals: ['TransientError'], MaxAttempts: 2 }],
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            End: true,
          },
          ...caught,
        },
      },
      {
        flaky: async () => {
          calls++;
          throw new TransientError('the vendor answered 503');
        },
      },
    );
    expect(calls).toBe(3);
    const output = result.output as { Error: string; Cause: string };
    expect(output.Error).toBe('TransientError');
    const cause = JSON.parse(output.Cause) as { errorType: string; errorMessage: string; trace: string[] };
    expect(cause.errorType).toBe('TransientError');
    expect(cause.errorMessage).toBe('the vendor answered 503');
    expect(cause.trace[0]).toBe('TransientError: the vendor answered 503');
  });
});

describe('definitions Step Functions would not create', () => {
  const task = (retry: object[], catchers: object[] = []) => ({
    StartAt: 'Step',
    States: { Step: { Type: 'Task', Resource: ARN('step'), Retry: retry, ...(catchers.length ? { Catch: catchers } : {}), End: true }, ...caught },
  });
  const handlers = { step: async () => ({}) };

  it('States.ALL beside other errors, or before another retrier or catcher, is refused before anything runs', async () => {
    let calls = 0;
    const counting = { step: async () => (calls++, {}) };
    await expect(run(task([{ ErrorEquals: ['States.ALL', 'TransientError'] }]), counting)).rejects.toThrow(
      /SCHEMA_VALIDATION_FAILED.*Step\.Retry\[0\]: States\.ALL is not alone in ErrorEquals/,
    );
    await expect(run(task([{ ErrorEquals: ['States.ALL'] }, { ErrorEquals: ['TransientError'] }]), counting)).rejects.toThrow(
      /Step\.Retry\[0\]: States\.ALL is not in the last retrier/,
    );
    await expect(
      run(task([], [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }, { ErrorEquals: ['TransientError'], Next: 'Caught' }]), counting),
    ).rejects.toThrow(/Step\.Catch\[0\]: States\.ALL is not in the last catcher/);
    // Inside a Map's item processor as well.
    const map = { StartAt: 'Each', States: { Each: { Type: 'Map', ItemsPath: '$.items', ItemProcessor: task([{ ErrorEquals: ['States.ALL', 'X'] }]), End: true } } };
    await expect(run(map, counting, { items: [1] })).rejects.toThrow(/Step\.Retry\[0\]: States\.ALL is not alone/);
    expect(calls).toBe(0);
  });

  it('States.ALL alone in the last retrier and catcher runs', async () => {
    const result = await run(task([{ ErrorEquals: ['TransientError'] }, { ErrorEquals: ['States.ALL'] }], [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }]), handlers);
    expect(result.status).toBe('SUCCEEDED');
  });
});
