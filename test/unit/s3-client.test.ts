import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, uploadStream } from '../../functions/common/s3-writer.js';
import { startLocalS3, type LocalS3 } from '../../local/s3-server.js';

/**
 * The exporter's S3 client: uploads carry a CRC32 checksum and are not SHA-256-signed a second time over
 * TLS or loopback, and S3 (here the twin's real protocol server, which checks signatures) accepts them.
 */

let s3: LocalS3;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 's3-client-'));
  s3 = await startLocalS3({ directory, bucket: 'client' });
});

afterAll(async () => {
  await s3?.close();
  await rm(directory, { recursive: true, force: true });
});

/** The headers of each request as signed and sent. */
function recordSignedHeaders(client: S3Client): Record<string, string>[] {
  const seen: Record<string, string>[] = [];
  client.middlewareStack.addRelativeTo(
    ((next: (args: { request: unknown }) => Promise<unknown>) => async (args: { request: unknown }) => {
      const headers = (args.request as { headers: Record<string, string> }).headers;
      seen.push(Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])));
      return next(args);
    }) as unknown as Parameters<S3Client['middlewareStack']['addRelativeTo']>[0],
    { name: 'recordSignedHeaders', relation: 'after', toMiddleware: 'httpSigningMiddleware' },
  );
  return seen;
}

describe('createS3Client', () => {
  it('sends checksummed uploads to loopback unsigned, and S3 accepts and stores them intact', async () => {
    const client = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    const seen = recordSignedHeaders(client);
    const body = Buffer.from('{"id":1}\n'.repeat(1000));
    await client.send(new PutObjectCommand({ Bucket: 'client', Key: 'a.ndjson', Body: body }));
    expect(seen[0]).toMatchObject({ 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
    expect(Object.keys(seen[0]!).some((name) => name.startsWith('x-amz-checksum-'))).toBe(true);
    expect(seen[0]!.authorization).toMatch(/^AWS4-HMAC-SHA256 /);

    // Multipart too (MultipartSink's parts are buffers).
    const big = Buffer.alloc(12 * 1024 * 1024, 7);
    const stored = await uploadStream({
      s3: client,
      destination: { bucket: 'client', key: 'b.bin' },
      body: Readable.from([big.subarray(0, 5_000_000), big.subarray(5_000_000)]),
      contentType: 'application/octet-stream',
      partSizeBytes: 5 * 1024 * 1024,
    });
    expect(stored.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    const back = await client.send(new GetObjectCommand({ Bucket: 'client', Key: 'b.bin' }));
    expect(createHash('sha256').update(await back.Body!.transformToByteArray()).digest('hex')).toBe(stored.sha256);
    const parts = seen.filter((headers) => headers['x-amz-content-sha256'] === 'UNSIGNED-PAYLOAD');
    expect(parts.length).toBeGreaterThanOrEqual(4); // the PutObject and three parts
  });

  it('sends each part with the CRC32 of exactly its bytes, computed as they were copied in (chunks straddling parts)', async () => {
    const client = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    const sent: { part?: string; crc32?: string }[] = [];
    client.middlewareStack.addRelativeTo(
      ((next: (args: { request: unknown }) => Promise<unknown>) => async (args: { request: unknown }) => {
        const request = args.request as { headers: Record<string, string>; query?: Record<string, string> };
        sent.push({ part: request.query?.partNumber, crc32: request.headers['x-amz-checksum-crc32'] });
        return next(args);
      }) as unknown as Parameters<S3Client['middlewareStack']['addRelativeTo']>[0],
      { name: 'recordChecksums', relation: 'after', toMiddleware: 'httpSigningMiddleware' },
    );
    const data = Buffer.alloc(11 * 1024 * 1024 + 12_345);
    for (let at = 0; at < data.length; at++) data[at] = (at * 2654435761) >>> 24;
    const chunks: Buffer[] = [];
    for (let at = 0; at < data.length; at += 1_000_003) chunks.push(data.subarray(at, at + 1_000_003));
    const partSize = 5 * 1024 * 1024;
    await uploadStream({ s3: client, destination: { bucket: 'client', key: 'crc.bin' }, body: Readable.from(chunks), contentType: 'application/octet-stream', partSizeBytes: partSize });
    const parts = sent.filter((request) => request.part !== undefined).sort((a, b) => Number(a.part) - Number(b.part));
    expect(parts.map((request) => request.part)).toEqual(['1', '2', '3']);
    parts.forEach((request, index) => expect(request.crc32).toBe(referenceCrc32(data.subarray(index * partSize, (index + 1) * partSize))));
    // One part or less: a PutObject, with the whole object's CRC32.
    sent.length = 0;
    const small = data.subarray(0, 300_001);
    await uploadStream({ s3: client, destination: { bucket: 'client', key: 'crc-small.bin' }, body: Readable.from([small.subarray(0, 7), small.subarray(7)]), contentType: 'application/octet-stream' });
    expect(sent.map((request) => request.crc32)).toEqual([referenceCrc32(small)]);
  });

  it('signs the payload over plain HTTP to any other host', async () => {
    const client = createS3Client({
      endpoint: 'http://s3.example.invalid',
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });
    const seen = recordSignedHeaders(client);
    client.middlewareStack.add(() => async () => Promise.reject(new Error('not sent')), { step: 'finalizeRequest', priority: 'low' });
    const body = Buffer.from('payload');
    await expect(client.send(new PutObjectCommand({ Bucket: 'client', Key: 'c', Body: body }))).rejects.toThrow('not sent');
    expect(seen[0]!['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
  });
});

/** CRC-32 (IEEE, as S3's ChecksumCRC32), bit by bit, base64 of its big-endian bytes: independent of zlib's. */
function referenceCrc32(bytes: Uint8Array): string {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}
