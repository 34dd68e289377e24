import { once } from 'node:events';
import { createGzip, type Gzip } from 'node:zlib';
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { InvalidInputError, MalformedResponseError } from '../common/errors.js';
import { ManifestListing, manifestObjectSchema, writeManifest, type Manifest, type ManifestObject } from '../common/manifest.js';
import { streamFolder, windowFolder } from '../common/s3-layout.js';
import { windowSchema } from '../common/run-window.js';
import { uploadStream } from '../common/s3-writer.js';
import { compactInstant, makeWindow, type TimeWindow } from '../common/time-window.js';
import type { XrayClient } from './client.js';
import { csvNextOffset, splitCsvPage } from './csv-page.js';
import type { XrayExportPlan } from './export-plan.js';
import { CSV_INCOMPLETE_FILE } from './model.js';
import type { XrayRuntime } from './runtime.js';

/**
 * Exports a group of consecutive grid windows. For each window it follows the offset loop
 * (order_by=id asc, the largest pages), streams the events into gzip parts in S3, and writes the window's
 * manifest last; as many windows and parts as fit in one invocation's time budget. What goes back into
 * the state machine is a cursor, never events.
 *
 * A part is named by its first offset: ordering by id keeps offsets stable while events arrive, so a
 * re-run writes the same parts to the same keys, and the manifest replaces the window's listing.
 *
 * CSV: when the vendor names the file `audit_packages_incomplete.csv` (over 500,000 events in the range),
 * the (sub)window is split in halves, which are exported instead (the cursor keeps a small stack of them).
 */

export const cursorSchema = z
  .object({
    /** The grid window being exported. */
    windowStart: z.string(),
    /** Its (sub)windows still to export, current first (more than one only after a CSV split). */
    pending: z.array(windowSchema).max(64),
    /** Offset of the next event of pending[0]. */
    offset: z.number().int().nonnegative(),
    /** Objects written so far for this window (its manifest lists them). */
    objects: z.array(manifestObjectSchema).max(2000),
  })
  .strict();
export type GroupCursor = z.infer<typeof cursorSchema>;

export const progressSchema = z
  .object({
    cursor: cursorSchema.optional(),
    done: z.boolean(),
    events: z.number().int().nonnegative(),
    parts: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    splits: z.number().int().nonnegative(),
    invocations: z.number().int().nonnegative(),
    windowsDone: z.number().int().nonnegative(),
    /** End of the last window whose manifest is written. */
    completedThrough: z.string().nullish(),
  })
  .strict();
export type GroupProgress = z.infer<typeof progressSchema>;

export const INITIAL_PROGRESS: GroupProgress = {
  done: false,
  events: 0,
  parts: 0,
  bytes: 0,
  splits: 0,
  invocations: 0,
  windowsDone: 0,
  completedThrough: null,
};

/**
 * Level 6 (zlib's default) rather than 1: level 1 would save about 2 CPU-seconds per 1,000,000 events
 * (~$0.00005 of Lambda) but store 63% more bytes, which costs more than that every month of retention.
 */
const GZIP_LEVEL = 6;
/** zlib hands back output in chunks of this size; its 16 KiB default costs the event loop a round trip per chunk. */
const GZIP_CHUNK_BYTES = 256 * 1024;

/** Finished windows (and parts) whose upload or manifest may still be in flight while the next pages are fetched. */
const MAX_WINDOWS_IN_FLIGHT = 1;

/** A part handed to S3: its key is known at once, its size and SHA-256 once it is stored. */
interface PendingObject {
  key: string;
  stored: Promise<ManifestObject>;
}

