import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFaultSpec } from '../../emulators/common/fault-spec.js';
import { createReportBody, planFor, reportLocation } from '../../functions/mft/export-plan.js';
import { mftExportInputSchema } from '../../functions/mft/model.js';
import { DeployedStack, twinBindings, type CloudAssembly } from '../../local/deployed-stack.js';
import { LambdaSandbox } from '../../local/lambda-runtime.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { cachedAssembly } from '../../local/synthesize.js';
import { startTwin, TWIN_XRAY_TENANT, type Twin } from '../../local/twin.js';
import { duplicatesOf, storedXrayEventIds } from '../support/stored-events.js';

/**
 * What a first deployment would run, locally: the synthesized stack (both sources), each state machine's
 * deployed definition, every Task invoking its function's minified bundle from the cloud assembly in a Node 22
 * container of its own with only the environment the template gives it. The vendors are the emulators, S3 and
 * DynamoDB the twin's servers, Secrets Manager and KMS the stand-in, all reached by the bundles' own SDK.
 * A transient fault must be retried by the state machine: that needs error names that survive minification.
 */

const CONFIG = {
  stackName: 'AuditExportTwin',
  env: { account: '123456789012', region: 'eu-west-1' },
  sources: {
    mft: {},
    xray: { enabled: true, baseUrl: 'https://acme.jfrog.io', tenant: TWIN_XRAY_TENANT, windowMinutes: 1440, maxWindowsPerRun: 31 },
  },
};

const DAY_MS = 86_400_000;
/** Xray windows within the vendor's retention (30 days, the deployed default): the last three whole days. */
const TODAY = Math.floor(Date.now() / DAY_MS) * DAY_MS;
const XRAY_WINDOW = { start: new Date(TODAY - 3 * DAY_MS).toISOString(), end: new Date(TODAY).toISOString() };

let assembly: CloudAssembly;
let twin: Twin;
let stack: DeployedStack;
let directory: string;

beforeAll(async () => {
  assembly = await cachedAssembly(CONFIG);
  directory = await mkdtemp(path.join(os.tmpdir(), 'deployed-stack-'));
  twin = await startTwin({ directory, mft: { reportReadyAfterMs: 300, eventsPerHour: 600 }, xray: { events: 20_000, datasetEnd: XRAY_WINDOW.end } });
  stack = await DeployedStack.start(assembly, { ...twinBindings(twin, assembly), region: CONFIG.env.region, account: CONFIG.env.account });
}, 300_000);

