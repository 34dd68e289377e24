import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/app.js';
import { MFT_EXECUTION_TIMEOUT_MS } from '../../functions/mft/runtime.js';
import { XRAY_EXECUTION_TIMEOUT_MS } from '../../functions/xray/runtime.js';
import { MFT_WINDOW_CONCURRENCY } from '../../infra/config.js';
import { MFT_ASL_FILE } from '../../infra/sources/mft.js';
import { XRAY_ASL_FILE } from '../../infra/sources/xray.js';
import { synthesize, synthesizedStateMachines, TEST_ENV, type SynthesizedStateMachine } from './synth.js';

/**
 * The state machines checked by an ASL validator that is not ours (npm asl-validator), on both the files and the
 * definitions the synthesized stack deploys, plus the rules of Step Functions it does not check.
 */

type Validator = (definition: unknown, options?: { checkArn?: boolean; checkPaths?: boolean }) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as Validator;

interface State {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  Retry?: { ErrorEquals: string[]; MaxAttempts?: number }[];
  Catch?: { ErrorEquals: string[] }[];
  ItemProcessor?: { States: Record<string, State> };
  Iterator?: { States: Record<string, State> };
  Branches?: { States: Record<string, State> }[];
}

function allStates(definition: { States: Record<string, State> }): [string, State][] {
  return Object.entries(definition.States).flatMap(([name, state]): [string, State][] => [
    [name, state],
    ...(state.ItemProcessor ?? state.Iterator ? allStates((state.ItemProcessor ?? state.Iterator)!) : []),
    ...(state.Branches ?? []).flatMap((branch) => allStates(branch)),
  ]);
}

/** The ASL files as written, placeholders replaced by syntactically valid function ARNs. */
const files = [MFT_ASL_FILE, XRAY_ASL_FILE].map((file) => ({
  file,
  definition: JSON.parse(
    readFileSync(join(PROJECT_ROOT, file), 'utf8').replace(
      /\$\{(\w+)\}/g,
      (_, name: string) => `arn:aws:lambda:${TEST_ENV.region}:${TEST_ENV.account}:function:${name}`,
    ),
  ) as { States: Record<string, State> },
}));

let deployed: SynthesizedStateMachine[];
let functionTimeouts: Record<string, number>;

beforeAll(() => {
  const s = synthesize({ env: TEST_ENV, sources: { xray: { enabled: true, baseUrl: 'https://acme.jfrog.io' } } });
  deployed = synthesizedStateMachines(s);
  const resources = s.template.toJSON().Resources as Record<string, { Properties: { Timeout?: number } }>;
  functionTimeouts = Object.fromEntries(
    deployed.flatMap((machine) => Object.entries(machine.functions).map(([arn, id]) => [arn, resources[id]!.Properties.Timeout ?? 3])),
  );
});

/** The errors Step Functions documents for a Lambda invocation that failed in the Lambda service, not the code. */
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];

describe('an independent ASL validator (asl-validator)', () => {
  it.each(files)('accepts $file', ({ definition }) => {
    const result = aslValidator(structuredClone(definition), { checkArn: true, checkPaths: true });
    expect(result.isValid, result.errorsText('\n')).toBe(true);
  });

  it('accepts every synthesized definition, with no placeholder left', () => {
    expect(deployed.map((machine) => machine.name).sort()).toEqual(['AuditExport-mft-export', 'AuditExport-xray-export']);
    for (const machine of deployed) {
      expect(JSON.stringify(machine.definition)).not.toContain('${');
      const result = aslValidator(structuredClone(machine.definition), { checkArn: true, checkPaths: true });
      expect(result.isValid, `${machine.name}: ${result.errorsText('\n')}`).toBe(true);
    }
  });

  it('would reject a broken definition (it is not a rubber stamp)', () => {
    const broken = structuredClone(files[0]!.definition) as { States: Record<string, State & { Next?: string }> };
    broken.States.PlanExport!.Next = 'NoSuchState';
    expect(aslValidator(broken, { checkArn: true, checkPaths: true }).isValid).toBe(false);
  });
});

describe('rules Step Functions enforces that the validator does not', () => {
  it('States.ALL appears alone in its ErrorEquals, and only in the last retrier or catcher (the files and the deployed definitions)', () => {
    const problems: string[] = [];
    const definitions = [...files, ...deployed.map((machine) => ({ file: machine.name, definition: machine.definition as { States: Record<string, State> } }))];
    expect(definitions).toHaveLength(4);
    for (const { file, definition } of definitions) {
      for (const [name, state] of allStates(definition)) {
        for (const field of ['Retry', 'Catch'] as const) {
          const list = state[field] ?? [];
          list.forEach((entry, index) => {
            if (!entry.ErrorEquals.includes('States.ALL')) return;
            if (entry.ErrorEquals.length !== 1) problems.push(`${file} ${name}.${field}[${index}]: States.ALL is not alone`);
            if (index !== list.length - 1) problems.push(`${file} ${name}.${field}[${index}]: States.ALL is not last`);
          });
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('Lambda failures as Step Functions reports them', () => {
  it('every Task retries the Lambda service errors, and timeouts and crashes (Sandbox.Timedout, Lambda.Unknown) at most twice', () => {
    for (const machine of deployed) {
      for (const [name, state] of allStates(machine.definition as { States: Record<string, State> })) {
        if (state.Type !== 'Task') continue;
        const retried = state.Retry!.flatMap((retrier) => retrier.ErrorEquals);
        for (const error of [...LAMBDA_SERVICE_ERRORS, 'States.Timeout', 'Sandbox.Timedout', 'Lambda.Unknown']) {
          expect(retried, `${machine.name} ${name} retries ${error}`).toContain(error);
        }
        const timeouts = state.Retry!.find((retrier) => retrier.ErrorEquals.includes('Sandbox.Timedout'))!;
        expect(timeouts.ErrorEquals).toContain('Lambda.Unknown');
        expect(timeouts.MaxAttempts, `${machine.name} ${name}`).toBeGreaterThanOrEqual(1);
        expect(timeouts.MaxAttempts, `${machine.name} ${name}`).toBeLessThanOrEqual(2);
        expect(state.Catch?.at(-1)?.ErrorEquals, `${machine.name} ${name} catches the rest`).toEqual(['States.ALL']);
      }
    }
  });

  it("every Task waits longer than its function's timeout, so the Lambda reports its own timeout and no attempt outlives its retry", () => {
    for (const machine of deployed) {
      for (const [name, state] of allStates(machine.definition as { States: Record<string, State> })) {
        if (state.Type !== 'Task') continue;
        const functionTimeout = functionTimeouts[state.Resource!]!;
        expect(state.TimeoutSeconds, `${machine.name} ${name}: function timeout ${functionTimeout} s`).toBeGreaterThan(functionTimeout);
        expect(state.TimeoutSeconds! - functionTimeout, `${machine.name} ${name}`).toBeLessThanOrEqual(60);
      }
    }
  });
});

describe('what the code assumes of the definitions', () => {
  it('execution timeouts (lease lifetimes, the MFT start deadline) and the MFT window concurrency match the ASL', () => {
    const [mft, xray] = files.map(({ definition }) => definition as unknown as { TimeoutSeconds: number; States: Record<string, { MaxConcurrency?: number }> });
    expect(mft!.TimeoutSeconds * 1000).toBe(MFT_EXECUTION_TIMEOUT_MS);
    expect(xray!.TimeoutSeconds * 1000).toBe(XRAY_EXECUTION_TIMEOUT_MS);
    expect(mft!.States.ExportWindows!.MaxConcurrency).toBe(MFT_WINDOW_CONCURRENCY);
  });
});
