import path from 'node:path';
import { InvalidInputError, errorMessage } from '../../functions/common/errors.js';
import { parseInput } from '../../functions/common/validation.js';
import { mftExportInputSchema, type MftExportInput } from '../../functions/mft/model.js';
import { mftRuntimeFromEnvironment, type MftRuntime } from '../../functions/mft/runtime.js';
import { runMftExport } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { startAwsExecution } from '../aws-execution.js';
import { MFT_STEPS, MFT_TRANSIENT, createProgress } from '../progress.js';
import { EXIT_FAILED, EXIT_OK, UsageError, createOutput, parseCommandArgs, parseInteger, type Output } from '../usage.js';

export const RUN_MFT_HELP = `Usage: audit-export run mft [options]

Exports Progress Automate MFT audit logs for one window into S3 by running the MFT state machine
(state-machines/mft-audit-export.asl.json) with its Lambda handlers.

Window (default: the last 24 hours, ending at the current minute):
  --start ISO              window start, inclusive (e.g. 2026-11-24T00:00:00Z)
  --end ISO                window end, exclusive (default: the current minute)
  --lookback-hours N       window length when --start is not given (default 24)

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
  --target env             local runner, real endpoints from the environment (MFT_BASE_URL, EXPORT_BUCKET, ...)
  --target aws             start an execution of the deployed state machine (MFT_STATE_MACHINE_ARN)

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
  target: { type: 'string' },
  json: { type: 'boolean' },
  'twin-dir': { type: 'string' },
} as const;

export interface RunSummary {
  source: string;
  status: 'SUCCEEDED' | 'FAILED';
  target: string;
  executionArn: string;
  window?: { start: string; end: string };
  reportId?: string;
  objects: { bucket: string; key: string; bytes: number; sha256?: string }[];
  error?: string;
  cause?: string;
  stateTransitions?: number;
  durationMs: number;
}

export async function runMftCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, OPTIONS, 'run mft');
  if (values.help) {
    process.stdout.write(`${RUN_MFT_HELP}\n`);
    return EXIT_OK;
  }
  const input = mftInputFromArgs(values);
  const target = values.target ?? 'twin';
  if (!['twin', 'env', 'aws'].includes(target)) throw new UsageError(`--target must be twin, env or aws (got ${target})`);
  const output = createOutput(values.json ?? false);

  const summary =
    target === 'aws'
      ? await startAwsExecution('mft', input, output)
      : await runLocally(target as 'twin' | 'env', input, output, values['twin-dir']);
  output.result(summary);
  return summary.status === 'SUCCEEDED' ? EXIT_OK : EXIT_FAILED;
}

/** Builds and validates the execution input; a bad value is a usage error (exit 2). */
export function mftInputFromArgs(values: Record<string, string | string[] | boolean | undefined>): MftExportInput {
  const str = (name: string) => values[name] as string | undefined;
  const list = (name: string) => values[name] as string[] | undefined;
  const input: Record<string, unknown> = { type: str('type') ?? 'json' };
  const lookback = str('lookback-hours');
  if (lookback !== undefined) {
    const hours = Number(lookback);
    if (!Number.isFinite(hours) || hours <= 0) throw new UsageError(`--lookback-hours must be a positive number (got ${lookback})`);
    input.lookbackHours = hours;
  }
  const start = str('start');
  const end = str('end');
  if (start || end) {
    const hours = (input.lookbackHours as number | undefined) ?? 24;
    const endMs = end ? Date.parse(end) : start ? Date.now() : NaN;
    input.window = {
      start: start ?? (Number.isNaN(endMs) ? end : new Date(endMs - hours * 3_600_000).toISOString()),
      end: end ?? new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString(),
    };
    delete input.lookbackHours;
  }
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

async function runLocally(
  target: 'twin' | 'env',
  input: MftExportInput,
  output: Output,
  twinDir: string | undefined,
): Promise<RunSummary> {
  let twin: Twin | undefined;
  let runtime: MftRuntime;
  if (target === 'twin') {
    output.info('starting the local twin (MFT emulator, local S3)…');
    twin = await startTwin({ directory: twinDir ?? path.resolve('.twin'), xray: false });
    runtime = twin.mftRuntime();
  } else {
    runtime = await mftRuntimeFromEnvironment();
  }
  try {
    const started = Date.now();
    const result = await runMftExport(runtime, {
      input,
      waitMs: twin?.waitMs,
      retryMs: twin?.retryMs,
      onEvent: createProgress({
        write: (text) => (output.json ? process.stderr : process.stdout).write(text),
        isTTY: Boolean((output.json ? process.stderr : process.stdout).isTTY),
        steps: MFT_STEPS,
        transient: MFT_TRANSIENT,
      }),
    });
    const summary = summarize('mft', target, result, Date.now() - started);
    if (summary.status === 'SUCCEEDED' && twin) {
      for (const object of summary.objects) output.info(`local file: ${path.relative(process.cwd(), twin.s3.objectPath(object.key))}`);
    }
    if (summary.status === 'FAILED') output.info(`✗ ${summary.error}: ${summary.cause}`);
    return summary;
  } finally {
    await twin?.close();
  }
}

export function summarize(source: string, target: string, result: LocalRunResult, durationMs: number): RunSummary {
  const out = (result.output ?? {}) as {
    window?: { start: string; end: string };
    reportId?: string;
    object?: RunSummary['objects'][number];
    objects?: RunSummary['objects'];
  };
  const summary: RunSummary = {
    source,
    status: result.status,
    target,
    executionArn: result.executionArn,
    objects: out.objects ?? (out.object ? [out.object] : []),
    stateTransitions: result.stateTransitions,
    durationMs,
  };
  if (out.window) summary.window = out.window;
  if (out.reportId) summary.reportId = out.reportId;
  if (result.error) summary.error = result.error;
  if (result.cause) summary.cause = result.cause;
  return summary;
}
