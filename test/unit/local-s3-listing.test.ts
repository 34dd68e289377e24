import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3 } from '../../local/s3-server.js';

/** The twin's S3 lists keys in S3's order (UTF-8 binary), so listings paged with markers neither repeat nor skip keys. */

let s3: LocalS3;
let client: S3Client;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'local-s3-listing-'));
  s3 = await startLocalS3({ directory, bucket: 'listing' });
  client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
});

afterAll(async () => {
  client?.destroy();
  await s3?.close();
  await rm(directory, { recursive: true, force: true });
});

describe('ListObjects on the twin', () => {
  it('lists a folder and its sibling whose name extends it (filters=all/, filters=all-csv/) in key order, page by page', async () => {
    // Written in an order that puts filters=all/ first on disk; in key order "all-csv/" comes first ('-' < '/').
    const keys = ['s/filters=all/d/1', 's/filters=all/d/2', 's/filters=all-csv/d/1', 's/filters=all-csv/d/2', 's/filters=all/e', 's/other'];
    for (const key of keys) await client.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: 'x' }));
    const listed: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await client.send(new ListObjectsCommand({ Bucket: 'listing', Prefix: 's/', Marker: marker, MaxKeys: 2 }));
      listed.push(...(page.Contents ?? []).map((object) => object.Key!));
      if (!page.IsTruncated) break;
      marker = page.Contents!.at(-1)!.Key;
    }
    expect(listed).toEqual([...keys].sort());
    const folders = await client.send(new ListObjectsCommand({ Bucket: 'listing', Prefix: 's/', Delimiter: '/' }));
    expect(folders.CommonPrefixes?.map((common) => common.Prefix)).toEqual(['s/filters=all-csv/', 's/filters=all/']);
    expect(folders.Contents?.map((object) => object.Key)).toEqual(['s/other']);
  });
});
