import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MultipartSink } from '../../functions/common/multipart-sink.js';
import { createS3Client, partSizeFor, uploadStream } from '../../functions/common/s3-writer.js';
import { startLocalS3, type LocalS3 } from '../../local/s3-server.js';

/**
 * The upload path every exported byte takes, on the twin's real S3 protocol server: objects stored byte
 * for byte whether they take one PutObject or many parts, part buffers reused across concurrent uploads
 * without mixing their bytes, and a failed upload leaving neither an object nor an open multipart upload.
 */

const MiB = 1024 * 1024;
const PART = 5 * MiB;
let s3: LocalS3;
let directory: string;
let client: ReturnType<typeof createS3Client>;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'multipart-sink-'));
  s3 = await startLocalS3({ directory, bucket: 'sink' });
  client = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
});

afterAll(async () => {
  await s3?.close();
  await rm(directory, { recursive: true, force: true });
});

/** `data` in chunks of awkward sizes (never aligned with a part). */
function chunked(data: Buffer): Readable {
  const sizes = [1, 65_521, 300_007, 1_048_573];
  return Readable.from(
    (function* () {
      for (let at = 0, k = 0; at < data.length; k++) {
        const size = sizes[k % sizes.length]!;
        yield data.subarray(at, at + size);
        at += size;
      }
    })(),
  );
}

