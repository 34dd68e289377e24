import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../../functions/common/errors.js';
import { createS3Client, uploadStream } from '../../functions/common/s3-writer.js';
import { startLocalS3, type LocalS3 } from '../../local/s3-server.js';

/**
 * A download cut off mid-body reaches the copy as whatever the HTTP stack throws (undici: `TypeError:
 * terminated`), which no Retry block matches. The copy must call it a TransientError (a fresh request may
 * succeed), store nothing, and still report a refused upload as what it is.
 */

const MiB = 1024 * 1024;
let s3: LocalS3;
let directory: string;
let client: ReturnType<typeof createS3Client>;
let server: Server;
let origin: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 's3-writer-cutoff-'));
  s3 = await startLocalS3({ directory, bucket: 'cutoff' });
  client = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
  server = createServer((request, response) => {
    const announced = 12 * MiB;
    if (request.url === '/whole') {
      response.writeHead(200, { 'content-length': String(MiB) });
      response.end(Buffer.alloc(MiB, 7));
      return;
    }
    // Announce 12 MiB (more than one part), send 6 MiB, then drop the connection.
    response.writeHead(200, request.url === '/chunked' ? {} : { 'content-length': String(announced) });
    response.write(Buffer.alloc(6 * MiB, 1), () => setTimeout(() => response.socket?.destroy(), 20));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await s3?.close();
  await rm(directory, { recursive: true, force: true });
});

async function download(pathname: string) {
  const response = await fetch(`${origin}${pathname}`);
  const length = response.headers.get('content-length');
  return { body: Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), expectedBytes: length ? Number(length) : undefined };
}

async function exists(key: string): Promise<boolean> {
  return client.send(new HeadObjectCommand({ Bucket: 'cutoff', Key: key })).then(
    () => true,
    () => false,
  );
}

describe('a download cut off during the copy', () => {
  it.each([
    ['with a Content-Length', '/announced'],
    ['chunked, without one', '/chunked'],
  ])('%s is a TransientError naming how far it got, and nothing is stored', async (_, pathname) => {
    const { body, expectedBytes } = await download(pathname);
    const key = `cut${pathname}.json`;
    const failure = await uploadStream({ s3: client, destination: { bucket: 'cutoff', key }, body, contentType: 'application/json', expectedBytes }).catch(
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).name).toBe('TransientError');
    expect((failure as Error).message).toMatch(/cut off after \d+ bytes/);
    expect((failure as Error).message).toContain('terminated');
    expect(await exists(key)).toBe(false);
    expect(await readdir(path.join(directory, 'cutoff', '._S3rver_uploads')).catch(() => [])).toEqual([]);
  });

  it('an upload S3 refuses keeps its own error (not called a cut-off source)', async () => {
    const { body, expectedBytes } = await download('/whole');
    const failure = await uploadStream({
      s3: client,
      destination: { bucket: 'no-such-bucket', key: 'x.json' },
      body,
      contentType: 'application/json',
      expectedBytes,
    }).catch((error: unknown) => error as Error);
    expect(failure).not.toBeInstanceOf(TransientError);
    expect((failure as Error).name).toBe('NoSuchBucket');
  });
});
