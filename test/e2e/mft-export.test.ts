import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, TransientError } from '../../functions/common/errors.js';
import { HttpClient } from '../../functions/common/http.js';
import { createReportBody, planFor, reportLocation } from '../../functions/mft/export-plan.js';
import { verifyManifest } from '../../functions/common/manifest.js';
import { mftExportInputSchema, type MftExportInput } from '../../functions/mft/model.js';
import { runMftExport } from '../../local/run-export.js';
import { errorOrigin, type TaskHandler } from '../../local/state-machine-runner.js';
import { sha256OfStream } from '../support/stream-hash.js';
import { startTwin, type Twin } from '../../local/twin.js';

/**
 * The MFT export end to end on the twin: the ASL file run by the local engine, the real handlers,
 * the HTTP emulator (separate API and storage origins) and s3rver.
 */

let twin: Twin;
let directory: string;
/** Every secret the run could leak: access tokens issued, presigned-link signatures, the private key. */
const secrets = new Set<string>();

function recordingHttp(): HttpClient {
  return new HttpClient({
    retry: { baseDelayMs: 20, maxDelayMs: 200, maxElapsedMs: 5_000 },
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      const url = String(input);
      if (url.endsWith('/v1/oauth/token') || url.includes('/v1/reports/audit-logs')) {
        const body = await response.clone().text();
        try {
          const json = JSON.parse(body) as { access_token?: string; url?: string };
          if (json.access_token) secrets.add(json.access_token);
          const signature = json.url ? new URL(json.url).searchParams.get('signature') : null;
          if (signature) secrets.add(signature);
        } catch {
          // not JSON (e.g. an empty 204)
        }
      }
      return response;
    },
  });
}

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'mft-e2e-'));
  twin = await startTwin({ directory, xray: false, mft: { reportReadyAfterMs: 400, eventsPerHour: 900 } });
  secrets.add(twin.mft.privateKeyPem.split('\n')[1]!);
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

const WINDOW = { start: '2026-11-20T00:00:00.000Z', end: '2026-11-21T00:00:00.000Z' };

interface WindowOutput {
  window: { start: string; end: string };
  status: string;
  reportId: string;
  object: { key: string; bytes: number; sha256: string; records: number; manifestKey: string };
}

/**
 * The run's one window, with what S3 holds for it: a window's result in the execution state is small (window,
 * report id, records, bytes); its object and manifest are named by the window and the plan.
 */
async function onlyWindow(output: unknown, input: MftExportInput): Promise<WindowOutput> {
  const windows = (output as { windows: { window: { start: string; end: string }; status: string; reportId: string; records: number; bytes: number }[] }).windows;
  expect(windows).toHaveLength(1);
  const [result] = windows;
  const { key, folder } = reportLocation(planOf(input), result!.window);
  const manifestKey = `${folder}_manifest.json`;
  const manifest = JSON.parse(
    await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: manifestKey }))).Body!.transformToString(),
  ) as { objects: { key: string; sha256: string; records: number; bytes: number }[] };
  expect(manifest.objects).toEqual([expect.objectContaining({ key, bytes: result!.bytes, records: result!.records })]);
  return { ...result!, object: { key, bytes: result!.bytes, records: result!.records, sha256: manifest.objects[0]!.sha256, manifestKey } };
}

function planOf(input: MftExportInput) {
  return planFor(mftExportInputSchema.parse(input), twin.mftRuntime().settings);
}

async function expectedFile(input: MftExportInput) {
  return sha256OfStream(twin.mft.expectedFile(createReportBody(planOf(input), input.window!) as never));
}

async function storedFile(key: string) {
  const object = await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: key }));
  return sha256OfStream(object.Body as AsyncIterable<Uint8Array>);
}

function run(input: MftExportInput, decorate?: (name: string, handler: TaskHandler) => TaskHandler) {
  // A daily grid: each of these manual windows is exactly one grid window, so one report.
  return runMftExport(twin.mftRuntime({ http: recordingHttp(), pollIntervalSeconds: 1, windowMinutes: 1440 }), {
    input,
    waitMs: 50,
    retryMs: 10,
    decorate,
  });
}

function expectNoSecretsIn(value: unknown) {
  const text = JSON.stringify(value);
  expect(secrets.size).toBeGreaterThan(1);
  for (const secret of secrets) expect(text.includes(secret), 'a secret appears in state data').toBe(false);
}

