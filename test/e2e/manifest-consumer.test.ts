import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifyManifestHandler } from '../../functions/consumer/verify-manifest.js';
import { planFor, reportLocation } from '../../functions/mft/export-plan.js';
import { mftExportInputSchema } from '../../functions/mft/model.js';
import { runMftExport } from '../../local/run-export.js';
import { startTwin, type Twin } from '../../local/twin.js';

/** The example downstream consumer, fed the EventBridge events S3 would send for what an export wrote. */

let twin: Twin;
let directory: string;
let manifestKey: string;
let reportKey: string;

function objectCreated(key: string) {
  return {
    source: 'aws.s3',
    'detail-type': 'Object Created',
    detail: { bucket: { name: twin.s3.bucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/') } },
  };
}

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'consumer-'));
  twin = await startTwin({ directory, xray: false, mft: { reportReadyAfterMs: 0 } });
  const result = await runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1 }), {
    input: { window: { start: '2026-11-02T00:00:00Z', end: '2026-11-02T01:00:00Z' } },
    waitMs: 0,
    retryMs: 5,
  });
  expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
  // A window's result names its window; its object and manifest follow from the plan.
  const { window } = (result.output as { windows: { window: { start: string; end: string } }[] }).windows[0]!;
  const { key, folder } = reportLocation(planFor(mftExportInputSchema.parse({ window }), twin.mftRuntime().settings), window);
  manifestKey = `${folder}_manifest.json`;
  reportKey = key;
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

describe('example manifest consumer', () => {
  const logs: string[] = [];
  const handler = () => createVerifyManifestHandler(async () => twin.s3Client, (line) => logs.push(line));

  it('verifies a manifest against its objects', async () => {
    const result = await handler()(objectCreated(manifestKey));
    expect(result).toEqual({ key: manifestKey, ok: true, problems: [] });
    expect(JSON.parse(logs.at(-1)!)).toMatchObject({ level: 'INFO', message: 'manifest verified', key: manifestKey });
  });

  it('ignores events for data objects (only manifests mean a window is complete)', async () => {
    const result = await handler()(objectCreated(reportKey));
    expect(result.problems).toEqual(['not a manifest: ignored']);
  });

  it('fails loudly when an object no longer matches its manifest', async () => {
    const original = await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: reportKey }))).Body!.transformToByteArray();
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: reportKey, Body: '[]\n' }));
    await expect(handler()(objectCreated(manifestKey))).rejects.toThrow(/does not match its objects: .*report\.json: 3 bytes, manifest says \d+/);
    expect(JSON.parse(logs.at(-1)!)).toMatchObject({ level: 'ERROR', key: manifestKey });
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: reportKey, Body: original }));
    expect(await handler()(objectCreated(manifestKey))).toMatchObject({ ok: true });
  });

  it('accepts the objects of older generations the manifest names, and flags any other', async () => {
    // A second export of the window whose report comes back short: kept beside the current one, named by the manifest.
    twin.mft.failNextReports(1, 'short');
    const again = await runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1 }), {
      input: { window: { start: '2026-11-02T00:00:00Z', end: '2026-11-02T01:00:00Z' } },
      waitMs: 0,
      retryMs: 5,
    });
    expect(again.status, `${again.error}: ${again.cause}`).toBe('SUCCEEDED');
    const manifest = JSON.parse(await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: manifestKey }))).Body!.transformToString());
    expect(manifest).toMatchObject({ version: 2, generation: 1, shortAnswer: true, vendorCount: null });
    expect(manifest.objects.map((object: { key: string }) => object.key)).toEqual([reportKey]);
    expect(manifest.shortAnswers[0].objects[0].key).toMatch(/report-g2\.json$/);
    expect(await handler()(objectCreated(manifestKey))).toEqual({ key: manifestKey, ok: true, problems: [] });

    const stray = `${manifestKey.slice(0, -'_manifest.json'.length)}report-g9.json`;
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: stray, Body: '[]\n' }));
    await expect(handler()(objectCreated(manifestKey))).rejects.toThrow(/objects in the window not named by the manifest: .*report-g9\.json/);
    await twin.s3Client.send(new DeleteObjectCommand({ Bucket: twin.s3.bucket, Key: stray }));
  });

  it('flags a window that holds fewer events than the vendor counted', async () => {
    const body = await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: manifestKey }))).Body!.transformToString();
    const manifest = JSON.parse(body);
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: manifestKey, Body: JSON.stringify({ ...manifest, vendorCount: manifest.records + 1 }) }));
    await expect(handler()(objectCreated(manifestKey))).rejects.toThrow(new RegExp(`holds ${manifest.records} events, fewer than the ${manifest.records + 1} the vendor counted`));
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: manifestKey, Body: body }));
  });

  it('still verifies a version-1 manifest', async () => {
    const manifest = JSON.parse(await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: manifestKey }))).Body!.transformToString());
    const v1 = {
      version: 1,
      ...Object.fromEntries(['source', 'tenant', 'filtersId', 'filters', 'format', 'window', 'records', 'bytes', 'executionId', 'completedAt'].map((field) => [field, manifest[field]])),
      objects: manifest.objects.map(({ key, bytes, records, sha256 }: Record<string, unknown>) => ({ key, bytes, records, sha256 })),
    };
    const folder = manifestKey.slice(0, -'_manifest.json'.length);
    const key = `${folder.replace('window=20261102T000000Z--20261102T010000Z', 'window=20261102T010000Z--20261102T020000Z')}_manifest.json`;
    const copied = v1.objects.map((object: { key: string }) => ({ ...object, key: object.key.replace(folder, key.slice(0, -'_manifest.json'.length)) }));
    for (const [from, to] of v1.objects.map((object: { key: string }, index: number) => [object.key, copied[index]!.key])) {
      const body = await (await twin.s3Client.send(new GetObjectCommand({ Bucket: twin.s3.bucket, Key: from }))).Body!.transformToByteArray();
      await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: to, Body: body }));
    }
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: key, Body: JSON.stringify({ ...v1, objects: copied }) }));
    expect(await handler()(objectCreated(key))).toEqual({ key, ok: true, problems: [] });
  });

  it('rejects an event that is not an S3 Object Created event', async () => {
    await expect(handler()({ detail: { nothing: true } })).rejects.toThrow(/Invalid S3 Object Created event.*detail\.bucket/);
  });
});
