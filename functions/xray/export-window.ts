import { once } from 'node:events';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import { DeleteObjectsCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { InvalidInputError, MalformedResponseError, TransientError } from '../common/errors.js';
import {
  ManifestListing,
  MANIFEST_VERSION,
  lastGeneration,
  manifestKey,
  manifestObjectSchema,
  readManifest,
  segmentSchema,
  withShortAnswer,
  writeManifest,
  type Manifest,
  type ManifestObject,
  type Segment,
  type StoredManifest,
} from '../common/manifest.js';
import { dayFolder, windowFolder } from '../common/s3-layout.js';
import { windowSchema } from '../common/run-window.js';
import { uploadStream } from '../common/s3-writer.js';
import { compactInstant, isoInstant, makeWindow, type TimeWindow } from '../common/time-window.js';
import { GridConflictError, gridConflictMessage } from '../common/window-grid.js';
import type { XrayClient } from './client.js';
import { csvNextOffset, splitCsvPage } from './csv-page.js';
import { xrayStreamFolder, type WindowGroup, type XrayExportPlan } from './export-plan.js';
import { CSV_INCOMPLETE_FILE } from './model.js';
import type { XrayRuntime } from './runtime.js';

/**
 * Exports a group of consecutive grid windows. For each window it asks the vendor's count, follows the
 * offset loop (order_by=id asc, the largest pages), streams the events into gzip parts in S3, and writes the
 * window's manifest last; as many windows and parts as fit in one invocation's time budget. What goes back
 * into the state machine is a cursor, never events.
 *
 * Exports only grow. Ids are stable and ascending in this order, so events that arrive late for a window
 * come after every event stored for it: a re-export (overlap re-scan, manual run, backfill) fetches only the
 * events beyond the last stored id, writes them as new parts under new keys (the next generation), and its
 * manifest lists the old parts and the new ones. A vendor answer that counts fewer events than are stored
 * changes nothing stored and is flagged (a short answer).
 *
 * Count what the vendor counts: before walking a (sub)window, one JSON request with `include_total=true` and
 * `num_of_rows=1` (whatever the stream's format) gives its count. An empty page or a falsy `next_offset`
 * ends the walk only once the offset has reached that count: before, it is a TransientError (retried; the
 * window is not committed). A window holding exactly k × 2,000 events legitimately ends on a full page.
 *
 * CSV: when the vendor names the file `audit_packages_incomplete.csv` (over 500,000 events in the range),
 * the (sub)window is split in halves, which are exported instead (the cursor keeps a small stack of them).
 */

/** A (sub)window still to fetch: what is stored of it, and once located, where its new events start. */
export const segmentTaskSchema = z
  .object({
    start: isoInstant,
    end: isoInstant,
    /** Every event of the segment with an id up to this is stored (null: none is). */
    aboveId: z.number().int().nonnegative().nullable(),
    /** How many events the vendor had up to `aboveId` when they were stored (where they end in its order), if known. */
    stored: z.number().int().nonnegative().nullable(),
    /** Once located: the vendor's count before the walk (null: it gave none) and the offset of the first new event. */
    count: z.number().int().nonnegative().nullable().optional(),
    from: z.number().int().nonnegative().optional(),
    /** Events fetched of it so far, and the highest id among them. */
    fetched: z.number().int().nonnegative().default(0),
    lastId: z.number().int().nonnegative().nullable().default(null),
  })
  .strict();
export type SegmentTask = z.infer<typeof segmentTaskSchema>;

export const cursorSchema = z
  .object({
    /** The grid window being exported. */
    windowStart: z.string(),
    /** The generation its new parts belong to. */
    generation: z.number().int().positive(),
    /** Whether the window had a manifest when its export began (its objects stay and are listed again). */
    previous: z.boolean(),
    /** Its (sub)windows still to fetch, current first (more than one after a CSV split or for a window stored in parts). */
    pending: z.array(segmentTaskSchema).max(64),
    /** Offset of the next event of pending[0] (once located). */
    offset: z.number().int().nonnegative(),
    /** New objects written so far for this window (its manifest lists them after the stored ones). */
    objects: z.array(manifestObjectSchema).max(2000),
    /** The (sub)windows finished, as the manifest records them. */
    segments: z.array(segmentSchema).max(128),
    /** Sum of the finished segments' pre-walk counts (null once one had none), and where their stored events ended. */
    vendorCount: z.number().int().nonnegative().nullable(),
    storedBefore: z.number().int().nonnegative(),
    /** Events fetched in the finished segments (this generation). */
    fetched: z.number().int().nonnegative(),
    /** Some (sub)window counted fewer events than are stored of it. */
    short: z.boolean(),
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
    /** Windows whose vendor count was below what is stored (kept, flagged in the manifest). */
    shortAnswers: z.number().int().nonnegative().default(0),
    /** This invocation's warnings (logged by the step; not carried on). */
    warnings: z.array(z.string()).max(20).optional(),
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
  shortAnswers: 0,
};

/**
 * Level 6 (zlib's default), measured against 1 and 3 on the bench's events (917 MB of NDJSON per 1,000,000):
 * level 1 2.5 CPU-s and 84 MB, level 3 2.1 CPU-s and 68 MB, level 6 5.3 CPU-s and 50 MB. Level 3 saves about
 * 3 CPU-s per 1,000,000 events (~$0.00007 of Lambda, once) and stores 18 MB more (~$0.0004 every month in S3
 * Standard, still more than the CPU saved after four months in Deep Archive): over an audit log's years of
 * retention the bytes cost more than the CPU. README "Compression".
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

type LiveCursor = Omit<GroupCursor, 'objects'> & { objects: PendingObject[] };

export async function exportGroup(
  runtime: XrayRuntime,
  plan: XrayExportPlan,
  group: WindowGroup,
  progress: GroupProgress | undefined,
  deadlineMs: number,
  executionId?: string,
): Promise<GroupProgress> {
  const { warnings: _previousWarnings, ...carried } = progress ?? INITIAL_PROGRESS;
  const totals: GroupProgress = { ...INITIAL_PROGRESS, ...carried };
  if (totals.done) return totals;
  totals.invocations++;
  const warnings: string[] = [];
  const warn = (warning: string) => {
    if (warnings.length < 20) warnings.push(warning);
  };
  const client = await runtime.client();
  const groupEnd = Date.parse(group.end);
  // A group of windows exported on an earlier grid (a re-scan after a grid change) says so.
  const gridMs = group.gridMs ?? plan.gridMs;
  const stored = (object: ManifestObject): PendingObject => ({ key: object.key, stored: Promise.resolve(object) });
  const firstStart = totals.cursor?.windowStart ?? group.start;
  // Which windows were exported before (their manifest is read and extended), and which windows of another grid
  // overlap them: listed once, from the day of the first window (an overlapping window may start earlier that day).
  const listing = new ManifestListing(runtime.s3, plan.bucket, xrayStreamFolder(plan), dayFolder(folderParts(plan, gridWindow(firstStart, gridMs))));
  const live = (cursor: GroupCursor): LiveCursor => ({ ...cursor, objects: cursor.objects.map(stored) });
  // The cursor, with this window's parts as promises: a part is uploaded (and a finished window's manifest
  // written) while the next pages are fetched. Every manifest waits for its window's parts; a window only
  // counts as complete (completedThrough) once its manifest and those of the windows before it are stored;
  // nothing is left in flight when the invocation returns (or throws).
  let cursor: LiveCursor = live(totals.cursor ?? (await openWindow(runtime, plan, gridWindow(group.start, gridMs), listing)));
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
  const finish = (result: GroupProgress): GroupProgress => (warnings.length ? { ...result, warnings } : result);

  try {
    for (;;) {
      const window = gridWindow(cursor.windowStart, gridMs);
      if (cursor.pending.length === 0) {
        const finished = cursor;
        if (finished.short) {
          totals.shortAnswers++;
          warn(
            `Xray counts ${finished.vendorCount ?? '?'} events for ${window.start} → ${window.end}, fewer than the ${finished.storedBefore} stored: ` +
              'nothing stored was changed; the manifest flags the short answer',
          );
        }
        const parts = finished.objects.map((object) => object.stored);
        const written = Promise.all(parts).then((objects) => writeWindowManifest(runtime, plan, window, { ...finished, objects }, executionId));
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
          return finish({ ...rest, done: true });
        }
        // Bounded: wait for the oldest window's manifest before fetching far ahead of S3.
        if (inFlight.length > MAX_WINDOWS_IN_FLIGHT) await inFlight.shift();
        cursor = live(await openWindow(runtime, plan, gridWindow(window.end, gridMs), listing));
      } else {
        const segment = cursor.pending[0]!;
        if (segment.from === undefined) {
          const located = await locate(client, plan, segment, warn);
          cursor = { ...cursor, pending: [located, ...cursor.pending.slice(1)], offset: located.from! };
          continue;
        }
        const result = await writePart(runtime, client, plan, window, cursor.generation, segment, cursor.offset);
        if (result.kind === 'split') {
          // Parts this generation wrote for the oversized (sub)window are superseded by its halves (no manifest
          // lists them: deleting them loses nothing).
          const prefix = partPrefix(plan, window, segment);
          const superseded = cursor.objects.filter((object) => object.key.startsWith(prefix));
          await Promise.all(superseded.map((object) => object.stored));
          await deleteObjects(runtime, plan.bucket, superseded.map((object) => object.key));
          cursor = {
            ...cursor,
            pending: [...halve(segment), ...cursor.pending.slice(1)],
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
          const advanced: SegmentTask = {
            ...segment,
            fetched: segment.fetched + result.events,
            lastId: result.lastId ?? segment.lastId,
          };
          cursor =
            result.nextOffset === undefined
              ? { ...closeSegment(cursor, advanced), objects }
              : { ...cursor, pending: [advanced, ...cursor.pending.slice(1)], offset: result.nextOffset, objects };
        }
      }
      if (runtime.clock.now() >= deadlineMs) {
        await settleAll();
        return finish({ ...totals, cursor: await resolvedCursor() });
      }
    }
  } catch (error) {
    // Nothing may outlive the invocation: let what was started finish (or fail) before failing.
    await Promise.allSettled([...uploads, manifests]);
    throw error;
  }
}

/** The grid window starting at `start`. */
function gridWindow(start: string, gridMs: number): TimeWindow {
  return makeWindow(Date.parse(start), Date.parse(start) + gridMs);
}

function folderParts(plan: XrayExportPlan, window: TimeWindow) {
  return { prefix: plan.prefix, source: 'xray', tenant: plan.tenant, filtersId: plan.filtersId, format: plan.format, window };
}

export function folderOf(plan: XrayExportPlan, window: TimeWindow): string {
  return windowFolder(folderParts(plan, window));
}

/**
 * Starts a window: refuses one that is not over yet or that overlaps windows of another grid, reads what an
 * earlier export stored (its manifest) and plans to fetch only what lies beyond it.
 */
async function openWindow(runtime: XrayRuntime, plan: XrayExportPlan, window: TimeWindow, listing: ManifestListing): Promise<GroupCursor> {
  if (plan.notAfter && Date.parse(window.end) > Date.parse(plan.notAfter)) {
    throw new InvalidInputError(`The window ${window.start} → ${window.end} is not over yet (${plan.notAfter} is now − lag): it is not exported`);
  }
  const folder = folderOf(plan, window);
  const previous = (await listing.mayHaveManifest(folder)) ? await readManifest(runtime.s3, plan.bucket, manifestKey(folder)) : undefined;
  const cursor: GroupCursor = {
    windowStart: window.start,
    generation: 1,
    previous: false,
    pending: [{ ...window, aboveId: null, stored: null, fetched: 0, lastId: null }],
    offset: 0,
    objects: [],
    segments: [],
    vendorCount: 0,
    storedBefore: 0,
    fetched: 0,
    short: false,
  };
  if (!previous) {
    const others = await listing.conflicts(folder, window);
    if (others.length) throw new GridConflictError(gridConflictMessage(window, others));
    return cursor;
  }
  const segments = previous.segments ?? (await segmentsOfEarlierExport(runtime, plan, window, previous));
  return {
    ...cursor,
    generation: lastGeneration(previous) + 1,
    previous: true,
    pending: segments.map((segment) => ({ start: segment.start, end: segment.end, aboveId: segment.lastId, stored: segment.events, fetched: 0, lastId: null })),
  };
}

/**
 * Where a (sub)window's new events start: its count (one JSON request, `num_of_rows=1`), and, when events are
 * stored, the offset of the first event whose id is above the last stored one. Usually that is the offset
 * after the stored events (checked: the event before it is the last stored one); otherwise (events purged, or
 * an earlier export of unknown extent) a binary search over ids, which are ascending in this order.
 */
async function locate(client: XrayClient, plan: XrayExportPlan, segment: SegmentTask, warn: (warning: string) => void): Promise<SegmentTask> {
  const window = { start: segment.start, end: segment.end };
  const probe = (offset: number) => client.countWindow({ window, offset, dryRun: plan.dryRun });
  let count: number | null | undefined;
  let from: number | undefined;
  if (segment.aboveId === null) {
    count = (await probe(0)).total;
    from = 0;
  } else {
    if (segment.stored) {
      const atLast = await probe(segment.stored - 1);
      count = atLast.total;
      if (atLast.id === segment.aboveId) from = segment.stored;
    }
    if (from === undefined) {
      count ??= (await probe(0)).total;
      from = await firstAbove(probe, segment.aboveId, count, window);
    }
  }
  if (count === null) {
    warn(`Xray gave no total_count for ${window.start} → ${window.end}: the walk ends where its pages say (vendorCount null)`);
  }
  return { ...segment, count: count ?? null, from };
}

/** The smallest offset whose event id is above `aboveId` (the count when there is none). */
async function firstAbove(
  probe: (offset: number) => Promise<{ total: number | null; id?: number }>,
  aboveId: number,
  count: number | null,
  window: TimeWindow,
): Promise<number> {
  const idAt = async (offset: number): Promise<number | undefined> => {
    const answer = await probe(offset);
    if (answer.id === undefined && count !== null && offset < count) {
      throw new TransientError(`Xray answered an empty page at offset ${offset} of ${window.start} → ${window.end}, for which it counts ${count} events`);
    }
    return answer.id;
  };
  let low = 0;
  let high = count ?? 1;
  if (count === null) {
    // No count: gallop to a bound first (an empty page there is the end).
    for (;;) {
      const id = await idAt(high - 1);
      if (id === undefined || id > aboveId) break;
      low = high;
      high *= 2;
    }
  }
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const id = await idAt(middle);
    if (id === undefined || id > aboveId) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** A segment whose walk ended: recorded for the manifest, its counts added up. */
function closeSegment(cursor: LiveCursor, segment: SegmentTask): LiveCursor {
  const from = segment.from ?? 0;
  const closed: Segment = {
    start: segment.start,
    end: segment.end,
    lastId: segment.lastId ?? segment.aboveId,
    // Where the stored events end in the vendor's order: the next export checks the event before it.
    events: from + segment.fetched,
  };
  return {
    ...cursor,
    pending: cursor.pending.slice(1),
    offset: 0,
    segments: [...cursor.segments, closed],
    vendorCount: cursor.vendorCount === null || segment.count === null || segment.count === undefined ? null : cursor.vendorCount + segment.count,
    storedBefore: cursor.storedBefore + (segment.stored ?? from),
    fetched: cursor.fetched + segment.fetched,
    short: cursor.short || (segment.stored !== null && from < segment.stored),
  };
}

function partPrefix(plan: XrayExportPlan, window: TimeWindow, segment: TimeWindow): string {
  return `${folderOf(plan, window)}part-${compactInstant(segment.start)}-`;
}

/**
 * A part is named by its (sub)window and the offset of its first event; parts of later generations carry the
 * generation too, so they never take the key of a stored part.
 */
export function partKey(plan: XrayExportPlan, window: TimeWindow, segment: TimeWindow, offset: number, generation = 1): string {
  const extension = plan.format === 'json' ? 'ndjson.gz' : 'csv.gz';
  return `${partPrefix(plan, window, segment)}${String(offset).padStart(12, '0')}${generation > 1 ? `-g${generation}` : ''}.${extension}`;
}

const PART_KEY = /\/part-(\d{8}T\d{6}(?:\.\d{3})?Z)-(\d{12})(?:-g(\d+))?\.(?:ndjson|csv)\.gz$/;

/**
 * What a manifest without segments (version 1) stored: its (sub)windows from the part keys (each names its
 * segment's start), and the last id of each from its last part.
 */
async function segmentsOfEarlierExport(runtime: XrayRuntime, plan: XrayExportPlan, window: TimeWindow, previous: StoredManifest): Promise<Segment[]> {
  const bySegment = new Map<string, { offset: number; key: string }>();
  for (const object of previous.objects) {
    const match = PART_KEY.exec(object.key);
    if (!match) throw new MalformedResponseError(`${object.key} in the manifest of ${window.start} → ${window.end} is not named like an Xray part`);
    const start = new Date(Date.parse(`${match[1]!.slice(0, 4)}-${match[1]!.slice(4, 6)}-${match[1]!.slice(6, 8)}T${match[1]!.slice(9, 11)}:${match[1]!.slice(11, 13)}:${match[1]!.slice(13)}`)).toISOString();
    const offset = Number(match[2]);
    const last = bySegment.get(start);
    if (!last || offset >= last.offset) bySegment.set(start, { offset, key: object.key });
  }
  const starts = [...bySegment.keys()].sort();
  if (!starts.length) return [{ start: window.start, end: window.end, lastId: null, events: 0 }];
  const segments: Segment[] = [];
  for (const [index, start] of starts.entries()) {
    const lastId = await lastStoredId(runtime, plan, bySegment.get(start)!.key);
    segments.push({
      start: index === 0 ? window.start : start,
      end: starts[index + 1] ?? window.end,
      lastId,
      // JSON has one segment and one record per event; CSV counts rows, not events.
      events: plan.format === 'json' && starts.length === 1 ? previous.records : null,
    });
  }
  return segments;
}

/** The id of the last event of a stored gzip part, read through once in constant memory. */
async function lastStoredId(runtime: XrayRuntime, plan: XrayExportPlan, key: string): Promise<number | null> {
  const object = await runtime.s3.send(new GetObjectCommand({ Bucket: plan.bucket, Key: key }));
  const gunzip = (object.Body as NodeJS.ReadableStream).pipe(createGunzip());
  let last: number | null = null;
  if (plan.format === 'json') {
    let tail = Buffer.alloc(0);
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const joined = Buffer.concat([tail, chunk]);
      const end = joined.lastIndexOf(0x0a, joined.length - 2);
      tail = end === -1 ? joined : joined.subarray(end + 1);
    }
    const line = tail.toString('utf8').trim();
    if (line) last = (JSON.parse(line) as { id: number }).id;
    return last;
  }
  // CSV: the first field of each record (quotes may hold line breaks), past the header.
  let quoted = false;
  let atRecordStart = true;
  let header = true;
  let digits = '';
  for await (const chunk of gunzip as AsyncIterable<Buffer>) {
    for (const byte of chunk) {
      if (atRecordStart && !header) {
        if (byte >= 0x30 && byte <= 0x39) {
          digits += String.fromCharCode(byte);
          continue;
        }
        if (digits) last = Number(digits);
        digits = '';
        atRecordStart = false;
      }
      if (byte === 0x22) quoted = !quoted;
      else if (byte === 0x0a && !quoted) {
        atRecordStart = true;
        header = false;
      }
    }
  }
  return last;
}

async function writeWindowManifest(
  runtime: XrayRuntime,
  plan: XrayExportPlan,
  window: TimeWindow,
  cursor: GroupCursor,
  executionId: string | undefined,
): Promise<void> {
  const folder = folderOf(plan, window);
  const previous = cursor.previous ? await readManifest(runtime.s3, plan.bucket, manifestKey(folder)) : undefined;
  // Nothing new and nothing to flag: the manifest already says it all (a version 1 one is rewritten once, with segments).
  if (previous && !cursor.objects.length && !cursor.short && previous.writtenAs === 2) return;
  const completedAt = new Date(runtime.clock.now()).toISOString();
  const fetched = cursor.objects.reduce((sum, object) => sum + object.records, 0);
  const previousEvents = previous ? (previous.events ?? (plan.format === 'json' ? previous.records : cursor.storedBefore)) : 0;
  const objects = [...(previous?.objects ?? []), ...cursor.objects];
  let manifest: Manifest = {
    version: MANIFEST_VERSION,
    source: 'xray',
    tenant: plan.tenant,
    filtersId: plan.filtersId,
    filters: { dryRun: plan.dryRun, format: plan.format },
    format: plan.format === 'json' ? 'ndjson.gz' : 'csv.gz',
    window,
    objects,
    records: (previous?.records ?? 0) + fetched,
    bytes: objects.reduce((sum, object) => sum + object.bytes, 0),
    generation: cursor.objects.length || !previous ? cursor.generation : previous.generation,
    vendorCount: cursor.vendorCount,
    events: previousEvents + cursor.fetched,
    supersedes: previous?.supersedes ?? [],
    shortAnswer: false,
    shortAnswers: previous?.shortAnswers ?? [],
    segments: [...cursor.segments].sort((a, b) => a.start.localeCompare(b.start)),
    completedAt,
  };
  if (executionId) manifest.executionId = executionId;
  if (cursor.short) {
    manifest = withShortAnswer(manifest, {
      at: completedAt,
      ...(executionId ? { executionId } : {}),
      vendorCount: cursor.vendorCount,
      records: cursor.vendorCount ?? 0,
      stored: previousEvents,
    });
  }
  await writeManifest(runtime.s3, plan.bucket, folder, manifest);
}

type PartResult =
  | { kind: 'split' }
  | { kind: 'written'; events: number; nextOffset?: number; lastId?: number; object?: PendingObject };

/** One page, normalized across formats: bytes to append, its events' ids and rows, where the next page starts. */
interface Page {
  header?: Buffer;
  body: Buffer;
  ids: number[];
  rows: number;
  nextOffset?: number;
  incomplete: boolean;
}

class SplitNeeded extends Error {}

/**
 * Writes one part: the events of `segment` from `offset` on, at most eventsPerPart of them. It returns once
 * the pages are fetched and handed to gzip; the part's upload goes on (its `stored` promise), so the caller
 * fetches the next pages meanwhile. The walk of the segment ends (no `nextOffset`) only where its pre-walk
 * count allows.
 */
async function writePart(
  runtime: XrayRuntime,
  client: XrayClient,
  plan: XrayExportPlan,
  window: TimeWindow,
  generation: number,
  segment: SegmentTask,
  offset: number,
): Promise<PartResult> {
  const fetchPage = (at: number) => readPage(client, plan, segment, at);
  /** A page that says "no more": allowed only once the walk has reached the vendor's count. */
  const ending = (at: number, page: Page) => {
    const reached = at + page.ids.length;
    if (segment.count !== null && segment.count !== undefined && reached < segment.count) {
      throw new TransientError(
        `Xray ended ${segment.start} → ${segment.end} at offset ${reached} (${page.ids.length ? `a page of ${page.ids.length} events without next_offset` : 'an empty page'}), ` +
          `but counted ${segment.count} events before the walk: the window is not complete and is tried again`,
      );
    }
  };
  const checkIds = (page: Page) => {
    // Ids ascend in this order: every event fetched lies beyond what is stored of the segment.
    if (segment.aboveId !== null && page.ids.length && page.ids[0]! <= segment.aboveId) {
      throw new TransientError(
        `Xray returned id ${page.ids[0]} at offset ${offset} of ${segment.start} → ${segment.end}, not above the last stored id ${segment.aboveId}: ` +
          'its order moved while the window was walked; tried again',
      );
    }
  };
  const first = await fetchPage(offset);
  if (first.incomplete) return { kind: 'split' };
  if (first.ids.length === 0) {
    ending(offset, first);
    return { kind: 'written', events: 0 };
  }
  checkIds(first);

  const key = partKey(plan, window, segment, offset, generation);
  const partEnd = offset + plan.eventsPerPart;
  const gzip = createGzip({ level: GZIP_LEVEL, chunkSize: GZIP_CHUNK_BYTES });
  const upload = uploadStream({
    s3: runtime.s3,
    destination: { bucket: plan.bucket, key },
    body: gzip,
    contentType: plan.format === 'json' ? 'application/x-ndjson' : 'text/csv',
    metadata: { source: 'xray', 'window-start': segment.start, 'window-end': segment.end, 'first-offset': String(offset), generation: String(generation) },
  });
  upload.catch(() => undefined); // observed below; this only keeps an early failure from going unhandled
  try {
    let events = 0;
    let rows = 0;
    let page = first;
    let at = offset;
    let lastId: number | undefined;
    let nextOffset: number | undefined;
    for (;;) {
      if (page.nextOffset === undefined) ending(at, page);
      const more = page.nextOffset !== undefined && page.nextOffset < partEnd;
      // Fetch the next page while this one is compressed and uploaded.
      const prefetch = more ? fetchPage(page.nextOffset!) : undefined;
      prefetch?.catch(() => undefined);
      if (events === 0 && page.header) await write(gzip, page.header);
      // The part's last page is not waited for: it is compressed and uploaded while the next pages are fetched
      // (it is in memory anyway; the caller bounds how many parts are in flight).
      if (prefetch) await write(gzip, page.body);
      else if (page.body.length > 0) gzip.write(page.body);
      events += page.ids.length;
      rows += page.rows;
      lastId = page.ids.at(-1) ?? lastId;
      if (!prefetch) {
        nextOffset = page.nextOffset;
        break;
      }
      at = page.nextOffset!;
      page = await prefetch;
      if (page.incomplete) throw new SplitNeeded();
      if (page.ids.length === 0) {
        ending(at, page);
        break;
      }
    }
    gzip.end();
    const stored = upload.then((object): ManifestObject => ({ key, bytes: object.bytes, records: rows, sha256: object.sha256, generation }));
    const result: PartResult = { kind: 'written', events, nextOffset, object: { key, stored } };
    if (lastId !== undefined) result.lastId = lastId;
    return result;
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
    const result: Page = { body: page.ndjson, ids: page.ids, rows: page.ids.length, incomplete: false };
    if (page.nextOffset !== undefined) result.nextOffset = page.nextOffset;
    return result;
  }
  const page = await client.csvPage(query);
  const { header, rows, ids, rowCount } = splitCsvPage(page.csv);
  const result: Page = { header, body: rows, ids, rows: rowCount, incomplete: page.fileName === CSV_INCOMPLETE_FILE };
  // The CSV format has no meta: where the next page starts (if anywhere) is csvNextOffset's to say (csv-page.ts).
  const next = csvNextOffset({ offset, pageSize: page.pageSize, events: ids.length, rows: rowCount, dryRun: plan.dryRun });
  if (next !== undefined) result.nextOffset = next;
  return result;
}

async function write(stream: Gzip, chunk: Buffer): Promise<void> {
  if (chunk.length === 0) return;
  if (!stream.write(chunk)) await once(stream, 'drain');
}

/** The halves of a (sub)window; what is stored of it (by id) is stored of each half. */
function halve(segment: SegmentTask): [SegmentTask, SegmentTask] {
  const start = Date.parse(segment.start);
  const end = Date.parse(segment.end);
  if (end - start < 2) {
    throw new InvalidInputError(
      `Xray reports over 500,000 events in the millisecond ${segment.start}; the CSV format cannot export it, use format json`,
    );
  }
  const middle = start + Math.floor((end - start) / 2);
  const half = (from: number, to: number): SegmentTask => ({ ...makeWindow(from, to), aboveId: segment.aboveId, stored: null, fetched: 0, lastId: null });
  return [half(start, middle), half(middle, end)];
}

async function deleteObjects(runtime: XrayRuntime, bucket: string, keys: string[]): Promise<void> {
  for (let at = 0; at < keys.length; at += 1000) {
    await runtime.s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(at, at + 1000).map((Key) => ({ Key })), Quiet: true } }),
    );
  }
}

export { windowSchema };
