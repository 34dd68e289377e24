import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifierHandler } from '../../functions/verifier/handler.js';
import type { VerificationSummary } from '../../functions/verifier/scheduled.js';
import { runXrayExport } from '../../local/run-export.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { DrivenClock } from '../support/driven-clock.js';
import { listKeys, storedXrayEventIds } from '../support/stored-events.js';

/**
 * The scheduled verifier on the twin: it publishes UnverifiedWindows, hashes each window once, and catches an
 * Xray event that arrived for a window after the schedule's re-scan overlap had passed (the vendor's count of the
 * window grew): the window is re-exported by a manual execution and the event is in S3, stored once.
 */

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-10T00:30:00.000Z');
const clock = new DrivenClock(T0);
let twin: Twin;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'verifier-'));
  twin = await startTwin({
    directory,
    clock,
    xray: { events: 4_000, datasetStart: new Date(T0 - 48 * HOUR).toISOString(), datasetEnd: new Date(T0 + 48 * HOUR).toISOString() },
  });
});
afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

async function scheduledRun() {
  const result = await runXrayExport(twin.xrayRuntime({ lagMinutes: 0, overlapHours: 2 }), { input: {}, waitMs: 0, retryMs: 5, logger: twin.logger });
  expect(result.status, result.cause).toBe('SUCCEEDED');
  return result;
}

const verifier = createVerifierHandler(async () => twin.verifierRuntime({ days: 1 }));

async function metrics(): Promise<{ UnverifiedWindows: number; ReconciledWindows: number; Source: string }[]> {
  const lines = (await readFile(twin.logFile, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>);
  return lines.filter((line) => line._aws?.CloudWatchMetrics?.[0]?.Metrics?.some((metric: { Name: string }) => metric.Name === 'UnverifiedWindows')) as never;
}

describe('the scheduled verifier', () => {
  const lateWindow = { start: '2026-11-09T14:00:00.000Z', end: '2026-11-09T15:00:00.000Z' };
  let lateId: number;
  let first: VerificationSummary;

  it('a late event beyond the overlap is not caught by the schedule alone', async () => {
    await scheduledRun(); // first run: the 24 hours before 00:00
    clock.set(T0 + 6 * HOUR);
    await scheduledRun();
    // 10 hours after its window ended: far beyond the 2-hour re-scan overlap.
    lateId = twin.xray!.addEvents(1, { createdAt: '2026-11-09T14:20:00Z' })[0]!;
    clock.set(T0 + 7 * HOUR);
    await scheduledRun();
    expect(await storedXrayEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/')).not.toContain(lateId);
  });

  it('the verification re-exports the window whose count grew, publishes its metrics, and nothing is stored twice', async () => {
    first = await verifier({});
    const xray = first.streams.find((stream) => stream.stream.startsWith('xray|'))!;
    expect(xray.range).toEqual({ start: '2026-11-09T07:00:00.000Z', end: '2026-11-10T07:00:00.000Z' });
    expect(xray.windowsChecked).toBe(24);
    expect(xray.windowsHashed).toBe(24);
    expect(xray.unverified).toBe(0);
    expect(xray.reconciled).toEqual([expect.objectContaining({ window: lateWindow, execution: expect.any(String) })]);
    expect(xray.reconciled[0]!.vendorCount).toBe(xray.reconciled[0]!.stored + 1);
    expect(first.reconciledWindows).toBe(1);
    expect(first.unverifiedWindows).toBe(0);

    const ids = await storedXrayEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/');
    expect(ids).toContain(lateId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort((a, b) => a - b)).toEqual(twin.xray!.eventIds({ start: '2026-11-09T00:00:00Z', end: '2026-11-10T07:00:00Z' }));

    const published = (await metrics()).find((line) => line.Source === 'xray')!;
    expect(published).toMatchObject({ UnverifiedWindows: 0, ReconciledWindows: 1 });
  });

  it('the next run hashes only the window whose manifest changed, and has nothing to reconcile', async () => {
    const again = await verifier({});
    const xray = again.streams.find((stream) => stream.stream.startsWith('xray|'))!;
    expect(xray.windowsHashed).toBe(1);
    expect(xray.bytesHashed).toBeGreaterThan(0);
    expect(xray.unverified).toBe(0);
    expect(again.reconciledWindows).toBe(0);
  });

  it('a deleted object is found by the presence check of an already hashed window, and the metric says so', async () => {
    const part = (await listKeys(twin.s3Client, twin.s3.bucket, 'source=xray/')).find((key) => key.includes('window=20261109T200000Z--') && key.endsWith('.ndjson.gz'))!;
    await twin.s3Client.send(new DeleteObjectCommand({ Bucket: twin.s3.bucket, Key: part }));
    const after = await verifier({});
    const xray = after.streams.find((stream) => stream.stream.startsWith('xray|'))!;
    expect(xray.windowsHashed).toBe(0);
    expect(xray.problems).toEqual([expect.objectContaining({ window: { start: '2026-11-09T20:00:00.000Z', end: '2026-11-09T21:00:00.000Z' }, state: 'incomplete' })]);
    expect(after.unverifiedWindows).toBe(1);
    expect((await metrics()).filter((line) => line.Source === 'xray').at(-1)).toMatchObject({ UnverifiedWindows: 1 });
  });
});
