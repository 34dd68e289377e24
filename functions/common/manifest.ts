import { createHash } from 'node:crypto';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { z } from 'zod';

/**
 * One manifest per window, written last: "manifest present ⇒ window complete". It lists every object
 * of the window with its size, record count and SHA-256, so a consumer (triggered by the manifest's
 * ObjectCreated event) can verify what it reads. Writing it also removes the objects the window's previous
 * manifest listed and this one does not (an earlier, differently shaped export of the same window), so the
 * folder holds each event once. (It reads the previous manifest rather than listing the folder: one GET, or
 * none when the caller already knows from a listing that the window has no manifest yet.)
 */

export const MANIFEST_NAME = '_manifest.json';

export const manifestObjectSchema = z.object({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  records: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ManifestObject = z.infer<typeof manifestObjectSchema>;

export const manifestSchema = z.object({
  version: z.literal(1),
  source: z.string(),
  tenant: z.string(),
  filtersId: z.string(),
  filters: z.record(z.string(), z.unknown()),
  format: z.string(),
  window: z.object({ start: z.string(), end: z.string() }),
  objects: z.array(manifestObjectSchema),
  records: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  executionId: z.string().optional(),
  completedAt: z.string(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export function manifestKey(folder: string): string {
  return `${folder}${MANIFEST_NAME}`;
}

export interface WriteManifestOptions {
  /** False when a listing taken under the stream's lease showed no manifest in the folder: nothing to read. */
  previousMayExist?: boolean;
}

/** Removes what the previous manifest listed and this one does not, then writes the manifest (last). */
export async function writeManifest(
  s3: S3Client,
  bucket: string,
  folder: string,
  manifest: Manifest,
  options: WriteManifestOptions = {},
): Promise<string> {
  const listed = new Set(manifest.objects.map((object) => object.key));
  const previous = options.previousMayExist === false ? undefined : await readManifest(s3, bucket, manifestKey(folder));
  const stale = (previous?.objects ?? []).map((object) => object.key).filter((key) => !listed.has(key));
  for (let at = 0; at < stale.length; at += 1000) {
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: stale.slice(at, at + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
  }
  const key = manifestKey(folder);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(manifest, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
  return key;
}

export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return manifestSchema.parse(JSON.parse(await object.Body!.transformToString()));
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

export async function listFolder(s3: S3Client, bucket: string, folder: string): Promise<string[]> {
  const keys: string[] = [];
  let marker: string | undefined;
  for (;;) {
    // ListObjects (v1) with markers: the twin's S3 server cannot make v2 continuation tokens on Node 22
    // (they use DES, which OpenSSL 3 no longer offers). Both list the same keys in AWS.
    const page = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: folder, Marker: marker }));
    for (const object of page.Contents ?? []) keys.push(object.Key!);
    if (!page.IsTruncated || !page.Contents?.length) return keys;
    marker = page.Contents[page.Contents.length - 1]!.Key;
  }
}

/**
 * Which window folders may already hold a manifest, learnt from listing the stream's folder in key order
 * (one ListObjects page covers hundreds of windows) instead of a GET per window: a first export, which is
 * most windows, then writes its manifests without reading anything. Window folders sort by time, so a
 * caller walking windows forward lists each key once.
 */
export class ManifestListing {
  private readonly manifests = new Set<string>();
  private readonly start: string;
  private marker: string;
  private listedThrough: string | undefined;
  private complete = false;
  /** The page being fetched: concurrent callers wait for it instead of listing twice. */
  private paging: Promise<void> | undefined;

  /** Lists the keys under `streamFolder` from `fromFolder` on (nothing before it is ever listed). */
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly streamFolder: string,
    fromFolder: string,
    /** Keys per ListObjects page (S3's maximum, 1,000, unless a test wants many pages). */
    private readonly pageSize = 1000,
  ) {
    if (!fromFolder.startsWith(streamFolder)) throw new Error(`${fromFolder} is not under ${streamFolder}`);
    // Every key inside fromFolder sorts after fromFolder itself.
    this.start = this.marker = fromFolder;
  }

  /** False only when the listing proves the folder has no manifest; true when it has one or cannot tell. */
  async mayHaveManifest(folder: string): Promise<boolean> {
    const key = manifestKey(folder);
    if (key <= this.start) return true; // before what is listed: unknown
    while (!this.complete && (this.listedThrough === undefined || this.listedThrough < key)) {
      this.paging ??= this.nextPage().finally(() => {
        this.paging = undefined;
      });
      await this.paging;
    }
    return this.manifests.has(key);
  }

  private async nextPage(): Promise<void> {
    // ListObjects (v1) with markers, as listFolder.
    const page = await this.s3.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: this.streamFolder, Marker: this.marker, MaxKeys: this.pageSize }));
    for (const object of page.Contents ?? []) {
      if (object.Key!.endsWith(`/${MANIFEST_NAME}`)) this.manifests.add(object.Key!);
    }
    const last = page.Contents?.at(-1)?.Key;
    if (!page.IsTruncated || !last) {
      this.complete = true;
      return;
    }
    this.marker = this.listedThrough = last;
  }
}

export interface ManifestCheck {
  ok: boolean;
  problems: string[];
}

/** What a consumer does before trusting a window: every listed object exists with that size and hash. */
export async function verifyManifest(s3: S3Client, bucket: string, key: string): Promise<ManifestCheck> {
  const manifest = await readManifest(s3, bucket, key);
  if (!manifest) return { ok: false, problems: [`${key} does not exist`] };
  const problems: string[] = [];
  let records = 0;
  for (const object of manifest.objects) {
    records += object.records;
    try {
      const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }));
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of body.Body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        bytes += chunk.length;
      }
      if (bytes !== object.bytes) problems.push(`${object.key}: ${bytes} bytes, manifest says ${object.bytes}`);
      if (hash.digest('hex') !== object.sha256) problems.push(`${object.key}: SHA-256 differs from the manifest`);
    } catch (error) {
      problems.push(`${object.key}: ${(error as Error).name === 'NoSuchKey' ? 'missing' : (error as Error).message}`);
    }
  }
  if (records !== manifest.records) problems.push(`objects hold ${records} records, manifest says ${manifest.records}`);
  const folder = key.slice(0, key.length - MANIFEST_NAME.length);
  const unlisted = (await listFolder(s3, bucket, folder)).filter(
    (other) => other !== key && !manifest.objects.some((object) => object.key === other),
  );
  if (unlisted.length) problems.push(`objects in the window not listed by the manifest: ${unlisted.join(', ')}`);
  return { ok: problems.length === 0, problems };
}

