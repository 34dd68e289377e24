import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestListing, manifestKey, readManifest, writeManifest, type Manifest } from '../../functions/common/manifest.js';
import { streamFolder, windowFolder } from '../../functions/common/s3-layout.js';
import { makeWindow } from '../../functions/common/time-window.js';
import { startLocalS3, type LocalS3 } from '../../local/s3-server.js';

/**
 * The listing that spares a first export one GET per window: it must never say "no manifest" for a window
 * that has one (the replaced export's objects would stay beside the new ones), on the real S3 protocol.
 */

const HOUR = 3_600_000;
const BASE = Date.parse('2026-10-30T20:00:00Z');
let s3: LocalS3;
let client: S3Client;
let directory: string;
/** S3 commands sent, by name. */
const sent: string[] = [];

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'manifest-listing-'));
  s3 = await startLocalS3({ directory, bucket: 'listing' });
  client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
  client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push(context.commandName!);
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
});

afterAll(async () => {
  await s3?.close();
  await rm(directory, { recursive: true, force: true });
});

const stream = { source: 'xray', tenant: 'acme', filtersId: 'all' };
const folderAt = (hour: number, filters = 'all') =>
  windowFolder({ ...stream, filtersId: filters, window: makeWindow(BASE + hour * HOUR, BASE + (hour + 1) * HOUR) });

function manifestFor(hour: number, keys: string[]): Manifest {
  const window = makeWindow(BASE + hour * HOUR, BASE + (hour + 1) * HOUR);
  return {
    version: 2,
    source: 'xray',
    tenant: 'acme',
    filtersId: 'all',
    filters: {},
    format: 'ndjson.gz',
    window,
    objects: keys.map((key) => ({ key, bytes: 1, records: 1, sha256: '0'.repeat(64), generation: 1 })),
    records: keys.length,
    bytes: keys.length,
    generation: 1,
    vendorCount: keys.length,
    supersedes: [],
    shortAnswer: false,
    shortAnswers: [],
    completedAt: new Date(0).toISOString(),
  };
}

async function put(key: string, body = 'x') {
  await client.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: body }));
}

describe('ManifestListing', () => {
  it('tells exactly which windows hold a manifest, listing each key once across pages (across days too)', async () => {
    // Hours 0..9 span midnight (dt= changes). Manifests in 1, 4 (+ a part), 5, 9; only a part in 2 and 6;
    // another filter set's manifest in hour 3 must not count; one before the listed range (hour -1).
    for (const hour of [1, 4, 5, 9]) await put(manifestKey(folderAt(hour)), '{}');
    for (const hour of [2, 4, 6]) await put(`${folderAt(hour)}part-000000000000.ndjson.gz`);
    await put(manifestKey(folderAt(3, 'deadbeef0000')), '{}');
    await put(manifestKey(folderAt(-1)), '{}');

    sent.length = 0;
    const listing = new ManifestListing(client, 'listing', streamFolder(stream), folderAt(0), 2);
    const found: number[] = [];
    for (let hour = 0; hour < 12; hour++) if (await listing.mayHaveManifest(folderAt(hour))) found.push(hour);
    expect(found).toEqual([1, 4, 5, 9]);
    // 7 keys from hour 0 on in this stream, 2 per page: 4 pages, and no GET.
    expect(sent).toEqual(['ListObjectsCommand', 'ListObjectsCommand', 'ListObjectsCommand', 'ListObjectsCommand']);
  });

  it('answers "may have" for a folder before the listed range, which it never saw', async () => {
    const listing = new ManifestListing(client, 'listing', streamFolder(stream), folderAt(0));
    expect(await listing.mayHaveManifest(folderAt(-2))).toBe(true);
  });

  it('lists a page once when windows ask at the same time', async () => {
    sent.length = 0;
    const listing = new ManifestListing(client, 'listing', streamFolder(stream), folderAt(0));
    const answers = await Promise.all([0, 1, 2, 4].map((hour) => listing.mayHaveManifest(folderAt(hour))));
    expect(answers).toEqual([false, true, false, true]);
    expect(sent).toEqual(['ListObjectsCommand']);
  });

  it('matches keys whose tenant needed percent-encoding (the listing returns keys exactly as stored)', async () => {
    const odd = { source: 'xray', tenant: 'acme corp/eu+1', filtersId: 'all' };
    const folder = (hour: number) => windowFolder({ ...odd, window: makeWindow(BASE + hour * HOUR, BASE + (hour + 1) * HOUR) });
    expect(folder(0)).toContain('tenant=acme%20corp%2Feu%2B1/');
    await put(manifestKey(folder(1)), '{}');
    const listing = new ManifestListing(client, 'listing', streamFolder(odd), folder(0));
    expect([await listing.mayHaveManifest(folder(0)), await listing.mayHaveManifest(folder(1))]).toEqual([false, true]);
  });

  it('rejects a start folder outside the stream', () => {
    expect(() => new ManifestListing(client, 'listing', streamFolder(stream), folderAt(0, 'other'))).toThrow(/is not under/);
  });
});

