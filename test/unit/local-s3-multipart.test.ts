import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createS3Client, uploadStream } from '../../functions/common/s3-writer.js';
import { startLocalS3, type LocalS3 } from '../../local/s3-server.js';

/**
 * The local S3's CompleteMultipartUpload: validated like S3, the parts' bytes concatenated exactly,
 * and S3's multipart ETag (md5 of the parts' binary md5s, "-" part count).
 */

const MiB = 1024 * 1024;
let s3: LocalS3;
let client: S3Client;
let directory: string;
const created: { key: string; size: number }[] = [];

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'local-s3-multipart-'));
  s3 = await startLocalS3({ directory, bucket: 'multipart' });
  s3.onObjectCreated((event) => created.push(event));
  client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
});

afterAll(async () => {
  client?.destroy();
  await s3?.close();
  await rm(directory, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest();
/** What S3 answers for a multipart object: quoted md5(md5(part 1) ‖ … ‖ md5(part n)) + "-n". */
const multipartEtag = (parts: Uint8Array[]) =>
  `"${createHash('md5').update(Buffer.concat(parts.map(md5))).digest('hex')}-${parts.length}"`;

async function getBytes(key: string) {
  const response = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return { response, bytes: await response.Body!.transformToByteArray() };
}

/** Starts an upload of these parts (numbered from 1) and uploads them; completing is left to the test. */
async function uploadParts(key: string, parts: Buffer[]) {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key, ContentType: 'application/x-ndjson' }));
  const completed: CompletedPart[] = [];
  for (const [index, body] of parts.entries()) {
    const { ETag } = await client.send(
      new UploadPartCommand({ Bucket: s3.bucket, Key: key, UploadId, PartNumber: index + 1, Body: body }),
    );
    completed.push({ PartNumber: index + 1, ETag });
  }
  return { uploadId: UploadId!, completed };
}

