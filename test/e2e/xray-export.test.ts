import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runXrayExport } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, TWIN_XRAY_TENANT, type Twin } from '../../local/twin.js';
import { duplicatesOf, listKeys, storedXrayEventIds } from '../support/stored-events.js';

/**
 * The Xray export end to end on the twin: a 30-day range of 200,000 events, in JSON and in CSV (with the
 * incomplete-file split), proving that the ids in S3 are exactly the vendor's: none missing, none twice.
 */

const RANGE = { start: '2026-10-02T00:00:00Z', end: '2026-11-01T00:00:00Z' };
const EVENTS = 200_000;
const HISTORY_LIMIT = 25_000;

let twin: Twin;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'xray-e2e-'));
  twin = await startTwin({
    directory,
    mft: { reportReadyAfterMs: 100 },
    xray: { events: EVENTS, datasetEnd: '2026-11-01T00:00:00Z', incompleteThreshold: 20_000 },
  });
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

function prefix(filtersId: string, bucketPrefix = '') {
  return `${bucketPrefix}source=xray/tenant=${TWIN_XRAY_TENANT}/filters=${filtersId}/`;
}

function truth(window = RANGE, dryRun = false) {
  return twin.xray!.eventIds({ ...window, dryRun });
}

async function expectExactlyOnce(storedPrefix: string, expected: number[]) {
  const stored = await storedXrayEventIds(twin.s3Client, twin.s3.bucket, storedPrefix);
  expect(duplicatesOf(stored), 'events stored twice').toEqual([]);
  expect(stored.length).toBe(expected.length);
  expect([...stored].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
}

function succeeded(result: LocalRunResult) {
  expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
  return result.output as { windows: { events: number; parts: number; splits: number; invocations: number }[] };
}

describe('Xray export on the twin', () => {
  it('exports a 30-day range of 200,000 events as NDJSON, each exactly once, in few transitions', async () => {
    const expected = truth();
    expect(expected.length).toBe(EVENTS);
    // Daily windows (the twin runs every server on one event loop; hourly windows only add requests here).
    const runtime = twin.xrayRuntime({ windowMinutes: 24 * 60 });
    const result = await runXrayExport(runtime, { input: { window: RANGE, format: 'json' }, waitMs: 0, retryMs: 10 });
    const output = succeeded(result);
    expect(output.windows.reduce((sum, window) => sum + window.events, 0)).toBe(EVENTS);
    await expectExactlyOnce(prefix('all'), expected);
    // 30 daily windows in five 7-day groups, one invocation each: the state carries cursors, never events.
    expect(output.windows.map((group) => group.invocations)).toEqual([1, 1, 1, 1, 1]);
    expect(result.stateTransitions).toBeLessThanOrEqual(30);
    expect(result.historyEvents).toBeLessThan(200);
    const payloads = result.events.map((event) => JSON.stringify(event.state?.output ?? event.output ?? '').length);
    expect(Math.max(...payloads)).toBeLessThan(4096);
  });

  it('exports CSV, splitting windows whose file comes back incomplete, each event exactly once', async () => {
    const csvPrefix = 'csv-run';
    // Daily windows: with the low threshold (20,000) each day's ~6,700 events fit, so use 7-day windows to force splits.
    const runtime = twin.xrayRuntime({ prefix: csvPrefix, windowMinutes: 7 * 24 * 60 });
    const result = await runXrayExport(runtime, { input: { window: RANGE, format: 'csv' }, waitMs: 0, retryMs: 10 });
    const output = succeeded(result);
    expect(output.windows.some((window) => window.splits > 0)).toBe(true);
    const keys = await listKeys(twin.s3Client, twin.s3.bucket, `${csvPrefix}/`);
    expect(keys.filter((key) => !key.endsWith('_manifest.json')).every((key) => key.endsWith('.csv.gz'))).toBe(true);
    // A CSV stream has its own folder (filters=all-csv): it never shares a manifest with the JSON one.
    await expectExactlyOnce(prefix('all-csv', `${csvPrefix}/`), truth());
  });

  it('keeps a 1,000,000-event window far below the 25,000 history-event limit, even one part per invocation', async () => {
    // Worst case: each invocation writes a single part before its budget is spent.
    // One 7-day grid window, so all its events are one window's offset loop.
    const window = { start: '2026-10-15T00:00:00.000Z', end: '2026-10-22T00:00:00.000Z' };
    const runtime = twin.xrayRuntime({ eventsPerPart: 10_000, invocationBudgetMs: 0, windowMinutes: 7 * 24 * 60, prefix: 'worst-case' });
    const result = await runXrayExport(runtime, { input: { window, format: 'json' }, waitMs: 0, retryMs: 10 });
    const output = succeeded(result);
    const invocations = output.windows[0]!.invocations;
    // One part per invocation, then one that writes the manifest.
    expect(invocations).toBe(Math.ceil(truth(window).length / 10_000) + 1);
    await expectExactlyOnce(prefix('all', 'worst-case/'), truth(window));

    // History grows by a fixed amount per invocation; project it to 1,000,000 events at the production part size.
    const perInvocation = (result.historyEvents - 10) / invocations;
    const productionParts = Math.ceil(1_000_000 / 100_000) + 1;
    const projected = 10 + perInvocation * productionParts;
    expect(projected).toBeLessThan(HISTORY_LIMIT / 50);
    // Even at one 2,000-event page per invocation the limit holds.
    expect(10 + perInvocation * (1_000_000 / 2_000 + 1)).toBeLessThan(HISTORY_LIMIT);
  });

  it('exports dry-run events separately from real events', async () => {
    const window = { start: '2026-10-29T00:00:00Z', end: '2026-11-01T00:00:00Z' };
    const result = await runXrayExport(twin.xrayRuntime(), { input: { window, format: 'json', dryRun: true }, waitMs: 0, retryMs: 10 });
    succeeded(result);
    const expected = truth(window, true);
    expect(expected.length).toBeGreaterThan(0);
    await expectExactlyOnce(prefix('dry-run'), expected);
  });

  it('picks up late events when a window is exported again, without duplicating the others', async () => {
    const window = { start: '2026-10-22T00:00:00Z', end: '2026-10-29T00:00:00Z' };
    const runtime = twin.xrayRuntime({ prefix: 'late', windowMinutes: 24 * 60 });
    succeeded(await runXrayExport(runtime, { input: { window, format: 'json' }, waitMs: 0, retryMs: 10 }));
    const late = twin.xray!.addEvents(25, { createdAt: (i) => new Date(Date.parse(window.start) + i * 3_600_000).toISOString() });
    expect(truth(window)).toEqual(expect.arrayContaining(late));
    succeeded(await runXrayExport(runtime, { input: { window, format: 'json' }, waitMs: 0, retryMs: 10 }));
    await expectExactlyOnce(prefix('all', 'late/'), truth(window));
  });

  it('fails clearly on bad credentials and on a user without VIEW_POLICIES, storing nothing', async () => {
    const window = { start: '2026-10-30T00:00:00Z', end: '2026-10-31T00:00:00Z' };
    const noPermission = twin.xrayRuntime({ credentials: { accessToken: twin.xray!.noPermission.accessToken }, prefix: 'denied' });
    const denied = await runXrayExport(noPermission, { input: { window }, waitMs: 0, retryMs: 10 });
    expect(denied.status).toBe('FAILED');
    expect(denied.error).toBe('VendorAuthError');
    expect(denied.cause).toMatch(/HTTP 403.*VIEW_POLICIES/);

    const wrong = twin.xrayRuntime({ credentials: { username: 'admin', password: 'not-the-password' }, prefix: 'denied' });
    const rejected = await runXrayExport(wrong, { input: { window }, waitMs: 0, retryMs: 10 });
    expect(rejected.status).toBe('FAILED');
    expect(rejected.cause).toMatch(/HTTP 401/);
    expect(JSON.stringify(rejected.events)).not.toContain('not-the-password');
    expect(await listKeys(twin.s3Client, twin.s3.bucket, 'denied/')).toEqual([]);
  });

  it('rejects bad execution input before calling the vendor', async () => {
    const before = twin.xray!.requestLog.length;
    const result = await runXrayExport(twin.xrayRuntime(), {
      input: { window: { start: RANGE.end, end: RANGE.start }, format: 'xml' },
      waitMs: 0,
      retryMs: 10,
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInputError');
    expect(result.cause).toMatch(/format/);
    expect(twin.xray!.requestLog.length).toBe(before);
  });
});
