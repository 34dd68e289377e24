import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { verifyManifest } from '../../functions/common/manifest.js';
import { AuditTimeline } from '../../emulators/mft/index.js';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { DrivenClock } from '../support/driven-clock.js';
import { succeededOutput, temporaryTwins } from '../support/temporary-twin.js';
import type { Twin } from '../../local/twin.js';
import { compareIds, currentEventIds, manifestsUnder, unnamedObjects } from '../support/stored-events.js';

/**
 * A stream is everything that changes what a window holds: format and dry-run have their own folders and
 * checkpoints (so a JSON and a CSV export of one window never share a manifest), and the grid is recorded in
 * the checkpoint (a grid change continues when the checkpoint lies on the new grid, and is refused with the
 * command that mends it when not). Today's default streams keep their keys: a checkpoint and folders written
 * before all this continue as they are.
 */

const HOUR = 3_600_000;
const start = temporaryTwins('stream-identity');

function succeeded(result: LocalRunResult) {
  return succeededOutput<{ status: string; checkpoint: string | null; message: string }>(result);
}

function mftTruth(eventsPerHour: number, start: string, end: string): string[] {
  const timeline = new AuditTimeline(1, eventsPerHour);
  const [first, last] = timeline.indexRange(Date.parse(start), Date.parse(end));
  return Array.from({ length: last - first }, (_, i) => timeline.event(first + i).id);
}

/** The ids in the objects of one format that the manifests list as current, wherever they are. */
async function idsInObjects(twin: Twin, prefix: string, suffix: string): Promise<(string | number)[]> {
  const ids: (string | number)[] = [];
  for (const { key, manifest } of await manifestsUnder(twin.s3Client, twin.s3.bucket, prefix)) {
    if (manifest.objects.every((object) => object.key.endsWith(suffix))) ids.push(...(await currentEventIds(twin.s3Client, twin.s3.bucket, key)));
  }
  return ids;
}

async function expectAllVerify(twin: Twin, prefix: string) {
  const manifests = await manifestsUnder(twin.s3Client, twin.s3.bucket, prefix);
  for (const { key } of manifests) expect(await verifyManifest(twin.s3Client, twin.s3.bucket, key), key).toEqual({ ok: true, problems: [] });
  expect(await unnamedObjects(twin.s3Client, twin.s3.bucket, prefix)).toEqual([]);
  return manifests;
}

