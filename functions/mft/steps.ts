import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { IntegrityError, InvalidInputError, MalformedResponseError } from '../common/errors.js';
import {
  ManifestListing,
  MANIFEST_VERSION,
  lastGeneration,
  manifestKey,
  readManifest,
  withShortAnswer,
  writeManifest,
  type Manifest,
  type ManifestObject,
} from '../common/manifest.js';
import { RecordCounter } from '../common/record-counter.js';
import { dayFolder } from '../common/s3-layout.js';
import { uploadStream } from '../common/s3-writer.js';
import type { TimeWindow } from '../common/time-window.js';
import type { SealedAccessToken } from './auth.js';
import { createReportBody, mftStreamFolder, reportLocation, type MftExportPlan } from './export-plan.js';
import type { ReportStatus } from './model.js';
import type { MftRuntime } from './runtime.js';
import { GridConflictError, gridConflictMessage } from '../common/window-grid.js';

/**
 * The MFT export, one function per state-machine step. Each takes the runtime (clients, clock,
 * settings) and the small state it needs, and returns the small state the next step needs.
 */

export interface CreatedReport {
  id: string;
  /** When we asked for it: the poll loop's maximum wait counts from here. */
  requestedAt: string;
}

export async function createReport(
  runtime: MftRuntime,
  plan: MftExportPlan,
  window: TimeWindow,
  auth: SealedAccessToken,
): Promise<CreatedReport> {
  const requestedAt = new Date(runtime.clock.now()).toISOString();
  const report = await runtime.auth.withToken(auth, (token) =>
    runtime.client.createReport(token, createReportBody(plan, window)),
  );
  return { id: report.id, requestedAt };
}

export interface PollResult {
  status: ReportStatus;
  size?: number;
  waitedSeconds: number;
  /** True once the report has been InProgress for longer than the plan's maximum wait. */
  timedOut: boolean;
  /** A sentence for the operator, used as the failure cause when the export ends here. */
  message: string;
}

export async function checkReport(
  runtime: MftRuntime,
  plan: MftExportPlan,
  auth: SealedAccessToken,
  report: CreatedReport,
): Promise<PollResult> {
  const current = await runtime.auth.withToken(auth, (token) => runtime.client.getReport(token, report.id));
  const waitedSeconds = Math.max(0, Math.round((runtime.clock.now() - Date.parse(report.requestedAt)) / 1000));
  const timedOut = current.status === 'InProgress' && waitedSeconds >= plan.maxWaitSeconds;
  const result: PollResult = { status: current.status, waitedSeconds, timedOut, message: '' };
  if (current.size !== undefined) result.size = current.size;
  if (current.status === 'Completed') {
    result.message = `Report ${report.id} completed after ${waitedSeconds} s (${current.size ?? 'unknown'} bytes)`;
  } else if (timedOut) {
    result.message =
      `Report ${report.id} was still in progress after ${waitedSeconds} s (maxWaitSeconds ${plan.maxWaitSeconds}); ` +
      'it was deleted. Export a smaller window, or raise maxWaitSeconds';
  } else if (current.status === 'Failed') {
    result.message =
      `The MFT server reports report ${report.id} as failed (status ${JSON.stringify(current.rawStatus)}); ` +
      'it was deleted. The next run retries the window';
  } else {
    result.message = `Report ${report.id} in progress for ${waitedSeconds} s`;
  }
  return result;
}

export interface CopiedReport {
  bucket: string;
  key: string;
  bytes: number;
  records: number;
  sha256: string;
  manifestKey: string;
  /** The generation this report was stored as. */
  generation: number;
  /** Whether the manifest names it as the window's current report. */
  current: boolean;
  /** It held fewer records than the current report: kept beside it, flagged, not current. */
  shortAnswer: boolean;
  /** It was byte for byte the current report: not stored a second time. */
  unchanged: boolean;
  /** What an operator must hear (logged as warnings). */
  warnings?: string[];
}

/**
 * Streams the completed report's file into S3, verifying its length, without ever holding it in memory;
 * then writes the window's manifest (last: its presence means the window is complete).
 *
 * Exports only grow: a window exported before keeps its reports. The new report is stored as the next
 * generation under its own key; it becomes current when it holds at least as many records as the current
 * one (the older one is listed under `supersedes`), and is kept but flagged as a short answer otherwise (the
 * vendor documents no ids, so records are all one can compare). A report identical to the current one adds
 * nothing and is not kept twice.
 */
