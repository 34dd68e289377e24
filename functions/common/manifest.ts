import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { compactInstant, type TimeWindow } from './time-window.js';
import { windowOfKey } from './s3-layout.js';

/**
 * One manifest per window, written last: "manifest present ⇒ window complete". Version 2:
 *
 * - `objects` are the window's current objects (what a consumer loads), each with its size, record count,
 *   SHA-256 and the `generation` that wrote it;
 * - exports only grow: writing a manifest never deletes anything. A re-export of a window that finds more
 *   adds a generation (Xray appends parts: the objects of every generation stay current; MFT stores a new
 *   report beside the old one and makes it current, listing the old one under `supersedes`);
 * - an answer that holds less than what is stored never replaces it: it is recorded under `shortAnswers`
 *   (MFT keeps the short report in the folder), `shortAnswer` says the latest export got one;
 * - `vendorCount` is what the vendor counted for the window before it was walked (Xray `total_count`), null
 *   when the vendor gives no count (MFT, or an Xray answer without `total_count`).
 *
 * Version-1 manifests (one generation, no counts) are still read: `readManifest` returns them in the v2 shape.
 */

export const MANIFEST_NAME = '_manifest.json';
export const MANIFEST_VERSION = 2;

export const manifestObjectSchema = z.object({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  records: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The generation that wrote the object (absent in version 1: generation 1). */
  generation: z.number().int().positive().optional(),
  /** MFT: the report's `size` as the vendor showed it (information: its unit is not documented). */
  vendorSize: z.number().nonnegative().optional(),
  /** MFT: the Content-Encoding the download arrived in (the object holds the decoded report). */
  contentEncoding: z.string().optional(),
});
export type ManifestObject = z.infer<typeof manifestObjectSchema>;

/**
 * Xray: what is stored of one (sub)window, so a re-export fetches only what lies beyond it. Every event of
 * [start, end) whose id is at most `lastId` is stored; `events` of them, when known.
 */
export const segmentSchema = z.object({
  start: z.string(),
  end: z.string(),
  lastId: z.number().int().nonnegative().nullable(),
  events: z.number().int().nonnegative().nullable(),
});
export type Segment = z.infer<typeof segmentSchema>;

/** A generation that is no longer current but whose objects stay in the folder. */
export const generationSchema = z.object({
  generation: z.number().int().positive(),
  objects: z.array(manifestObjectSchema),
  records: z.number().int().nonnegative(),
  completedAt: z.string(),
  executionId: z.string().optional(),
});
export type Generation = z.infer<typeof generationSchema>;

/** An answer that held less than what is stored: kept (nothing shrinks), never current. */
export const shortAnswerSchema = z.object({
  at: z.string(),
  executionId: z.string().optional(),
  /** What the vendor counted (Xray), null without a count. */
  vendorCount: z.number().int().nonnegative().nullable(),
  /** What the answer held (MFT records of the short report; Xray the count). */
  records: z.number().int().nonnegative(),
  /** What the window holds and keeps. */
  stored: z.number().int().nonnegative(),
  /** MFT: the short report, kept in the folder under its own key. */
  objects: z.array(manifestObjectSchema).optional(),
  generation: z.number().int().positive().optional(),
});
export type ShortAnswer = z.infer<typeof shortAnswerSchema>;

const commonFields = {
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
};

export const manifestV1Schema = z.object({ version: z.literal(1), ...commonFields });

export const manifestV2Schema = z.object({
  version: z.literal(2),
  ...commonFields,
  /** The generation of `objects` (Xray: the latest generation that added objects). */
  generation: z.number().int().positive(),
  vendorCount: z.number().int().nonnegative().nullable(),
  /** Xray: events stored (CSV `records` are rows: one per event and policy). */
  events: z.number().int().nonnegative().optional(),
  supersedes: z.array(generationSchema).default([]),
  shortAnswer: z.boolean().default(false),
  shortAnswers: z.array(shortAnswerSchema).default([]),
  segments: z.array(segmentSchema).optional(),
  /** What surprised the export that wrote this manifest (a vendor answer it tolerated), also logged as warnings. */
  warnings: z.array(z.string()).max(20).optional(),
});
export type Manifest = z.infer<typeof manifestV2Schema>;
export type ManifestV1 = z.infer<typeof manifestV1Schema>;

/** A stored manifest in the v2 shape, and the version it was written with. */
export type StoredManifest = Manifest & { writtenAs: 1 | 2 };