async function stored(key: string): Promise<{ sha256: string; etag: string }> {
  const object = await client.send(new GetObjectCommand({ Bucket: 'sink', Key: key }));
  const bytes = await object.Body!.transformToByteArray();
  return { sha256: createHash('sha256').update(bytes).digest('hex'), etag: object.ETag! };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function openUploads(): Promise<string[]> {
  return readdir(path.join(directory, 'sink', '._S3rver_uploads')).catch(() => []);
}

describe('MultipartSink', () => {
  it('stores concurrent multi-part uploads byte for byte while reusing part buffers', async () => {
    const sources = [0, 1, 2].map(() => randomBytes(4 * PART + 123_457));
    const results = await Promise.all(
      sources.map((data, index) =>
        uploadStream({ s3: client, destination: { bucket: 'sink', key: `many/${index}.bin` }, body: chunked(data), contentType: 'application/octet-stream', partSizeBytes: PART }),
      ),
    );
    for (const [index, data] of sources.entries()) {
      expect(results[index]).toMatchObject({ bytes: data.length, sha256: sha256(data) });
      const object = await stored(`many/${index}.bin`);
      expect(object.sha256).toBe(sha256(data));
      expect(object.etag).toMatch(/-5"$/); // five parts: S3's multipart ETag
    }
    // Sequential uploads after those reuse the pooled buffers: stale bytes of an earlier upload must not leak in.
    const small = Buffer.from('{"id":1}\n');
    await uploadStream({ s3: client, destination: { bucket: 'sink', key: 'many/small.ndjson' }, body: chunked(small), contentType: 'application/x-ndjson', partSizeBytes: PART });
    expect((await stored('many/small.ndjson')).sha256).toBe(sha256(small));
    expect(await openUploads()).toEqual([]);
  });

  it('sends an object of at most one part as a single PutObject, with its content type and metadata', async () => {
    const exact = randomBytes(PART);
    await uploadStream({
      s3: client,
      destination: { bucket: 'sink', key: 'one/exact.bin' },
      body: chunked(exact),
      contentType: 'application/x-ndjson',
      contentEncoding: 'gzip',
      metadata: { source: 'xray' },
      partSizeBytes: PART,
    });
    const object = await stored('one/exact.bin');
    expect(object.sha256).toBe(sha256(exact));
    expect(object.etag).not.toContain('-');
    const head = await client.send(new HeadObjectCommand({ Bucket: 'sink', Key: 'one/exact.bin' }));
    expect(head).toMatchObject({ ContentType: 'application/x-ndjson', ContentEncoding: 'gzip', Metadata: { source: 'xray' } });

    await uploadStream({ s3: client, destination: { bucket: 'sink', key: 'one/empty.bin' }, body: Readable.from([]), contentType: 'application/octet-stream' });
    expect((await stored('one/empty.bin')).sha256).toBe(sha256(Buffer.alloc(0)));
  });

  it('aborts the multipart upload when the source fails after some parts, storing nothing', async () => {
    const data = randomBytes(3 * PART);
    const failing = Readable.from(
      (async function* () {
        yield data;
        throw new Error('source cut off');
      })(),
    );
    await expect(
      uploadStream({ s3: client, destination: { bucket: 'sink', key: 'failed/source.bin' }, body: failing, contentType: 'application/octet-stream', partSizeBytes: PART }),
    ).rejects.toThrow('source cut off');
    await expect(client.send(new GetObjectCommand({ Bucket: 'sink', Key: 'failed/source.bin' }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    expect(await openUploads()).toEqual([]);
  });

  it('aborts when a part fails for good, after the parts in flight settle, and reports that part\'s error', async () => {
    const failing = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    const sent: string[] = [];
    failing.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { PartNumber?: number };
        sent.push(`${context.commandName}${input.PartNumber ? ` ${input.PartNumber}` : ''}`);
        if (context.commandName === 'UploadPartCommand' && input.PartNumber === 3) throw new Error('part 3 refused');
        return next(args);
      },
      { step: 'initialize', name: 'failPartThree' },
    );
    await expect(
      uploadStream({ s3: failing, destination: { bucket: 'sink', key: 'failed/part.bin' }, body: chunked(randomBytes(5 * PART)), contentType: 'application/octet-stream', partSizeBytes: PART }),
    ).rejects.toThrow('part 3 refused');
    expect(sent).toContain('AbortMultipartUploadCommand');
    expect(sent).not.toContain('CompleteMultipartUploadCommand');
    expect(sent.indexOf('AbortMultipartUploadCommand')).toBe(sent.length - 1);
    await expect(client.send(new GetObjectCommand({ Bucket: 'sink', Key: 'failed/part.bin' }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    expect(await openUploads()).toEqual([]);
  });

  it('sends no further part once the source fails, even with a write waiting for a free slot', async () => {
    const slow = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    const sent: string[] = [];
    slow.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName!);
        if (context.commandName === 'UploadPartCommand') await new Promise((resolve) => setTimeout(resolve, 600));
        return next(args);
      },
      { step: 'initialize', name: 'slowParts' },
    );
    // Three parts' worth: part 1 goes out (one slot), part 2 waits for the slot, and then the source fails.
    const source = new PassThrough();
    for (let k = 0; k < 3; k++) source.write(randomBytes(PART));
    setTimeout(() => source.destroy(new Error('source failed')), 150);
    const sink = new MultipartSink(slow, { Bucket: 'sink', Key: 'failed/waiting.bin' }, PART, 1);
    await expect(pipeline(source, sink)).rejects.toThrow('source failed');
    await new Promise((resolve) => setTimeout(resolve, 300)); // anything still going would show now
    expect(sent).toEqual(['CreateMultipartUploadCommand', 'UploadPartCommand', 'AbortMultipartUploadCommand']);
    expect(await openUploads()).toEqual([]);
  });

  it('fails with S3\'s error when S3 refuses, and says which limit a bad setting breaks', async () => {
    const sink = new MultipartSink(client, { Bucket: 'no-such-bucket', Key: 'x' }, PART, 2);
    await expect(pipeline(Readable.from([randomBytes(2 * PART)]), sink)).rejects.toMatchObject({ name: 'NoSuchBucket' });
    expect(() => new MultipartSink(client, { Bucket: 'sink', Key: 'x' }, MiB, 2)).toThrow(/minimum part size of 5 MiB/);
    expect(() => new MultipartSink(client, { Bucket: 'sink', Key: 'x' }, PART, 0)).toThrow(/positive integer/);
  });
});

describe('partSizeFor', () => {
  it('keeps 8 MiB parts up to 10,000 of them, and grows them (in whole MiB) for a larger announced size', () => {
    expect(partSizeFor(undefined)).toBe(8 * MiB);
    expect(partSizeFor(2_000_000_000)).toBe(8 * MiB);
    expect(partSizeFor(10_000 * 8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(10_000 * 8 * MiB + 1)).toBe(9 * MiB);
    const huge = 200 * 1024 * MiB;
    expect(Math.ceil(huge / partSizeFor(huge))).toBeLessThanOrEqual(10_000);
  });
});
