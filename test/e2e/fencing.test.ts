import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { verifyManifest } from '../../functions/common/manifest.js';
import { AuditTimeline } from '../../emulators/mft/index.js';
import { runXrayExport, type LocalExportOptions } from '../../local/run-export.js';
import type { LocalRunResult, TaskHandler } from '../../local/state-machine-runner.js';
import { startTwin, type Twin, type TwinOptions } from '../../local/twin.js';
import { DrivenClock } from '../support/driven-clock.js';
import { compareIds, currentEventIds, manifestsUnder, unnamedObjects } from '../support/stored-events.js';
import { BIN, runCli } from '../support/cli-process.js';

/**
 * Every writer is fenced, and leases cannot strand a stream: two executions writing one window (a scheduled run
 * and a backfill, in either order) never interleave, the second is skipped (and says who holds the window); and a
 * run whose process was killed leaves a lease the very next run takes over, because its holder is gone.
 */

const HOUR = 3_600_000;
let twin: Twin | undefined;
let directory: string | undefined;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await twin?.close();
  if (directory) await rm(directory, { recursive: true, force: true });
  twin = undefined;
  directory = undefined;
});

async function start(options: Omit<TwinOptions, 'directory'>): Promise<Twin> {
  directory = await mkdtemp(path.join(os.tmpdir(), 'fencing-'));
  twin = await startTwin({ directory, ...options });
  return twin;
}

function output(result: LocalRunResult) {
  expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
  return result.output as { status: string; checkpoint: string | null; message: string };
}

/** A run whose ExportPages steps wait for `open()`; `planned` resolves once it holds its lease. */
function gatedRun(run: (extras: Pick<LocalExportOptions, 'decorate' | 'onEvent'>) => Promise<LocalRunResult>) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let planned!: () => void;
  const hasLease = new Promise<void>((resolve) => (planned = resolve));
  const result = run({
    onEvent: (event) => event.type === 'StateExited' && event.state?.name === 'PlanExport' && planned(),
    decorate: (name, handler): TaskHandler => (name === 'XrayExportPagesFunctionArn' ? async (input) => (await gate, handler(input)) : handler),
  });
  return { result, hasLease, open };
}

