import { z } from 'zod';
import { scrubbedMessage } from '../common/scrubber.js';
import { parseInput } from '../common/validation.js';
import { sealedAccessTokenSchema, type SealedAccessToken } from './auth.js';
import type { ListedReport } from './client.js';
import { REPORT_TYPES } from './model.js';
import { MFT_EXECUTION_TIMEOUT_MS, type MftRuntime } from './runtime.js';

/**
 * MFT housekeeping: deletes reports that interrupted runs left on the vendor server.
 *
 * The state machine deletes every report it knows of on every path, and every report id is recorded (in the
 * checkpoint table, report-registry.ts) the moment its create answer arrives and forgotten when the report is
 * deleted. What is still recorded after an execution ended was left behind (an execution stopped from
 * outside, a delete that failed for good): housekeeping deletes it first, whatever the vendor's list shows or
 * leaves out, once no running execution can own it any more.
 *
 * One case leaves no record: a create whose answer was lost (a reset or a truncated answer after the server
 * accepted it; the retried create makes a second report). Such a report is found only in the list, and only
 * where the list shows enough to tell it is ours. The API's report objects do not say who created them, so
 * "ours" is defined conservatively. An unrecorded listed report is ours and stale when all of these hold:
 * - its `type` is one the exporter asks for (JSON `0` or CSV `1`, as a number or a name);
 * - its window `[start, end)` is exactly one window of this deployment's grid: `end − start` is the grid
 *   size and `start` falls on the grid (the exporter never asks for anything else: manual runs and backfills
 *   are widened to whole grid windows and cut into one report each). A person's ad-hoc report of "the last
 *   24 hours" or of 10:17–11:17 is never touched;
 * - it was created more than `olderThanMs` ago (by the report's own `createdAt`).
 * A listed report that is not recorded and whose listing lacks `type`, `start`, `end` or `createdAt` is
 * unknown: it is left alone, and shown (`reports cleanup --dry-run` lists them) for a person to decide.
 *
 * The age limit (`olderThanMs`, for records by the time the create answer arrived) defaults to the MFT state
 * machine's TimeoutSeconds (2 h, and at least twice `maxWaitSeconds`), so no execution that may still be
 * running can own the report: one that a running execution polls or copies is never deleted under it.
 *
 * Deleting one of "ours" cannot lose data: the checkpoint only ever moves past a window whose objects and
 * manifest are in S3, so a window whose report is deleted here was either exported already (by another
 * report) or is exported again by the next run.
 */

export interface CleanupOptions {
  /** Only reports created longer ago than this (ms). Default: `defaultCleanupAgeMs(runtime)`. */
  olderThanMs?: number;
  /** An extra condition a report must meet to be deleted (after the conservative "ours" test). */
  match?: (report: { id: string }) => boolean;
  /** List and classify, delete nothing. */
  dryRun?: boolean;
}

export interface CleanupDecision {
  id: string;
  /** The status the list shows (empty when the report is recorded but not listed). */
  status: string;
  start?: string;
  end?: string;
  createdAt?: string;
  /** How it is known: recorded by this exporter, or only seen in the vendor's list. */
  knownFrom: 'record' | 'list';
  /** Why it is kept (absent for the ones deleted, or to be deleted in a dry run). */
  kept?: string;
}

export interface CleanupResult {
  /** Reports in the vendor's list (all pages). */
  listed: number;
  /** Reports this exporter has a record of. */
  recorded: number;
  /** Reports judged ours and stale (deleted, or to be deleted in a dry run): recorded ones first. */
  stale: CleanupDecision[];
  /** Ids actually deleted (empty in a dry run; a report already gone is not counted). */
  deleted: string[];
  /** Reports left alone, with the reason. */
  kept: CleanupDecision[];
  /** Listed reports that are not recorded and whose listing cannot show they are ours: left alone. */
  unknown: CleanupDecision[];
  /** Deletions that failed (the next housekeeping tries again). */
  failed: { id: string; error: string }[];
  /** Why the vendor's list could not be read (the recorded reports were handled all the same). */
  listError?: string;
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

/** The list fields an unrecorded report needs for the exporter to tell it is ours, that this listing lacks. */
export function missingListFields(report: ListedReport): string[] {
  const missing: string[] = [];
  if (report.type === undefined) missing.push('type');
  if (!report.start || !report.end) missing.push('window');
  if (!report.createdAt) missing.push('createdAt');
  return missing;
}

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
  return tooYoung(report.createdAt, options);
}

