import type { S3Client } from '@aws-sdk/client-s3';
import type { CheckpointLedger } from '../common/checkpoints.js';
import type { Clock } from '../common/clock.js';
import { scrubbedMessage } from '../common/scrubber.js';
import { emitMetrics, type Logger } from '../common/observability.js';
import { makeWindow, type TimeWindow } from '../common/time-window.js';
import { floorToGrid } from '../common/window-grid.js';
import { recordedStreams } from './streams.js';
import type { VerifiedWindows } from './verified-windows.js';
import { verifyRange, type WindowVerdict } from './verify-range.js';

/**
 * The scheduled verification (the verifier Lambda, daily): the previous `days` of every stream the checkpoint
 * table knows, up to its checkpoint (later windows are the schedule's next business). Each window is hashed once
 * per manifest (recorded in the table); later runs check presence, sizes and counts, so a run stays well inside
 * the Lambda's 15 minutes, and hashing stops at `hashBudgetMs` (the rest is hashed the next day).
 *
 * Reconciliation (Xray): the vendor is asked again for each stored window's count; a window that now holds more
 * events than stored (they arrived after the schedule's re-scan overlap had passed) is re-exported by an ordinary
 * manual execution of that window, fenced by the range leases like every writer, which appends only what lies
 * beyond what is stored. Nothing is deleted or rewritten here: the verifier only reads exports.
 */
export interface VerifierRuntime {
  s3: S3Client;
  ledger: CheckpointLedger;
  verified: VerifiedWindows;
  clock: Clock;
  logger: Logger;
  bucket: string;
  prefix?: string;
  /** Days verified before each stream's checkpoint. */
  days: number;
  retentionMs: (source: string) => number | undefined;
  /** Stop hashing once the run is this old (presence and counts are still checked). */
  hashBudgetMs: number;
  /** The configured Xray platform: its tenant name (streams of another tenant are not asked) and its counts. */
  xray?: {
    tenant: string;
    count: (window: TimeWindow, dryRun: boolean) => Promise<number | null>;
    /** Starts a manual export of one window through the state machine; returns the execution's id. */
    reexport: (input: { window: TimeWindow; format: 'json' | 'csv'; dryRun: boolean }) => Promise<string>;
  };
}

export interface StreamVerification {
  stream: string;
  range: TimeWindow;
  windowsChecked: number;
  windowsHashed: number;
  bytesHashed: number;
  unverified: number;
  /** The first problems, by window (the evidence for the alarm). */
  problems: { window: TimeWindow; state: string; problems: string[] }[];
  /** Windows whose vendor count grew, and the executions re-exporting them. */
  reconciled: { window: TimeWindow; stored: number; vendorCount: number; execution?: string; error?: string }[];
}

export interface VerificationSummary {
  checkedAt: string;
  days: number;
  streams: StreamVerification[];
  unverifiedWindows: number;
  reconciledWindows: number;
}

/** Problems kept per stream in the summary (the Lambda's result stays small; the log has them all). */
const PROBLEMS_SHOWN = 20;

