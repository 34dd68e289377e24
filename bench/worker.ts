/**
 * One measured scenario, in a fresh process so that its peak RSS is its own (the servers run elsewhere):
 *
 *   node bench-worker.mjs < task.json        (bench/run.ts bundles this file first; tsx works too)
 *
 * xray-export / mft-copy run the real state machine on the local engine (local/run-export.ts) with the
 * real handlers, their runtime built the way a Lambda builds it: from environment variables
 * (xrayRuntimeFromEnvironment / mftRuntimeFromEnvironment, i.e. buildXrayRuntime / buildMftRuntime with
 * the production defaults), pointed at the emulators and s3rver served by bench/servers.ts.
 * xray-pull / mft-download fetch the same bytes with nothing but fetch, one request after the other, and
 * drop them: the limit of this machine and of the emulator. The last stdout line is the result as JSON.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HttpClient } from '../functions/common/http.js';
import { LocalKeyTokenSealer } from '../functions/common/token-sealer.js';
import { MftClient } from '../functions/mft/client.js';
import { reportRequest } from '../functions/mft/export-plan.js';
import { mftRuntimeFromEnvironment } from '../functions/mft/runtime.js';
import { xrayRuntimeFromEnvironment } from '../functions/xray/runtime.js';
import { runMftExport, runXrayExport } from '../local/run-export.js';
import { handlerTimer, maxStatePayloadBytes, MemorySampler, stateSeconds, taskInvocations, threadCpuSeconds, timeS3Commands } from './lib/measure.js';
import type {
  MftCopyResult,
  MftDownloadResult,
  ServersReady,
  WorkerResult,
  XrayExportResult,
  XrayPullResult,
  XrayRequest,
} from './lib/protocol.js';

export type WorkerTask =
  | { mode: 'xray-export'; servers: ServersReady; window: { start: string; end: string }; format: 'json' | 'csv'; windowMinutes: number; csvPageSize?: number }
  | { mode: 'xray-pull'; servers: ServersReady; requests: XrayRequest[] }
  | { mode: 'mft-copy'; servers: ServersReady; window: { start: string; end: string }; scratchDirectory: string }
  | { mode: 'mft-download'; servers: ServersReady; window: { start: string; end: string } };

/** Object keys name the platform; like the twin, a stable name (local/twin.ts TWIN_XRAY_TENANT). */
const XRAY_TENANT = 'xray-twin';

let input = '';
for await (const chunk of process.stdin) input += String(chunk);
const result = await run(JSON.parse(input) as WorkerTask);
process.stdout.write(`${JSON.stringify(result)}\n`);

function run(task: WorkerTask): Promise<WorkerResult> {
  switch (task.mode) {
    case 'xray-export':
      return xrayExport(task);
    case 'xray-pull':
      return xrayPull(task);
    case 'mft-copy':
      return mftCopy(task);
    case 'mft-download':
      return mftDownload(task);
  }
}