describe('writeManifest and readManifest', () => {
  it('write the manifest and nothing else: a manifest listing fewer objects deletes none', async () => {
    const folder = folderAt(20);
    await put(`${folder}part-a`);
    await put(`${folder}part-b`);
    await writeManifest(client, 'listing', folder, manifestFor(20, [`${folder}part-a`, `${folder}part-b`]));
    sent.length = 0;
    await writeManifest(client, 'listing', folder, manifestFor(20, [`${folder}part-a`]));
    expect(sent).toEqual(['PutObjectCommand']);
    const keys = (await client.send(new ListObjectsCommand({ Bucket: 'listing', Prefix: folder }))).Contents?.map((o) => o.Key);
    expect(keys).toEqual([manifestKey(folder), `${folder}part-a`, `${folder}part-b`]);
    expect((await client.send(new GetObjectCommand({ Bucket: 'listing', Key: `${folder}part-b` }))).ContentLength).toBe(1);
  });

  it('read a version-1 manifest in the v2 shape: one generation, no vendor count', async () => {
    const folder = folderAt(21);
    const v1 = { ...manifestFor(21, [`${folder}part-a`]), version: 1 } as Record<string, unknown>;
    for (const field of ['generation', 'vendorCount', 'supersedes', 'shortAnswer', 'shortAnswers']) delete v1[field];
    v1.objects = [{ key: `${folder}part-a`, bytes: 1, records: 1, sha256: '0'.repeat(64) }];
    await put(manifestKey(folder), JSON.stringify(v1));
    expect(await readManifest(client, 'listing', manifestKey(folder))).toMatchObject({
      version: 2,
      writtenAs: 1,
      generation: 1,
      vendorCount: null,
      supersedes: [],
      shortAnswers: [],
      objects: [{ key: `${folder}part-a`, generation: 1 }],
    });
    await put(manifestKey(folder), JSON.stringify({ ...v1, version: 3 }));
    await expect(readManifest(client, 'listing', manifestKey(folder))).rejects.toThrow(/version 3; this reader knows versions 1 and 2/);
  });
});

describe('ManifestListing.conflicts', () => {
  it('finds windows of another grid that overlap a window, also ones that start earlier that day', async () => {
    const day = Date.parse('2026-10-29T00:00:00Z');
    const at = (fromMinutes: number, minutes: number) => makeWindow(day + fromMinutes * 60_000, day + (fromMinutes + minutes) * 60_000);
    const folder = (window: ReturnType<typeof at>) => windowFolder({ ...stream, window });
    // An hourly window 08:00-09:00 and a 90-minute one 10:30-12:00 are stored; a part without manifest at 09:00-09:15.
    await put(manifestKey(folder(at(8 * 60, 60))), '{}');
    await put(manifestKey(folder(at(10 * 60 + 30, 90))), '{}');
    await put(`${folder(at(9 * 60, 15))}part-x`);
    const listing = new ManifestListing(client, 'listing', streamFolder(stream), `${streamFolder(stream)}dt=2026-10-29/`);
    expect(await listing.conflicts(folder(at(8 * 60 + 15, 15)), at(8 * 60 + 15, 15))).toEqual([at(8 * 60, 60)]);
    expect(await listing.conflicts(folder(at(8 * 60, 60)), at(8 * 60, 60))).toEqual([]);
    expect(await listing.conflicts(folder(at(9 * 60, 15)), at(9 * 60, 15))).toEqual([]);
    expect(await listing.conflicts(folder(at(11 * 60, 60)), at(11 * 60, 60))).toEqual([at(10 * 60 + 30, 90)]);
  });
});