/** At most this many short answers are remembered per window (the oldest go; their objects stay listed). */
const SHORT_ANSWERS_KEPT = 20;

export function manifestKey(folder: string): string {
  return `${folder}${MANIFEST_NAME}`;
}

/** The v2 shape of a version-1 manifest: one generation, no vendor count. */
export function upgradeManifest(manifest: ManifestV1): Manifest {
  return {
    ...manifest,
    version: 2,
    objects: manifest.objects.map((object) => ({ ...object, generation: object.generation ?? 1 })),
    generation: 1,
    vendorCount: null,
    supersedes: [],
    shortAnswer: false,
    shortAnswers: [],
  };
}

/** The highest generation a manifest knows of (current, superseded or short). */
export function lastGeneration(manifest: Manifest): number {
  return Math.max(
    manifest.generation,
    ...manifest.supersedes.map((generation) => generation.generation),
    ...manifest.shortAnswers.map((answer) => answer.generation ?? 0),
  );
}

/** Every object a manifest names, current or not: nothing else belongs in the window's folder. */
export function namedObjects(manifest: Manifest): ManifestObject[] {
  return [
    ...manifest.objects,
    ...manifest.supersedes.flatMap((generation) => generation.objects),
    ...manifest.shortAnswers.flatMap((answer) => answer.objects ?? []),
  ];
}

/** Records a short answer (bounded list) and marks the manifest as having got one this time. */
export function withShortAnswer(manifest: Manifest, answer: ShortAnswer): Manifest {
  const shortAnswers = [...manifest.shortAnswers, answer];
  // Keep the answers whose objects are in the folder; forget the oldest count-only ones first.
  while (shortAnswers.length > SHORT_ANSWERS_KEPT) {
    const countOnly = shortAnswers.findIndex((entry) => !entry.objects?.length);
    shortAnswers.splice(countOnly === -1 ? 0 : countOnly, 1);
  }
  return { ...manifest, shortAnswer: true, shortAnswers };
}

/** Writes the manifest (last, after every object it names). It deletes nothing: exports only grow. */
export async function writeManifest(s3: S3Client, bucket: string, folder: string, manifest: Manifest): Promise<string> {
  const key = manifestKey(folder);
  const checked = manifestV2Schema.parse(manifest);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(checked, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
  return key;
}

export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<StoredManifest | undefined> {
  return (await readManifestWithDigest(s3, bucket, key))?.manifest;
}

/** The manifest and the SHA-256 of its stored bytes (what an auditor's evidence names), or undefined when absent. */
export async function readManifestWithDigest(s3: S3Client, bucket: string, key: string): Promise<{ manifest: StoredManifest; sha256: string } | undefined> {
  let text: string;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = await object.Body!.transformToString();
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
  return { manifest: parseManifest(JSON.parse(text), key), sha256: createHash('sha256').update(text).digest('hex') };
}

export function parseManifest(value: unknown, key = 'manifest'): StoredManifest {
  const version = (value as { version?: unknown } | null)?.version;
  if (version === 1) return { ...upgradeManifest(manifestV1Schema.parse(value)), writtenAs: 1 };
  if (version === 2) return { ...manifestV2Schema.parse(value), writtenAs: 2 };
  throw new Error(`${key} has manifest version ${JSON.stringify(version)}; this reader knows versions 1 and 2`);
}

export interface ListedObject {
  key: string;
  bytes: number;
}

export async function listFolder(s3: S3Client, bucket: string, folder: string): Promise<string[]> {
  return (await listFolderObjects(s3, bucket, folder)).map((object) => object.key);
}

export async function listFolderObjects(s3: S3Client, bucket: string, folder: string): Promise<ListedObject[]> {
  const objects: ListedObject[] = [];
  let marker: string | undefined;
  for (;;) {
    // ListObjects (v1) with markers: the twin's S3 server cannot make v2 continuation tokens on Node 22
    // (they use DES, which OpenSSL 3 no longer offers). Both list the same keys in AWS.
    const page = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: folder, Marker: marker }));
    for (const object of page.Contents ?? []) objects.push({ key: object.Key!, bytes: object.Size ?? 0 });
    if (!page.IsTruncated || !page.Contents?.length) return objects;
    marker = page.Contents[page.Contents.length - 1]!.Key;
  }
}

/**
 * The windows of a stream with a manifest that overlap `range`, from one listing of the stream's folder from
 * the day of `range.start` (keys sort by day and window start, so the listing stops past `range.end`).
 */
