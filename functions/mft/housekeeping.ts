import { z } from 'zod';
import { errorMessage } from '../common/errors.js';
import { parseInput } from '../common/validation.js';
import { sealedAccessTokenSchema, type SealedAccessToken } from './auth.js';
import type { ListedReport } from './client.js';
import { REPORT_TYPES } from './model.js';
import { MFT_EXECUTION_TIMEOUT_MS, type MftRuntime } from './runtime.js';

/**
 * MFT housekeeping: deletes reports that interrupted runs left on the vendor server.
 *
 * The state machine deletes every report it knows of on every path. It cannot delete one it never learnt
 * the id of: a create whose reply was lost (a reset or a truncated answer after the server accepted it; the
 * retried create makes a second report), or an execution stopped from outside between CreateReport and
 * DeleteReport. Those are found by listing the tenant's reports.
 *
 * The API's report objects do not say who created them, so "ours" is defined conservatively. A report is
 * ours and stale when all of these hold:
 * - its `type` is one the exporter asks for (JSON `0` or CSV `1`, as a number or a name);
 * - its window `[start, end)` is exactly one window of this deployment's grid: `end − start` is the grid
 *   size and `start` falls on the grid (the exporter never asks for anything else: manual runs and backfills
 *   are widened to whole grid windows and cut into one report each). A person's ad-hoc report of "the last
 *   24 hours" or of 10:17–11:17 is never touched;
 * - it was created more than `olderThanMs` ago (by the report's own `createdAt`); the default is the MFT
 *   state machine's TimeoutSeconds (2 h, and at least twice `maxWaitSeconds`), so no execution that may still
 *   be running can own it: a report that a running execution polls or copies is never deleted under it;
 * - and `match`, when given, accepts it (e.g. a CLI filter on ids).
 * A report without `createdAt`, `start` or `end` in the listing is kept: it cannot be shown to be ours.
 *
 * Deleting one of "ours" cannot lose data: the checkpoint only ever moves past a window whose objects and
 * manifest are in S3, so a window whose report is deleted here was either exported already (by another
 * report) or is exported again by the next run.
 */

export interface CleanupOptions {
  /** Only reports created longer ago than this (ms). Default: `defaultCleanupAgeMs(runtime)`. */
  olderThanMs?: number;
  /** An extra condition a report must meet to be deleted (after the conservative "ours" test). */
  match?: (report: ListedReport) => boolean;
  /** List and classify, delete nothing. */
  dryRun?: boolean;
}

export interface CleanupDecision {
  id: string;
  status: string;
  start?: string;
  end?: string;
  createdAt?: string;
  /** Why it is kept (absent for the ones deleted, or to be deleted in a dry run). */
  kept?: string;
}

export interface CleanupResult {
  listed: number;
  /** Reports judged ours and stale (deleted, or to be deleted in a dry run). */
  stale: CleanupDecision[];
  /** Ids actually deleted (empty in a dry run; a report already gone is not counted). */
  deleted: string[];
  /** Reports left alone, with the reason. */
  kept: CleanupDecision[];
  /** Deletions that failed (the next housekeeping tries again). */
  failed: { id: string; error: string }[];
  olderThanMs: number;
  dryRun: boolean;
}

/** No running execution can be older than its state machine's timeout; and never less than 2 × maxWait. */
export function defaultCleanupAgeMs(runtime: Pick<MftRuntime, 'settings'>): number {
  return Math.max(MFT_EXECUTION_TIMEOUT_MS, 2 * runtime.settings.maxWaitSeconds * 1000);
}

const OUR_TYPES = new Set<string>([
  ...Object.values(REPORT_TYPES).map(String),
  ...Object.keys(REPORT_TYPES).map((name) => name.toLowerCase()),
]);

/** Why `report` is not ours-and-stale, or undefined when it is. Pure. */
export function whyKept(report: ListedReport, options: { gridMs: number; olderThanMs: number; nowMs: number }): string | undefined {
  if (report.type === undefined || !OUR_TYPES.has(String(report.type).toLowerCase())) {
    return `type ${JSON.stringify(report.type ?? null)} is not one the exporter creates`;
  }
  if (!report.start || !report.end) return 'the listing does not show its window';
  const start = Date.parse(report.start);
  const end = Date.parse(report.end);
  if (end - start !== options.gridMs || start % options.gridMs !== 0) {
    return `its window ${report.start} → ${report.end} is not one window of the ${options.gridMs / 60_000}-minute grid`;
  }
  if (!report.createdAt) return 'the listing does not say when it was created';
  const age = options.nowMs - Date.parse(report.createdAt);
  if (!(age > options.olderThanMs)) {
    return `created ${Math.max(0, Math.round(age / 60_000))} min ago, not more than ${Math.round(options.olderThanMs / 60_000)} min`;
  }
  return undefined;
}

export async function cleanupReports(
  runtime: MftRuntime,
  auth: SealedAccessToken,
  options: CleanupOptions = {},
): Promise<CleanupResult> {
  const olderThanMs = options.olderThanMs ?? defaultCleanupAgeMs(runtime);
  const dryRun = options.dryRun ?? false;
  const reports = await runtime.auth.withToken(auth, (token) => runtime.client.listReports(token));
  const nowMs = runtime.clock.now();
  const result: CleanupResult = { listed: reports.length, stale: [], deleted: [], kept: [], failed: [], olderThanMs, dryRun };
  for (const report of reports) {
    const decision: CleanupDecision = { id: report.id, status: report.rawStatus };
    if (report.start) decision.start = report.start;
    if (report.end) decision.end = report.end;
    if (report.createdAt) decision.createdAt = report.createdAt;
    const reason =
      whyKept(report, { gridMs: runtime.settings.schedule.gridMs, olderThanMs, nowMs }) ??
      (options.match && !options.match(report) ? 'not selected' : undefined);
    if (reason) {
      result.kept.push({ ...decision, kept: reason });
      continue;
    }
    result.stale.push(decision);
    if (dryRun) continue;
    try {
      const deleted = await runtime.auth.withToken(auth, (token) => runtime.client.deleteReport(token, report.id));
      if (deleted) result.deleted.push(report.id);
    } catch (error) {
      result.failed.push({ id: report.id, error: errorMessage(error) });
    }
  }
  return result;
}

/** What the state machine keeps of a housekeeping pass: counts and a few ids (state stays small). */
export interface HousekeepingSummary {
  listed: number;
  deleted: number;
  kept: number;
  failed: number;
  deletedIds: string[];
}

const housekeepingInputSchema = z.object({ auth: sealedAccessTokenSchema }).passthrough();

/**
 * The `Housekeeping` Task of the MFT state machine (`${HousekeepingFunctionArn}`): input `{ auth }` (the
 * sealed token from IssueToken), output a small summary. Deletion failures are reported, not thrown.
 */
export function createHousekeepingHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown): Promise<HousekeepingSummary> => {
    const { auth } = parseInput(housekeepingInputSchema, event, 'Housekeeping input');
    const result = await cleanupReports(await runtime(), auth);
    return {
      listed: result.listed,
      deleted: result.deleted.length,
      kept: result.kept.length,
      failed: result.failed.length,
      deletedIds: result.deleted.slice(0, 20),
    };
  };
}