function tooYoung(createdAt: string, options: { olderThanMs: number; nowMs: number }): string | undefined {
  const age = options.nowMs - Date.parse(createdAt);
  if (age > options.olderThanMs) return undefined;
  return `created ${Math.max(0, Math.round(age / 60_000))} min ago, not more than ${Math.round(options.olderThanMs / 60_000)} min`;
}

export async function cleanupReports(
  runtime: MftRuntime,
  auth: SealedAccessToken,
  options: CleanupOptions = {},
): Promise<CleanupResult> {
  const olderThanMs = options.olderThanMs ?? defaultCleanupAgeMs(runtime);
  const dryRun = options.dryRun ?? false;
  const tenant = runtime.settings.tenantId;
  const records = runtime.reports ? await runtime.reports.list(tenant) : [];
  let reports: ListedReport[] = [];
  let listError: string | undefined;
  try {
    reports = await runtime.auth.withToken(auth, (token) => runtime.client.listReports(token));
  } catch (error) {
    listError = scrubbedMessage(error);
  }
  const nowMs = runtime.clock.now();
  const result: CleanupResult = {
    listed: reports.length,
    recorded: records.length,
    stale: [],
    deleted: [],
    kept: [],
    unknown: [],
    failed: [],
    olderThanMs,
    dryRun,
  };
  if (listError) result.listError = listError;
  const listed = new Map(reports.map((report) => [report.id, report]));

  const remove = async (decision: CleanupDecision, recorded: boolean) => {
    result.stale.push(decision);
    if (dryRun) return;
    try {
      const deleted = await runtime.auth.withToken(auth, (token) => runtime.client.deleteReport(token, decision.id));
      if (deleted) result.deleted.push(decision.id);
      // Deleted now or gone before: either way nothing is left to find.
      if (recorded) await runtime.reports?.forget(tenant, decision.id);
    } catch (error) {
      result.failed.push({ id: decision.id, error: scrubbedMessage(error) });
    }
  };

  // What we know first: every recorded report, listed or not.
  for (const record of records) {
    const decision: CleanupDecision = { id: record.id, status: listed.get(record.id)?.rawStatus ?? '', createdAt: record.createdAt, knownFrom: 'record' };
    if (record.window) Object.assign(decision, record.window);
    const reason = tooYoung(record.createdAt, { olderThanMs, nowMs }) ?? (options.match && !options.match(record) ? 'not selected' : undefined);
    if (reason) result.kept.push({ ...decision, kept: `recorded, ${reason}` });
    else await remove(decision, true);
  }

  // Then what only the list shows: ours only where its fields prove it.
  const recordedIds = new Set(records.map((record) => record.id));
  for (const report of reports) {
    if (recordedIds.has(report.id)) continue;
    const decision: CleanupDecision = { id: report.id, status: report.rawStatus, knownFrom: 'list' };
    if (report.start) decision.start = report.start;
    if (report.end) decision.end = report.end;
    if (report.createdAt) decision.createdAt = report.createdAt;
    const missing = missingListFields(report);
    if (missing.length) {
      result.unknown.push({ ...decision, kept: `not recorded by this exporter, and the list shows no ${missing.join(', ')}: cannot tell whose it is` });
      continue;
    }
    const reason =
      whyKept(report, { gridMs: runtime.settings.schedule.gridMs, olderThanMs, nowMs }) ??
      (options.match && !options.match(report) ? 'not selected' : undefined);
    if (reason) result.kept.push({ ...decision, kept: reason });
    else await remove(decision, false);
  }
  return result;
}

/** What the state machine keeps of a housekeeping pass: counts and a few ids (state stays small). */
export interface HousekeepingSummary {
  listed: number;
  recorded: number;
  deleted: number;
  kept: number;
  unknown: number;
  failed: number;
  deletedIds: string[];
  warnings?: string[];
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
    const summary: HousekeepingSummary = {
      listed: result.listed,
      recorded: result.recorded,
      deleted: result.deleted.length,
      kept: result.kept.length,
      unknown: result.unknown.length,
      failed: result.failed.length,
      deletedIds: result.deleted.slice(0, 20),
    };
    const warnings: string[] = [];
    if (result.listError) warnings.push(`The MFT report list could not be read (${result.listError}); only recorded reports were cleaned up`);
    if (result.unknown.length) {
      warnings.push(
        `${result.unknown.length} report(s) on the MFT server are not recorded and the list does not show whose they are ` +
          `(e.g. ${result.unknown.slice(0, 3).map((report) => report.id).join(', ')}): left alone; see \`audit-export reports cleanup --dry-run\``,
      );
    }
    if (warnings.length) summary.warnings = warnings;
    return summary;
  };
}

