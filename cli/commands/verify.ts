import path from 'node:path';
import { systemClock } from '../../functions/common/clock.js';
import { sourceOfStream, type CheckpointLedger } from '../../functions/common/checkpoints.js';
import { ConfigError } from '../../functions/common/errors.js';
import { ledgerFromEnvironment } from '../../functions/common/ledger.js';
import { createS3Client } from '../../functions/common/s3-writer.js';
import { parseWindow } from '../../functions/common/time-window.js';
import { XRAY_RETENTION_DAYS } from '../../functions/xray/runtime.js';
import { recordedStreams, verifiedStream } from '../../functions/verifier/streams.js';
import { verifyRange, type RangeEvidence, type VerifiedStream, type WindowVerdict } from '../../functions/verifier/verify-range.js';
import { startTwin } from '../../local/twin.js';
import { formatBytes } from '../progress.js';
import { parseTarget } from '../run-target.js';
import { EXIT_FAILED, EXIT_OK, UsageError, createOutput, parseCommandArgs, TARGET_OPTIONS, type Output } from '../usage.js';
import { xrayInputFromArgs } from './run-xray.js';
import type { S3Client } from '@aws-sdk/client-s3';

export const VERIFY_HELP = `Usage: audit-export verify <mft|xray> --start ISO --end ISO [options]

Proves a range of one export stream complete, for an auditor: for every grid window of the range, its
manifest is present, every object it lists is there with the listed size and SHA-256 (read in full,
streamed), the records add up to the manifest's, and the window holds at least the events the vendor
counted when it was exported (Xray). Windows missing, incomplete, short of the vendor's count, or older
than the vendor's retention and never stored, are listed by name. Windows not over yet are not expected.

The stream is found in the checkpoint table (as \`audit-export status\` shows it): the source's stream
with the given format and filters, on the grid it records.

Options:
  --start ISO, --end ISO   the range [start, end), widened to whole grid windows
  --format json|csv        the stream's format (default json; --type is the same for mft)
  --dry-run                xray: the Dry Run stream
  --stream KEY             the stream by its key (source|tenant|filters|format), e.g. a filtered MFT stream
  --target twin|env|aws    twin (default): the local twin's bucket and checkpoints (--twin-dir);
                           env, aws: EXPORT_BUCKET (EXPORT_PREFIX, S3_ENDPOINT) and CHECKPOINT_TABLE,
                           retention XRAY_RETENTION_DAYS (default ${XRAY_RETENTION_DAYS}), MFT_RETENTION_DAYS (none)
  --json                   the last stdout line is the evidence: range, stream, windows checked, bytes
                           hashed, every problem, and a SHA-256 over the list of manifests
  -h, --help               this help

Exit codes: 0 every window of the range is complete, 1 some window is not (they are listed), 2 bad usage.

Examples:
  audit-export verify xray --start 2026-10-01T00:00:00Z --end 2027-01-01T00:00:00Z
  audit-export verify mft --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z --target aws --json > evidence.json`;

const OPTIONS = {
  start: { type: 'string' },
  end: { type: 'string' },
  format: { type: 'string' },
  type: { type: 'string' },
  'dry-run': { type: 'boolean' },
  stream: { type: 'string' },
  ...TARGET_OPTIONS,
} as const;

/** Every problem window is shown; complete windows too when the range has at most this many. */
const TABLE_ALL_UP_TO = 48;