export async function manifestWindows(s3: S3Client, bucket: string, streamFolder: string, range: TimeWindow): Promise<TimeWindow[]> {
  const windows: TimeWindow[] = [];
  const startMs = Date.parse(range.start);
  const endMs = Date.parse(range.end);
  let marker = `${streamFolder}dt=${range.start.slice(0, 10)}/`;
  for (;;) {
    // ListObjects (v1) with markers, as listFolderObjects.
    const page = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: streamFolder, Marker: marker }));
    for (const object of page.Contents ?? []) {
      const window = windowOfKey(object.Key!);
      if (!window) continue;
      if (Date.parse(window.start) >= endMs) return windows;
      if (object.Key!.endsWith(`/${MANIFEST_NAME}`) && Date.parse(window.end) > startMs) windows.push(window);
    }
    const last = page.Contents?.at(-1)?.Key;
    if (!page.IsTruncated || !last) return windows;
    marker = last;
  }
}

/**
 * Which window folders of a stream hold a manifest, learnt from listing the stream's folder in key order (one
 * ListObjects page covers hundreds of windows) instead of a GET per window: a first export, which is most
 * windows, then reads nothing. Window folders sort by time, so a caller walking windows forward lists each
 * key once. It also finds windows of another grid that overlap a window (`conflicts`): start the listing at
 * the day folder of the first window, since an overlapping window of that day may start earlier.
 */
export class ManifestListing {
  /** Manifest keys seen, by day folder (`…/dt=YYYY-MM-DD/`). */
  private readonly manifests = new Map<string, Set<string>>();
  private readonly start: string;
  private marker: string;
  private listedThrough: string | undefined;
  private complete = false;
  /** The page being fetched: concurrent callers wait for it instead of listing twice. */
  private paging: Promise<void> | undefined;

  /** Lists the keys under `streamFolder` after `fromFolder` (nothing before it is ever listed). */
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
    await this.listThrough(key);
    return this.manifests.get(dayOf(key))?.has(key) ?? false;
  }

  /**
   * The windows with a manifest in this stream that overlap `window` without being it (an export on another
   * grid): writing `window` would store their events a second time.
   */
  async conflicts(folder: string, window: TimeWindow): Promise<TimeWindow[]> {
    const day = dayOf(folder);
    // Windows of the day that start before this one ends sort before this key.
    await this.listThrough(`${day}window=${compactInstant(window.end)}`);
    const found: TimeWindow[] = [];
    for (const key of this.manifests.get(day) ?? []) {
      const other = windowOfKey(key);
      if (!other || (other.start === window.start && other.end === window.end)) continue;
      if (Date.parse(other.start) < Date.parse(window.end) && Date.parse(other.end) > Date.parse(window.start)) found.push(other);
    }
    return found;
  }

  private async listThrough(key: string): Promise<void> {
    while (!this.complete && (this.listedThrough === undefined || this.listedThrough < key)) {
      this.paging ??= this.nextPage().finally(() => {
        this.paging = undefined;
      });
      await this.paging;
    }
  }

  private async nextPage(): Promise<void> {
    // ListObjects (v1) with markers, as listFolderObjects.
    const page = await this.s3.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: this.streamFolder, Marker: this.marker, MaxKeys: this.pageSize }));
    for (const object of page.Contents ?? []) {
      const key = object.Key!;
      if (!key.endsWith(`/${MANIFEST_NAME}`)) continue;
      const day = dayOf(key);
      let keys = this.manifests.get(day);
      if (!keys) this.manifests.set(day, (keys = new Set()));
      keys.add(key);
    }
    const last = page.Contents?.at(-1)?.Key;
    if (!page.IsTruncated || !last) {
      this.complete = true;
      return;
    }
    this.marker = this.listedThrough = last;
  }
}

/** `…/dt=YYYY-MM-DD/` of a key (the key itself when it names no day). */
function dayOf(key: string): string {
  const at = key.indexOf('/dt=');
  return at === -1 ? key : key.slice(0, at + '/dt=YYYY-MM-DD/'.length);
}

export interface ManifestCheck {
  ok: boolean;
  problems: string[];
}

