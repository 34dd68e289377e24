import { errorMessage } from '../../functions/common/errors.js';
import { parseInput } from '../../functions/common/validation.js';
import { xrayExportInputSchema, type XrayExportInput } from '../../functions/xray/model.js';
import { runSourceCommand, type ParsedValues } from '../run-target.js';
import { windowFromArgs } from './run-mft.js';
import { UsageError, TARGET_OPTIONS } from '../usage.js';

export const RUN_XRAY_HELP = `Usage: audit-export run xray [options]

Exports JFrog Xray Curation audit events (approved/blocked packages) for [start, end) into S3 by
running the Xray state machine (state-machines/xray-audit-export.asl.json): the range is cut into
windows, and each window is paged with order_by=id, direction=asc, num_of_rows=2000.

Range (default: a scheduled run, continuing from the checkpoint; a first run takes the last 24 hours):
  --start ISO              range start, inclusive (e.g. 2026-10-01T00:00:00Z)
  --end ISO                range end, exclusive (default: the current minute)
  --lookback-hours N       a manual range of the last N hours
  The range is widened to whole grid windows (hours, by default), each with its own manifest.

Events:
  --format json|csv        json: gzip NDJSON, one event per line; csv: the vendor's CSV, gzip (default json)
  --dry-run                export the Dry Run tab (one event per dry-run policy), stored apart

Where it runs (default: twin):
  --target twin|deployed|env|aws  as for \`audit-export run mft\` (env reads XRAY_BASE_URL, XRAY_ACCESS_TOKEN, EXPORT_BUCKET, ...)
  --instance NAME          which Xray instance, as for \`audit-export run mft\` (XRAY_STATE_MACHINE_ARNS, XRAY_INSTANCES)

Output:
  --json                   progress on stderr; the last stdout line is a JSON summary
  -h, --help               this help

Examples:
  audit-export run xray
  audit-export run xray --start 2026-10-01T00:00:00Z --end 2026-10-31T00:00:00Z --format csv
  audit-export run xray --dry-run --json

Exit codes: 0 exported, 1 the export failed, 2 bad arguments or configuration.`;

const OPTIONS = {
  start: { type: 'string' },
  end: { type: 'string' },
  'lookback-hours': { type: 'string' },
  format: { type: 'string' },
  'dry-run': { type: 'boolean' },
  ...TARGET_OPTIONS,
} as const;

export function runXrayCommand(args: string[]): Promise<number> {
  return runSourceCommand('xray', args, OPTIONS, RUN_XRAY_HELP, xrayInputFromArgs);
}

export function xrayInputFromArgs(values: ParsedValues): XrayExportInput {
  const input: Record<string, unknown> = { format: values.format ?? 'json', dryRun: values['dry-run'] ?? false };
  const window = windowFromArgs(
    values.start as string | undefined,
    values.end as string | undefined,
    values['lookback-hours'] as string | undefined,
  );
  if (window) input.window = window;
  try {
    const parsed = parseInput(xrayExportInputSchema, input, 'arguments');
    if (parsed.window && !(Date.parse(parsed.window.start) < Date.parse(parsed.window.end))) {
      throw new UsageError(`--start (${parsed.window.start}) must be earlier than --end (${parsed.window.end})`);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const message = errorMessage(error)
      .replace('Invalid arguments: ', '')
      .replace(/window\.start/g, '--start')
      .replace(/window\.end/g, '--end')
      .replace(/^format:/, '--format:');
    throw new UsageError(message, 'see `audit-export run xray --help`');
  }
  return input as XrayExportInput;
}
