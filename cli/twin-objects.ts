import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Twin } from '../local/twin.js';

/** Every object in the twin's bucket, through the S3 API (as a consumer would see them). */
export async function listTwinObjects(twin: Twin): Promise<{ key: string; bytes: number }[]> {
  const objects: { key: string; bytes: number }[] = [];
  let token: string | undefined;
  do {
    const page = await twin.s3Client.send(new ListObjectsV2Command({ Bucket: twin.s3.bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? []) objects.push({ key: object.Key!, bytes: object.Size ?? 0 });
    token = page.NextContinuationToken;
  } while (token);
  return objects;
}
