import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { compactInstant } from '../common/time-window.js';
import { safeSegment } from '../common/s3-layout.js';
import { uploadStream } from '../common/s3-writer.js';
import type { OcsfEvent } from './mapping.js';
import { ParquetFileWriter, RowGroupBuilder } from './parquet.js';
import { groupXrayCsvBatches, readRecordBatches } from './readers.js';
import { OCSF_SOURCES, type OcsfSource } from './sources.js';

/**
 * Normalizes one exported window into OCSF Parquet, as a consumer of the window's manifest:
 *
 * 1. reads the manifest that is current at its key (whatever event triggered the call), and exactly the objects it
 *    lists, streaming (gzip NDJSON/CSV, JSON array or CSV);
 * 2. maps each record (a record that cannot be read or mapped is counted with its reason, never fatal);
 * 3. writes the window's events sorted by time to one deterministic key per window, source and class:
 *    `<prefix>region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/<source>_<tenant>_<filters>_<start>_<end>.parquet`
 *    (Security Lake's custom-source layout), so a newer manifest of the window overwrites it; a window that maps
 *    to no event removes the window's file instead. The dry-run stream (filters `dry-run`) is its own file.
 * 4. reads the manifest again afterwards: if a newer one was written meanwhile, it starts over with that one, so
 *    the last writer of the key always wrote what the current manifest lists (no stale copy survives).
 *
 * Memory stays bounded by the row group: events are shredded into the row group's columns as they are mapped,
 * `rowsPerGroup` at a time, and each group is written (sorted by time within itself) while it starts no earlier
 * than the last one ended (sources export in time order, or close to
 * it). When a group would start earlier, the file so far is discarded and the window is sorted externally
 * (sorted runs of one row group in gzip NDJSON files under `spillDirectory`, then merged).
 */

/** Manifest versions 1 and 2: only what stays the same is read (the objects listed are the window's current ones). */
const manifestSchema = z
  .object({
    version: z.union([z.literal(1), z.literal(2)]),
    source: z.string(),
    tenant: z.string(),
    filtersId: z.string(),
    format: z.string(),
    window: z.object({ start: z.string(), end: z.string() }),
    objects: z.array(z.object({ key: z.string(), records: z.number().int().nonnegative().optional() }).passthrough()),
    completedAt: z.string().optional(),
  })
  .passthrough();
export type NormalizerManifest = z.infer<typeof manifestSchema>;

export interface OcsfDestination {
  s3: S3Client;
  bucket: string;
  /** Ends in "/": the custom source's location, or `<exportPrefix>ocsf/ext/<source name>/` in the export bucket. */
  prefix: string;
}

export interface NormalizerDeps {
  /** Reads the export bucket. */
  s3: S3Client;
  bucket: string;
  /** Where a source's OCSF files go (Security Lake: through the custom source's role). */
  destination(source: OcsfSource): Promise<OcsfDestination>;
  /** The partition values of the layout: the AWS region and account the logs belong to. */
  region: string;
  accountId: string;
  rowsPerGroup?: number;
  spillDirectory?: string;
  /** Sees every event before it is written (tests validate each one). */
  inspect?: (event: OcsfEvent, source: OcsfSource) => void;
}

export interface NormalizeResult {
  manifestKey: string;
  /** written: the window's file holds its events; removed: no events, the earlier file was deleted; empty: no events, no file. */
  status: 'written' | 'removed' | 'empty' | 'ignored';
  reason?: string;
  source?: string;
  window?: { start: string; end: string };
  bucket?: string;
  key?: string;
  events: number;
  unmappable: number;
  /** Why records were not mapped, with how many each (at most 10 reasons). */
  reasons: Record<string, number>;
  bytes: number;
  rowGroups: number;
  /** True when the window was not in time order beyond a row group and was sorted through spill files. */
  externalSort: boolean;
  attempts: number;
}

export const DEFAULT_ROWS_PER_GROUP = 20_000;
const MAX_ATTEMPTS = 5;

