import path from 'node:path';
import { cleanupReports, defaultCleanupAgeMs, type CleanupResult } from '../../functions/mft/housekeeping.js';
import type { ListedReport } from '../../functions/mft/client.js';
import { mftRuntimeFromEnvironment, type MftRuntime } from '../../functions/mft/runtime.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { chooseInstance } from '../instances.js';
import { twinInstances } from '../run-target.js';
import { EXIT_FAILED, EXIT_OK, UsageError, createOutput, parseCommandArgs, parseInteger, TARGET_OPTIONS } from '../usage.js';

export const REPORTS_HELP = `Usage: audit-export reports list [options]
       audit-export reports cleanup [--older-than-minutes N] [--dry-run] [options]

MFT reports on the vendor server. Every export deletes the reports it creates, on every path, and records
each one (CHECKPOINT_TABLE) from the moment the vendor answers its create until it is deleted. \`cleanup\`
deletes what this exporter left behind, created more than N minutes ago (default: the state machine's
timeout, 120 min, or twice MFT_MAX_WAIT_SECONDS if longer, so a running export never loses its report):
first every recorded report, whatever the list shows; then listed reports without a record (a create whose
answer was lost) when the list shows they are ours: JSON or CSV, a window that is exactly one window of the
export grid (MFT_WINDOW_MINUTES). Other reports (e.g. one a person made in the MFT console) are kept, with
the reason; listed reports that are not recorded and whose listing does not show type, window and creation
time are "unknown": left alone, and shown, for a person to decide.

Options:
  --older-than-minutes N   only reports created more than N minutes ago (cleanup)
  --dry-run                show what cleanup would delete, delete nothing
  --target twin|env        twin (default): a fresh local twin (its server starts empty);
                           env: the MFT API configured by MFT_BASE_URL, MFT_CREDENTIALS_SECRET_ID or
                           MFT_TENANT_ID + MFT_KID + MFT_PRIVATE_KEY_FILE, TOKEN_SEALING_*, EXPORT_BUCKET
  --instance NAME          which MFT instance (MFT_INSTANCES, NAME__MFT_… variables); default: the only one
  --json                   the result as one JSON line on stdout
  -h, --help               this help

Examples:
  audit-export reports list --target env
  audit-export reports cleanup --target env --dry-run
  audit-export reports cleanup --target env --older-than-minutes 180 --json

Exit codes: 0 ok, 1 a report could not be listed or deleted, 2 bad arguments or configuration.`;

const OPTIONS = {
  'older-than-minutes': { type: 'string' },
  'dry-run': { type: 'boolean' },
  ...TARGET_OPTIONS,
} as const;

/** `audit-export reports list|cleanup`. */
export async function reportsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, 'reports');
  if (values.help) {
    process.stdout.write(`${REPORTS_HELP}\n`);
    return EXIT_OK;
  }
  const action = positionals[0];
  if (action !== 'list' && action !== 'cleanup') {
    throw new UsageError(
      action === undefined ? 'say what to do: reports list, or reports cleanup' : `unknown reports action "${action}" (list or cleanup)`,
      'see `audit-export reports --help`',
    );
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`, 'see `audit-export reports --help`');
  const target = values.target ?? (process.env.AUDIT_EXPORT_TARGET || 'twin');
  if (target === 'aws') {
    throw new UsageError('reports talks to the MFT API directly: use --target env (with the same settings as the Lambdas) or twin');
  }
  if (target !== 'twin' && target !== 'env') throw new UsageError(`--target must be twin or env (got ${JSON.stringify(target)})`);
  const olderThanMinutes = parseInteger(values['older-than-minutes'], '--older-than-minutes', 0, 525_600);
  if (action === 'list' && (olderThanMinutes !== undefined || values['dry-run'])) {
    throw new UsageError('--older-than-minutes and --dry-run belong to reports cleanup');
  }
  const instance = chooseInstance('mft', target, values.instance);
  const output = createOutput(values.json ?? false);

  let twin: Twin | undefined;
  try {
    let runtime: MftRuntime;
    if (target === 'twin') {
      output.info('starting the local twin (MFT emulator, local S3)…');
      twin = await startTwin({ directory: values['twin-dir'] ?? path.resolve('.twin'), xray: false, ...twinInstances('mft', instance) });
      runtime = twin.mftRuntime({}, instance.named ? instance.name : undefined);
    } else {
      runtime = await mftRuntimeFromEnvironment(instance.env);
    }
    const auth = await runtime.auth.issue();

    if (action === 'list') {
      const reports = await runtime.auth.withToken(auth, (token) => runtime.client.listReports(token));
      const recorded = new Set((await runtime.reports?.list(runtime.settings.tenantId))?.map((record) => record.id) ?? []);
      if (output.json) output.result({ reports: reports.map((report) => ({ ...describeListed(report), recorded: recorded.has(report.id) })) });
      else {
        output.info(`${reports.length} report(s) on ${runtime.client.baseUrl}`);
        for (const report of reports) output.info(`${formatListed(report)}${recorded.has(report.id) ? '  (recorded by this exporter)' : ''}`);
      }
      return EXIT_OK;
    }

    const olderThanMs = olderThanMinutes === undefined ? defaultCleanupAgeMs(runtime) : olderThanMinutes * 60_000;
    const result = await cleanupReports(runtime, auth, { olderThanMs, dryRun: values['dry-run'] ?? false });
    if (output.json) output.result(result);
    else for (const line of formatCleanup(result)) output.info(line);
    return result.failed.length || result.listError ? EXIT_FAILED : EXIT_OK;
  } finally {
    await twin?.close();
  }
}

function describeListed(report: ListedReport) {
  const { id, rawStatus, type, start, end, createdAt, size } = report;
  return { id, status: rawStatus, type, start, end, createdAt, size };
}

function formatListed(report: ListedReport): string {
  const window = report.start && report.end ? `${report.start} → ${report.end}` : '(window not shown)';
  return `  ${report.id}  ${report.rawStatus}  ${window}  created ${report.createdAt ?? '?'}`;
}

export function formatCleanup(result: CleanupResult): string[] {
  const lines = [
    `${result.listed} report(s) listed, ${result.recorded} recorded; ${result.stale.length} left behind by this exporter (older than ${Math.round(result.olderThanMs / 60_000)} min)` +
      (result.dryRun ? ': dry run, nothing deleted' : `: ${result.deleted.length} deleted`),
  ];
  if (result.listError) lines.push(`  ✗ the report list could not be read (${result.listError}); only recorded reports were handled`);
  for (const report of result.stale) {
    if (result.failed.some((failure) => failure.id === report.id)) continue;
    const verb = result.dryRun ? 'would delete' : result.deleted.includes(report.id) ? 'deleted' : 'already gone';
    const window = report.start && report.end ? `${report.start} → ${report.end}` : 'window not shown';
    lines.push(`  ${verb} ${report.id} (${report.knownFrom === 'record' ? 'recorded' : 'from the list'}, ${window}, created ${report.createdAt ?? '?'})`);
  }
  for (const failure of result.failed) lines.push(`  ✗ could not delete ${failure.id}: ${failure.error}`);
  for (const report of result.kept) lines.push(`  kept ${report.id}: ${report.kept}`);
  for (const report of result.unknown) lines.push(`  unknown ${report.id} (status ${JSON.stringify(report.status)}): ${report.kept}`);
  return lines;
}
