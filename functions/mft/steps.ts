import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { InvalidInputError, MalformedResponseError, TransientError } from '../common/errors.js';
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
import { scrub, scrubbedMessage } from '../common/scrubber.js';
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

/** A scheduled run's window not started before the plan's deadline: the next run exports it. */
export interface DeferredWindow {
  deferred: true;
  message: string;
}

/** The CreateReport step: a report for the window, unless the window is deferred (see windowDeferral). */
export async function startWindow(
  runtime: MftRuntime,
  plan: MftExportPlan,
  window: TimeWindow,
  auth: SealedAccessToken,
  executionId?: string,
): Promise<CreatedReport | DeferredWindow> {
  return windowDeferral(runtime, plan, window) ?? createReport(runtime, plan, window, auth, executionId);
}

/**
 * Past the plan's deadline a window is not started: it could not finish within the execution timeout. The
 * windows before `deadlineFrom` (the first Map round) always start, so every scheduled run makes progress.
 */
export function windowDeferral(runtime: MftRuntime, plan: MftExportPlan, window: TimeWindow): DeferredWindow | undefined {
  if (!plan.deadline || runtime.clock.now() <= Date.parse(plan.deadline)) return undefined;
  if (plan.deadlineFrom && Date.parse(window.start) < Date.parse(plan.deadlineFrom)) return undefined;
  return {
    deferred: true,
    message: `Window ${window.start} was not started: past ${plan.deadline} it could not finish within the execution timeout; the next run exports it`,
  };
}

export async function createReport(
  runtime: MftRuntime,
  plan: MftExportPlan,
  window: TimeWindow,
  auth: SealedAccessToken,
  executionId?: string,
): Promise<CreatedReport> {
  const requestedAt = new Date(runtime.clock.now()).toISOString();
  const report = await runtime.auth.withToken(auth, (token) =>
    runtime.client.createReport(token, createReportBody(plan, window)),
  );
  // Recorded the moment the answer arrives: from here on housekeeping can find it, whatever happens to this execution.
  if (runtime.reports) {
    const record = { id: report.id, createdAt: new Date(runtime.clock.now()).toISOString(), window, type: plan.type, ...(executionId ? { executionId } : {}) };
    try {
      await runtime.reports.record(runtime.settings.tenantId, record);
    } catch (error) {
      // Unrecorded, it could outlive a failure of this execution unseen: delete it now; the retried step creates another.
      const deleted = await runtime.auth.withToken(auth, (token) => runtime.client.deleteReport(token, report.id)).then(
        () => 'it was deleted again',
        () => 'deleting it failed too (housekeeping finds it in the list only if the list shows its window)',
      );
      throw new TransientError(`Report ${report.id} was created but could not be recorded (${scrubbedMessage(error)}); ${deleted}`);
    }
  }
  return { id: report.id, requestedAt };
}

export interface PollResult {
  /** What the state machine branches on: a status the exporter does not recognize polls on, as InProgress. */
  status: ReportStatus;
  /** The vendor's status, when the exporter does not recognize it. */
  vendorStatus?: string;
  size?: number;
  waitedSeconds: number;
  /** True once the report has been InProgress for longer than the plan's maximum wait. */
  timedOut: boolean;
  /** A sentence for the operator, used as the failure cause when the export ends here. */
  message: string;
  /** What surprised the exporter (logged once per step by the handler's wrapper). */
  warnings?: string[];
}

/** Reports warned about in this container (without a registry, or when it cannot be reached). */
const warnedReports = new Set<string>();

export async function checkReport(
  runtime: MftRuntime,
  plan: MftExportPlan,
  auth: SealedAccessToken,
  report: CreatedReport,
): Promise<PollResult> {
  const current = await runtime.auth.withToken(auth, (token) => runtime.client.getReport(token, report.id));
  const waitedSeconds = Math.max(0, Math.round((runtime.clock.now() - Date.parse(report.requestedAt)) / 1000));
  const unrecognized = current.status === 'Unrecognized';
  const status: ReportStatus = unrecognized ? 'InProgress' : (current.status as ReportStatus);
  const timedOut = status === 'InProgress' && waitedSeconds >= plan.maxWaitSeconds;
  const result: PollResult = { status, waitedSeconds, timedOut, message: '' };
  if (current.size !== undefined) result.size = current.size;
  // The vendor's words go into state and logs: scrubbed like any vendor answer.
  const shown = scrub(JSON.stringify(current.rawStatus));
  if (unrecognized) {
    result.vendorStatus = current.rawStatus;
    if (await firstWarning(runtime, report.id, current.rawStatus)) {
      result.warnings = [
        `Report ${report.id} has status ${shown}, which the exporter does not recognize (it knows InProgress/0, Completed/1 and failure words): ` +
          `it keeps polling until maxWaitSeconds (${plan.maxWaitSeconds} s), then deletes the report and the next run retries the window`,
      ];
    }
  }
  if (current.status === 'Completed') {
    result.message = `Report ${report.id} completed after ${waitedSeconds} s (size ${current.size ?? 'not shown'})`;
  } else if (timedOut) {
    result.message =
      `Report ${report.id} was still ${unrecognized ? `at status ${shown} (not one the exporter recognizes)` : 'in progress'} after ${waitedSeconds} s ` +
      `(maxWaitSeconds ${plan.maxWaitSeconds}); it was deleted and the next run retries the window. Export a smaller window, or raise maxWaitSeconds`;
  } else if (current.status === 'Failed') {
    result.message =
      `The MFT server reports report ${report.id} as failed (status ${shown}); ` +
      'it was deleted. The next run retries the window';
  } else {
    result.message = `Report ${report.id} in progress for ${waitedSeconds} s${unrecognized ? ` (status ${shown})` : ''}`;
  }
  return result;
}