export async function runScheduledVerification(runtime: VerifierRuntime): Promise<VerificationSummary> {
  const startedMs = runtime.clock.now();
  const streams = await recordedStreams(runtime.ledger, { bucket: runtime.bucket, prefix: runtime.prefix, retentionMs: runtime.retentionMs });
  const checkpoints = new Map((await runtime.ledger.checkpoints()).map((checkpoint) => [checkpoint.stream, checkpoint.watermark]));
  const results: StreamVerification[] = [];
  for (const stream of streams) {
    const nowMs = runtime.clock.now();
    const endMs = floorToGrid(Math.min(nowMs, Date.parse(checkpoints.get(stream.stream) ?? new Date(nowMs).toISOString())), stream.gridMs);
    const range = makeWindow(endMs - runtime.days * 86_400_000, endMs);
    const hashedBefore = await runtime.verified.read(stream.stream, range);
    const { evidence, windows } = await verifyRange(runtime.s3, stream, range, {
      nowMs,
      hash: (window, manifestSha256) => hashedBefore.get(window.start) !== manifestSha256 && runtime.clock.now() - startedMs < runtime.hashBudgetMs,
    });
    let windowsHashed = 0;
    for (const verdict of windows) {
      if (verdict.state !== 'complete' || !verdict.hashed || !verdict.manifestSha256) continue;
      await runtime.verified.record(stream.stream, verdict.window, verdict.manifestSha256, runtime.clock.now(), runtime.days + 2);
      windowsHashed++;
    }
    const result: StreamVerification = {
      stream: stream.stream,
      range,
      windowsChecked: evidence.windowsChecked,
      windowsHashed,
      bytesHashed: evidence.bytesHashed,
      unverified: evidence.problems.length,
      problems: evidence.problems.slice(0, PROBLEMS_SHOWN).map(({ window, state, problems }) => ({ window, state, problems })),
      reconciled: await reconcile(runtime, stream.stream, windows),
    };
    for (const problem of evidence.problems) runtime.logger.error({ stream: stream.stream, ...problem }, 'window not verified');
    results.push(result);
  }
  const summary: VerificationSummary = {
    checkedAt: new Date(startedMs).toISOString(),
    days: runtime.days,
    streams: results,
    unverifiedWindows: results.reduce((sum, stream) => sum + stream.unverified, 0),
    reconciledWindows: results.reduce((sum, stream) => sum + stream.reconciled.filter((window) => window.execution).length, 0),
  };
  // One metric record per source, so the alarm and the dashboard read them by the usual Source dimension.
  for (const source of new Set(['mft', 'xray', ...results.map((stream) => stream.stream.split('|')[0]!)])) {
    const mine = results.filter((stream) => stream.stream.startsWith(`${source}|`));
    emitMetrics(
      runtime.logger,
      source,
      {
        UnverifiedWindows: { value: mine.reduce((sum, stream) => sum + stream.unverified, 0), unit: 'Count' },
        ReconciledWindows: { value: mine.reduce((sum, stream) => sum + stream.reconciled.filter((window) => window.execution).length, 0), unit: 'Count' },
        VerifiedBytesHashed: { value: mine.reduce((sum, stream) => sum + stream.bytesHashed, 0), unit: 'Bytes' },
      },
      runtime.clock.now(),
    );
  }
  runtime.logger.info(
    { unverifiedWindows: summary.unverifiedWindows, reconciledWindows: summary.reconciledWindows, streams: results.length },
    'verification finished',
  );
  return summary;
}

/** Xray streams of the configured platform: windows whose vendor count grew since they were stored are re-exported. */
async function reconcile(runtime: VerifierRuntime, stream: string, windows: WindowVerdict[]): Promise<StreamVerification['reconciled']> {
  const [source, tenant, filtersId, format] = stream.split('|');
  const xray = runtime.xray;
  if (source !== 'xray' || !xray || tenant !== xray.tenant || (format !== 'json' && format !== 'csv')) return [];
  const dryRun = filtersId === 'dry-run';
  const reconciled: StreamVerification['reconciled'] = [];
  for (const verdict of windows) {
    if (verdict.events === undefined) continue; // no manifest: not stored, the schedule or a backfill exports it
    const vendorCount = await xray.count(verdict.window, dryRun);
    if (vendorCount === null || vendorCount <= verdict.events) continue;
    const entry: StreamVerification['reconciled'][number] = { window: verdict.window, stored: verdict.events, vendorCount };
    try {
      entry.execution = await xray.reexport({ window: verdict.window, format, dryRun });
      runtime.logger.warn({ stream, window: verdict.window, stored: verdict.events, vendorCount, execution: entry.execution }, 'window gained events after it was exported: re-exporting it');
    } catch (error) {
      entry.error = scrubbedMessage(error); // the vendor's or the SDK's words: a quoted secret must not reach the summary or logs
      runtime.logger.error({ stream, window: verdict.window, error: entry.error }, 'could not start the re-export of a window that gained events');
    }
    reconciled.push(entry);
  }
  return reconciled;
}