export async function normalizeWindow(deps: NormalizerDeps, manifestKey: string): Promise<NormalizeResult> {
  const ignored = (reason: string, extra: Partial<NormalizeResult> = {}): NormalizeResult => ({
    manifestKey, status: 'ignored', reason, events: 0, unmappable: 0, reasons: {}, bytes: 0, rowGroups: 0, externalSort: false, attempts: 0, ...extra,
  });
  for (let attempt = 1; ; attempt++) {
    const current = await readManifest(deps.s3, deps.bucket, manifestKey);
    if (!current) return ignored('the manifest no longer exists');
    const { manifest, etag } = current;
    const source = OCSF_SOURCES[manifest.source];
    if (!source) return ignored(`no OCSF mapping for source ${manifest.source}`);
    const reader = source.reader(manifest.format);
    if (!reader) return ignored(`the ${manifest.source} format ${manifest.format} is not read by the normalizer`, { source: manifest.source });
    const destination = await deps.destination(source);
    const key = outputKey(destination.prefix, deps, manifest);
    const result = await writeWindow(deps, source, manifest, destination, key, etag);
    const after = await readManifest(deps.s3, deps.bucket, manifestKey);
    if (after?.etag === etag || attempt >= MAX_ATTEMPTS) {
      if (after?.etag !== etag) throw new Error(`The manifest ${manifestKey} kept changing while it was normalized (${attempt} attempts); the next manifest event will normalize it`);
      return { manifestKey, source: manifest.source, window: manifest.window, bucket: destination.bucket, key, attempts: attempt, ...result };
    }
    // A newer manifest was written while this one was normalized: its objects replace these.
  }
}

/** `<prefix>region=…/accountId=…/eventDay=YYYYMMDD/<source>_<tenant>_<filters>_<start>_<end>.parquet` */
export function outputKey(prefix: string, partition: { region: string; accountId: string }, manifest: Pick<NormalizerManifest, 'source' | 'tenant' | 'filtersId' | 'window'>): string {
  const day = manifest.window.start.slice(0, 10).replaceAll('-', '');
  const name = [manifest.source, safeSegment(manifest.tenant), safeSegment(manifest.filtersId), compactInstant(manifest.window.start), compactInstant(manifest.window.end)].join('_');
  return `${prefix}region=${partition.region}/accountId=${partition.accountId}/eventDay=${day}/${name}.parquet`;
}

