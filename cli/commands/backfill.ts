import { createHash } from 'node:crypto';
import path from 'node:path';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { ConfigError } from '../../functions/common/errors.js';
import { compactInstant, parseWindow } from '../../functions/common/time-window.js';
import { gridWindows, groupWindows } from '../../functions/common/window-grid.js';
import { mftGridFromEnvironment } from '../../functions/mft/runtime.js';
import { xrayGridFromEnvironment } from '../../functions/xray/runtime.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { ARN_VARIABLES } from '../aws-execution.js';
import { chooseInstance } from '../instances.js';
import { parseTarget, runOnTarget, twinInstances, type RunSummary } from '../run-target.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, createOutput, exitCodeOf, parseCommandArgs, parseInteger, TARGET_OPTIONS } from '../usage.js';
import { mftInputFromArgs } from './run-mft.js';
import { xrayInputFromArgs } from './run-xray.js';

export const BACKFILL_HELP = `Usage: audit-export backfill <mft|xray> --start ISO --end ISO [options]

Exports a past range as manual executions, one per chunk of the stream's grid windows, with
deterministic execution names, and re-exports into the same keys on any target (no duplicates). A
backfill never moves a checkpoint backwards.

Repeating a backfill on AWS: a chunk whose execution succeeded (output status SUCCEEDED) is done and
not started again; one still running is followed; any other (failed, timed out, aborted, skipped) is
started again under a name derived from the old one (…-r1, …-r2), so a further repeat follows it.

The grid is the stream's: MFT_WINDOW_MINUTES / XRAY_WINDOW_MINUTES, and at most MFT_MAX_WINDOWS_PER_RUN /
XRAY_MAX_WINDOWS_PER_RUN windows per execution (defaults 60 min and 48 / 744, as deployed by default; set
them to the deployment's values for --target aws).

Options:
  --start ISO, --end ISO   the range [start, end), widened to whole grid windows
  --chunk-hours N          at most N hours per execution (default: as many windows as one execution takes)
  --type json|csv          mft report format;  --format json|csv  xray format;  --dry-run  xray dry-run tab
  --target twin|env|aws    where executions run (default twin)
  --instance NAME          which instance of the source, as for \`audit-export run\` (default: the only one)
  --json                   the last stdout line is a JSON summary of every execution
  -h, --help               this help

Examples:
  audit-export backfill xray --start 2026-07-01T00:00:00Z --end 2026-10-01T00:00:00Z --target aws
  audit-export backfill mft --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z --type csv`;

const OPTIONS = {
  start: { type: 'string' },
  end: { type: 'string' },
  'chunk-hours': { type: 'string' },
  type: { type: 'string' },
  format: { type: 'string' },
  'dry-run': { type: 'boolean' },
  ...TARGET_OPTIONS,
} as const;

const HOUR = 3_600_000;

export async function backfillCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, 'backfill');
  if (values.help) {
    process.stdout.write(`${BACKFILL_HELP}\n`);
    return EXIT_OK;
  }
  const source = positionals[0];
  if (source !== 'mft' && source !== 'xray') throw new UsageError('name the source: audit-export backfill <mft|xray> …');
  if (!values.start || !values.end) throw new UsageError('--start and --end are both required for a backfill');
  const base =
    source === 'mft'
      ? mftInputFromArgs({ start: values.start, end: values.end, type: values.type })
      : xrayInputFromArgs({ start: values.start, end: values.end, format: values.format, 'dry-run': values['dry-run'] });
  const chunkHours = parseInteger(values['chunk-hours'], '--chunk-hours', 1, 24 * 366);
  const range = parseWindow(base.window!);
  const target = parseTarget(values.target);
  const instance = chooseInstance(source, target, values.instance);
  const output = createOutput(values.json ?? false);

  let twin: Twin | undefined;
  if (target === 'twin') {
    twin = await startTwin({ directory: path.resolve(values['twin-dir'] ?? '.twin'), xray: source === 'xray' ? {} : false, ...twinInstances(source, instance) });
  }
  const twinInstance = instance.named ? instance.name : undefined;
  const summaries: RunSummary[] = [];
  try {
    const grid = twin
      ? (source === 'mft' ? twin.mftRuntime({}, twinInstance) : twin.xrayRuntime({}, twinInstance)).settings.schedule
      : source === 'mft'
        ? mftGridFromEnvironment(instance.env)
        : xrayGridFromEnvironment(instance.env);
    const perChunk = Math.max(1, Math.min(grid.maxWindows, chunkHours === undefined ? Infinity : Math.floor((chunkHours * HOUR) / grid.gridMs)));
    const chunks = backfillChunks(range, grid.gridMs, perChunk);
    output.info(
      `${chunks.length} execution(s) of at most ${perChunk} window(s) of ${grid.gridMs / 60_000} min for ${source} ${chunks[0]!.start} → ${chunks[chunks.length - 1]!.end}`,
    );
    const names = target === 'aws' ? awsExecutions(source, instance.env) : undefined;
    for (const chunk of chunks) {
      const input = { ...base, window: chunk };
      let name = executionName(source, chunk, input);
      if (names) {
        const chosen = await chooseExecutionName(name, names.describe);
        if (chosen.name !== name) output.info(`\n${name} did not succeed: running it again as ${chosen.name}`);
        name = chosen.name;
      }
      output.info(`\n— ${name}`);
      summaries.push(await runOnTarget({ source, target, input, output, twin, executionName: name, instance }));
    }
  } finally {
    await twin?.close();
  }
  output.result({ source, target, executions: summaries });
  const codes = summaries.map(exitCodeOf);
  return codes.includes(EXIT_FAILED) ? EXIT_FAILED : codes.includes(EXIT_USAGE) ? EXIT_USAGE : EXIT_OK;
}