export async function exportGroup(
  runtime: XrayRuntime,
  plan: XrayExportPlan,
  group: TimeWindow,
  progress: GroupProgress | undefined,
  deadlineMs: number,
  executionId?: string,
): Promise<GroupProgress> {
  const totals: GroupProgress = { ...(progress ?? INITIAL_PROGRESS) };
  if (totals.done) return totals;
  totals.invocations++;
  const client = await runtime.client();
  const groupEnd = Date.parse(group.end);
  const stored = (object: ManifestObject): PendingObject => ({ key: object.key, stored: Promise.resolve(object) });
  const initial = totals.cursor ?? startWindow(group.start, plan);
  // The cursor, with this window's parts as promises: a part is uploaded (and a finished window's manifest
  // written) while the next pages are fetched. Every manifest waits for its window's parts; a window only
  // counts as complete (completedThrough) once its manifest and those of the windows before it are stored;
  // nothing is left in flight when the invocation returns (or throws).
  let cursor: Omit<GroupCursor, 'objects'> & { objects: PendingObject[] } = { ...initial, objects: initial.objects.map(stored) };
  // Which of this invocation's windows were exported before (their manifest replaces an earlier one).
  const earlierManifests = new ManifestListing(
    runtime.s3,
    plan.bucket,
    streamFolderOf(plan),
    folderOf(plan, gridWindow(initial.windowStart, plan)),
  );
  /** Resolves once every finished window's manifest so far is stored (and completedThrough advanced). */
  let manifests: Promise<void> = Promise.resolve();
  /** The completion of each finished window still in flight, oldest first. */
  const inFlight: Promise<void>[] = [];
  const uploads = new Set<Promise<unknown>>();
  const settleAll = async () => {
    await Promise.allSettled([...uploads, manifests]);
    await manifests;
    inFlight.length = 0;
  };
  const resolvedCursor = async (): Promise<GroupCursor> => ({
    ...cursor,
    objects: await Promise.all(cursor.objects.map((object) => object.stored)),
  });

  try {
    for (;;) {
      const window = gridWindow(cursor.windowStart, plan);
      if (cursor.pending.length === 0) {
        const parts = cursor.objects.map((object) => object.stored);
        const written = Promise.all(parts).then((objects) =>
          writeWindowManifest(runtime, plan, window, objects, earlierManifests, executionId),
        );
        written.catch(() => undefined); // observed through `manifests`
        manifests = Promise.all([manifests, written]).then(() => {
          totals.windowsDone++;
          totals.completedThrough = window.end;
        });
        manifests.catch(() => undefined); // awaited below; this only keeps it from going unhandled meanwhile
        inFlight.push(manifests);
        if (Date.parse(window.end) >= groupEnd) {
          await settleAll();
          const { cursor: _finished, ...rest } = totals;
          return { ...rest, done: true };
        }
        // Bounded: wait for the oldest window's manifest before fetching far ahead of S3.
        if (inFlight.length > MAX_WINDOWS_IN_FLIGHT) await inFlight.shift();
        const next = startWindow(window.end, plan);
        cursor = { ...next, objects: [] };
      } else {
        const current = cursor.pending[0]!;
        const result = await writePart(runtime, client, plan, window, current, cursor.offset);
        if (result.kind === 'split') {
          // Parts already written for the oversized (sub)window are superseded by its halves.
          const prefix = partPrefix(plan, window, current);
          const superseded = cursor.objects.filter((object) => object.key.startsWith(prefix));
          await Promise.all(superseded.map((object) => object.stored));
          await deleteObjects(runtime, plan.bucket, superseded.map((object) => object.key));
          cursor = {
            ...cursor,
            pending: [...halve(current), ...cursor.pending.slice(1)],
            offset: 0,
            objects: cursor.objects.filter((object) => !superseded.includes(object)),
          };
          totals.splits++;
        } else {
          totals.events += result.events;
          let objects = cursor.objects;
          if (result.object) {
            const upload = result.object.stored.then((object) => {
              totals.parts++;
              totals.bytes += object.bytes;
              return object;
            });
            upload.catch(() => undefined); // observed by the window's manifest (or the cursor), and by settleAll
            uploads.add(upload);
            void upload.then(
              () => uploads.delete(upload),
              () => undefined,
            );
            objects = [...objects, { key: result.object.key, stored: upload }];
            // Bounded also within a window of many parts.
            while (uploads.size > MAX_WINDOWS_IN_FLIGHT) await Promise.race(uploads);
          }
          cursor =
            result.nextOffset === undefined
              ? { ...cursor, pending: cursor.pending.slice(1), offset: 0, objects }
              : { ...cursor, offset: result.nextOffset, objects };
        }
      }
      if (runtime.clock.now() >= deadlineMs) {
        await settleAll();
        return { ...totals, cursor: await resolvedCursor() };
      }
    }
  } catch (error) {
    // Nothing may outlive the invocation: let what was started finish (or fail) before failing.
    await Promise.allSettled([...uploads, manifests]);
    throw error;
  }
}