describe('two writers of one window', () => {
  it('a scheduled run and a backfill never interleave: whichever comes second is skipped', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-07T10:05:00Z'));
    const twin = await start({ clock, xray: { events: 6_000, datasetStart: '2026-09-07T06:00:00Z', datasetEnd: '2026-09-07T09:00:00Z' }, mft: { reportReadyAfterMs: 0 } });
    let exportSteps = 0;
    const counting = (extras: Pick<LocalExportOptions, 'decorate' | 'onEvent'> = {}) => ({
      ...extras,
      decorate: (name: string, handler: TaskHandler): TaskHandler => {
        const inner = extras.decorate ? extras.decorate(name, handler) : handler;
        return name === 'XrayExportPagesFunctionArn' ? async (input) => (exportSteps++, inner(input)) : inner;
      },
    });
    const run = (input: object, extras: Pick<LocalExportOptions, 'decorate' | 'onEvent'> = {}) =>
      runXrayExport(twin.xrayRuntime({ lagMinutes: 15, overlapHours: 2, initialLookbackHours: 3 }), { input, waitMs: 0, retryMs: 5, ...extras });
    output(await run({}));

    // Late events for 08:00–09:00; the scheduled run re-scans it while a backfill of that hour is started.
    twin.xray!.addEvents(30, { createdAt: (i) => new Date(Date.parse('2026-09-07T08:00:00Z') + i * 60_000).toISOString() });
    clock.set(Date.parse('2026-09-07T11:05:00Z'));
    const scheduled = gatedRun((extras) => run({}, extras));
    await scheduled.hasLease;
    exportSteps = 0;
    const backfill = output(await run({ window: { start: '2026-09-07T08:00:00Z', end: '2026-09-07T09:00:00Z' } }, counting()));
    const backfillSteps = exportSteps;
    scheduled.open();
    output(await scheduled.result);

    // The other way round: a backfill holds 08:00–10:00 while the next scheduled run comes.
    twin.xray!.addEvents(10, { createdAt: (i) => new Date(Date.parse('2026-09-07T09:00:00Z') + i * 60_000).toISOString() });
    clock.set(Date.parse('2026-09-07T12:05:00Z'));
    const held = gatedRun((extras) => run({ window: { start: '2026-09-07T08:00:00Z', end: '2026-09-07T10:00:00Z' } }, extras));
    await held.hasLease;
    exportSteps = 0;
    const second = output(await run({}, counting()));
    const secondSteps = exportSteps;
    held.open();
    output(await held.result);
    clock.set(Date.parse('2026-09-07T12:10:00Z'));
    expect(output(await run({})).checkpoint).toBe('2026-09-07T11:00:00.000Z');

    const truth = twin.xray!.eventIds({ start: '2026-09-07T06:00:00Z', end: '2026-09-07T11:00:00Z' });
    const figures = compareIds(truth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/'));
    const manifests = await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=xray/');
    const problems: string[] = [];
    for (const { key } of manifests) problems.push(...(await verifyManifest(twin.s3Client, twin.s3.bucket, key)).problems);
    console.info(
      `two writers of one window (xray): vendor ${truth.length}, stored ${figures.stored}, lost ${figures.lost.length}, ` +
        `duplicated ${figures.duplicated.length}; second writers ${backfill.status} / ${second.status}, manifest problems ${problems.length}`,
    );
    expect(figures.lost).toEqual([]);
    expect(figures.duplicated).toEqual([]);
    expect(problems).toEqual([]);
    expect(await unnamedObjects(twin.s3Client, twin.s3.bucket, 'source=xray/')).toEqual([]);
    // The second writer exported nothing, and said which execution holds the windows.
    expect([backfill.status, second.status]).toEqual(['SKIPPED', 'SKIPPED']);
    expect([backfillSteps, secondSteps]).toEqual([0, 0]);
    expect(backfill.message).toMatch(/^skipped: another execution \(arn:aws:states:[^)]+:execution:audit-export-xray:xray-[^)]+\) holds the lease of xray\|xray-twin\|all\|json for 2026-09-07T07:00:00.000Z → 2026-09-07T10:00:00.000Z/);
    expect(second.message).toMatch(/holds the lease of xray\|xray-twin\|all\|json for 2026-09-07T08:00:00.000Z → 2026-09-07T10:00:00.000Z/);
  }, 120_000);
});

