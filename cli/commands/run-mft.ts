import { InvalidInputError, errorMessage } from '../../functions/common/errors.js';
import { parseInput } from '../../functions/common/validation.js';
import { mftExportInputSchema, type MftExportInput } from '../../functions/mft/model.js';
import { runSourceCommand, type ParsedValues } from '../run-target.js';
import { UsageError, parseInteger, TARGET_OPTIONS } from '../usage.js';

export const RUN_MFT_HELP = `Usage: audit-export run mft [options]

Exports Progress Automate MFT audit logs for one window into S3 by running the MFT state machine
(state-machines/mft-audit-export.asl.json) with its Lambda handlers.

Window (default: a scheduled run, continuing from the checkpoint; a first run takes the last 24 hours):
  --start ISO              window start, inclusive (e.g. 2026-11-24T00:00:00Z)
  --end ISO                window end, exclusive (default: the current minute)
  --lookback-hours N       a manual window of the last N hours
  A manual window is widened to whole grid windows (hours, by default): one report per grid window.

Report:
  --type json|csv          report format (default json)
  --actor TEXT             only events whose actor e-mail contains TEXT (at most 320 characters)
  --actor-type T           All | User | ApiKey
  --action A               Get | Create | Update | Delete (repeatable)
  --resource R             e.g. Task, Endpoint, User, Role, AuditLog (repeatable; see README for all)
  --outcome O              Success | Error (repeatable)
  --source-ip IP           only events from this IPv4 or IPv6 address
  --max-wait-seconds N     give up on a report still in progress after N s (default 900)

Where it runs (default: twin):
  --target twin            the local twin: emulated MFT API and a local S3 server under .twin/
  --target deployed        the twin running the synthesized stack in cdk.out (\`npm run synth\`): bundled Lambdas
  --target env             local runner, real endpoints from the environment (MFT_BASE_URL, EXPORT_BUCKET, ...)
  --target aws             start an execution of the deployed state machine (MFT_STATE_MACHINE_ARN)
  --instance NAME          which MFT instance, when there are several (MFT_STATE_MACHINE_ARNS with --target aws,
                           MFT_INSTANCES and NAME__MFT_… variables otherwise); default: the only one

Output:
  --json                   progress on stderr; the last stdout line is a JSON summary
  -h, --help               this help

Examples:
  audit-export run mft
  audit-export run mft --start 2026-11-01T00:00:00Z --end 2026-11-02T00:00:00Z --type csv
  audit-export run mft --actor-type User --action Delete --outcome Error --json

Exit codes: 0 exported, 1 the export failed, 2 bad arguments or configuration.`;

const OPTIONS = {
  start: { type: 'string' },
  end: { type: 'string' },
  'lookback-hours': { type: 'string' },
  type: { type: 'string' },
  actor: { type: 'string' },
  'actor-type': { type: 'string' },
  action: { type: 'string', multiple: true },
  resource: { type: 'string', multiple: true },
  outcome: { type: 'string', multiple: true },
  'source-ip': { type: 'string' },
  'max-wait-seconds': { type: 'string' },
  'poll-interval-seconds': { type: 'string' },
  ...TARGET_OPTIONS,
} as const;

export function runMftCommand(args: string[]): Promise<number> {
  return runSourceCommand('mft', args, OPTIONS, RUN_MFT_HELP, mftInputFromArgs);
}

/** Builds and validates the execution input; a bad value is a usage error (exit 2). */
export function mftInputFromArgs(values: ParsedValues): MftExportInput {
  const str = (name: string) => values[name] as string | undefined;
  const list = (name: string) => values[name] as string[] | undefined;
  const input: Record<string, unknown> = { type: str('type') ?? 'json' };
  const window = windowFromArgs(str('start'), str('end'), str('lookback-hours'));
  if (window) input.window = window;
  const filters: Record<string, unknown> = {};
  if (str('actor') !== undefined) filters.actor = str('actor');
  if (str('actor-type') !== undefined) filters.actorType = str('actor-type');
  if (list('action')) filters.actions = list('action');
  if (list('resource')) filters.resources = list('resource');
  if (list('outcome')) filters.outcomes = list('outcome');
  if (str('source-ip') !== undefined) filters.sourceIp = str('source-ip');
  input.filters = filters;
  const maxWait = parseInteger(str('max-wait-seconds'), '--max-wait-seconds', 1, 86_400);
  if (maxWait !== undefined) input.maxWaitSeconds = maxWait;
  const pollInterval = parseInteger(str('poll-interval-seconds'), '--poll-interval-seconds', 1, 300);
  if (pollInterval !== undefined) input.pollIntervalSeconds = pollInterval;
  try {
    const parsed = parseInput(mftExportInputSchema, input, 'arguments');
    if (parsed.window && !(Date.parse(parsed.window.start) < Date.parse(parsed.window.end))) {
      throw new InvalidInputError(`--start (${parsed.window.start}) must be earlier than --end (${parsed.window.end})`);
    }
    return input as MftExportInput;
  } catch (error) {
    throw new UsageError(cliWording(errorMessage(error)), 'see `audit-export run mft --help`');
  }
}

const MAX_LOOKBACK_HOURS = 24 * 366 * 10;

/**
 * A manual window from --start/--end/--lookback-hours; undefined (a scheduled run) when none is given.
 * Values are passed on as typed, so validation can name the flag that is wrong.
 */
export function windowFromArgs(start?: string, end?: string, lookback?: string): { start: string; end: string } | undefined {
  let hours: number | undefined;
  if (lookback !== undefined) {
    hours = Number(lookback);
    // At most ten years: beyond, the start is no instant the exporter can name, and the error would blame --start.
    if (!/^\d+(\.\d+)?$/.test(lookback.trim()) || !(hours > 0) || hours > MAX_LOOKBACK_HOURS) {
      throw new UsageError(`--lookback-hours must be a positive number of hours, at most ${MAX_LOOKBACK_HOURS} (got ${lookback})`);
    }
  }
  if (!start && !end && hours === undefined) return undefined;
  const endValue = end ?? new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
  const endMs = Date.parse(endValue);
  return {
    start: start ?? (Number.isNaN(endMs) ? endValue : new Date(endMs - (hours ?? 24) * 3_600_000).toISOString()),
    end: endValue,
  };
}

/** Speaks of flags, not of the input document's field names. */
function cliWording(message: string): string {
  return message
    .replace('Invalid arguments: ', '')
    .replace(/window\.start/g, '--start')
    .replace(/window\.end/g, '--end')
    .replace(/filters\.actorType/g, '--actor-type')
    .replace(/filters\.actions\.\d+/g, '--action')
    .replace(/filters\.resources\.\d+/g, '--resource')
    .replace(/filters\.outcomes\.\d+/g, '--outcome')
    .replace(/filters\.sourceIp/g, '--source-ip')
    .replace(/filters\.actor/g, '--actor')
    .replace(/^type:/, '--type:');
}