/** The grid window starting at `start`. */
function gridWindow(start: string, plan: XrayExportPlan): TimeWindow {
  return makeWindow(Date.parse(start), Date.parse(start) + plan.gridMs);
}

function startWindow(start: string, plan: XrayExportPlan): GroupCursor {
  const window = gridWindow(start, plan);
  return { windowStart: window.start, pending: [window], offset: 0, objects: [] };
}

export function folderOf(plan: XrayExportPlan, window: TimeWindow): string {
  return windowFolder({ prefix: plan.prefix, source: 'xray', tenant: plan.tenant, filtersId: plan.filtersId, window });
}

function streamFolderOf(plan: XrayExportPlan): string {
  return streamFolder({ prefix: plan.prefix, source: 'xray', tenant: plan.tenant, filtersId: plan.filtersId });
}

function partPrefix(plan: XrayExportPlan, window: TimeWindow, segment: TimeWindow): string {
  return `${folderOf(plan, window)}part-${compactInstant(segment.start)}-`;
}

export function partKey(plan: XrayExportPlan, window: TimeWindow, segment: TimeWindow, offset: number): string {
  const extension = plan.format === 'json' ? 'ndjson.gz' : 'csv.gz';
  return `${partPrefix(plan, window, segment)}${String(offset).padStart(12, '0')}.${extension}`;
}

async function writeWindowManifest(
  runtime: XrayRuntime,
  plan: XrayExportPlan,
  window: TimeWindow,
  objects: ManifestObject[],
  earlierManifests: ManifestListing,
  executionId: string | undefined,
): Promise<void> {
  const manifest: Manifest = {
    version: 1,
    source: 'xray',
    tenant: plan.tenant,
    filtersId: plan.filtersId,
    filters: { dryRun: plan.dryRun, format: plan.format },
    format: plan.format === 'json' ? 'ndjson.gz' : 'csv.gz',
    window,
    objects,
    records: objects.reduce((sum, object) => sum + object.records, 0),
    bytes: objects.reduce((sum, object) => sum + object.bytes, 0),
    completedAt: new Date(runtime.clock.now()).toISOString(),
  };
  if (executionId) manifest.executionId = executionId;
  const folder = folderOf(plan, window);
  await writeManifest(runtime.s3, plan.bucket, folder, manifest, { previousMayExist: await earlierManifests.mayHaveManifest(folder) });
}

type PartResult = { kind: 'split' } | { kind: 'written'; events: number; nextOffset?: number; object?: PendingObject };

/** One page, normalized across formats: bytes to append, how many events and rows, where the next page starts. */
interface Page {
  header?: Buffer;
  body: Buffer;
  events: number;
  rows: number;
  nextOffset?: number;
  incomplete: boolean;
}

class SplitNeeded extends Error {}

/**
 * Writes one part: the events of `segment` from `offset` on, at most eventsPerPart of them. It returns once
 * the pages are fetched and handed to gzip; the part's upload goes on (its `stored` promise), so the caller
 * fetches the next pages meanwhile.
 */