const complete = (key: string, uploadId: string, parts: CompletedPart[]) =>
  client.send(
    new CompleteMultipartUploadCommand({ Bucket: s3.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
  );

async function expectNoObject(key: string) {
  await expect(client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).rejects.toMatchObject({ name: 'NoSuchKey' });
  // Nor a half-written temporary file beside where the object would be.
  const folder = path.dirname(s3.objectPath(key));
  const leftovers = await readdir(folder).catch(() => [] as string[]);
  expect(leftovers.filter((name) => name.startsWith(path.basename(key)))).toEqual([]);
}

describe('local S3 CompleteMultipartUpload', () => {
  it('concatenates the parts exactly and answers with the S3 multipart ETag', async () => {
    const key = 'exports/three-parts.ndjson';
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1 * MiB)];
    const whole = Buffer.concat(parts);
    const { uploadId, completed } = await uploadParts(key, parts);

    const result = await complete(key, uploadId, completed);
    expect(result.ETag).toBe(multipartEtag(parts));
    expect(result.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);

    const { response, bytes } = await getBytes(key);
    expect(bytes.length).toBe(whole.length);
    expect(sha256(bytes)).toBe(sha256(whole));
    expect(response.ContentLength).toBe(11 * MiB);
    expect(response.ETag).toBe(multipartEtag(parts));
    expect(response.ContentType).toBe('application/x-ndjson');

    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(head.ETag).toBe(multipartEtag(parts));
    expect(head.ContentLength).toBe(11 * MiB);

    // A ranged GET across the boundary between parts 1 and 2 still reads the concatenation.
    const ranged = await client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: key, Range: `bytes=${5 * MiB - 10}-${5 * MiB + 9}` }),
    );
    expect(Buffer.from(await ranged.Body!.transformToByteArray())).toEqual(whole.subarray(5 * MiB - 10, 5 * MiB + 10));

    await vi.waitFor(() => expect(created).toContainEqual({ key, size: 11 * MiB }));
  });

  it('rejects a part whose ETag does not match with InvalidPart, and stores nothing', async () => {
    const key = 'exports/wrong-etag.ndjson';
    const parts = [randomBytes(5 * MiB), randomBytes(1 * MiB)];
    const { uploadId, completed } = await uploadParts(key, parts);

    const wrong = completed.map((part, index) => (index === 1 ? { ...part, ETag: `"${'0'.repeat(32)}"` } : part));
    await expect(complete(key, uploadId, wrong)).rejects.toMatchObject({
      name: 'InvalidPart',
      $metadata: { httpStatusCode: 400 },
    });
    await expectNoObject(key);

    // A part that was never uploaded is also InvalidPart.
    await expect(complete(key, uploadId, [...completed, { PartNumber: 3, ETag: completed[0]!.ETag }])).rejects.toMatchObject({
      name: 'InvalidPart',
    });
    await expectNoObject(key);

    // As on S3, the upload survives a rejected completion: the right list still completes it.
    const result = await complete(key, uploadId, completed);
    expect(result.ETag).toBe(multipartEtag(parts));
    expect(sha256((await getBytes(key)).bytes)).toBe(sha256(Buffer.concat(parts)));
  });

  it('rejects parts listed out of order with InvalidPartOrder, and stores nothing', async () => {
    const key = 'exports/out-of-order.ndjson';
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1 * MiB)];
    const { uploadId, completed } = await uploadParts(key, parts);

    await expect(complete(key, uploadId, [completed[1]!, completed[0]!, completed[2]!])).rejects.toMatchObject({
      name: 'InvalidPartOrder',
      $metadata: { httpStatusCode: 400 },
    });
    await expectNoObject(key);
    await expect(complete(key, uploadId, [completed[0]!, completed[0]!, completed[1]!])).rejects.toMatchObject({
      name: 'InvalidPartOrder',
    });
    await expectNoObject(key);
  });

  it('answers NoSuchUpload for an upload that was already completed', async () => {
    const key = 'exports/twice.ndjson';
    const parts = [randomBytes(1 * MiB)];
    const { uploadId, completed } = await uploadParts(key, parts);
    await complete(key, uploadId, completed);
    await expect(complete(key, uploadId, completed)).rejects.toMatchObject({
      name: 'NoSuchUpload',
      $metadata: { httpStatusCode: 404 },
    });
    expect(sha256((await getBytes(key)).bytes)).toBe(sha256(parts[0]!));
  });

  it('round-trips a ~20 MiB stream uploaded by the exporter\'s uploadStream, with the multipart ETag', async () => {
    const key = 'exports/upload-stream.ndjson';
    const chunks = Array.from({ length: 41 }, (_, index) => randomBytes(512 * 1024 - index));
    const whole = Buffer.concat(chunks);
    const exporter = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    const partSize = 5 * MiB;
    await uploadStream({ s3: exporter, destination: { bucket: s3.bucket, key }, body: Readable.from(chunks), contentType: 'application/x-ndjson', partSizeBytes: partSize });
    // Four full parts and a last short one.
    const expectedParts = Array.from({ length: Math.ceil(whole.length / partSize) }, (_, index) =>
      whole.subarray(index * partSize, (index + 1) * partSize),
    );
    expect(expectedParts).toHaveLength(5);

    const { response, bytes } = await getBytes(key);
    expect(response.ETag).toBe(multipartEtag(expectedParts));
    expect(response.ContentLength).toBe(whole.length);
    expect(sha256(bytes)).toBe(sha256(whole));
    await vi.waitFor(() => expect(created).toContainEqual({ key, size: whole.length }));
  });
});

describe('local S3 AbortMultipartUpload', () => {
  it('removes the upload (204), which then cannot be completed; a second abort is NoSuchUpload', async () => {
    const key = 'exports/aborted.ndjson';
    const { uploadId, completed } = await uploadParts(key, [randomBytes(MiB)]);
    const abort = new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: key, UploadId: uploadId });
    expect((await client.send(abort)).$metadata.httpStatusCode).toBe(204);
    await expect(complete(key, uploadId, completed)).rejects.toMatchObject({ name: 'NoSuchUpload' });
    await expect(client.send(abort)).rejects.toMatchObject({ name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } });
    await expect(getBytes(key)).rejects.toMatchObject({ name: 'NoSuchKey' });
  });
});