export async function copyReportToS3(
  runtime: MftRuntime,
  plan: MftExportPlan,
  window: TimeWindow,
  auth: SealedAccessToken,
  report: CreatedReport,
  executionId?: string,
): Promise<CopiedReport> {
  if (plan.notAfter && Date.parse(window.end) > Date.parse(plan.notAfter)) {
    throw new InvalidInputError(`The window ${window.start} → ${window.end} is not over yet (${plan.notAfter} is now − lag): it is not exported`);
  }
  return runtime.auth.withToken(auth, async (token) => {
    // Read the report afresh: its presigned link is never kept in state (it is a credential), and may have expired.
    const current = await runtime.client.getReport(token, report.id);
    if (current.status !== 'Completed' || !current.url) {
      throw new MalformedResponseError(
        `Report ${report.id} has status ${JSON.stringify(current.rawStatus)} and ${current.url ? 'a' : 'no'} download url at copy time; expected Completed with a url`,
      );
    }
    // What the window holds already, read before the download is opened (an open download must be read at once).
    const { folder } = reportLocation(plan, window);
    const previous = await readManifest(runtime.s3, plan.bucket, manifestKey(folder));
    if (!previous) await refuseOtherGrids(runtime, plan, window, folder);
    const generation = previous ? lastGeneration(previous) + 1 : 1;
    const { key } = reportLocation(plan, window, generation);
    const download = await runtime.client.openDownload(current.url, token);
    if (download.contentLength !== undefined && current.size !== undefined && download.contentLength !== current.size) {
      download.body.destroy();
      throw new IntegrityError(
        `Report ${report.id} announces ${current.size} bytes but its download announces ${download.contentLength}`,
      );
    }
    const metadata: Record<string, string> = {
      source: 'mft',
      'report-id': report.id,
      'window-start': window.start,
      'window-end': window.end,
      'filters-id': plan.filtersId,
    };
    if (executionId) metadata['execution-id'] = executionId;
    const counter = new RecordCounter(plan.type === 'csv' ? 'csv' : 'json-array');
    const stored = await uploadStream({
      s3: runtime.s3,
      destination: { bucket: plan.bucket, key },
      body: download.body,
      contentType: plan.type === 'csv' ? 'text/csv' : 'application/json',
      expectedBytes: download.contentLength ?? current.size,
      idleTimeoutMs: 60_000,
      inspect: counter,
      metadata,
    });
    const object: ManifestObject = { key, bytes: stored.bytes, records: counter.records, sha256: stored.sha256, generation };
    const completedAt = new Date(runtime.clock.now()).toISOString();
    const result = { bucket: plan.bucket, key, bytes: object.bytes, records: object.records, sha256: object.sha256, generation };
    const currentObject = previous?.objects[0];
    if (previous && currentObject && currentObject.sha256 === object.sha256 && currentObject.bytes === object.bytes) {
      // The same report again: the window already holds exactly this.
      await runtime.s3.send(new DeleteObjectCommand({ Bucket: plan.bucket, Key: key }));
      return { ...result, key: currentObject.key, generation: currentObject.generation ?? 1, manifestKey: manifestKey(folder), current: true, shortAnswer: false, unchanged: true };
    }
    if (previous && object.records < previous.records) {
      const manifest = withShortAnswer(
        { ...previous, version: MANIFEST_VERSION },
        { at: completedAt, ...(executionId ? { executionId } : {}), vendorCount: null, records: object.records, stored: previous.records, objects: [object], generation },
      );
      const written = await writeManifest(runtime.s3, plan.bucket, folder, manifest);
      const warning =
        `Report ${report.id} for ${window.start} → ${window.end} holds ${object.records} records, fewer than the ${previous.records} ` +
        `stored: kept as ${key} (generation ${generation}), not current; the window keeps generation ${previous.generation}`;
      return { ...result, manifestKey: written, current: false, shortAnswer: true, unchanged: false, warnings: [warning] };
    }
    const manifest: Manifest = {
      version: MANIFEST_VERSION,
      source: 'mft',
      tenant: plan.tenant,
      filtersId: plan.filtersId,
      filters: { ...plan.filters, type: plan.type },
      format: plan.type,
      window,
      objects: [object],
      records: object.records,
      bytes: object.bytes,
      generation,
      vendorCount: null,
      supersedes: previous
        ? [
            ...previous.supersedes,
            { generation: previous.generation, objects: previous.objects, records: previous.records, completedAt: previous.completedAt, ...(previous.executionId ? { executionId: previous.executionId } : {}) },
          ]
        : [],
      shortAnswer: false,
      shortAnswers: previous?.shortAnswers ?? [],
      completedAt,
    };
    if (executionId) manifest.executionId = executionId;
    const written = await writeManifest(runtime.s3, plan.bucket, folder, manifest);
    return { ...result, manifestKey: written, current: true, shortAnswer: false, unchanged: false };
  });
}

/** No window is written over windows of another grid stored in the same stream: their events would be stored twice. */
async function refuseOtherGrids(runtime: MftRuntime, plan: MftExportPlan, window: TimeWindow, folder: string): Promise<void> {
  const day = dayFolder({ prefix: plan.prefix, source: 'mft', tenant: plan.tenant, filtersId: plan.filtersId, format: plan.type, window });
  const listing = new ManifestListing(runtime.s3, plan.bucket, mftStreamFolder(plan), day);
  const others = await listing.conflicts(folder, window);
  if (others.length) throw new GridConflictError(gridConflictMessage(window, others));
}

export interface DeletedReport {
  reportId: string;
  /** False when the report was already gone (a retried or repeated delete). */
  deleted: boolean;
}

export async function deleteReport(
  runtime: MftRuntime,
  auth: SealedAccessToken,
  report: Pick<CreatedReport, 'id'>,
): Promise<DeletedReport> {
  const deleted = await runtime.auth.withToken(auth, (token) => runtime.client.deleteReport(token, report.id));
  return { reportId: report.id, deleted };
}