async function writePart(
  runtime: XrayRuntime,
  client: XrayClient,
  plan: XrayExportPlan,
  window: TimeWindow,
  segment: TimeWindow,
  offset: number,
): Promise<PartResult> {
  const fetchPage = (at: number) => readPage(client, plan, segment, at);
  const first = await fetchPage(offset);
  if (first.incomplete) return { kind: 'split' };
  if (first.events === 0) return { kind: 'written', events: 0 };

  const key = partKey(plan, window, segment, offset);
  const partEnd = offset + plan.eventsPerPart;
  const gzip = createGzip({ level: GZIP_LEVEL, chunkSize: GZIP_CHUNK_BYTES });
  const upload = uploadStream({
    s3: runtime.s3,
    destination: { bucket: plan.bucket, key },
    body: gzip,
    contentType: plan.format === 'json' ? 'application/x-ndjson' : 'text/csv',
    metadata: { source: 'xray', 'window-start': segment.start, 'window-end': segment.end, 'first-offset': String(offset) },
  });
  upload.catch(() => undefined); // observed below; this only keeps an early failure from going unhandled
  try {
    let events = 0;
    let rows = 0;
    let page = first;
    let nextOffset: number | undefined;
    for (;;) {
      const more = page.nextOffset !== undefined && page.nextOffset < partEnd;
      // Fetch the next page while this one is compressed and uploaded.
      const prefetch = more ? fetchPage(page.nextOffset!) : undefined;
      prefetch?.catch(() => undefined);
      if (events === 0 && page.header) await write(gzip, page.header);
      // The part's last page is not waited for: it is compressed and uploaded while the next pages are fetched
      // (it is in memory anyway; the caller bounds how many parts are in flight).
      if (prefetch) await write(gzip, page.body);
      else if (page.body.length > 0) gzip.write(page.body);
      events += page.events;
      rows += page.rows;
      if (!prefetch) {
        nextOffset = page.nextOffset;
        break;
      }
      page = await prefetch;
      if (page.incomplete) throw new SplitNeeded();
      if (page.events === 0) break;
    }
    gzip.end();
    const stored = upload.then((object): ManifestObject => ({ key, bytes: object.bytes, records: rows, sha256: object.sha256 }));
    return { kind: 'written', events, nextOffset, object: { key, stored } };
  } catch (error) {
    gzip.destroy(error as Error);
    await upload.catch(() => undefined);
    if (error instanceof SplitNeeded) return { kind: 'split' };
    throw error;
  }
}

async function readPage(client: XrayClient, plan: XrayExportPlan, window: TimeWindow, offset: number): Promise<Page> {
  const query = { window, offset, pageSize: plan.pageSize, dryRun: plan.dryRun };
  if (plan.format === 'json') {
    const page = await client.jsonPage(query);
    if (page.nextOffset !== undefined && page.nextOffset <= offset) {
      throw new MalformedResponseError(`Xray returned next_offset ${page.nextOffset} for the page at offset ${offset}`);
    }
    const result: Page = { body: page.ndjson, events: page.ids.length, rows: page.ids.length, incomplete: false };
    if (page.nextOffset !== undefined) result.nextOffset = page.nextOffset;
    return result;
  }
  const page = await client.csvPage(query);
  const { header, rows, ids, rowCount } = splitCsvPage(page.csv);
  const result: Page = { header, body: rows, events: ids.length, rows: rowCount, incomplete: page.fileName === CSV_INCOMPLETE_FILE };
  // The CSV format has no meta: where the next page starts (if anywhere) is csvNextOffset's to say (csv-page.ts).
  const next = csvNextOffset({ offset, pageSize: page.pageSize, events: ids.length, rows: rowCount, dryRun: plan.dryRun });
  if (next !== undefined) result.nextOffset = next;
  return result;
}

async function write(stream: Gzip, chunk: Buffer): Promise<void> {
  if (chunk.length === 0) return;
  if (!stream.write(chunk)) await once(stream, 'drain');
}

function halve(window: TimeWindow): [TimeWindow, TimeWindow] {
  const start = Date.parse(window.start);
  const end = Date.parse(window.end);
  if (end - start < 2) {
    throw new InvalidInputError(
      `Xray reports over 500,000 events in the millisecond ${window.start}; the CSV format cannot export it, use format json`,
    );
  }
  const middle = start + Math.floor((end - start) / 2);
  return [makeWindow(start, middle), makeWindow(middle, end)];
}

async function deleteObjects(runtime: XrayRuntime, bucket: string, keys: string[]): Promise<void> {
  for (let at = 0; at < keys.length; at += 1000) {
    await runtime.s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(at, at + 1000).map((Key) => ({ Key })), Quiet: true } }),
    );
  }
}
