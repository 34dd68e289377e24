import { z } from 'zod';
import type { Checkpoint, CheckpointLedger } from './checkpoints.js';
import { floorToGrid, gridWindows } from './window-grid.js';
import { isoInstant, makeWindow, parseWindow, type TimeWindow } from './time-window.js';

/**
 * Which windows one execution exports, and how it relates to the checkpoint:
 * - scheduled (no window in the input): from the watermark (minus the re-scan overlap) to `now − lag`,
 *   whole grid windows only, at most `maxWindows` (a run far behind catches up over several runs);
 *   it holds the stream's lease so overlapping executions cannot both advance the watermark;
 * - manual / backfill (an explicit window): that range widened to whole grid windows; it never moves the
 *   watermark backwards, and moves it forward only when it continues the exported range.
 */

export const runInfoSchema = z
  .object({
    mode: z.enum(['scheduled', 'manual']),
    stream: z.string(),
    executionId: z.string(),
    leaseOwner: z.string().optional(),
    watermarkBefore: isoInstant.optional(),
    skipped: z.string().optional(),
  })
  .strict();
export type RunInfo = z.infer<typeof runInfoSchema>;

export interface ScheduleSettings {
  gridMs: number;
  lagMs: number;
  overlapMs: number;
  /** Where a stream with no checkpoint starts: this long before `now − lag`. */
  initialLookbackMs: number;
  maxWindows: number;
  leaseTtlMs: number;
}

export interface PlannedRun {
  windows: TimeWindow[];
  run: RunInfo;
}

export async function planRun(options: {
  window?: { start: string; end: string };
  stream: string;
  executionId: string;
  ledger: CheckpointLedger | undefined;
  settings: ScheduleSettings;
  nowMs: number;
}): Promise<PlannedRun> {
  const { settings, stream, executionId, ledger } = options;
  if (options.window) {
    const requested = parseWindow(options.window);
    return {
      windows: gridWindows(requested, settings.gridMs, settings.maxWindows),
      run: { mode: 'manual', stream, executionId },
    };
  }
  const end = floorToGrid(options.nowMs - settings.lagMs, settings.gridMs);
  const run: RunInfo = { mode: 'scheduled', stream, executionId };
  let checkpoint: Checkpoint = { stream };
  if (ledger) {
    const lease = await ledger.acquireLease(stream, executionId, settings.leaseTtlMs);
    checkpoint = lease.checkpoint;
    if (!lease.acquired) {
      return {
        windows: [],
        run: {
          ...run,
          skipped: `another execution (${checkpoint.lease?.owner}) holds the lease of ${stream} until ${checkpoint.lease?.expiresAt}`,
        },
      };
    }
    run.leaseOwner = executionId;
  }
  if (checkpoint.watermark) run.watermarkBefore = checkpoint.watermark;
  const from = checkpoint.watermark
    ? floorToGrid(Date.parse(checkpoint.watermark) - settings.overlapMs, settings.gridMs)
    : floorToGrid(end - settings.initialLookbackMs, settings.gridMs);
  if (from >= end) return { windows: [], run };
  // Catch up in bounded steps: the overlap windows plus at most maxWindows new ones.
  const overlapWindows = checkpoint.watermark ? (floorToGrid(Date.parse(checkpoint.watermark), settings.gridMs) - from) / settings.gridMs : 0;
  const limit = Math.min(end, from + (overlapWindows + settings.maxWindows) * settings.gridMs);
  return { windows: gridWindows(makeWindow(from, limit), settings.gridMs), run };
}

export const windowResultSchema = z
  .object({
    window: z.object({ start: isoInstant, end: isoInstant }),
    /** DEFERRED: a scheduled run did not start the window, to end within its execution timeout. */
    status: z.enum(['SUCCEEDED', 'FAILED', 'DEFERRED']),
    /** For a group of windows that failed part-way: the end of its last completed window. */
    completedThrough: isoInstant.nullish(),
    windowsDone: z.number().int().nonnegative().optional(),
    error: z.object({ Error: z.string(), Cause: z.unknown() }).partial().passthrough().optional(),
  })
  .passthrough();
export type WindowResult = z.infer<typeof windowResultSchema>;