/** A check of one window's manifest, with what a range verification adds up. */
export interface ManifestVerification extends ManifestCheck {
  /** Undefined when the manifest is absent or unreadable. */
  manifest?: StoredManifest;
  /** SHA-256 of the manifest's bytes. */
  manifestSha256?: string;
  /** Whether the current objects were read and hashed (else only their presence and sizes were checked). */
  hashed: boolean;
  bytesHashed: number;
  objectsChecked: number;
  /** The window holds fewer events than the vendor counted. */
  short: boolean;
  /** The manifest is absent. */
  missing: boolean;
}

export interface VerifyManifestOptions {
  /**
   * Read and hash every current object (default true); false, or a function of the manifest's SHA-256 answering
   * false, checks only that each object is listed with its size (a window hashed before, unchanged since).
   */
  hash?: boolean | ((manifestSha256: string) => boolean);
}

/**
 * What a consumer does before trusting a window: every current object exists with that size and hash, the
 * records add up, the objects of older generations the manifest names are there, and nothing the manifest
 * does not name sits in the window's folder.
 */
export async function verifyManifest(s3: S3Client, bucket: string, key: string): Promise<ManifestCheck> {
  const { ok, problems } = await checkManifest(s3, bucket, key);
  return { ok, problems };
}

/**
 * The check of `verifyManifest`, with what a range verification adds up (hashed bytes, the manifest and its
 * digest); objects are streamed through the hash, in constant memory.
 */
export async function checkManifest(s3: S3Client, bucket: string, key: string, options: VerifyManifestOptions = {}): Promise<ManifestVerification> {
  const result: ManifestVerification = { ok: false, problems: [], hashed: false, bytesHashed: 0, objectsChecked: 0, short: false, missing: false };
  let read: Awaited<ReturnType<typeof readManifestWithDigest>>;
  try {
    read = await readManifestWithDigest(s3, bucket, key);
  } catch (error) {
    result.problems.push(`${key} is not a readable manifest: ${(error as Error).message}`);
    return result;
  }
  if (!read) {
    result.problems.push(`${key} does not exist`);
    result.missing = true;
    return result;
  }
  const { manifest } = read;
  result.manifest = manifest;
  result.manifestSha256 = read.sha256;
  const problems = result.problems;
  const folder = key.slice(0, key.length - MANIFEST_NAME.length);
  const listed = new Map((await listFolderObjects(s3, bucket, folder)).map((object) => [object.key, object.bytes]));
  result.hashed = typeof options.hash === 'function' ? options.hash(read.sha256) : (options.hash ?? true);
  let records = 0;
  for (const object of manifest.objects) {
    records += object.records;
    result.objectsChecked++;
    if (!result.hashed) {
      const bytes = listed.get(object.key);
      if (bytes === undefined) problems.push(`${object.key}: missing`);
      else if (bytes !== object.bytes) problems.push(`${object.key}: ${bytes} bytes, manifest says ${object.bytes}`);
      continue;
    }
    try {
      const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }));
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of body.Body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        bytes += chunk.length;
      }
      result.bytesHashed += bytes;
      if (bytes !== object.bytes) problems.push(`${object.key}: ${bytes} bytes, manifest says ${object.bytes}`);
      if (hash.digest('hex') !== object.sha256) problems.push(`${object.key}: SHA-256 differs from the manifest`);
    } catch (error) {
      problems.push(`${object.key}: ${(error as Error).name === 'NoSuchKey' ? 'missing' : (error as Error).message}`);
    }
  }
  if (records !== manifest.records) problems.push(`objects hold ${records} records, manifest says ${manifest.records}`);
  const held = manifest.events ?? manifest.records;
  if (manifest.vendorCount !== null && held < manifest.vendorCount) {
    problems.push(`the window holds ${held} events, fewer than the ${manifest.vendorCount} the vendor counted`);
    result.short = true;
  }
  const current = new Set(manifest.objects.map((object) => object.key));
  for (const older of namedObjects(manifest)) {
    if (current.has(older.key)) continue;
    const bytes = listed.get(older.key);
    if (bytes === undefined) problems.push(`${older.key} (generation ${older.generation ?? '?'}, not current): missing`);
    else if (bytes !== older.bytes) problems.push(`${older.key} (not current): ${bytes} bytes, manifest says ${older.bytes}`);
  }
  const named = new Set(namedObjects(manifest).map((object) => object.key));
  const unlisted = [...listed.keys()].filter((other) => other !== key && !named.has(other));
  if (unlisted.length) problems.push(`objects in the window not named by the manifest: ${unlisted.join(', ')}`);
  result.ok = problems.length === 0;
  return result;
}
