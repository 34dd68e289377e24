import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DestinationStream } from 'pino';
import { createLogger } from '../../functions/common/observability.js';
import { createReportBody, planFor } from '../../functions/mft/export-plan.js';
import { mftExportInputSchema, type MftExportInput } from '../../functions/mft/model.js';
import type { MftRuntime } from '../../functions/mft/runtime.js';
import { runMftExport } from '../../local/run-export.js';
import { errorOrigin, type LocalRunResult } from '../../local/state-machine-runner.js';
import { sha256OfStream } from '../support/stream-hash.js';
import { startTwin, type Twin, type TwinOptions } from '../../local/twin.js';
import { referenceCreateBody } from '../support/mft-reference.js';

/**
 * The MFT export against the answers the vendor's documents leave open: a create answer with only an id,
 * status words the exporter does not know, a `size` that is no byte count, downloads the storage encodes,
 * keys of every kind the vendor allows. Each run goes through the real state machine, handlers and twin.
 */

let directory: string;
const twins: Twin[] = [];

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'mft-vendor-'));
});

afterAll(async () => {
  await Promise.allSettled(twins.map((twin) => twin.close()));
  await rm(directory, { recursive: true, force: true });
});

async function twinWith(mft: TwinOptions['mft']): Promise<Twin> {
  const twin = await startTwin({ directory: path.join(directory, `twin-${twins.length}`), xray: false, mft: { reportReadyAfterMs: 300, eventsPerHour: 120, ...mft } });
  twins.push(twin);
  return twin;
}

/** The handlers' log lines, parsed (what CloudWatch Logs would hold). */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } as DestinationStream;
  return { logger: createLogger({ destination }), lines, warnings: () => lines.filter((line) => line.level === 'WARN') };
}

interface WindowOutput {
  window: { start: string; end: string };
  status: string;
  reportId: string;
  object: { key: string; bytes: number; sha256: string; records: number; vendorSize?: number; contentEncoding?: string; warnings?: string[] };
}

/**
 * Each window's result with what CopyReportToS3 returned for it, as the execution history shows it: the
 * results the run carries to its end keep only a bounded summary of each window.
 */
function windowsOf(result: LocalRunResult): WindowOutput[] {
  const copied = new Map<string, WindowOutput['object']>();
  for (const event of result.events) {
    if (event.type !== 'StateExited' || event.state?.name !== 'CopyReportToS3') continue;
    const output = event.state.output as { window: { start: string }; object: WindowOutput['object'] };
    copied.set(output.window.start, output.object);
  }
  return (result.output as { windows: Omit<WindowOutput, 'object'>[] }).windows.map((window) => ({ ...window, object: copied.get(window.window.start)! }));
}


const DAY = { start: '2026-11-20T00:00:00.000Z', end: '2026-11-21T00:00:00.000Z' };

function runtimeOf(twin: Twin, overrides: Parameters<Twin['mftRuntime']>[0] = {}): MftRuntime {
  return twin.mftRuntime({ pollIntervalSeconds: 1, windowMinutes: 60, ...overrides });
}

async function expectedFile(twin: Twin, runtime: MftRuntime, input: MftExportInput, window: { start: string; end: string }) {
  const plan = planFor(mftExportInputSchema.parse(input), runtime.settings);
  return sha256OfStream(twin.mft.expectedFile(createReportBody(plan, window) as never));
}