describe('JSON then CSV of the same window', () => {
  it('MFT: both are kept, in their own folders, both complete', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-07T10:05:00Z'));
    const twin = await start({ clock, xray: false, mft: { reportReadyAfterMs: 0, eventsPerHour: 120 } });
    const runtime = () => twin.mftRuntime({ pollIntervalSeconds: 1, lagMinutes: 15, initialLookbackHours: 2 });
    // The JSON stream runs on its schedule (a checkpoint), then someone exports the same hours as CSV by hand.
    expect(succeeded(await runMftExport(runtime(), { input: {}, waitMs: 0, retryMs: 5 })).checkpoint).toBe('2026-09-07T09:00:00.000Z');
    const window = { start: '2026-09-07T07:00:00Z', end: '2026-09-07T09:00:00Z' };
    succeeded(await runMftExport(runtime(), { input: { window, type: 'csv' }, waitMs: 0, retryMs: 5 }));

    const truth = mftTruth(120, window.start, window.end);
    const json = compareIds(truth, await idsInObjects(twin, 'source=mft/', '/report.json'));
    const csv = compareIds(truth, await idsInObjects(twin, 'source=mft/', '/report.csv'));
    console.info(
      `json then csv (mft): json stored ${json.stored}, lost ${json.lost.length}, duplicated ${json.duplicated.length}; ` +
        `csv stored ${csv.stored}, lost ${csv.lost.length}, duplicated ${csv.duplicated.length}`,
    );
    for (const figures of [json, csv]) {
      expect(figures.lost).toEqual([]);
      expect(figures.duplicated).toEqual([]);
    }
    const manifests = await expectAllVerify(twin, 'source=mft/');
    expect(manifests.map(({ key }) => key.split('/').slice(2, 3)[0]).sort()).toEqual(['filters=all', 'filters=all', 'filters=all-csv', 'filters=all-csv']);
    // The JSON stream's checkpoint still stands (and its windows are still there); the CSV stream has its own item,
    // holding only the lease its manual run took (and released): manual runs start no watermark.
    expect((await twin.ledger.checkpoints()).map((checkpoint) => [checkpoint.stream, checkpoint.watermark, checkpoint.leases])).toEqual([
      [`mft|${twin.mft.tenantId}|all|csv`, undefined, []],
      [`mft|${twin.mft.tenantId}|all|json`, '2026-09-07T09:00:00.000Z', []],
    ]);
  }, 60_000);

  it('Xray: both are kept, in their own folders, both complete', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-07T10:05:00Z'));
    const twin = await start({ clock, xray: { events: 3_000, datasetStart: '2026-09-07T07:00:00Z', datasetEnd: '2026-09-07T09:00:00Z' }, mft: { reportReadyAfterMs: 0 } });
    const run = (input: object) => runXrayExport(twin.xrayRuntime({ lagMinutes: 15, initialLookbackHours: 2 }), { input, waitMs: 0, retryMs: 5 });
    succeeded(await run({}));
    const window = { start: '2026-09-07T07:00:00Z', end: '2026-09-07T09:00:00Z' };
    succeeded(await run({ window, format: 'csv' }));
    const truth = twin.xray!.eventIds(window);
    const json = compareIds(truth, await idsInObjects(twin, 'source=xray/', '.ndjson.gz'));
    const csv = compareIds(truth, await idsInObjects(twin, 'source=xray/', '.csv.gz'));
    console.info(
      `json then csv (xray): json stored ${json.stored}, lost ${json.lost.length}, duplicated ${json.duplicated.length}; ` +
        `csv stored ${csv.stored}, lost ${csv.lost.length}, duplicated ${csv.duplicated.length}`,
    );
    for (const figures of [json, csv]) {
      expect(figures.lost).toEqual([]);
      expect(figures.duplicated).toEqual([]);
    }
    expect(await expectAllVerify(twin, 'source=xray/')).toHaveLength(4);
  }, 60_000);
});