/** Cuts the range on the stream's grid into chunks of at most `windowsPerChunk` windows. */
export function backfillChunks(range: { start: string; end: string }, gridMs: number, windowsPerChunk: number) {
  return groupWindows(gridWindows(range, gridMs, 10_000_000), windowsPerChunk);
}

/** Step Functions' limit on execution names. */
const MAX_NAME_LENGTH = 80;

/**
 * The name a chunk runs again under when its execution did not succeed: `…-r1`, then `…-r2`; deterministic,
 * so a repeated backfill finds (and follows) the re-run of the one before; at most 80 characters.
 */
export function rerunName(name: string): string {
  const match = /^(.*)-r(\d+)$/.exec(name);
  const base = match ? match[1]! : name;
  const suffix = `-r${match ? Number(match[2]) + 1 : 1}`;
  if (base.length + suffix.length <= MAX_NAME_LENGTH) return `${base}${suffix}`;
  const hash = createHash('sha256').update(base).digest('hex').slice(0, 8);
  return `${base.slice(0, MAX_NAME_LENGTH - suffix.length - hash.length - 1)}-${hash}${suffix}`;
}

/** What an existing execution says: its status and, once it succeeded, the status in its output. */
export interface ExistingExecution {
  status: string;
  outputStatus?: string;
}

/**
 * The name a chunk's execution runs under: the first in the chain name, rerunName(name), … that does not
 * exist yet (start it), is running (follow it), or succeeded with output status SUCCEEDED (done: following
 * it reports it). A SKIPPED or FAILED output, a failed, timed-out or aborted execution move on to the next name.
 */
export async function chooseExecutionName(
  name: string,
  describe: (name: string) => Promise<ExistingExecution | undefined>,
): Promise<{ name: string; existing?: ExistingExecution }> {
  let current = name;
  for (let attempt = 0; attempt < 1000; attempt++, current = rerunName(current)) {
    const existing = await describe(current);
    if (!existing) return { name: current };
    if (existing.status === 'RUNNING' || existing.status === 'PENDING_REDRIVE') return { name: current, existing };
    if (existing.status === 'SUCCEEDED' && existing.outputStatus === 'SUCCEEDED') return { name: current, existing };
  }
  throw new ConfigError(`Execution ${name} was run again 1000 times without success; look at its history`);
}

function awsExecutions(source: 'mft' | 'xray', env: NodeJS.ProcessEnv) {
  const variable = ARN_VARIABLES[source]!;
  const stateMachineArn = env[variable];
  if (!stateMachineArn) throw new ConfigError(`${variable} is not set: export it from the stack outputs (see README, "Deploy")`);
  const sfn = new SFNClient({});
  return {
    describe: async (name: string): Promise<ExistingExecution | undefined> => {
      const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
      try {
        const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        const existing: ExistingExecution = { status: execution.status ?? 'UNKNOWN' };
        if (execution.output) {
          try {
            const status = (JSON.parse(execution.output) as { status?: unknown }).status;
            if (typeof status === 'string') existing.outputStatus = status;
          } catch {
            // an output that is not JSON: no status, so not done
          }
        }
        return existing;
      } catch (error) {
        if (error instanceof ExecutionDoesNotExist) return undefined;
        throw error;
      }
    },
  };
}

/**
 * `backfill-<source>-<start>-<end>-<input hash>`: the same backfill always has the same names, and Step
 * Functions refuses a second execution of a name (idempotent); different inputs get different names.
 */
export function executionName(source: string, window: { start: string; end: string }, input: unknown): string {
  const hash = createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 8);
  return `backfill-${source}-${compactInstant(window.start)}-${compactInstant(window.end)}-${hash}`.replace(/[^A-Za-z0-9_-]/g, '');
}
