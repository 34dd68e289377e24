import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { listFolder } from '../functions/common/manifest.js';
import type { Twin } from '../local/twin.js';

/** Every object in the twin's bucket, through the S3 API (as a consumer would see them). */
export async function listTwinObjects(twin: Twin, prefix = ''): Promise<{ key: string; bytes: number; etag?: string }[]> {
  const objects: { key: string; bytes: number; etag?: string }[] = [];
  for (const key of await listFolder(twin.s3Client, twin.s3.bucket, prefix)) {
    const head = await twin.s3Client.send(new HeadObjectCommand({ Bucket: twin.s3.bucket, Key: key }));
    objects.push({ key, bytes: head.ContentLength ?? 0, ...(head.ETag ? { etag: head.ETag } : {}) });
  }
  return objects;
}
