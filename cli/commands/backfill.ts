import { createHash } from 'node:crypto';
import { compactInstant, parseWindow } from '../../functions/common/time-window.js';
import { gridWindows, groupWindows } from '../../functions/common/window-grid.js';
import { startTwin, type Twin } from '../../local/twin.js';
import path from 'node:path';
import { parseTarget, runOnTarget, type RunSummary } from '../run-target.js';
import { EXIT_FAILED, EXIT_OK, UsageError, createOutput, parseCommandArgs, parseInteger, TARGET_OPTIONS } from '../usage.js';
import { mftInputFromArgs } from './run-mft.js';
import { xrayInputFromArgs } from './run-xray.js';

export const BACKFILL_HELP = `Usage: audit-export backfill <mft|xray> --start ISO --end ISO [options]

Exports a past range as manual executions, one per chunk of grid windows, with deterministic
execution names: repeating the same backfill starts nothing new on AWS (the executions exist), and on
any target re-exports into the same keys (no duplicates). A backfill never moves a checkpoint backwards.

Options:
  --start ISO, --end ISO   the range [start, end), widened to whole grid windows (hours by default)
  --chunk-hours N          hours per execution (default: mft 48, xray 744)
  --type json|csv          mft report format;  --format json|csv  xray format;  --dry-run  xray dry-run tab
  --target twin|env|aws    where executions run (default twin)
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
  const chunkHours = parseInteger(values['chunk-hours'], '--chunk-hours', 1, 24 * 31) ?? (source === 'mft' ? 48 : 744);
  const chunks = backfillChunks(parseWindow(base.window!), chunkHours);
  const target = parseTarget(values.target);
  const output = createOutput(values.json ?? false);
  output.info(`${chunks.length} execution(s) of at most ${chunkHours} h for ${source} ${chunks[0]!.start} → ${chunks[chunks.length - 1]!.end}`);

  let twin: Twin | undefined;
  if (target === 'twin') twin = await startTwin({ directory: path.resolve(values['twin-dir'] ?? '.twin'), xray: source === 'xray' ? {} : false });
  const summaries: RunSummary[] = [];
  try {
    for (const chunk of chunks) {
      const input = { ...base, window: chunk };
      const name = executionName(source, chunk, input);
      output.info(`\n— ${name}`);
      summaries.push(await runOnTarget({ source, target, input, output, twin, executionName: name }));
    }
  } finally {
    await twin?.close();
  }
  output.result({ source, target, executions: summaries });
  return summaries.every((summary) => summary.status === 'SUCCEEDED') ? EXIT_OK : EXIT_FAILED;
}

/** Cuts the range on the hourly grid into chunks of at most `hours`. */
export function backfillChunks(range: { start: string; end: string }, hours: number) {
  return groupWindows(gridWindows(range, HOUR, 1_000_000), hours);
}

/**
 * `backfill-<source>-<start>-<end>-<input hash>`: the same backfill always has the same names, and Step
 * Functions refuses a second execution of a name (idempotent); different inputs get different names.
 */
export function executionName(source: string, window: { start: string; end: string }, input: unknown): string {
  const hash = createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 8);
  return `backfill-${source}-${compactInstant(window.start)}-${compactInstant(window.end)}-${hash}`.replace(/[^A-Za-z0-9_-]/g, '');
}