describe("today's layout", () => {
  it('a checkpoint and folders written before generations and grids are read and continued, with the same keys', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-07T10:05:00Z'));
    const twin = await start({ clock, xray: { events: 4_000, datasetStart: '2026-09-07T06:00:00Z', datasetEnd: '2026-09-07T09:00:00Z' }, mft: { reportReadyAfterMs: 0, eventsPerHour: 120 } });
    const xray = () => runXrayExport(twin.xrayRuntime({ lagMinutes: 15, overlapHours: 2, initialLookbackHours: 3 }), { input: {}, waitMs: 0, retryMs: 5 });
    const mft = () => runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1, lagMinutes: 15, initialLookbackHours: 3 }), { input: {}, waitMs: 0, retryMs: 5 });
    succeeded(await xray());
    succeeded(await mft());
    const keysBefore = (await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=')).flatMap(({ manifest }) => manifest.objects.map((object) => object.key)).sort();

    // Turn what was written into exactly what the previous release wrote: version-1 manifests, checkpoint items
    // holding only the watermark.
    for (const { key, manifest } of await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=')) {
      const { generation: _g, vendorCount: _v, events: _e, supersedes: _s, shortAnswer: _a, shortAnswers: _as, segments: _sg, ...rest } = manifest as unknown as Record<string, unknown>;
      const v1 = { ...rest, version: 1, objects: manifest.objects.map(({ generation: _gen, ...object }) => object) };
      await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: key, Body: JSON.stringify(v1, null, 2) }));
    }
    for (const checkpoint of await twin.ledger.checkpoints()) {
      await twin.dynamo.client.send(
        new PutItemCommand({
          TableName: twin.dynamo.table,
          Item: { pk: { S: checkpoint.stream }, sk: { S: 'checkpoint' }, watermark: { S: checkpoint.watermark! }, updatedAt: { S: checkpoint.updatedAt! } },
        }),
      );
    }

    // Late events for the overlap, new events, and an hour later the next scheduled runs.
    twin.xray!.addEvents(25, { createdAt: (i) => new Date(Date.parse('2026-09-07T08:00:00Z') + i * 60_000).toISOString() });
    twin.xray!.addEvents(30, { createdAt: (i) => new Date(Date.parse('2026-09-07T09:00:00Z') + i * 60_000).toISOString() });
    clock.set(Date.parse('2026-09-07T11:05:00Z'));
    expect(succeeded(await xray()).checkpoint).toBe('2026-09-07T10:00:00.000Z');
    expect(succeeded(await mft()).checkpoint).toBe('2026-09-07T10:00:00.000Z');

    const xrayTruth = twin.xray!.eventIds({ start: '2026-09-07T06:00:00Z', end: '2026-09-07T10:00:00Z' });
    const xrayFigures = compareIds(xrayTruth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/'));
    const mftFigures = compareIds(mftTruth(120, '2026-09-07T06:00:00Z', '2026-09-07T10:00:00Z'), await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=mft/'));
    console.info(
      `today's layout continued: xray stored ${xrayFigures.stored} (late 25), lost ${xrayFigures.lost.length}, duplicated ${xrayFigures.duplicated.length}; ` +
        `mft stored ${mftFigures.stored}, lost ${mftFigures.lost.length}, duplicated ${mftFigures.duplicated.length}`,
    );
    for (const figures of [xrayFigures, mftFigures]) {
      expect(figures.lost).toEqual([]);
      expect(figures.duplicated).toEqual([]);
      expect(figures.extra).toEqual([]);
    }
    // The old keys are all still listed; the re-scanned windows now have version-2 manifests with the late parts.
    const manifests = await expectAllVerify(twin, 'source=');
    const keysAfter = new Set(manifests.flatMap(({ manifest }) => manifest.objects.map((object) => object.key)));
    expect(keysBefore.filter((key) => !keysAfter.has(key))).toEqual([]);
    const rescanned = manifests.find(({ key }) => key.includes('source=xray/') && key.includes('window=20260907T080000Z--'))!.manifest;
    expect(rescanned).toMatchObject({ version: 2, generation: 2 });
    expect(rescanned.objects.at(-1)!.key).toMatch(/part-20260907T080000Z-\d{12}-g2\.ndjson\.gz$/);
    // The checkpoint items now record their grid.
    const item = await twin.dynamo.client.send(
      new GetItemCommand({ TableName: twin.dynamo.table, Key: { pk: { S: 'xray|xray-twin|all|json' }, sk: { S: 'checkpoint' } } }),
    );
    expect(item.Item?.grids?.L?.[0]?.M?.ms?.N).toBe(String(HOUR));
  }, 120_000);
});