export interface CommitResult {
  status: 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  watermarkBefore?: string;
  /** Where the checkpoint stands after the run (null: the stream has none yet). */
  watermarkAfter: string | null;
  windows: number;
  failedWindows: number;
  error?: string;
  cause?: string;
  message: string;
}

/**
 * After the windows: advances the watermark over the contiguous run of completed windows that starts at
 * it, releases the lease, and records the run. Windows are only ever counted complete once their
 * objects and manifest are in S3.
 */
export async function commitRun(
  ledger: CheckpointLedger | undefined,
  run: RunInfo,
  results: WindowResult[],
  nowMs: number,
): Promise<CommitResult> {
  const failed = results.filter((result) => result.status === 'FAILED');
  const deferred = results.filter((result) => result.status === 'DEFERRED').length;
  results = results.filter((result) => result.status !== 'DEFERRED');
  // An Xray result stands for a group of windows (windowsDone of them completed); an MFT result for one.
  const windowCount = results.reduce((sum, result) => sum + (typeof result.windowsDone === 'number' ? result.windowsDone : 1), 0);
  const first = failed[0]?.error;
  const base: CommitResult = {
    status: failed.length ? 'FAILED' : run.skipped ? 'SKIPPED' : 'SUCCEEDED',
    windows: windowCount,
    failedWindows: failed.length,
    watermarkAfter: null,
    message: '',
  };
  if (first?.Error) base.error = String(first.Error);
  if (first?.Cause !== undefined) base.cause = typeof first.Cause === 'string' ? first.Cause : JSON.stringify(first.Cause);
  if (!ledger) return { ...base, message: 'no checkpoint ledger configured' };
  let advancedTo: string | undefined;

  const current = await ledger.read(run.stream);
  if (current.watermark) base.watermarkBefore = current.watermark;
  const sorted = [...results].sort((a, b) => a.window.start.localeCompare(b.window.start));
  let reach = current.watermark ? Date.parse(current.watermark) : run.mode === 'scheduled' && sorted[0] ? Date.parse(sorted[0].window.start) : undefined;
  if (reach !== undefined) {
    for (const result of sorted) {
      const start = Date.parse(result.window.start);
      const end = Date.parse(result.window.end);
      if (end <= reach) continue; // re-scanned overlap: already covered
      if (start > reach) break; // a gap: the range must stay contiguous
      if (result.status === 'SUCCEEDED') {
        reach = end;
        continue;
      }
      if (result.completedThrough) reach = Math.max(reach, Date.parse(result.completedThrough));
      break;
    }
    const to = new Date(reach).toISOString();
    if (!current.watermark || to > current.watermark) {
      const advanced = await ledger.advance(
        run.stream,
        to,
        run.leaseOwner ? { owner: run.leaseOwner } : { from: sorted[0]?.window.start ?? to },
      );
      if (advanced === 'advanced') advancedTo = to;
    }
  }
  if (run.leaseOwner) await ledger.release(run.stream, run.leaseOwner);
  const finishedAt = new Date(nowMs).toISOString();
  const record: Parameters<CheckpointLedger['recordRun']>[1] = {
    executionId: run.executionId,
    mode: run.mode,
    status: failed.length === 0 ? 'SUCCEEDED' : failed.length < results.length ? 'PARTIAL' : 'FAILED',
    windows: windowCount,
    failedWindows: failed.length,
    finishedAt,
  };
  if (sorted[0]) record.window = { start: sorted[0].window.start, end: sorted[sorted.length - 1]!.window.end };
  if (base.watermarkBefore) record.watermarkBefore = base.watermarkBefore;
  base.watermarkAfter = advancedTo ?? base.watermarkBefore ?? null;
  if (base.watermarkAfter) record.watermarkAfter = base.watermarkAfter;
  if (base.error) record.error = base.error;
  if (!run.skipped) await ledger.recordRun(run.stream, record);
  base.message = run.skipped
    ? `skipped: ${run.skipped}`
    : advancedTo
      ? `checkpoint advanced to ${advancedTo}`
      : `checkpoint stays at ${base.watermarkBefore ?? '(none: manual runs do not start one)'}`;
  if (deferred) base.message += `; ${deferred} window(s) deferred to the next run (not started within the execution timeout)`;
  return base;
}
