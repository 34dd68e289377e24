import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
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
    await twin.s3Client.send(new PutObjectCommand({ Bucket: twin.s3.bucket, Key: reportKey, Body: '[]\n' }));
    await expect(handler()(objectCreated(manifestKey))).rejects.toThrow(/does not match its objects: .*report\.json: 3 bytes, manifest says \d+/);
    expect(JSON.parse(logs.at(-1)!)).toMatchObject({ level: 'ERROR', key: manifestKey });
  });

  it('rejects an event that is not an S3 Object Created event', async () => {
    await expect(handler()({ detail: { nothing: true } })).rejects.toThrow(/Invalid S3 Object Created event.*detail\.bucket/);
  });
});