export async function verifyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, 'verify');
  if (values.help) {
    process.stdout.write(`${VERIFY_HELP}\n`);
    return EXIT_OK;
  }
  const source = positionals[0];
  if (source !== 'mft' && source !== 'xray') throw new UsageError('name the source: audit-export verify <mft|xray> --start … --end …', 'see `audit-export verify --help`');
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`, 'see `audit-export verify --help`');
  if (!values.start || !values.end) throw new UsageError('--start and --end are both required: the range to verify');
  if (source === 'mft' && values['dry-run']) throw new UsageError('--dry-run belongs to xray');
  if (values.format && values.type && values.format !== values.type) throw new UsageError('--format and --type say different formats: give one');
  const format = values.format ?? values.type ?? 'json';
  // The same strict date and format checks as a run's.
  const range = parseWindow(xrayInputFromArgs({ start: values.start, end: values.end, format }).window!);
  const target = parseTarget(values.target);
  const output = createOutput(values.json ?? false);
  const wanted = { source, format, filtersId: values['dry-run'] ? 'dry-run' : 'all', key: values.stream };

  // The deployed-stack runner keeps its exports in the twin too.
  if (target === 'twin' || target === 'deployed') {
    const twin = await startTwin({ directory: path.resolve(values['twin-dir'] ?? '.twin'), xray: false });
    try {
      const where = { bucket: twin.s3.bucket, retentionMs: () => undefined };
      const stream = await chooseStream(twin.ledger, where, wanted);
      return await verifyAndReport(twin.s3Client, stream, range, twin.clock.now(), output);
    } finally {
      await twin.close();
    }
  }
  const ledger = ledgerFromEnvironment(process.env, systemClock);
  if (!ledger) throw new ConfigError('CHECKPOINT_TABLE is not set: export the stack output CheckpointTableName (see `audit-export verify --help`)');
  const bucket = process.env.EXPORT_BUCKET;
  if (!bucket) throw new ConfigError('EXPORT_BUCKET is not set: export the stack output ExportBucketName (see `audit-export verify --help`)');
  const where = { bucket, prefix: process.env.EXPORT_PREFIX, retentionMs: retentionFromEnvironment(process.env) };
  const stream = await chooseStream(ledger, where, wanted);
  return verifyAndReport(createS3Client(), stream, range, Date.now(), output);
}

/** How long each source's vendor keeps events, as the exports are configured (XRAY_RETENTION_DAYS, MFT_RETENTION_DAYS). */
export function retentionFromEnvironment(env: NodeJS.ProcessEnv): (source: string) => number | undefined {
  const days = (name: string, fallback?: number) => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    const number = Number(value);
    if (!(number > 0)) throw new ConfigError(`${name} must be a positive number of days`);
    return number;
  };
  return (source) => {
    const value = source === 'xray' ? days('XRAY_RETENTION_DAYS', XRAY_RETENTION_DAYS) : source === 'mft' ? days('MFT_RETENTION_DAYS') : undefined;
    return value === undefined ? undefined : value * 86_400_000;
  };
}

async function chooseStream(
  ledger: CheckpointLedger,
  where: Parameters<typeof recordedStreams>[1],
  wanted: { source: string; format: string; filtersId: string; key?: string | undefined },
): Promise<VerifiedStream> {
  const streams = await recordedStreams(ledger, where);
  if (wanted.key) {
    if (sourceOfStream(wanted.key) !== wanted.source) throw new UsageError(`--stream ${wanted.key} is not a ${wanted.source} stream`);
    const known = streams.find((stream) => stream.stream === wanted.key);
    const stream = known ?? verifiedStream(wanted.key, where);
    if (!stream) throw new UsageError(`--stream must be source|tenant|filters|format, as \`audit-export status\` shows (got ${JSON.stringify(wanted.key)})`);
    return stream;
  }
  const matching = streams.filter((stream) => {
    const [source, , filtersId, format] = stream.stream.split('|');
    return source === wanted.source && filtersId === wanted.filtersId && format === wanted.format;
  });
  if (matching.length === 1) return matching[0]!;
  const ofSource = streams.filter((stream) => sourceOfStream(stream.stream) === wanted.source).map((stream) => stream.stream);
  if (!matching.length) {
    throw new UsageError(
      `no ${wanted.source} stream with format ${wanted.format} and filters ${wanted.filtersId} in the checkpoint table: nothing of it was exported yet` +
        (ofSource.length ? ` (its streams: ${ofSource.join(', ')}; choose one with --stream)` : ''),
    );
  }
  throw new UsageError(`several ${wanted.source} streams match (${matching.map((stream) => stream.stream).join(', ')}): choose one with --stream`);
}

async function verifyAndReport(s3: S3Client, stream: VerifiedStream, range: { start: string; end: string }, nowMs: number, output: Output): Promise<number> {
  output.info(`verifying ${stream.stream} ${range.start} → ${range.end} in s3://${stream.bucket}/${stream.folder}`);
  const started = Date.now();
  let shownAt = 0;
  const progress = (state: { done: number; total: number; bytesHashed: number }) => {
    const now = Date.now();
    if (state.done < state.total && now - shownAt < 2000) return;
    shownAt = now;
    const seconds = Math.max((now - started) / 1000, 0.001);
    process.stderr.write(`  ${state.done}/${state.total} windows, ${formatBytes(state.bytesHashed)} hashed (${formatBytes(state.bytesHashed / seconds)}/s)\n`);
  };
  const { evidence, windows } = await verifyRange(s3, stream, range, { nowMs, onProgress: progress });
  for (const line of formatVerification(evidence, windows)) output.info(line);
  output.result(evidence);
  return evidence.complete ? EXIT_OK : EXIT_FAILED;
}

export function formatVerification(evidence: RangeEvidence, windows: WindowVerdict[]): string[] {
  const shown = windows.length <= TABLE_ALL_UP_TO ? windows : windows.filter((window) => window.state !== 'complete');
  const rows = shown.map((window) => [
    `${window.window.start} → ${window.window.end.slice(11)}`,
    window.state.toUpperCase(),
    window.events === undefined ? '—' : String(window.events),
    window.vendorCount === undefined || window.vendorCount === null ? '—' : String(window.vendorCount),
    window.problems.join('; ') || (window.hashed ? `${formatBytes(window.bytesHashed)} hashed` : ''),
  ]);
  const lines: string[] = [];
  if (rows.length) {
    const header = ['window', 'state', 'events', 'vendor', 'detail'];
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
    const line = (row: string[]) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd();
    lines.push(line(header), line(widths.map((width) => '-'.repeat(Math.min(width, 40)))), ...rows.map(line));
  }
  if (shown.length < windows.length) lines.push(`(${windows.length - shown.length} complete window(s) not shown; --json lists the evidence)`);
  if (evidence.notOverYet) lines.push(`not over yet, not checked: ${evidence.notOverYet.start} → ${evidence.notOverYet.end}`);
  lines.push(
    `${evidence.complete ? '✓ complete' : '✗ NOT complete'}: ${evidence.windowsComplete}/${evidence.windowsChecked} windows, ` +
      `${evidence.objectsChecked} objects, ${evidence.records.toLocaleString('en-US')} records, ${formatBytes(evidence.bytesHashed)} hashed; ` +
      `manifests SHA-256 ${evidence.manifestsSha256}`,
  );
  return lines;
}