/** What a Lambda of this stack would read, pointed at the twin (s3rver takes any signature with these keys). */
function s3Environment(servers: ServersReady): NodeJS.ProcessEnv {
  if (!servers.s3) throw new Error('no S3 endpoint');
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: servers.s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: servers.s3.credentials.secretAccessKey,
    EXPORT_BUCKET: servers.s3.bucket,
    S3_ENDPOINT: servers.s3.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

async function xrayExport(task: Extract<WorkerTask, { mode: 'xray-export' }>): Promise<XrayExportResult> {
  const xray = task.servers.xray;
  if (!xray) throw new Error('no Xray emulator');
  const env = {
    ...s3Environment(task.servers),
    XRAY_BASE_URL: xray.baseUrl,
    XRAY_ACCESS_TOKEN: xray.accessToken,
    XRAY_TENANT: XRAY_TENANT,
    XRAY_WINDOW_MINUTES: String(task.windowMinutes),
    // The dataset's range is fixed (runs stay comparable) and may lie beyond the vendor's 30 days by now.
    XRAY_RETENTION_DAYS: String(Math.ceil((Date.now() - Date.parse(task.window.start)) / 86_400_000) + 1),
    ...(task.csvPageSize ? { XRAY_CSV_PAGE_SIZE: String(task.csvPageSize) } : {}),
  };
  Object.assign(process.env, env); // the AWS SDK reads its credentials from the process environment
  const runtime = await xrayRuntimeFromEnvironment(env);
  const s3Timing = timeS3Commands(runtime.s3);
  const timer = handlerTimer();
  const memory = new MemorySampler();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const threadsBefore = threadCpuSeconds();
  const run = await runXrayExport(runtime, {
    input: { window: task.window, format: task.format },
    waitMs: 0,
    retryMs: 10,
    decorate: timer.decorate,
  });
  const seconds = (performance.now() - started) / 1000;
  const figures = memory.stop();
  runtime.s3.destroy();
  const stored = (timer.results.XrayExportPagesFunctionArn ?? []) as { done?: boolean; events?: number; parts?: number; bytes?: number; splits?: number }[];
  const finished = stored.filter((progress) => progress.done);
  const result: XrayExportResult = {
    kind: 'xray-export',
    format: task.format,
    status: run.status,
    runCpuSeconds: cpuSecondsSince(cpuBefore),
    handlerCpuSeconds: timer.busyCpuSeconds(),
    threadCpuSeconds: threadsSince(threadsBefore),
    events: sum(finished, 'events'),
    parts: sum(finished, 'parts'),
    bytesStored: sum(finished, 'bytes'),
    seconds,
    windows: finished.length,
    splits: sum(finished, 'splits'),
    taskInvocations: taskInvocations(run.events),
    taskDurationsMs: timer.durationsMs,
    stateTransitions: run.stateTransitions,
    historyEvents: run.historyEvents,
    maxStatePayloadBytes: maxStatePayloadBytes(run.events),
    s3: s3Timing,
    memory: figures,
  };
  if (run.status !== 'SUCCEEDED') result.error = `${run.error}: ${run.cause}`;
  return result;
}

/** The process's CPU-seconds (user + system, every thread) since `before`. */
function cpuSecondsSince(before: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / 1e6;
}

/** What each thread (by name) spent since `before` (threadCpuSeconds()), the ones that spent anything. */
function threadsSince(before: Record<string, number>): Record<string, number> {
  const after = threadCpuSeconds();
  return Object.fromEntries(Object.entries(after).map(([name, seconds]) => [name, Math.round((seconds - (before[name] ?? 0)) * 100) / 100]).filter(([, seconds]) => (seconds as number) > 0));
}

function sum<T>(items: T[], field: keyof T): number {
  return items.reduce((total, item) => total + (Number(item[field]) || 0), 0);
}

/**
 * Exactly the pages the export fetched (the emulator's request log: same windows, order_by=id asc,
 * num_of_rows 2000, same offsets, same format), one after the other, each body read to its end and dropped.
 */
async function xrayPull(task: Extract<WorkerTask, { mode: 'xray-pull' }>): Promise<XrayPullResult> {
  const xray = task.servers.xray;
  if (!xray) throw new Error('no Xray emulator');
  const headers = { authorization: `Bearer ${xray.accessToken}`, 'user-agent': 'audit-export-bench' };
  const memory = new MemorySampler();
  let bytes = 0;
  let pages = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const threadsBefore = threadCpuSeconds();
  for (const request of task.requests) {
    const response = await fetch(`${xray.baseUrl}${request.path}?${request.query}`, { headers });
    if (response.status !== request.status || !response.body) throw new Error(`Xray answered HTTP ${response.status}, the export got ${request.status}`);
    for await (const chunk of response.body) bytes += chunk.length;
    pages++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { kind: 'xray-pull', pages, bytes, seconds, cpuSeconds: cpuSecondsSince(cpuBefore), threadCpuSeconds: threadsSince(threadsBefore), memory: memory.stop() };
}

async function mftCopy(task: Extract<WorkerTask, { mode: 'mft-copy' }>): Promise<MftCopyResult> {
  const mft = task.servers.mft;
  if (!mft) throw new Error('no MFT emulator');
  const keyFile = path.join(task.scratchDirectory, 'mft-private-key.pem');
  await writeFile(keyFile, mft.privateKeyPem, { mode: 0o600 });
  const env = {
    ...s3Environment(task.servers),
    MFT_BASE_URL: mft.baseUrl,
    MFT_TENANT_ID: mft.tenantId,
    MFT_KID: mft.kid,
    MFT_PRIVATE_KEY_FILE: keyFile,
    TOKEN_SEALING_LOCAL_KEY: LocalKeyTokenSealer.generateKey(),
    MFT_POLL_INTERVAL_SECONDS: '1',
    MFT_DOWNLOAD_ALLOW_LOOPBACK: 'true',
  };
  Object.assign(process.env, env);
  const runtime = await mftRuntimeFromEnvironment(env);
  const s3Timing = timeS3Commands(runtime.s3);
  const timer = handlerTimer();
  const memory = new MemorySampler();
  const started = performance.now();
  const threadsBefore = threadCpuSeconds();
  const run = await runMftExport(runtime, {
    input: { window: task.window, type: 'json' },
    waitMs: 250,
    retryMs: 10,
    decorate: timer.decorate,
  });
  const executionSeconds = (performance.now() - started) / 1000;
  const figures = memory.stop();
  runtime.s3.destroy();
  const copied = (timer.results.CopyReportFunctionArn ?? []) as { bytes?: number }[];
  const result: MftCopyResult = {
    kind: 'mft-copy',
    status: run.status,
    bytes: sum(copied, 'bytes'),
    copySeconds: stateSeconds(run.events, 'CopyReportToS3'),
    executionSeconds,
    copyCpuSeconds: (timer.cpuMs.CopyReportFunctionArn ?? []).reduce((a, b) => a + b, 0) / 1000,
    threadCpuSeconds: threadsSince(threadsBefore),
    stateTransitions: run.stateTransitions,
    historyEvents: run.historyEvents,
    taskInvocations: taskInvocations(run.events),
    taskDurationsMs: timer.durationsMs,
    s3: s3Timing,
    memory: figures,
  };
  if (run.status !== 'SUCCEEDED') result.error = `${run.error}: ${run.cause}`;
  return result;
}

/** The same report file (same window and type), fetched from its presigned URL and dropped, like `> /dev/null`. */
async function mftDownload(task: Extract<WorkerTask, { mode: 'mft-download' }>): Promise<MftDownloadResult> {
  const mft = task.servers.mft;
  if (!mft) throw new Error('no MFT emulator');
  const client = new MftClient(mft.baseUrl, new HttpClient());
  const preparing = performance.now();
  const token = (await client.issueToken({ tenantId: mft.tenantId, kid: mft.kid, privateKeyPem: mft.privateKeyPem })).value;
  const created = await client.createReport(token, reportRequest('json', task.window));
  let report = await client.getReport(token, created.id);
  while (report.status === 'InProgress') {
    await new Promise((resolve) => setTimeout(resolve, 250));
    report = await client.getReport(token, created.id);
  }
  if (report.status !== 'Completed' || !report.url) throw new Error(`report ${created.id} ended ${report.rawStatus}`);
  const preparationSeconds = (performance.now() - preparing) / 1000;

  const memory = new MemorySampler();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const threadsBefore = threadCpuSeconds();
  const response = await fetch(report.url);
  if (!response.ok || !response.body) throw new Error(`download answered HTTP ${response.status}`);
  let bytes = 0;
  for await (const chunk of response.body) bytes += chunk.length;
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = cpuSecondsSince(cpuBefore);
  const threads = threadsSince(threadsBefore);
  const figures = memory.stop();
  await client.deleteReport(token, created.id);
  if (report.size !== undefined && bytes !== report.size) throw new Error(`downloaded ${bytes} of ${report.size} bytes`);
  return { kind: 'mft-download', bytes, seconds, cpuSeconds, threadCpuSeconds: threads, preparationSeconds, memory: figures };
}
