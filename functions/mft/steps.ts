import { IntegrityError, MalformedResponseError } from '../common/errors.js';
import { writeManifest, type Manifest } from '../common/manifest.js';
import { RecordCounter } from '../common/record-counter.js';
import { uploadStream } from '../common/s3-writer.js';
import type { TimeWindow } from '../common/time-window.js';
import type { SealedAccessToken } from './auth.js';
import { createReportBody, reportLocation, type MftExportPlan } from './export-plan.js';
import type { ReportStatus } from './model.js';
import type { MftRuntime } from './runtime.js';

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

export async function createReport(
  runtime: MftRuntime,
  plan: MftExportPlan,
  window: TimeWindow,
  auth: SealedAccessToken,
): Promise<CreatedReport | DeferredWindow> {
  if (plan.deadline && runtime.clock.now() > Date.parse(plan.deadline)) {
    return {
      deferred: true,
      message: `Window ${window.start} was not started: past ${plan.deadline} it could not finish within the execution timeout; the next run exports it`,
    };
  }
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
}

/**
 * Streams the completed report's file into S3, verifying its length, without ever holding it in memory;
 * then writes the window's manifest (last: its presence means the window is complete).
 */
export async function copyReportToS3(
  runtime: MftRuntime,
  plan: MftExportPlan,
  window: TimeWindow,
  auth: SealedAccessToken,
  report: CreatedReport,
  executionId?: string,
): Promise<CopiedReport> {
  return runtime.auth.withToken(auth, async (token) => {
    // Read the report afresh: its presigned link is never kept in state (it is a credential), and may have expired.
    const current = await runtime.client.getReport(token, report.id);
    if (current.status !== 'Completed' || !current.url) {
      throw new MalformedResponseError(
        `Report ${report.id} has status ${JSON.stringify(current.rawStatus)} and ${current.url ? 'a' : 'no'} download url at copy time; expected Completed with a url`,
      );
    }
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
    const { folder, key } = reportLocation(plan, window);
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
    const object = { key, bytes: stored.bytes, records: counter.records, sha256: stored.sha256 };
    const manifest: Manifest = {
      version: 1,
      source: 'mft',
      tenant: plan.tenant,
      filtersId: plan.filtersId,
      filters: { ...plan.filters, type: plan.type },
      format: plan.type,
      window,
      objects: [object],
      records: object.records,
      bytes: object.bytes,
      completedAt: new Date(runtime.clock.now()).toISOString(),
    };
    if (executionId) manifest.executionId = executionId;
    const manifestKey = await writeManifest(runtime.s3, plan.bucket, folder, manifest);
    return { bucket: plan.bucket, ...object, manifestKey };
  });
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
