import { gunzipSync } from 'node:zlib';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS, csvRows, type XrayEmulatorOptions } from '../../emulators/xray/index.js';
import { runXrayExport } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, TWIN_XRAY_TENANT, type Twin } from '../../local/twin.js';
import { duplicatesOf, listKeys, readObject, storedCsvRows, storedXrayEventIds } from '../support/stored-events.js';
import { streamSegment } from '../../functions/common/s3-layout.js';

/**
 * The Xray export against what the documents leave open: dry-run CSV pages whose rows share ids or whose
 * events carry several policies (and a platform that may count rows, not events), a platform that refuses
 * CSV pages above 2,000 rows, and events wider than the vendor's sample. Every row in S3 exactly once.
 */

const DATASET = { events: 30_000, datasetStart: '2026-10-01T00:00:00Z', datasetEnd: '2026-10-11T00:00:00Z' };
const RANGE = { start: '2026-10-01T00:00:00Z', end: '2026-10-11T00:00:00Z' };

let directory: string;
const twins: Twin[] = [];

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'xray-vendor-'));
});

afterAll(async () => {
  await Promise.allSettled(twins.map((twin) => twin.close()));
  await rm(directory, { recursive: true, force: true });
});

async function twinWith(xray: XrayEmulatorOptions): Promise<Twin> {
  const twin = await startTwin({ directory: path.join(directory, `twin-${twins.length}`), mft: { reportReadyAfterMs: 100 }, xray: { ...DATASET, ...xray } });
  twins.push(twin);
  return twin;
}

function succeeded(result: LocalRunResult) {
  expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
  return result.output as { windows: { events: number }[] };
}

const streamPrefix = (filtersId: string, bucketPrefix: string, format = 'json') =>
  `${bucketPrefix}/source=xray/tenant=${TWIN_XRAY_TENANT}/filters=${streamSegment(filtersId, format)}/`;

/** The rows the vendor holds for the range, as its CSV writes them. */
function truthRows(twin: Twin, dryRun: boolean): string[] {
  return [...twin.xray!.events({ ...RANGE, dryRun })].flatMap((event) => csvRows(event));
}

function sorted(rows: string[]): string[] {
  return [...rows].sort();
}

describe('dry-run CSV: the window ends only on a page with no rows', () => {
  it.each([
    ['events that share their request\'s id and carry two policies each, paged by events', { dryRunSharedIds: true, dryRunPoliciesPerEvent: 2, dryRunCsvPaging: 'events' }],
    ['events that share their request\'s id and carry two policies each, paged by rows', { dryRunSharedIds: true, dryRunPoliciesPerEvent: 2, dryRunCsvPaging: 'rows' }],
    ['events with three policies each, paged by rows', { dryRunPoliciesPerEvent: 3, dryRunCsvPaging: 'rows' }],
    ['one policy per event (the default)', {}],
  ] as [string, XrayEmulatorOptions][])('%s: every row exactly once', async (_name, options) => {
    const twin = await twinWith(options);
    const expected = truthRows(twin, true);
    // Pages of 200: several full pages per daily window, where a short-looking full page would end a window early.
    expect(expected.length).toBeGreaterThan(2 * 200 * 10);
    const prefix = 'dry-run';
    const runtime = twin.xrayRuntime({ prefix, windowMinutes: 1440, csvPageSize: 200 });
    succeeded(await runXrayExport(runtime, { input: { window: RANGE, format: 'csv', dryRun: true }, waitMs: 0, retryMs: 10 }));
    const stored = await storedCsvRows(twin.s3Client, twin.s3.bucket, streamPrefix('dry-run', prefix, 'csv'));
    expect(stored.rows.length).toBe(expected.length);
    // As a multiset: two events of one request may write the same row (same id, same policy).
    expect(sorted(stored.rows)).toEqual(sorted(expected));
  });
});