describe('the create request on the wire', () => {
  it('is the reference script\'s request: same nine keys in the same order, same values, bearer scheme, JSON content type', async () => {
    const twin = await twinWith({});
    const input: MftExportInput = {
      window: { start: '2026-11-20T00:00:00Z', end: '2026-11-20T02:00:00Z' },
      type: 'csv',
      filters: { actorType: 'User', actions: ['Delete', 'Get', 'Delete'], outcomes: ['Error'] },
    };
    const result = await runMftExport(runtimeOf(twin), { input, waitMs: 20, retryMs: 10 });
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const creates = twin.mft.requestLog.filter((entry) => entry.method === 'POST' && entry.path === '/v1/reports/audit-logs');
    expect(creates).toHaveLength(2);
    // What the reference script would send for the same hours and the same command-line filters.
    const expected = ['2026-11-20T00:00:00Z', '2026-11-20T01:00:00Z'].map((start, hour) =>
      referenceCreateBody({
        reportType: 'csv',
        startIso: start,
        endIso: `2026-11-20T0${hour + 1}:00:00Z`,
        actorType: 'User',
        actions: ['Delete', 'Get', 'Delete'],
        outcomes: ['Error'],
      }),
    );
    const received = creates.map((entry) => entry.body as Record<string, unknown>).sort((a, b) => String(a.start).localeCompare(String(b.start)));
    expect(received).toEqual(expected);
    for (const [k, body] of received.entries()) expect(JSON.stringify(body)).toBe(JSON.stringify(expected[k]));
    for (const entry of creates) {
      expect(entry.authorizationScheme).toBe('bearer');
      expect(entry.contentType).toBe('application/json');
    }
  });

  it('fails every window with 400 against a server that wants the reference shape, were the body the old one', async () => {
    const twin = await twinWith({});
    const response = await fetch(`${twin.mft.baseUrl}/v1/reports/audit-logs`, {
      method: 'POST',
      headers: { authorization: `bearer ${(await runtimeOf(twin).client.issueToken({ tenantId: twin.mft.tenantId, kid: twin.mft.kid, privateKeyPem: twin.mft.privateKeyPem })).value}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 0, start: '2026-11-20T00:00:00.000Z', end: '2026-11-20T01:00:00.000Z' }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { details: { field: string }[] };
    expect(body.details.map((problem) => problem.field)).toEqual(['actor', 'actorType', 'actions', 'resources', 'outcomes', 'sourceIp', 'start', 'end']);
  });
});

describe('answers the documents leave open', () => {
  it('a create answer with only an id, Queued then Running, size in kilobytes, a gzip-encoded download, an Ed25519 key: exported exactly, one warning per report', async () => {
    // Ready after 3 s: the first poll must see a pending word even on a loaded machine.
    const twin = await twinWith({ createAnswer: 'id-only', pendingStatuses: ['Queued', 'Running'], sizeField: 'kilobytes', storageEncoding: 'gzip', keyType: 'EdDSA', reportReadyAfterMs: 3000 });
    const runtime = runtimeOf(twin);
    const input: MftExportInput = { window: { start: DAY.start, end: '2026-11-20T02:00:00.000Z' }, type: 'json' };
    const log = capturedLogger();
    const result = await runMftExport(runtime, { input, waitMs: 150, retryMs: 10, logger: log.logger });
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const windows = windowsOf(result);
    expect(windows).toHaveLength(2);
    for (const [hour, window] of windows.entries()) {
      const range = { start: `2026-11-20T0${hour}:00:00.000Z`, end: `2026-11-20T0${hour + 1}:00:00.000Z` };
      const expected = await expectedFile(twin, runtime, input, range);
      // The decoded report is what is stored, whatever the storage's Content-Length said.
      expect(window.object).toMatchObject({ bytes: expected.bytes, sha256: expected.sha256, contentEncoding: 'gzip', vendorSize: Math.ceil(expected.bytes / 1024) });
      const stored = await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: window.object.key }));
      expect(await sha256OfStream(stored.Body as AsyncIterable<Uint8Array>)).toEqual(expected);
      expect(stored.ContentEncoding).toBeUndefined();
      expect(stored.Metadata).toMatchObject({ 'download-encoding': 'gzip', 'vendor-size': String(Math.ceil(expected.bytes / 1024)) });
    }
    // The storage really sent fewer (encoded) bytes than the report holds.
    expect(twin.mft.reports()).toEqual([]);
    const warnings = log.warnings().map((line) => String(line.message));
    for (const window of windows) {
      const about = warnings.filter((warning) => warning.includes(window.reportId));
      // Queued and Running: one warning for the report, not one per poll or per word.
      expect(about.filter((warning) => /does not recognize/.test(warning))).toHaveLength(1);
      expect(about.filter((warning) => /Content-Encoding gzip/.test(warning))).toHaveLength(1);
      expect(about.filter((warning) => /shows size \d+ but \d+ bytes were received/.test(warning))).toHaveLength(1);
    }
    const polls = result.events.filter((event) => event.type === 'StateEntered' && event.state?.name === 'CheckReport').length;
    expect(polls).toBeGreaterThan(2);
    // Every report it recorded is forgotten once deleted.
    expect(await runtime.reports!.list(runtime.settings.tenantId)).toEqual([]);
  });

  it.each([
    ['deflate', 'RS256', 'records'],
    ['br', 'ES256-SEC1', 'omit'],
  ] as const)('a %s download, an %s key, size %s: exported exactly', async (encoding, keyType, sizeField) => {
    const twin = await twinWith({ storageEncoding: encoding, keyType, sizeField, statusFormat: 'number' });
    const runtime = runtimeOf(twin, { windowMinutes: 1440 });
    const input: MftExportInput = { window: DAY, type: 'csv' };
    const result = await runMftExport(runtime, { input, waitMs: 50, retryMs: 10 });
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const [window] = windowsOf(result);
    const expected = await expectedFile(twin, runtime, input, DAY);
    expect(window!.object).toMatchObject({ bytes: expected.bytes, sha256: expected.sha256, contentEncoding: encoding });
    if (sizeField === 'records') expect(window!.object.vendorSize).toBe(window!.object.records);
    else expect(window!.object.vendorSize).toBeUndefined();
  });

  it('a report that stays at a status it does not recognize is polled up to maxWaitSeconds, then deleted; the window is left for the next run', async () => {
    const twin = await twinWith({ pendingStatuses: ['NotStarted'], reportReadyAfterMs: 600_000 });
    const runtime = runtimeOf(twin, { windowMinutes: 1440 });
    const log = capturedLogger();
    const result = await runMftExport(runtime, { input: { window: DAY, maxWaitSeconds: 2 }, waitMs: 300, retryMs: 10, logger: log.logger });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ReportTimedOut');
    expect(errorOrigin(result)?.cause).toMatch(/still at status "NotStarted" \(not one the exporter recognizes\) after \d+ s \(maxWaitSeconds 2\); it was deleted and the next run retries the window/);
    expect(twin.mft.reports()).toEqual([]);
    expect(log.warnings().filter((line) => /"NotStarted", which the exporter does not recognize/.test(String(line.message)))).toHaveLength(1);
    expect(result.events.filter((event) => event.type === 'StateEntered' && event.state?.name === 'CheckReport').length).toBeGreaterThan(1);
    expect(await runtime.reports!.list(runtime.settings.tenantId)).toEqual([]);
  });

  it('a failure word ends the poll at once and the report is deleted', async () => {
    const twin = await twinWith({ failedStatus: 'Error' });
    twin.mft.failNextReports(1);
    const runtime = runtimeOf(twin, { windowMinutes: 1440 });
    const result = await runMftExport(runtime, { input: { window: DAY }, waitMs: 200, retryMs: 10 });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ReportFailed');
    expect(errorOrigin(result)?.cause).toMatch(/reports report \S+ as failed \(status "Error"\)/);
    expect(twin.mft.reports()).toEqual([]);
  });

  it('a download whose Content-Length is that of the file but whose size is not: stored, the difference recorded', async () => {
    const twin = await twinWith({ sizeField: 'records' });
    const runtime = runtimeOf(twin, { windowMinutes: 1440 });
    const result = await runMftExport(runtime, { input: { window: DAY }, waitMs: 50, retryMs: 10 });
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const [window] = windowsOf(result);
    expect(window!.object.vendorSize).toBe(window!.object.records);
    expect(window!.object.contentEncoding).toBeUndefined();
    expect(window!.object.warnings).toEqual([expect.stringMatching(/shows size \d+ but \d+ bytes were received and stored/)]);
    const head = await twin.s3Client.send(new HeadObjectCommand({ Bucket: twin.s3.bucket, Key: window!.object.key }));
    expect(head.Metadata?.['vendor-size']).toBe(String(window!.object.records));
  });
});