describe('MFT export on the twin', () => {
  it('stores a file byte-identical to what the vendor serves, deletes the report, and leaks no secret', async () => {
    const input: MftExportInput = { window: WINDOW, type: 'json' };
    const result = await run(input);
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const output = await onlyWindow(result.output, input);

    const expected = await expectedFile(input);
    expect(expected.bytes).toBeGreaterThan(100_000);
    expect(output.object).toMatchObject({ bytes: expected.bytes, sha256: expected.sha256 });
    expect(await storedFile(output.object.key)).toEqual(expected);
    expect(output.object.key).toBe(
      `source=mft/tenant=${twin.mft.tenantId}/filters=all/dt=2026-11-20/window=20261120T000000Z--20261121T000000Z/report.json`,
    );
    // 900 events an hour: the manifest counts every record, and verifies against the object.
    expect(output.object.records).toBe(900 * 24);
    expect(await verifyManifest(twin.s3Client, twin.s3.bucket, output.object.manifestKey)).toEqual({ ok: true, problems: [] });

    expect(twin.mft.reports().map((report) => report.id)).not.toContain(output.reportId);
    expectNoSecretsIn(result.events);
    // The bearer token only ever goes to the API host, never to the storage host serving the download.
    const storage = twin.mft.requestLog.filter((entry) => entry.server === 'storage');
    expect(storage.length).toBeGreaterThan(0);
    expect(storage.every((entry) => !entry.authorization)).toBe(true);
  });

  it('applies filters and CSV the way the vendor does', async () => {
    const input: MftExportInput = {
      window: WINDOW,
      type: 'csv',
      filters: { actorType: 'User', actions: ['Delete', 'Update'], outcomes: ['Error', 'Success'] },
    };
    const result = await run(input);
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect((result.output as { filtersId: string }).filtersId).toMatch(/^[0-9a-f]{12}$/);
    const output = await onlyWindow(result.output, input);
    expect(output.object.key).toMatch(/\.csv$/);
    const expected = await expectedFile(input);
    expect(await storedFile(output.object.key)).toEqual(expected);
    const unfiltered = await expectedFile({ window: WINDOW, type: 'csv' });
    expect(expected.bytes).toBeLessThan(unfiltered.bytes);
  });

  it('retries a copy that fails once, and still stores the exact file', async () => {
    const input: MftExportInput = { window: { start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z' }, type: 'json' };
    let copies = 0;
    const result = await run(input, (name, handler) =>
      name === 'CopyReportFunctionArn'
        ? async (event) => {
            copies++;
            if (copies === 1) throw new TransientError('connection reset while streaming the download');
            return handler(event);
          }
        : handler,
    );
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(copies).toBe(2);
    expect(result.events.some((event) => event.type === 'StateRetried' && event.state?.name === 'CopyReportToS3')).toBe(true);
    const output = await onlyWindow(result.output, input);
    expect(await storedFile(output.object.key)).toEqual(await expectedFile(input));
    expect(twin.mft.reports().map((report) => report.id)).not.toContain(output.reportId);
    expectNoSecretsIn(result.events);
  });

  it('deletes the report when the copy fails for good, stores nothing, and fails with an actionable error', async () => {
    const input: MftExportInput = { window: { start: '2026-11-22T00:00:00.000Z', end: '2026-11-23T00:00:00.000Z' }, type: 'json' };
    const before = new Set(twin.mft.reports().map((report) => report.id));
    const result = await run(input, (name, handler) =>
      name === 'CopyReportFunctionArn'
        ? async () => {
            throw new IntegrityError('The source ended after 10 of the announced 20 bytes (truncated)');
          }
        : handler,
    );
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('IntegrityError');
    // The window's result carries a bounded summary; the history names the cause where it happened.
    expect(result.cause).toContain('IntegrityError in window 2026-11-22T00:00:00.000Z');
    expect(errorOrigin(result)).toMatchObject({ state: 'CopyReportToS3', cause: expect.stringContaining('truncated') });
    expect(result.events.filter((event) => event.type === 'StateRetried').length).toBe(3);
    expect(result.events.some((event) => event.type === 'StateEntered' && event.state?.name === 'DeleteReportAfterError')).toBe(true);
    expect(twin.mft.reports().filter((report) => !before.has(report.id))).toEqual([]);
    const { key, folder } = reportLocation(planOf(input), input.window!);
    for (const missing of [key, `${folder}_manifest.json`]) {
      await expect(twin.s3Client.send(new HeadObjectCommand({ Bucket: twin.s3.bucket, Key: missing }))).rejects.toMatchObject({
        name: 'NotFound',
      });
    }
    expectNoSecretsIn(result.events);
  });

  it('gives up on a report that stays in progress past maxWaitSeconds, and deletes it', async () => {
    const slow = await startTwin({
      directory: path.join(directory, 'slow'),
      xray: false,
      mft: { reportReadyAfterMs: 60_000 },
    });
    try {
      const result = await runMftExport(slow.mftRuntime({ pollIntervalSeconds: 1, windowMinutes: 1440 }), {
        input: { window: WINDOW, maxWaitSeconds: 2 },
        waitMs: 300,
        retryMs: 10,
      });
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('ReportTimedOut');
      expect(errorOrigin(result)?.cause).toMatch(/still in progress after \d+ s \(maxWaitSeconds 2\).*deleted/);
      expect(slow.mft.reports()).toEqual([]);
    } finally {
      await slow.close();
    }
  });

  it('rejects a bad execution input before touching the vendor', async () => {
    const requestsBefore = twin.mft.requestLog.length;
    const result = await run({ window: { start: WINDOW.end, end: WINDOW.start } });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInputError');
    expect(result.cause).toMatch(/must be earlier than its end/);
    expect(twin.mft.requestLog.length).toBe(requestsBefore);
  });
});
