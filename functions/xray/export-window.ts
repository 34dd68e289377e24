import { once } from 'node:events';
import { createGzip, type Gzip } from 'node:zlib';
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { InvalidInputError, MalformedResponseError } from '../common/errors.js';
import { windowObjectKey } from '../common/s3-layout.js';
import { uploadStream, type StoredObject } from '../common/s3-writer.js';
import { makeWindow, type TimeWindow } from '../common/time-window.js';
import type { XrayClient } from './client.js';
import { splitCsvPage } from './csv-page.js';
import { windowSchema, type XrayExportPlan } from './export-plan.js';
import { CSV_INCOMPLETE_FILE } from './model.js';
import type { XrayRuntime } from './runtime.js';

/**
 * Exports one window: follows the offset loop (order_by=id asc, the largest pages) and streams the
 * events into gzip parts in S3, as many parts as fit in one invocation's time budget. What goes back
 * into the state machine is a cursor, never events.
 *
 * Part k of a (sub)window holds the events at offsets [k·E, (k+1)·E): ordering by id keeps offsets
 * stable while events arrive, so a re-run writes the same parts to the same keys.
 *
 * CSV: when the vendor names the file `audit_packages_incomplete.csv` (over 500,000 events in the range),
 * the (sub)window is split in halves, which are exported instead (the cursor keeps a small stack of them).
 */

export const cursorSchema = z
  .object({
    /** (Sub)windows still to export, current first. */
    pending: z.array(windowSchema).min(1).max(64),
    /** Offset of the next event of pending[0]. */
    offset: z.number().int().nonnegative(),
    /** Index of the next part of pending[0]. */
    part: z.number().int().nonnegative(),
  })
  .strict();
export type WindowCursor = z.infer<typeof cursorSchema>;

export const progressSchema = z
  .object({
    cursor: cursorSchema.optional(),
    done: z.boolean(),
    events: z.number().int().nonnegative(),
    parts: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    splits: z.number().int().nonnegative(),
    invocations: z.number().int().nonnegative(),
  })
  .strict();
export type WindowProgress = z.infer<typeof progressSchema>;

export async function exportWindowPages(
  runtime: XrayRuntime,
  plan: XrayExportPlan,
  window: TimeWindow,
  progress: WindowProgress | undefined,
  deadlineMs: number,
): Promise<WindowProgress> {
  if (progress?.done) return progress;
  const totals: WindowProgress = progress
    ? { ...progress, invocations: progress.invocations + 1 }
    : { done: false, events: 0, parts: 0, bytes: 0, splits: 0, invocations: 1 };
  let cursor: WindowCursor = progress?.cursor ?? { pending: [window], offset: 0, part: 0 };
  const client = await runtime.client();

  do {
    const current = cursor.pending[0]!;
    const result = await writePart(runtime, client, plan, current, cursor.offset, cursor.part);
    if (result.kind === 'split') {
      await deleteParts(runtime, plan, current, cursor.part);
      cursor = { pending: [...halve(current), ...cursor.pending.slice(1)], offset: 0, part: 0 };
      totals.splits++;
      continue;
    }
    totals.events += result.events;
    if (result.object) {
      totals.parts++;
      totals.bytes += result.object.bytes;
    }
    cursor =
      result.nextOffset === undefined
        ? { pending: cursor.pending.slice(1) as WindowCursor['pending'], offset: 0, part: 0 }
        : { pending: cursor.pending, offset: result.nextOffset, part: cursor.part + 1 };
  } while (cursor.pending.length > 0 && runtime.clock.now() < deadlineMs);

  if (cursor.pending.length === 0) {
    const { cursor: _done, ...rest } = totals;
    return { ...rest, done: true };
  }
  return { ...totals, cursor, done: false };
}

export function partKey(plan: XrayExportPlan, window: TimeWindow, part: number): string {
  return windowObjectKey({
    prefix: plan.prefix,
    source: 'xray',
    tenant: plan.tenant,
    filtersId: plan.filtersId,
    window,
    part,
    extension: plan.format === 'json' ? 'ndjson.gz' : 'csv.gz',
  });
}

type PartResult =
  | { kind: 'split' }
  | { kind: 'written'; events: number; nextOffset?: number; object?: StoredObject };

/** One page, normalized across formats: bytes to append, how many events, where the next page starts. */
interface Page {
  header?: Buffer;
  body: Buffer;
  events: number;
  nextOffset?: number;
  incomplete: boolean;
}

class SplitNeeded extends Error {}

async function writePart(
  runtime: XrayRuntime,
  client: XrayClient,
  plan: XrayExportPlan,
  window: TimeWindow,
  offset: number,
  part: number,
): Promise<PartResult> {
  const fetchPage = (at: number) => readPage(client, plan, window, at);
  const first = await fetchPage(offset);
  if (first.incomplete) return { kind: 'split' };
  if (first.events === 0) return { kind: 'written', events: 0 };

  const partEnd = offset + plan.eventsPerPart;
  const gzip = createGzip({ level: 6 });
  const upload = uploadStream({
    s3: runtime.s3,
    destination: { bucket: plan.bucket, key: partKey(plan, window, part) },
    body: gzip,
    contentType: plan.format === 'json' ? 'application/x-ndjson' : 'text/csv',
    metadata: { source: 'xray', 'window-start': window.start, 'window-end': window.end, 'first-offset': String(offset) },
  });
  upload.catch(() => undefined); // observed below; this only keeps an early failure from going unhandled
  try {
    let events = 0;
    let page = first;
    let nextOffset: number | undefined;
    for (;;) {
      const more = page.nextOffset !== undefined && page.nextOffset < partEnd;
      // Fetch the next page while this one is compressed and uploaded.
      const prefetch = more ? fetchPage(page.nextOffset!) : undefined;
      prefetch?.catch(() => undefined);
      if (events === 0 && page.header) await write(gzip, page.header);
      await write(gzip, page.body);
      events += page.events;
      if (!prefetch) {
        nextOffset = page.nextOffset;
        break;
      }
      page = await prefetch;
      if (page.incomplete) throw new SplitNeeded();
      if (page.events === 0) break;
    }
    gzip.end();
    return { kind: 'written', events, nextOffset, object: await upload };
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
    const body = page.events.length ? Buffer.from(`${page.events.map((event) => event.line).join('\n')}\n`) : Buffer.alloc(0);
    const result: Page = { body, events: page.events.length, incomplete: false };
    if (page.nextOffset !== undefined) result.nextOffset = page.nextOffset;
    return result;
  }
  const page = await client.csvPage(query);
  const { header, rows, ids } = splitCsvPage(page.csv);
  const result: Page = { header, body: rows, events: ids.length, incomplete: page.fileName === CSV_INCOMPLETE_FILE };
  // The CSV format has no meta: a full page means there may be more.
  if (ids.length >= plan.pageSize) result.nextOffset = offset + ids.length;
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

/** Parts already written for a window that turned out to need splitting are superseded by its halves. */
async function deleteParts(runtime: XrayRuntime, plan: XrayExportPlan, window: TimeWindow, parts: number): Promise<void> {
  if (parts === 0) return;
  const keys = Array.from({ length: parts }, (_, part) => ({ Key: partKey(plan, window, part) }));
  for (let at = 0; at < keys.length; at += 1000) {
    await runtime.s3.send(new DeleteObjectsCommand({ Bucket: plan.bucket, Delete: { Objects: keys.slice(at, at + 1000), Quiet: true } }));
  }
}
