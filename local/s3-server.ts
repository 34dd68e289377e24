import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import S3rver from 's3rver';
import { listObjectsLikeS3 } from './s3rver-listing.js';
import { completeMultipartUploadsLikeS3 } from './s3rver-multipart.js';

/** A real S3 protocol server on loopback (s3rver), the twin's stand-in for Amazon S3. */
export interface LocalS3 {
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps its files. */
  directory: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Where the bytes of an object live on disk (s3rver's file-system store). */
  objectPath(key: string): string;
  /** S3 event notifications (ObjectCreated:*), as s3rver emits them. */
  onObjectCreated(listener: (event: { key: string; size: number }) => void): void;
  close(): Promise<void>;
}

export interface LocalS3Options {
  directory: string;
  bucket: string;
  port?: number;
  host?: string;
}

export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  completeMultipartUploadsLikeS3(server);
  listObjectsLikeS3(server);
  const address = (await server.run()) as { address: string; port: number };
  return {
    endpoint: `http://${address.address}:${address.port}`,
    bucket: options.bucket,
    directory: options.directory,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    objectPath: (key) => path.join(options.directory, options.bucket, `${key}._S3rver_object`),
    onObjectCreated(listener) {
      server.on('event', (event: { Records?: { eventName: string; s3: { object: { key: string; size: number } } }[] }) => {
        for (const record of event.Records ?? []) {
          if (record.eventName.startsWith('ObjectCreated')) {
            listener({ key: decodeURIComponent(record.s3.object.key), size: record.s3.object.size });
          }
        }
      });
    },
    close: () => server.close(),
  };
}
