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

/** The header and every data row (without its line end) of the CSV parts stored under a prefix, in stored order. */
export async function storedCsvRows(s3: S3Client, bucket: string, prefix: string): Promise<{ headers: string[]; rows: string[] }> {
  const headers: string[] = [];
  const rows: string[] = [];
  for (const key of await listKeys(s3, bucket, prefix)) {
    if (!key.endsWith('.csv.gz')) continue;
    const [header, ...records] = csvRecords(gunzipSync(await readObject(s3, bucket, key)).toString('utf8'));
    headers.push(header!);
    rows.push(...records);
  }
  return { headers, rows };
}

/** RFC 4180 records (quotes may hold line breaks), each without its CRLF. */
export function csvRecords(text: string): string[] {
  const records: string[] = [];
  let start = 0;
  let quoted = false;
  for (let at = 0; at < text.length; at++) {
    if (text[at] === '"') quoted = !quoted;
    else if (text[at] === '\n' && !quoted) {
      records.push(text.slice(start, text[at - 1] === '\r' ? at - 1 : at));
      start = at + 1;
    }
  }
  if (start < text.length) records.push(text.slice(start));
  return records;
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