describe('a grid change on a stream with a checkpoint', () => {
  it('60 → 15 minutes continues, re-scanning the hourly windows before the change on their own grid', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-07T11:05:00Z'));
    const twin = await start({ clock, xray: { events: 800, datasetStart: '2026-09-07T06:00:00Z', datasetEnd: '2026-09-07T10:00:00Z' }, mft: { reportReadyAfterMs: 0 } });
    const run = (windowMinutes: number) =>
      runXrayExport(twin.xrayRuntime({ lagMinutes: 15, overlapHours: 2, initialLookbackHours: 4, windowMinutes }), { input: {}, waitMs: 0, retryMs: 5 });
    expect(succeeded(await run(60)).checkpoint).toBe('2026-09-07T10:00:00.000Z');

    // Late events in the hourly window 09:00–10:00 and new events; the stream goes on with 15-minute windows.
    twin.xray!.addEvents(20, { createdAt: (i) => new Date(Date.parse('2026-09-07T09:10:00Z') + i * 60_000).toISOString() });
    twin.xray!.addEvents(60, { createdAt: (i) => new Date(Date.parse('2026-09-07T10:00:00Z') + i * 120_000).toISOString() });
    clock.set(Date.parse('2026-09-07T12:05:00Z'));
    expect(succeeded(await run(15)).checkpoint).toBe('2026-09-07T11:45:00.000Z');
    clock.set(Date.parse('2026-09-07T13:05:00Z'));
    expect(succeeded(await run(15)).checkpoint).toBe('2026-09-07T12:45:00.000Z');

    const truth = twin.xray!.eventIds({ start: '2026-09-07T06:00:00Z', end: '2026-09-07T12:45:00Z' });
    const figures = compareIds(truth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/'));
    console.info(`grid 60 → 15 (xray): vendor ${truth.length}, stored ${figures.stored}, lost ${figures.lost.length}, duplicated ${figures.duplicated.length}`);
    expect(figures.lost).toEqual([]);
    expect(figures.duplicated).toEqual([]);
    const manifests = await expectAllVerify(twin, 'source=xray/');
    const windows = manifests.map(({ key }) => /window=([^/]+)\//.exec(key)![1]!);
    expect(windows.filter((window) => window.startsWith('20260907T08') || window.startsWith('20260907T09'))).toEqual([
      '20260907T080000Z--20260907T090000Z',
      '20260907T090000Z--20260907T100000Z',
    ]);
    expect(windows).toContain('20260907T100000Z--20260907T101500Z');
    const [checkpoint] = await twin.ledger.checkpoints();
    expect(checkpoint!.grids).toEqual([
      { ms: HOUR, since: null },
      { ms: 15 * 60_000, since: '2026-09-07T10:00:00.000Z' },
    ]);
  }, 120_000);

  it('60 → 90 minutes with the checkpoint off the new grid is refused with the command that reaches the next common boundary', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-07T11:05:00Z'));
    const twin = await start({ clock, xray: false, mft: { reportReadyAfterMs: 0, eventsPerHour: 60 } });
    const run = (windowMinutes: number, input: object = {}) =>
      runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1, lagMinutes: 15, initialLookbackHours: 4, windowMinutes }), { input, waitMs: 0, retryMs: 5 });
    expect(succeeded(await run(60)).checkpoint).toBe('2026-09-07T10:00:00.000Z');

    clock.set(Date.parse('2026-09-07T12:05:00Z'));
    const refused = await run(90);
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toBe('GridChangeError');
    console.info(`grid 60 → 90 (mft) refused: ${refused.cause}`);
    expect(refused.cause).toContain('stands at 2026-09-07T10:00:00.000Z, which is not on the new 90-minute grid');
    expect(refused.cause).toContain('`MFT_WINDOW_MINUTES=60 audit-export run mft --start 2026-09-07T10:00:00.000Z --end 2026-09-07T12:00:00.000Z`');
    expect(refused.cause).toContain('once 2026-09-07T12:15:00.000Z has passed');
    expect(twin.mft.reports()).toEqual([]);

    // The command it names, once the boundary is over, then the new grid from there.
    clock.set(Date.parse('2026-09-07T12:20:00Z'));
    expect(succeeded(await run(60, { window: { start: '2026-09-07T10:00:00.000Z', end: '2026-09-07T12:00:00.000Z' } })).checkpoint).toBe('2026-09-07T12:00:00.000Z');
    clock.set(Date.parse('2026-09-07T14:05:00Z'));
    expect(succeeded(await run(90)).checkpoint).toBe('2026-09-07T13:30:00.000Z');

    const truth = mftTruth(60, '2026-09-07T06:00:00Z', '2026-09-07T13:30:00Z');
    const figures = compareIds(truth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=mft/'));
    console.info(`grid 60 → 90 (mft): vendor ${truth.length}, stored ${figures.stored}, lost ${figures.lost.length}, duplicated ${figures.duplicated.length}`);
    expect(figures.lost).toEqual([]);
    expect(figures.duplicated).toEqual([]);
    const manifests = await expectAllVerify(twin, 'source=mft/');
    expect(manifests.map(({ key }) => /window=([^/]+)\//.exec(key)![1]!).at(-1)).toBe('20260907T120000Z--20260907T133000Z');
  }, 120_000);
});