describe('CSV page size', () => {
  it('asks for large CSV pages, and falls back to 2,000 when an older platform answers 400 (one warning)', async () => {
    const twin = await twinWith({ csvMaxRows: 2000 });
    const warnings: string[] = [];
    const runtime = twin.xrayRuntime({ prefix: 'legacy', windowMinutes: 1440, csvPageSize: 5000, warn: (message) => warnings.push(message) });
    succeeded(await runXrayExport(runtime, { input: { window: RANGE, format: 'csv' }, waitMs: 0, retryMs: 10 }));
    const stored = await storedXrayEventIds(twin.s3Client, twin.s3.bucket, streamPrefix('all', 'legacy', 'csv'));
    expect(duplicatesOf(stored)).toEqual([]);
    expect(stored.sort((a, b) => a - b)).toEqual(twin.xray!.eventIds(RANGE));
    const csvRequests = twin.xray!.requestLog.filter((entry) => entry.query.includes('format=csv'));
    const refused = csvRequests.filter((entry) => entry.status === 400);
    // The Map runs windows side by side on one client: each may meet the refusal once before the client knows.
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.every((entry) => entry.query.includes('num_of_rows=5000'))).toBe(true);
    expect(csvRequests.filter((entry) => entry.status === 200).every((entry) => entry.query.includes('num_of_rows=2000'))).toBe(true);
    expect(warnings.length).toBe(refused.length);
    expect(warnings[0]).toMatch(/refused a CSV page of 5000 rows \(Xray rejected the audit query \(HTTP 400: invalid num_of_rows '5000'.*asking for 2000 from now on/);
  });

  it('pages a large window in CSV pages of 20,000 events, each event exactly once, in few requests', async () => {
    const twin = await twinWith({});
    const runtime = twin.xrayRuntime({ prefix: 'large', windowMinutes: 1440, csvPageSize: 20_000 });
    const before = twin.xray!.requestLog.length;
    succeeded(await runXrayExport(runtime, { input: { window: RANGE, format: 'csv' }, waitMs: 0, retryMs: 10 }));
    const stored = await storedXrayEventIds(twin.s3Client, twin.s3.bucket, streamPrefix('all', 'large', 'csv'));
    expect(duplicatesOf(stored)).toEqual([]);
    expect(stored.sort((a, b) => a - b)).toEqual(twin.xray!.eventIds(RANGE));
    // ~3,000 events a day: one CSV page per daily window, beside the window's count (a JSON request, num_of_rows=1).
    const requests = twin.xray!.requestLog.slice(before);
    expect(requests.filter((entry) => entry.query.includes('format=csv'))).toHaveLength(10);
    expect(requests.filter((entry) => entry.query.includes('num_of_rows=1&') || entry.query.endsWith('num_of_rows=1'))).toHaveLength(10);
    expect(requests).toHaveLength(20);
  });
});

describe('events as wide as the public sources show', () => {
  it('are stored as sent: JSON lines keep every field (policies null included), CSV parts keep the native header', async () => {
    const twin = await twinWith({});
    const day = { start: '2026-10-05T00:00:00Z', end: '2026-10-06T00:00:00Z' };
    succeeded(await runXrayExport(twin.xrayRuntime({ prefix: 'wide-json', windowMinutes: 1440 }), { input: { window: day, format: 'json' }, waitMs: 0, retryMs: 10 }));
    const lines: string[] = [];
    for (const key of await listKeys(twin.s3Client, twin.s3.bucket, streamPrefix('all', 'wide-json'))) {
      if (key.endsWith('.ndjson.gz')) lines.push(...gunzipSync(await readObject(twin.s3Client, twin.s3.bucket, key)).toString('utf8').split('\n').filter(Boolean));
    }
    const served = [...twin.xray!.events(day)].map((event) => JSON.stringify(event));
    expect(lines).toEqual(served);
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.some((event) => event.policies === null && event.action === 'approved')).toBe(true);
    expect(events.some((event) => event.action === 'passed')).toBe(true);
    expect(events.every((event) => 'ecosystem' in event && 'ondemand' in event && 'event_origin' in event)).toBe(true);

    succeeded(await runXrayExport(twin.xrayRuntime({ prefix: 'wide-csv', windowMinutes: 1440 }), { input: { window: day, format: 'csv' }, waitMs: 0, retryMs: 10 }));
    const csv = await storedCsvRows(twin.s3Client, twin.s3.bucket, streamPrefix('all', 'wide-csv', 'csv'));
    expect(new Set(csv.headers)).toEqual(new Set([CSV_COLUMNS.join(',')]));
    expect(sorted(csv.rows)).toEqual(sorted([...twin.xray!.events(day)].flatMap((event) => csvRows(event))));
  });
});
