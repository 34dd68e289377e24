import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { AuditExportError, IntegrityError, TransientError, errorMessage } from './errors.js';
import { MultipartSink } from './multipart-sink.js';

/**
 * Streams a body of any size into one S3 object with a multipart upload, in constant memory
 * (about partSize × (queueSize + 1)), and reports its length and SHA-256 as it goes.
 * A source that fails mid-way aborts the multipart upload: nothing partial becomes visible.
 */

export interface S3Location {
  bucket: string;
  key: string;
}

export interface StoredObject extends S3Location {
  bytes: number;
  sha256: string;
}

export interface UploadStreamOptions {
  s3: S3Client;
  destination: S3Location;
  body: Readable | AsyncIterable<Uint8Array>;
  contentType: string;
  contentEncoding?: string;
  metadata?: Record<string, string>;
  /** Default: 8 MiB (few requests, small memory), larger when expectedBytes needs more than 10,000 of them. */
  partSizeBytes?: number;
  queueSize?: number;
  /** When known (Content-Length, a report's size): a body of any other length fails and is not stored. */
  expectedBytes?: number;
  /** Sees every byte on the way (e.g. a record counter for the manifest). */
  inspect?: Transform;
  /** A source silent for this long is abandoned (a stalled download must not hang until the Lambda timeout). */
  idleTimeoutMs?: number;
}

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/** S3 allows 10,000 parts per object. */
const MAX_PARTS = 10_000;

/**
 * 8 MiB, or larger when the announced size needs it: 10,000 parts of 8 MiB hold 80 GiB, so a bigger
 * report gets parts of size/10,000 (rounded up to a MiB) rather than failing at its 10,001st part.
 */
export function partSizeFor(expectedBytes: number | undefined): number {
  if (expectedBytes === undefined || expectedBytes <= DEFAULT_PART_SIZE * MAX_PARTS) return DEFAULT_PART_SIZE;
  const MiB = 1024 * 1024;
  return Math.ceil(expectedBytes / MAX_PARTS / MiB) * MiB;
}

export async function uploadStream(options: UploadStreamOptions): Promise<StoredObject> {
  const hash = createHash('sha256');
  let bytes = 0;
  const { expectedBytes, idleTimeoutMs } = options;
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdleTimer = () => {
    if (!idleTimeoutMs) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      meter.destroy(new TransientError(`The source sent no data for ${Math.round(idleTimeoutMs / 1000)} s after ${bytes} bytes`));
    }, idleTimeoutMs);
  };
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      armIdleTimer();
      hash.update(chunk);
      bytes += chunk.length;
      if (expectedBytes !== undefined && bytes > expectedBytes) {
        return callback(new IntegrityError(`The source sent more than the announced ${expectedBytes} bytes`));
      }
      callback(null, chunk);
    },
    flush(callback) {
      clearTimeout(idleTimer);
      if (expectedBytes !== undefined && bytes !== expectedBytes) {
        return callback(
          new IntegrityError(`The source ended after ${bytes} of the announced ${expectedBytes} bytes (truncated)`),
        );
      }
      callback();
    },
  });
  armIdleTimer();
  // A source cut off mid-way (undici's `TypeError: terminated`, a reset, an aborted stream) may succeed on a
  // fresh request: it becomes a TransientError, which the state machine retries.
  const body = options.body instanceof Readable ? options.body : Readable.from(options.body);
  // The pipeline destroys every stream with the first error: which stream failed first tells a cut-off
  // source from a refused upload.
  let firstFailed: 'source' | 'upload' | undefined;
  body.once('error', () => (firstFailed ??= 'source'));
  const sink = new MultipartSink(
    options.s3,
    {
      Bucket: options.destination.bucket,
      Key: options.destination.key,
      ContentType: options.contentType,
      ...(options.contentEncoding && { ContentEncoding: options.contentEncoding }),
      ...(options.metadata && { Metadata: options.metadata }),
    },
    options.partSizeBytes ?? partSizeFor(expectedBytes),
    options.queueSize ?? 2,
  );
  for (const stream of [meter, options.inspect, sink]) stream?.once('error', () => (firstFailed ??= 'upload'));
  try {
    // The sink aborts its multipart upload when anything in the pipeline fails.
    await (options.inspect ? pipeline(body, meter, options.inspect, sink) : pipeline(body, meter, sink));
  } catch (error) {
    if (firstFailed !== 'source' || error instanceof AuditExportError) throw error;
    const cause = (error as { cause?: unknown }).cause;
    throw new TransientError(
      `The source was cut off after ${bytes} bytes${expectedBytes === undefined ? '' : ` of the announced ${expectedBytes}`}: ` +
        `${errorMessage(error)}${cause ? ` (${errorMessage(cause)})` : ''}; nothing was stored`,
      undefined,
      { cause: error },
    );
  } finally {
    clearTimeout(idleTimer);
  }
  return { ...options.destination, bytes, sha256: hash.digest('hex') };
}

export interface S3Settings {
  region?: string;
  /** A local S3-compatible server (the twin's); unset in AWS. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Fixed keys (the twin), or a provider (e.g. an assumed role; the SDK refreshes it before it expires). */
  credentials?: S3ClientConfig['credentials'];
}

export function createS3Client(settings: S3Settings = {}): S3Client {
  const config: S3ClientConfig = { region: settings.region ?? process.env.AWS_REGION ?? 'us-east-1' };
  if (settings.endpoint) config.endpoint = settings.endpoint;
  if (settings.forcePathStyle) config.forcePathStyle = true;
  if (settings.credentials) config.credentials = settings.credentials;
  const client = new S3Client(config);
  client.middlewareStack.addRelativeTo(unsignedChecksummedPayload, {
    name: 'unsignedChecksummedPayload',
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
  });
  return client;
}

/**
 * Uploads are not hashed a second time for the signature. Each part already carries a CRC32 checksum that
 * S3 verifies, the exporter hashes every object with SHA-256 for its manifest, and TLS (which the bucket
 * policy requires) protects the bytes in transit, so SHA-256 signing of every byte only costs CPU: about
 * 1 s per GB on a Lambda. As botocore does for HTTPS, the payload is sent as UNSIGNED-PAYLOAD when it has a
 * checksum header and the connection is TLS or loopback (the twin).
 */
const unsignedChecksummedPayload = ((next: (args: { request: unknown }) => Promise<unknown>) => async (args: { request: unknown }) => {
  const request = args.request as { protocol?: string; hostname?: string; headers?: Record<string, string>; body?: unknown };
  if (request.headers && request.body instanceof Uint8Array && (request.protocol === 'https:' || isLoopback(request.hostname ?? ''))) {
    const headers = Object.keys(request.headers).map((name) => name.toLowerCase());
    if (headers.some((name) => name.startsWith('x-amz-checksum-')) && !headers.includes('x-amz-content-sha256')) {
      request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    }
  }
  return next(args);
}) as unknown as Parameters<S3Client['middlewareStack']['addRelativeTo']>[0]; // a finalizeRequest middleware

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || hostname.startsWith('127.');
}