async function readManifest(s3: S3Client, bucket: string, key: string): Promise<{ manifest: NormalizerManifest; etag: string } | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = await object.Body!.transformToString();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`${key} is not JSON: not a manifest this normalizer can read`);
    }
    const result = manifestSchema.safeParse(parsed);
    if (!result.success) throw new Error(`${key} is not a manifest of version 1 or 2: ${result.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    return { manifest: result.data, etag: object.ETag ?? `${text.length}:${result.data.completedAt ?? ''}` };
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

class OutOfOrder extends Error {}

type WindowResult = Pick<NormalizeResult, 'status' | 'events' | 'unmappable' | 'reasons' | 'bytes' | 'rowGroups' | 'externalSort'>;

async function writeWindow(
  deps: NormalizerDeps,
  source: OcsfSource,
  manifest: NormalizerManifest,
  destination: OcsfDestination,
  key: string,
  etag: string,
): Promise<WindowResult> {
  const rowsPerGroup = deps.rowsPerGroup ?? DEFAULT_ROWS_PER_GROUP;
  const counts = new UnmappableCounts();
  const metadata = { 'source-manifest-etag': etag.replace(/[^\x20-\x7e]/g, ''), 'window-start': manifest.window.start, 'window-end': manifest.window.end };
  const batches = () => mappedBatches(deps, source, manifest, counts);
  const builder = new RowGroupBuilder(source.layout, rowsPerGroup);

  // In time order (or nearly): one pass, each row group written as it fills (sorted within itself).
  const output = new LazyOutput(destination, key, source, metadata);
  try {
    let lastTime = -Infinity;
    const flush = async () => {
      if (builder.minTime < lastTime) throw new OutOfOrder();
      lastTime = builder.maxTime;
      await output.writeRowGroup(builder);
      builder.reset();
    };
    for await (const events of batches()) {
      for (const event of events) {
        builder.add(event);
        if (builder.rows >= rowsPerGroup) await flush();
      }
    }
    if (builder.rows) await flush();
    return await finish(output, destination, key, counts, false);
  } catch (error) {
    await output.discard();
    if (!(error instanceof OutOfOrder)) throw error;
  }

  // Out of order across row groups: sorted runs on disk, merged.
  counts.reset();
  builder.reset();
  const directory = await mkdtemp(path.join(deps.spillDirectory ?? os.tmpdir(), 'ocsf-sort-'));
  const sorted = new LazyOutput(destination, key, source, metadata);
  try {
    const runs: string[] = [];
    let group: OcsfEvent[] = [];
    const spill = async () => {
      sortByTime(group);
      const file = path.join(directory, `run-${runs.length}.ndjson.gz`);
      const gzip = createGzip({ level: 1 });
      const done = finished(gzip.pipe(createWriteStream(file)));
      for (const event of group) if (!gzip.write(`${JSON.stringify(event)}\n`)) await new Promise((resolve) => gzip.once('drain', resolve));
      gzip.end();
      await done;
      runs.push(file);
      group = [];
    };
    for await (const events of batches()) {
      for (const event of events) {
        group.push(event);
        if (group.length >= rowsPerGroup) await spill();
      }
    }
    if (group.length) await spill();
    for await (const event of mergeRuns(runs)) {
      builder.add(event);
      if (builder.rows >= rowsPerGroup) {
        await sorted.writeRowGroup(builder);
        builder.reset();
      }
    }
    if (builder.rows) await sorted.writeRowGroup(builder);
    return await finish(sorted, destination, key, counts, true);
  } catch (error) {
    await sorted.discard();
    throw error;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function finish(output: LazyOutput, destination: OcsfDestination, key: string, counts: UnmappableCounts, externalSort: boolean): Promise<WindowResult> {
  const base = { unmappable: counts.total, reasons: counts.reasons(), externalSort };
  if (output.rows === 0) {
    // Nothing to write: an earlier file of this window must not stay behind.
    const removed = await removeIfPresent(destination, key);
    return { status: removed ? 'removed' : 'empty', events: 0, bytes: 0, rowGroups: 0, ...base };
  }
  const stored = await output.finish();
  return { status: 'written', events: output.rows, bytes: stored.bytes, rowGroups: output.rowGroups, ...base };
}

/** Deletes the window's file if there is one (HEAD first: most empty windows never had one). */
async function removeIfPresent(destination: OcsfDestination, key: string): Promise<boolean> {
  try {
    await destination.s3.send(new HeadObjectCommand({ Bucket: destination.bucket, Key: key }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (error as { name?: string }).name === 'NotFound') return false;
    throw error;
  }
  await destination.s3.send(new DeleteObjectCommand({ Bucket: destination.bucket, Key: key }));
  return true;
}

/** Every event of the window's objects, in the manifest's order, a batch per chunk read; what cannot be read or mapped is counted. */
async function* mappedBatches(deps: NormalizerDeps, source: OcsfSource, manifest: NormalizerManifest, counts: UnmappableCounts): AsyncIterable<OcsfEvent[]> {
  const reader = source.reader(manifest.format)!;
  const context = { tenant: manifest.tenant, filtersId: manifest.filtersId };
  for (const object of manifest.objects) {
    const body = (await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: object.key }))).Body as AsyncIterable<Uint8Array>;
    let batches = readRecordBatches(body, reader.format, reader.gzipped);
    if (reader.groupXrayCsv) batches = groupXrayCsvBatches(batches);
    try {
      for await (const items of batches) {
        const events: OcsfEvent[] = [];
        for (const item of items) {
          if ('unreadable' in item) {
            counts.add(item.unreadable);
            continue;
          }
          const mapped = source.map(item.record, context);
          if ('unmappable' in mapped) counts.add(mapped.unmappable);
          else {
            deps.inspect?.(mapped.event, source);
            events.push(mapped.event);
          }
        }
        if (events.length) yield events;
      }
    } catch (error) {
      throw new Error(`Cannot read ${object.key} (${manifest.format}): ${(error as Error).message}`, { cause: error });
    }
  }
}

function sortByTime(events: OcsfEvent[]): void {
  // Array.prototype.sort is stable: equal times keep the order the source gave them.
  events.sort((a, b) => a.time - b.time);
}

/** k-way merge of time-sorted run files; ties go to the earlier run (the source's order). */
async function* mergeRuns(files: string[]): AsyncIterable<OcsfEvent> {
  const cursors = files.map((file) => runEvents(file)[Symbol.asyncIterator]());
  const heads: ({ event: OcsfEvent; run: number } | undefined)[] = [];
  const next = async (run: number) => {
    const item = await cursors[run]!.next();
    return item.done ? undefined : { event: item.value, run };
  };
  for (let run = 0; run < cursors.length; run++) heads.push(await next(run));
  for (;;) {
    let best = -1;
    for (let run = 0; run < heads.length; run++) {
      const head = heads[run];
      if (head && (best === -1 || head.event.time < heads[best]!.event.time)) best = run;
    }
    if (best === -1) return;
    yield heads[best]!.event;
    heads[best] = await next(best);
  }
}

async function* runEvents(file: string): AsyncIterable<OcsfEvent> {
  for await (const items of readRecordBatches(createReadStream(file), 'ndjson', true)) {
    for (const item of items) {
      if ('unreadable' in item) throw new Error(`A sort run file is damaged: ${item.unreadable}`);
      yield item.record as OcsfEvent;
    }
  }
}

class UnmappableCounts {
  total = 0;
  private readonly byReason = new Map<string, number>();

  add(reason: string): void {
    this.total++;
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
  }

  reset(): void {
    this.total = 0;
    this.byReason.clear();
  }

  reasons(): Record<string, number> {
    return Object.fromEntries([...this.byReason].sort((a, b) => b[1] - a[1]).slice(0, 10));
  }
}

/** The output object, started at the first row group (a window without events never creates it). */
class LazyOutput {
  private writer: ParquetFileWriter | undefined;
  private body: PassThrough | undefined;
  private upload: Promise<{ bytes: number }> | undefined;
  rows = 0;
  rowGroups = 0;

  constructor(
    private readonly destination: OcsfDestination,
    private readonly key: string,
    private readonly source: OcsfSource,
    private readonly metadata: Record<string, string>,
  ) {}

  async writeRowGroup(rows: RowGroupBuilder): Promise<void> {
    if (!this.writer) {
      this.body = new PassThrough({ highWaterMark: 8 * 1024 * 1024 });
      this.upload = uploadStream({
        s3: this.destination.s3,
        destination: { bucket: this.destination.bucket, key: this.key },
        body: this.body,
        contentType: 'application/vnd.apache.parquet',
        metadata: this.metadata,
      });
      this.upload.catch(() => undefined); // awaited in finish or discard
      this.writer = new ParquetFileWriter({
        layout: this.source.layout,
        sink: this.body,
        keyValueMetadata: { 'ocsf.class_uid': String(this.source.eventClass.uid), 'ocsf.version': '1.1.0', ...this.metadata },
      });
    }
    this.rows += rows.rows;
    await this.writer.writeRowGroup(rows);
    this.rowGroups++;
  }

  async finish(): Promise<{ bytes: number }> {
    await this.writer!.finish();
    return this.upload!;
  }

  /** Stops the upload: the multipart upload is aborted and nothing is stored. */
  async discard(): Promise<void> {
    if (!this.body) return;
    this.body.destroy(new Error('discarded'));
    await this.upload!.catch(() => undefined);
  }
}
