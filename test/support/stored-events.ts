import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listFolder } from '../../functions/common/manifest.js';
import { splitCsvPage } from '../../functions/xray/csv-page.js';

/** Lists every object under a prefix. */
export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  return (await listFolder(s3, bucket, prefix)).sort();
}

export async function readObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

/** Every event id stored under a prefix, in the order stored, duplicates kept (so tests can see them). */
export async function storedXrayEventIds(s3: S3Client, bucket: string, prefix: string): Promise<number[]> {
  const ids: number[] = [];
  for (const key of await listKeys(s3, bucket, prefix)) {
    if (key.endsWith('_manifest.json')) continue;
    const text = gunzipSync(await readObject(s3, bucket, key));
    if (key.endsWith('.ndjson.gz')) {
      for (const line of text.toString('utf8').split('\n')) if (line) ids.push((JSON.parse(line) as { id: number }).id);
    } else if (key.endsWith('.csv.gz')) {
      ids.push(...splitCsvPage(text).ids);
    }
  }
  return ids;
}

export function duplicatesOf(ids: number[]): number[] {
  const seen = new Set<number>();
  const duplicates: number[] = [];
  for (const id of ids) {
    if (seen.has(id)) duplicates.push(id);
    seen.add(id);
  }
  return duplicates;
}
