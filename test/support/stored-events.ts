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

/** The ids in one stored Xray part (gzip NDJSON or CSV), in the order stored. */
export async function xrayPartIds(s3: S3Client, bucket: string, key: string): Promise<number[]> {
  const text = gunzipSync(await readObject(s3, bucket, key));
  if (key.endsWith('.ndjson.gz')) {
    const ids: number[] = [];
    for (const line of text.toString('utf8').split('\n')) if (line) ids.push((JSON.parse(line) as { id: number }).id);
    return ids;
  }
  return key.endsWith('.csv.gz') ? splitCsvPage(text).ids : [];
}

/** Every event id stored under a prefix, in the order stored, duplicates kept (so tests can see them). */
export async function storedXrayEventIds(s3: S3Client, bucket: string, prefix: string): Promise<number[]> {
  const ids: number[] = [];
  for (const key of await listKeys(s3, bucket, prefix)) {
    if (key.endsWith('_manifest.json')) continue;
    ids.push(...(await xrayPartIds(s3, bucket, key)));
  }
  return ids;
}

interface StoredObject {
  key: string;
  bytes: number;
  records: number;
  generation?: number;
}

/** A manifest as a consumer reads it (plain JSON: the helpers read manifests of any version the same way). */
export interface ReadManifest {
  version: number;
  objects: StoredObject[];
  records: number;
  events?: number;
  generation?: number;
  vendorCount?: number | null;
  shortAnswer?: boolean;
  supersedes?: { generation: number; objects: StoredObject[] }[];
  shortAnswers?: { vendorCount: number | null; records: number; stored: number; objects?: StoredObject[] }[];
  segments?: unknown[];
}

/** Every manifest under a prefix, with its key. */
export async function manifestsUnder(s3: S3Client, bucket: string, prefix: string): Promise<{ key: string; manifest: ReadManifest }[]> {
  const manifests: { key: string; manifest: ReadManifest }[] = [];
  for (const key of await listKeys(s3, bucket, prefix)) {
    if (key.endsWith('/_manifest.json')) manifests.push({ key, manifest: JSON.parse((await readObject(s3, bucket, key)).toString('utf8')) as ReadManifest });
  }
  return manifests;
}

/** Every object a manifest names: current, of older generations, and short answers kept. */
function namedObjects(manifest: ReadManifest): StoredObject[] {
  return [
    ...manifest.objects,
    ...(manifest.supersedes ?? []).flatMap((generation) => generation.objects),
    ...(manifest.shortAnswers ?? []).flatMap((answer) => answer.objects ?? []),
  ];
}

/**
 * What a consumer loads: the ids in the current objects of every manifest under a prefix (duplicates kept),
 * Xray parts or MFT reports (JSON or CSV).
 */
export async function currentEventIds(s3: S3Client, bucket: string, prefix: string): Promise<(number | string)[]> {
  const ids: (number | string)[] = [];
  for (const { manifest } of await manifestsUnder(s3, bucket, prefix)) {
    for (const object of manifest.objects) {
      if (object.key.endsWith('.json')) {
        ids.push(...(JSON.parse((await readObject(s3, bucket, object.key)).toString('utf8')) as { id: string }[]).map((event) => event.id));
      } else if (object.key.endsWith('.csv')) {
        ids.push(...mftCsvIds((await readObject(s3, bucket, object.key)).toString('utf8')));
      } else {
        ids.push(...(await xrayPartIds(s3, bucket, object.key)));
      }
    }
  }
  return ids;
}

/** Data objects under a prefix that no manifest names (current or older generation). */
export async function unnamedObjects(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const named = new Set((await manifestsUnder(s3, bucket, prefix)).flatMap(({ manifest }) => namedObjects(manifest).map((object) => object.key)));
  return (await listKeys(s3, bucket, prefix)).filter((key) => !key.endsWith('/_manifest.json') && !named.has(key));
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

export function duplicatesOf<T>(ids: T[]): T[] {
  const seen = new Set<T>();
  const duplicates: T[] = [];
  for (const id of ids) {
    if (seen.has(id)) duplicates.push(id);
    seen.add(id);
  }
  return duplicates;
}

/** Ground truth against what is stored: how many are stored, missing, and stored twice. */
export function compareIds<T>(truth: readonly T[], stored: readonly T[]): { stored: number; lost: T[]; duplicated: T[]; extra: T[] } {
  const storedSet = new Set(stored);
  const truthSet = new Set(truth);
  return {
    stored: stored.length,
    lost: truth.filter((id) => !storedSet.has(id)),
    duplicated: duplicatesOf([...stored]),
    extra: [...storedSet].filter((id) => !truthSet.has(id)),
  };
}

/** The ids (first column) of an MFT CSV report: RFC 4180, CRLF, quoted fields may hold line breaks. */
export function mftCsvIds(csv: string): string[] {
  const ids: string[] = [];
  let quoted = false;
  let recordStart = 0;
  let header = true;
  for (let at = 0; at < csv.length; at++) {
    const char = csv[at];
    if (char === '"') quoted = !quoted;
    else if (char === '\n' && !quoted) {
      if (!header) ids.push(csv.slice(recordStart, csv.indexOf(',', recordStart)));
      header = false;
      recordStart = at + 1;
    }
  }
  return ids;
}