describe('a run killed while it holds a lease', () => {
  it('is taken over at once by the next run, which exports', async () => {
    const twin = await start({ xray: false, mft: { reportReadyAfterMs: 200, eventsPerHour: 60 } });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AUDIT_EXPORT_TARGET: '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: twin.s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: twin.s3.credentials.secretAccessKey,
      MFT_BASE_URL: twin.mft.baseUrl,
      MFT_TENANT_ID: twin.mft.tenantId,
      MFT_KID: twin.mft.kid,
      MFT_PRIVATE_KEY_FILE: twin.mftPrivateKeyFile,
      // The emulator's report storage is on loopback, which downloads reach only when allowed.
      MFT_DOWNLOAD_ALLOW_LOOPBACK: 'true',
      TOKEN_SEALING_LOCAL_KEY: randomBytes(32).toString('base64'),
      EXPORT_BUCKET: twin.s3.bucket,
      S3_ENDPOINT: twin.s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      CHECKPOINT_TABLE: twin.dynamo.table,
      DYNAMODB_ENDPOINT: twin.dynamo.endpoint,
      MFT_POLL_INTERVAL_SECONDS: '1',
      MFT_LAG_MINUTES: '15',
      MFT_INITIAL_LOOKBACK_HOURS: '2',
    };
    const stream = `mft|${twin.mft.tenantId}|all|json`;
    // The first run's reports never complete: it sits in its poll loop, holding the lease, until it is killed.
    twin.mft.failNextReports(2, 'never-completes');
    const first = spawn(process.execPath, [BIN, 'run', 'mft', '--target', 'env', '--json'], { env, stdio: 'ignore' });
    children.push(first);
    const deadline = Date.now() + 60_000;
    const leaseItem = async () =>
      (await twin.dynamo.client.send(new GetItemCommand({ TableName: twin.dynamo.table, Key: { pk: { S: stream }, sk: { S: 'checkpoint' } } }))).Item;
    for (;;) {
      const item = await leaseItem();
      if ((item?.leases?.M && Object.keys(item.leases.M).length) || item?.lease) {
        if (twin.mft.reports().length >= 2) break;
      }
      if (Date.now() > deadline) throw new Error('the first run never took its lease');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const holder = Object.values((await leaseItem())?.leases?.M ?? {})[0]?.M?.holder?.M;
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    const started = Date.now();
    const second = await runCli(['run', 'mft', '--target', 'env', '--json'], { env, timeoutMs: 300_000, onSpawn: (child) => children.push(child) });
    const summary = JSON.parse(second.stdout.trim().split('\n').at(-1)!) as { status: string; objects: { key: string }[]; tookOver?: string[]; window?: { start: string; end: string } };
    const window = summary.window ?? { start: new Date(0).toISOString(), end: new Date(0).toISOString() };
    const timeline = new AuditTimeline(1, 60);
    const [from, to] = timeline.indexRange(Date.parse(window.start), Date.parse(window.end));
    const truth = Array.from({ length: to - from }, (_, i) => timeline.event(from + i).id);
    const figures = compareIds(truth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=mft/'));
    console.info(
      `killed run, then the next (mft): exit code ${second.code}, status ${summary.status}, windows ${summary.objects.length}, ` +
        `vendor ${truth.length}, stored ${figures.stored}, lost ${figures.lost.length}, duplicated ${figures.duplicated.length}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(holder).toMatchObject({ kind: { S: 'local' }, pid: { N: String(first.pid) }, host: { S: os.hostname() } });
    expect(second.code, second.stderr).toBe(0);
    expect(summary.status).toBe('SUCCEEDED');
    expect(summary.objects).toHaveLength(2);
    expect(summary.tookOver?.[0]).toMatch(new RegExp(`took over the lease of .*: its process ${first.pid} on ${os.hostname()} is gone`));
    expect(second.stderr).toMatch(/↻ took over the lease/);
    expect(truth.length).toBe(120);
    expect(figures.lost).toEqual([]);
    expect(figures.duplicated).toEqual([]);
    expect((await twin.ledger.read(stream)).leases).toEqual([]);
    expect((await twin.ledger.read(stream)).watermark).toBe(window.end);
  }, 120_000);
});

describe('audit-export status', () => {
  it('shows a lease whose holder is gone as stale', async () => {
    const twin = await start({ xray: false, mft: { reportReadyAfterMs: 0 } });
    const { formatStatus, readStatus } = await import('../../cli/status-view.js');
    const stream = `mft|${twin.mft.tenantId}|all|json`;
    const checkpoint = await twin.ledger.read(stream);
    // A lease held by a process of this host that no longer exists (a pid far above any real one).
    const acquired = await twin.ledger.tryAcquire(checkpoint, {
      owner: 'arn:aws:states:us-east-1:000000000000:execution:audit-export-mft:killed',
      mode: 'scheduled',
      range: { start: '2026-09-07T08:00:00.000Z', end: '2026-09-07T10:00:00.000Z' },
      ttlMs: 2 * HOUR,
      holder: { kind: 'local', execution: 'killed', pid: 2 ** 22 + 12_345, host: os.hostname(), heartbeatAt: new Date().toISOString() },
    });
    expect(acquired.acquired).toBe(true);
    const lines = formatStatus(await readStatus(twin.ledger, Date.now()));
    expect(lines.join('\n')).toMatch(/lease {7}STALE: scheduled killed \(process \d+ on .*\), 2026-09-07T08:00:00.000Z → 2026-09-07T10:00:00.000Z, until .*; its process \d+ on .* is gone: the next run takes it over/);
  }, 60_000);
});