afterAll(async () => {
  await stack?.close();
  await twin?.close();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** Each Task attempt that failed, as `State: Error`, in order. */
const failedAttempts = (result: LocalRunResult) =>
  result.events.filter((event) => event.type === 'StateFailed').map((event) => `${event.state?.name}: ${event.Error}`);
const retried = (result: LocalRunResult) => result.events.filter((event) => event.type === 'StateRetried').map((event) => event.state?.name);

function report(result: LocalRunResult, source: string) {
  const retries = retried(result);
  process.stdout.write(
    `deployed ${source}: ${result.status}${result.error ? ` (${result.error})` : ''}, failed attempts [${failedAttempts(result).join(', ')}], ` +
      `retries ${retries.length} [${retries.join(', ')}], history events ${result.historyEvents}, largest state ${result.largestPayloadBytes} B\n`,
  );
}

describe('the synthesized stack on the twin', () => {
  it('the template is what runs: every state machine and function of the stack, definitions fully substituted', () => {
    expect(stack.stateMachines.map((machine) => machine.name).sort()).toEqual(['AuditExportTwin-mft-export', 'AuditExportTwin-xray-export']);
    for (const machine of stack.stateMachines) {
      expect(JSON.stringify(machine.definition)).not.toContain('${');
      expect(Object.keys(machine.functions).length).toBeGreaterThan(0);
    }
    // 8 MFT functions, 3 Xray functions, the manifest consumer, the verifier.
    expect(stack.functions.size).toBe(13);
  });

  it("each function gets exactly its template environment, references resolved to the twin, plus only the twin's endpoints", () => {
    const twinEndpoints = ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_SECRETS_MANAGER'];
    const functions = Object.entries(assembly.template.Resources).filter(([, resource]) => resource.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(stack.functions.size);
    const checkpointTableReaders: string[] = [];
    for (const [logicalId, resource] of functions) {
      const fn = [...stack.functions.values()].find((candidate) => candidate.spec.name === `${assembly.stackName}-${logicalId}`)!;
      const template = (resource.Properties?.Environment?.Variables ?? {}) as Record<string, unknown>;
      const mft = 'MFT_BASE_URL' in template;
      expect(Object.keys(fn.spec.environment).sort(), logicalId).toEqual(
        [...Object.keys(template), ...twinEndpoints, ...(mft ? ['MFT_DOWNLOAD_ALLOW_LOOPBACK'] : [])].sort(),
      );
      for (const [name, value] of Object.entries(template)) {
        if (typeof value === 'string' && name !== 'MFT_BASE_URL' && name !== 'XRAY_BASE_URL') expect(fn.spec.environment[name], `${logicalId} ${name}`).toBe(value);
      }
      if ('EXPORT_BUCKET' in template) expect(fn.spec.environment.EXPORT_BUCKET).toBe(twin.s3.bucket);
      if ('CHECKPOINT_TABLE' in template) {
        expect(fn.spec.environment.CHECKPOINT_TABLE).toBe(twin.dynamo.table);
        checkpointTableReaders.push(logicalId);
      }
      if (mft) expect(fn.spec.environment.MFT_BASE_URL).toBe(twin.mft.baseUrl);
    }
    // The ledger steps and the report record's steps (CreateReport, CheckReport, DeleteReport, Housekeeping) of MFT,
    // and Xray's ledger steps, reach the twin's table.
    expect(checkpointTableReaders.filter((id) => id.startsWith('Mft')).length).toBe(6);
  });

  it('MFT: a token endpoint failing 5 times in a row (token:503x5) is retried by the state machine, and the export succeeds', async () => {
    const input = { window: { start: '2026-11-20T00:00:00.000Z', end: '2026-11-20T02:00:00.000Z' }, type: 'json' as const };
    for (const rule of parseFaultSpec('token:503x5').mft) twin.mft.faults.add(rule);
    const result = await stack.run(stack.stateMachine('-mft-export'), { input, executionName: 'mft-bundled', waitMs: 50, retryMs: 50 });
    report(result, 'mft');
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    // The bundle's HTTP client gave up after its own 5 attempts and threw a TransientError by that name.
    expect(failedAttempts(result)).toEqual(['IssueToken: TransientError']);
    expect(retried(result)).toEqual(['IssueToken']);

    const windows = (result.output as { windows: { status: string; window: { start: string; end: string } }[] }).windows;
    expect(windows.map((window) => [window.window.start, window.status])).toEqual([
      ['2026-11-20T00:00:00.000Z', 'SUCCEEDED'],
      ['2026-11-20T01:00:00.000Z', 'SUCCEEDED'],
    ]);
    // Byte for byte what the vendor serves, in the window's folder of the twin's bucket.
    const plan = planFor(mftExportInputSchema.parse(input), twin.mftRuntime().settings);
    for (const window of windows) {
      const expected = createHash('sha256');
      for await (const chunk of twin.mft.expectedFile(createReportBody(plan, window.window) as never)) expected.update(chunk);
      const { key } = reportLocation(plan, window.window);
      const stored = await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: key }));
      expect(createHash('sha256').update(await stored.Body!.transformToByteArray()).digest('hex')).toBe(expected.digest('hex'));
    }
    // Tokens were sealed by envelope encryption under the stack's sealing key, credentials read from the secret.
    expect(stack.aws.calls).toContain('kms:GenerateDataKey');
    expect(stack.aws.calls).toContain('kms:Decrypt');
    expect(stack.aws.calls).toContain('secretsmanager:GetSecretValue');
    expect(stack.aws.calls).not.toContain('kms:Encrypt');
    // The functions' own JSON logs (what CloudWatch Logs would hold) name the error as thrown.
    const logs = await readFile(twin.logFile, 'utf8');
    expect(logs).toMatch(/"step":"IssueToken".*"errorName":"TransientError"/);
  }, 180_000);

  it('each function has its own containers, reused while warm', () => {
    const mft = stack.stateMachine('-mft-export');
    const pids = new Map<number, string>();
    for (const fn of Object.values(mft.functions)) {
      for (const invocation of fn.invocations) {
        const owner = pids.get(invocation.pid);
        expect(owner === undefined || owner === fn.spec.name, `pid ${invocation.pid} shared by ${owner} and ${fn.spec.name}`).toBe(true);
        pids.set(invocation.pid, fn.spec.name);
      }
      // A container is started only when every started one is busy: never more than the invocations in flight (2 windows).
      if (fn.invocations.length > 0) expect(fn.coldStarts).toBeLessThanOrEqual(2);
    }
    const issueToken = Object.values(mft.functions).find((fn) => fn.spec.name.includes('MftIssueToken'))!;
    // The failed attempt and its retry ran in the same (warm) container.
    expect(issueToken.invocations.map((invocation) => invocation.coldStart)).toEqual([true, false]);
    expect(new Set(issueToken.invocations.map((invocation) => invocation.pid)).size).toBe(1);
  });

  it('Xray: pages failing 5 times in a row (xray:503x5) are retried by the state machine, every event stored exactly once', async () => {
    const window = XRAY_WINDOW;
    for (const rule of parseFaultSpec('xray:503x5').xray) twin.xray!.faults.add(rule);
    const result = await stack.run(stack.stateMachine('-xray-export'), { input: { window, format: 'json' }, executionName: 'xray-bundled', waitMs: 0, retryMs: 50 });
    report(result, 'xray');
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(failedAttempts(result)).toEqual(['ExportPages: TransientError']);
    expect(retried(result)).toEqual(['ExportPages']);
    const stored = await storedXrayEventIds(twin.s3Client, twin.s3.bucket, `source=xray/tenant=${TWIN_XRAY_TENANT}/`);
    const expected = twin.xray!.eventIds({ ...window, dryRun: false });
    expect(expected.length).toBeGreaterThan(1000);
    expect(duplicatesOf(stored)).toEqual([]);
    expect([...stored].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
  }, 180_000);

  it('the verifier, bundled as deployed, verifies what the exports stored and publishes UnverifiedWindows', async () => {
    const verifier = [...stack.functions.values()].find((fn) => fn.spec.name.includes('Verifier'))!;
    const summary = (await verifier.invoke({ days: 3 })) as { streams: { stream: string; windowsChecked: number; windowsHashed: number; unverified: number }[]; unverifiedWindows: number };
    const mft = summary.streams.find((stream) => stream.stream.startsWith('mft|'))!;
    expect(mft.windowsChecked).toBe(72);
    // Windows of the three days before the checkpoint that no test exported are missing: counted, alarmed.
    expect(mft.unverified).toBe(mft.windowsChecked - mft.windowsHashed);
    const published = (await readFile(twin.logFile, 'utf8'))
      .split('\n')
      .filter((line) => line.includes('"UnverifiedWindows"'))
      .map((line) => JSON.parse(line) as Record<string, any>);
    expect(published.find((line) => line.Source === 'mft')).toMatchObject({ UnverifiedWindows: mft.unverified, _aws: { CloudWatchMetrics: [{ Namespace: 'AuditExport' }] } });
  });
});

describe('a bundled function as the Lambda runtime runs it', () => {
  let sandbox: LambdaSandbox;
  let code: string;

  beforeAll(async () => {
    code = await mkdtemp(path.join(os.tmpdir(), 'lambda-code-'));
    await writeFile(
      path.join(code, 'index.mjs'),
      `let served = 0;
       const startedAt = Date.now();
       export async function handler(event, context) {
         served++;
         if (event.fail) { const error = new Error('it broke'); error.name = event.fail; throw error; }
         if (event.sleepMs) await new Promise((resolve) => setTimeout(resolve, event.sleepMs));
         if (event.exit) process.exit(3);
         if (event.require) return { resolved: import.meta.resolve ? await import(event.require).then(() => 'found', (e) => e.code) : 'n/a' };
         return { served, pid: process.pid, startedAt, remainingMs: context.getRemainingTimeInMillis(), requestId: context.awsRequestId, env: { name: process.env.AWS_LAMBDA_FUNCTION_NAME, secretsEndpoint: process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? null, home: process.env.HOME, parentVariable: process.env.npm_lifecycle_event ?? null } };
       }`,
    );
    sandbox = await LambdaSandbox.create({ region: 'eu-west-1', credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' } });
  });

  afterAll(async () => {
    await sandbox?.close();
    await rm(code, { recursive: true, force: true });
  });

  type Failure = { errorType: string; stepFunctionsCause: string };
  const failureOf = (promise: Promise<unknown>) => promise.then(
    () => {
      throw new Error('expected the invocation to fail');
    },
    (error: unknown) => error as Failure,
  );
  const add = (name: string, timeoutSeconds = 30) =>
    sandbox.add({ name, codeDirectory: code, handler: 'index.handler', timeoutSeconds, memoryMb: 256, environment: { OWN: 'yes' } }, `arn:aws:lambda:eu-west-1:123456789012:function:${name}`);

  it('a cold start imports the bundle once; the warm container then keeps its module state', async () => {
    const fn = await add('Warm');
    const first = (await fn.invoke({})) as { served: number; pid: number; startedAt: number; remainingMs: number; env: Record<string, unknown> };
    const second = (await fn.invoke({})) as typeof first;
    expect([first.served, second.served]).toEqual([1, 2]);
    expect(second.pid).toBe(first.pid);
    expect(second.startedAt).toBe(first.startedAt);
    expect(fn.invocations.map((invocation) => invocation.coldStart)).toEqual([true, false]);
    expect(fn.invocations[0]!.initMs).toBeGreaterThanOrEqual(0);
    expect(first.remainingMs).toBeGreaterThan(25_000);
    expect(first.remainingMs).toBeLessThanOrEqual(30_000);
    // Only the function's environment and the runtime's: nothing of the parent process.
    expect(first.env).toMatchObject({ name: 'Warm', secretsEndpoint: null, parentVariable: null });
    // Two invocations at once need two containers.
    const both = (await Promise.all([fn.invoke({ sleepMs: 300 }), fn.invoke({ sleepMs: 300 })])) as (typeof first)[];
    expect(new Set(both.map((result) => result.pid)).size).toBe(2);
    expect(fn.coldStarts).toBe(2);
  });

  it('errors come back as {errorType: error.name, errorMessage, trace}, and the container stays warm', async () => {
    const fn = await add('Errors');
    const failure = await failureOf(fn.invoke({ fail: 'TransientError' }));
    expect(failure.errorType).toBe('TransientError');
    expect(JSON.parse(failure.stepFunctionsCause)).toMatchObject({ errorType: 'TransientError', errorMessage: 'it broke', trace: expect.arrayContaining(['TransientError: it broke']) });
    await fn.invoke({});
    expect(fn.invocations.map((invocation) => invocation.coldStart)).toEqual([true, false]);
  });

  it('past its timeout the container is discarded and Step Functions sees Sandbox.Timedout; a crash is Lambda.Unknown', async () => {
    const fn = await add('Slow', 1);
    const timedOut = await failureOf(fn.invoke({ sleepMs: 5_000 }));
    expect(timedOut.errorType).toBe('Sandbox.Timedout');
    expect(JSON.parse(timedOut.stepFunctionsCause).errorMessage).toMatch(/^RequestId: [0-9a-f-]+ Error: Task timed out after 1\.00 seconds$/);
    const crashed = await failureOf(fn.invoke({ exit: true }));
    expect(crashed.errorType).toBe('Lambda.Unknown');
    expect(crashed.stepFunctionsCause).toMatch(/Lambda did not return an error type.*Runtime exited with error: exit status 3/);
    await fn.invoke({});
    expect(fn.invocations.map((invocation) => [invocation.coldStart, invocation.outcome])).toEqual([
      [true, 'timeout'],
      [true, 'crash'],
      [true, 'ok'],
    ]);
  });

  it('no node_modules is reachable from the code', async () => {
    const fn = await add('Alone');
    expect(await fn.invoke({ require: 'zod' })).toEqual({ resolved: 'ERR_MODULE_NOT_FOUND' });
    expect(await fn.invoke({ require: '@aws-sdk/client-s3' })).toEqual({ resolved: 'ERR_MODULE_NOT_FOUND' });
  });
});