/** True the first time a report's unrecognized status is seen (per report, across containers when records are kept). */
async function firstWarning(runtime: MftRuntime, id: string, status: string): Promise<boolean> {
  const local = !warnedReports.has(id);
  warnedReports.add(id);
  if (!runtime.reports || !local) return local;
  return runtime.reports.markUnrecognizedStatus(runtime.settings.tenantId, id, status).catch(() => true);
}

export interface CopiedReport {
  bucket: string;
  key: string;
  /** The bytes received (decoded, when the download was encoded): what is stored. */
  bytes: number;
  records: number;
  sha256: string;
  manifestKey: string;
  /** The report's `size` as the vendor shows it (information: its unit is not documented). */
  vendorSize?: number;
  /** The Content-Encoding the download arrived in (and was decoded from). */
  contentEncoding?: string;
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
    const warnings: string[] = [];
    if (download.contentEncoding) {
      warnings.push(
        `Report ${report.id} arrived with Content-Encoding ${download.contentEncoding}: decoded, and the decoded report is stored (its Content-Length counts encoded bytes, so it is not checked)`,
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
    if (current.size !== undefined) metadata['vendor-size'] = String(current.size);
    if (download.contentEncoding) metadata['download-encoding'] = download.contentEncoding;
    const counter = new RecordCounter(plan.type === 'csv' ? 'csv' : 'json-array');
    const stored = await uploadStream({
      s3: runtime.s3,
      destination: { bucket: plan.bucket, key },
      body: download.body,
      contentType: plan.type === 'csv' ? 'text/csv' : 'application/json',
      // Integrity from Content-Length when the storage sends it, and from the bytes received; `size` is not a length.
      expectedBytes: download.contentLength,
      idleTimeoutMs: 60_000,
      inspect: counter,
      metadata,
    });
    const object: ManifestObject = { key, bytes: stored.bytes, records: counter.records, sha256: stored.sha256, generation };
    if (current.size !== undefined) object.vendorSize = current.size;
    if (download.contentEncoding) object.contentEncoding = download.contentEncoding;
    if (current.size !== undefined && current.size !== stored.bytes) {
      warnings.push(
        `Report ${report.id} shows size ${current.size} but ${stored.bytes} bytes were received and stored; size is kept as information (no public page gives its unit)`,
      );
    }
    const completedAt = new Date(runtime.clock.now()).toISOString();
    const copied = (fields: Pick<CopiedReport, 'key' | 'generation' | 'manifestKey' | 'current' | 'shortAnswer' | 'unchanged'>): CopiedReport => {
      const result: CopiedReport = { bucket: plan.bucket, bytes: object.bytes, records: object.records, sha256: object.sha256, ...fields };
      if (current.size !== undefined) result.vendorSize = current.size;
      if (download.contentEncoding) result.contentEncoding = download.contentEncoding;
      if (warnings.length) result.warnings = warnings;
      return result;
    };
    const currentObject = previous?.objects[0];
    if (previous && currentObject && currentObject.sha256 === object.sha256 && currentObject.bytes === object.bytes) {
      // The same report again: the window already holds exactly this.
      await runtime.s3.send(new DeleteObjectCommand({ Bucket: plan.bucket, Key: key }));
      return copied({ key: currentObject.key, generation: currentObject.generation ?? 1, manifestKey: manifestKey(folder), current: true, shortAnswer: false, unchanged: true });
    }
    if (previous && object.records < previous.records) {
      warnings.push(
        `Report ${report.id} for ${window.start} → ${window.end} holds ${object.records} records, fewer than the ${previous.records} ` +
          `stored: kept as ${key} (generation ${generation}), not current; the window keeps generation ${previous.generation}`,
      );
      const manifest = withShortAnswer(
        { ...previous, version: MANIFEST_VERSION, warnings },
        { at: completedAt, ...(executionId ? { executionId } : {}), vendorCount: null, records: object.records, stored: previous.records, objects: [object], generation },
      );
      const written = await writeManifest(runtime.s3, plan.bucket, folder, manifest);
      return copied({ key, generation, manifestKey: written, current: false, shortAnswer: true, unchanged: false });
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
    if (warnings.length) manifest.warnings = warnings;
    const written = await writeManifest(runtime.s3, plan.bucket, folder, manifest);
    return copied({ key, generation, manifestKey: written, current: true, shortAnswer: false, unchanged: false });
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
  warnings?: string[];
}

export async function deleteReport(
  runtime: MftRuntime,
  auth: SealedAccessToken,
  report: Pick<CreatedReport, 'id'>,
): Promise<DeletedReport> {
  const deleted = await runtime.auth.withToken(auth, (token) => runtime.client.deleteReport(token, report.id));
  const result: DeletedReport = { reportId: report.id, deleted };
  // Gone from the server (now, or before): forgotten. A record that cannot be removed only makes housekeeping look again.
  await runtime.reports?.forget(runtime.settings.tenantId, report.id).catch((error: unknown) => {
    result.warnings = [`Report ${report.id} is deleted, but its record could not be removed (${scrubbedMessage(error)}); housekeeping removes it`];
  });
  return result;
}
