import { z } from 'zod';
import { currentHolder, sourceOfStream, type Checkpoint, type CheckpointLedger, type GridPeriod, type Lease, type LeaseRequest } from './checkpoints.js';
import { InvalidInputError } from './errors.js';
import { windowSchema } from './run-window.js';
import { ceilToGrid, floorToGrid, mergeWindows, subtractWindows, windowCount } from './window-grid.js';
import { isoInstant, makeWindow, parseWindow, type TimeWindow } from './time-window.js';

/**
 * Which windows one execution exports, and how it relates to the checkpoint:
 * - scheduled (no window in the input): from the watermark (minus the re-scan overlap) to `now − lag`, whole
 *   grid windows only, at most `maxWindows` new ones (a run far behind catches up over several runs). A
 *   watermark off the stream's grid is refused, naming the command that mends it;
 * - manual / backfill (an explicit window): that range widened to whole grid windows and cut at the last
 *   window that is over (`now − lag`); it never moves the watermark backwards, and moves it forward only when
 *   it continues the exported range.
 * Time before the watermark is cut on the grid it was exported on (the checkpoint records each grid and since
 * when), so a re-scan or a backfill after a grid change finds the very windows that are stored.
 * Every run that writes windows holds a lease over their range first (the stream's other writers are fenced
 * out, or their stale leases taken over); windows older than the source's retention are never exported:
 * those already stored are left as they are, the others are reported lost.
 */

const MAX_RANGES = 50;

export const runInfoSchema = z
  .object({
    mode: z.enum(['scheduled', 'manual']),
    stream: z.string(),
    executionId: z.string(),
    leaseOwner: z.string().optional(),
    watermarkBefore: isoInstant.optional(),
    skipped: z.string().optional(),
    /** `now − lag` at planning, on the grid: no window ending later is written, no checkpoint moves past it. */
    notAfter: isoInstant.optional(),
    /** Manual: the part of the requested range that was not over yet (the schedule exports it). */
    cut: windowSchema.optional(),
    /** Planned windows older than the source's retention: none exported (stored ones are kept as they are). */
    beyondRetention: windowSchema.optional(),
    /** Of those, the ranges with no manifest: lost for good; and how many grid windows that is. */
    lost: z.array(windowSchema).max(MAX_RANGES).optional(),
    lostWindows: z.number().int().nonnegative().optional(),
    /** Leases taken over from holders that stopped, each with why. */
    tookOver: z.array(z.string()).max(20).optional(),
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
  /** How long the vendor keeps events (undefined: no known limit). */
  retentionMs?: number;
}

export interface PlannedRun {
  windows: TimeWindow[];
  run: RunInfo;
}

/** Refuses a scheduled run on a grid its checkpoint's watermark does not lie on. */
export class GridChangeError extends InvalidInputError {
  static override readonly errorName: string = 'GridChangeError';
}

/** The windows with a manifest in `range` (from their folders), for windows older than the retention. */
export type StoredWindows = (range: TimeWindow) => Promise<TimeWindow[]>;

export async function planRun(options: {
  window?: { start: string; end: string };
  stream: string;
  executionId: string;
  ledger: CheckpointLedger | undefined;
  settings: ScheduleSettings;
  nowMs: number;
  storedWindows?: StoredWindows;
}): Promise<PlannedRun> {
  const { settings, stream, executionId, ledger, nowMs } = options;
  const notAfterMs = floorToGrid(nowMs - settings.lagMs, settings.gridMs);
  const run: RunInfo = { mode: options.window ? 'manual' : 'scheduled', stream, executionId, notAfter: iso(notAfterMs) };

  // The windows this run would write, and the grids to record, given a checkpoint. Before the watermark each
  // window lies on the grid it was exported on (recorded in the checkpoint), after it on today's grid.
  const windowsFor = (checkpoint: Checkpoint): { windows: TimeWindow[]; grids?: GridPeriod[] } => {
    const gridAt = gridsOf(checkpoint, settings.gridMs);
    if (options.window) {
      const requested = windowsOnGrids(parseWindow(options.window), gridAt, settings.maxWindows);
      const finished = requested.filter((window) => Date.parse(window.end) <= notAfterMs);
      if (finished.length < requested.length) {
        run.cut = { start: requested[finished.length]!.start, end: requested[requested.length - 1]!.end };
      }
      return { windows: finished };
    }
    const continued = continueOnGrid(checkpoint, settings, notAfterMs);
    if (checkpoint.watermark) run.watermarkBefore = checkpoint.watermark;
    const from = checkpoint.watermark
      ? floorToGrid(Date.parse(checkpoint.watermark) - settings.overlapMs, gridAt(Date.parse(checkpoint.watermark) - settings.overlapMs))
      : floorToGrid(notAfterMs - settings.initialLookbackMs, settings.gridMs);
    if (from >= notAfterMs) return { windows: [] };
    // Windows older than the retention cost nothing to plan (none is exported): they do not count towards
    // maxWindows, so a stream stopped for longer than the retention catches up at once.
    const fresh = Math.max(from, Math.min(retentionBoundary(settings, nowMs), notAfterMs));
    // Catch up in bounded steps: the overlap windows (already exported, re-scanned) plus at most maxWindows new ones.
    const overlapEnd = checkpoint.watermark ? Math.max(fresh, Date.parse(checkpoint.watermark)) : fresh;
    const limit = Math.min(notAfterMs, overlapEnd + settings.maxWindows * settings.gridMs);
    return { windows: windowsOnGrids(makeWindow(from, limit), gridAt, Number.MAX_SAFE_INTEGER), grids: continued.grids };
  };

  let windows: TimeWindow[];
  if (!ledger) {
    windows = windowsFor({ stream, leases: [], grids: [], revision: 0 }).windows;
  } else {
    const holder = currentHolder(executionId, nowMs);
    const acquired = await ledger.acquire(stream, (checkpoint) => {
      delete run.cut;
      const planned = windowsFor(checkpoint);
      if (!planned.windows.length) return undefined;
      const request: LeaseRequest = {
        owner: executionId,
        mode: run.mode,
        range: { start: planned.windows[0]!.start, end: planned.windows[planned.windows.length - 1]!.end },
        ttlMs: settings.leaseTtlMs,
        holder,
      };
      return { request, grids: planned.grids, windows: planned.windows };
    });
    if (!acquired.planned || !acquired.result) return { windows: [], run };
    const result = acquired.result;
    if (!result.acquired) {
      run.skipped = `another execution (${result.heldBy.owner}) holds the lease of ${stream} for ${describeLease(result.heldBy)} until ${result.heldBy.expiresAt}`;
      return { windows: [], run };
    }
    run.leaseOwner = executionId;
    if (result.tookOver.length) {
      run.tookOver = result.tookOver.slice(0, 20).map(({ lease, reason }) => `took over the lease of ${lease.owner} (${describeLease(lease)}): ${reason}`);
    }
    windows = acquired.planned.windows;
  }
  return { windows: await withoutRetentionLoss(windows, run, settings, nowMs, options.storedWindows), run };
}

/** The first window start at or after `now − retention` (−∞ without a retention). */
function retentionBoundary(settings: ScheduleSettings, nowMs: number): number {
  return settings.retentionMs === undefined ? -Infinity : ceilToGrid(nowMs - settings.retentionMs, settings.gridMs);
}

/** Drops the windows older than the retention from the plan; records which of them are lost. */
async function withoutRetentionLoss(
  windows: TimeWindow[],
  run: RunInfo,
  settings: ScheduleSettings,
  nowMs: number,
  storedWindows: StoredWindows | undefined,
): Promise<TimeWindow[]> {
  const edge = retentionBoundary(settings, nowMs);
  const beyond = windows.filter((window) => Date.parse(window.start) < edge);
  if (!beyond.length) return windows;
  const range = { start: beyond[0]!.start, end: beyond[beyond.length - 1]!.end };
  run.beyondRetention = range;
  // Without a way to look (no storage), every such window counts as lost: none is exported either way.
  const stored = storedWindows ? await storedWindows(range) : [];
  const lost = subtractWindows(mergeWindows(beyond), stored);
  if (lost.length) {
    run.lost = lost.slice(0, MAX_RANGES);
    run.lostWindows = windowCount(lost, settings.gridMs);
  }
  return windows.filter((window) => Date.parse(window.start) >= edge);
}

/**
 * The grid of each instant of a stream: before the watermark the grid it was exported on (the checkpoint's
 * periods; a checkpoint without them is taken to be on today's grid), from the watermark on `gridMs`.
 */
export function gridsOf(checkpoint: Pick<Checkpoint, 'watermark' | 'grids'>, gridMs: number): (instantMs: number) => number {
  const watermark = checkpoint.watermark ? Date.parse(checkpoint.watermark) : -Infinity;
  return (instantMs) => {
    if (instantMs >= watermark) return gridMs;
    const period = checkpoint.grids.findLast((candidate) => candidate.since === null || Date.parse(candidate.since) <= instantMs);
    return period?.ms ?? gridMs;
  };
}

/** The windows covering `range`, each a whole window of the grid of its time (widened outward at both ends). */
export function windowsOnGrids(range: TimeWindow, gridAt: (instantMs: number) => number, maxWindows: number): TimeWindow[] {
  const end = Date.parse(range.end);
  const windows: TimeWindow[] = [];
  let at = floorToGrid(Date.parse(range.start), gridAt(Date.parse(range.start)));
  while (at < end) {
    const gridMs = gridAt(at);
    if (at % gridMs !== 0) {
      throw new GridChangeError(
        `The range ${range.start} → ${range.end} reaches ${iso(at)}, where the stream goes on with the ${gridMs / 60_000}-minute grid, ` +
          `but ${iso(at)} is not on that grid: export up to it with the grid the stream was exported on (see README, "Changing the window grid")`,
      );
    }
    windows.push(makeWindow(at, at + gridMs));
    if (windows.length > maxWindows) {
      throw new InvalidInputError(
        `The range ${range.start} → ${range.end} spans more than ${maxWindows} windows; at most ${maxWindows} fit in one execution (split it, e.g. with \`audit-export backfill\`)`,
      );
    }
    at += gridMs;
  }
  return windows;
}

/**
 * Whether a scheduled run on `settings.gridMs` may continue `checkpoint`: the watermark must lie on the grid.
 * Returns the grids to record when the grid changes (the windows before keep theirs: the overlap re-scan and
 * manual runs cut that time on its own grid); refuses otherwise, naming the command that reaches the next
 * common boundary.
 */
export function continueOnGrid(
  checkpoint: Checkpoint,
  settings: Pick<ScheduleSettings, 'gridMs' | 'lagMs'>,
  notAfterMs: number,
): { grids?: GridPeriod[] } {
  const gridMs = settings.gridMs;
  const current = checkpoint.grids.at(-1);
  if (!checkpoint.watermark) return current?.ms === gridMs ? {} : { grids: [{ ms: gridMs, since: null }] };
  const watermark = Date.parse(checkpoint.watermark);
  if (current?.ms === gridMs) return {};
  if (watermark % gridMs === 0) {
    // A checkpoint written before grids were recorded is taken to be on today's grid.
    if (!current) return { grids: [{ ms: gridMs, since: null }] };
    return { grids: [...checkpoint.grids, { ms: gridMs, since: checkpoint.watermark }] };
  }
  const source = sourceOfStream(checkpoint.stream);
  const [, , , format = 'json'] = checkpoint.stream.split('|');
  const minutes = (ms: number) => `${ms / 60_000}`;
  if (!current) {
    throw new GridChangeError(
      `The checkpoint of ${checkpoint.stream} stands at ${checkpoint.watermark}, which is not on the ${minutes(gridMs)}-minute grid: ` +
        `its windows were exported on another grid (their folders show it: …/window=<start>--<end>/). Set ${source.toUpperCase()}_WINDOW_MINUTES ` +
        `(sources.${source}.windowMinutes) back to that grid, or export on it up to an instant on the ${minutes(gridMs)}-minute grid.`,
    );
  }
  const common = lcm(current.ms, gridMs);
  const boundary = Math.ceil(watermark / common) * common;
  const formatFlag = format === 'json' ? '' : source === 'mft' ? ` --type ${format}` : ` --format ${format}`;
  const waitFor = boundary > notAfterMs ? ` (once ${iso(boundary + settings.lagMs)} has passed: the windows must be over)` : '';
  throw new GridChangeError(
    `The checkpoint of ${checkpoint.stream} stands at ${checkpoint.watermark}, which is not on the new ${minutes(gridMs)}-minute grid: ` +
      `its windows were exported on the ${minutes(current.ms)}-minute grid. Export on that grid up to ${iso(boundary)}, the next instant ` +
      `both grids share, and the new grid continues from there: \`${source.toUpperCase()}_WINDOW_MINUTES=${minutes(current.ms)} ` +
      `audit-export run ${source}${formatFlag} --start ${checkpoint.watermark} --end ${iso(boundary)}\`${waitFor}, with the stream's filters ` +
      `(on AWS: set sources.${source}.windowMinutes to ${minutes(current.ms)} until the checkpoint reaches ${iso(boundary)}).`,
  );
}

function lcm(a: number, b: number): number {
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  return (a / gcd(a, b)) * b;
}

export function describeLease(lease: Pick<Lease, 'start' | 'end'>): string {
  return lease.start && lease.end ? `${lease.start} → ${lease.end}` : 'all windows';
}

export const windowResultSchema = z
  .object({
    window: z.object({ start: isoInstant, end: isoInstant }),
    /** DEFERRED: a scheduled run did not start the window, to end within its execution timeout. */
    status: z.enum(['SUCCEEDED', 'FAILED', 'DEFERRED']),
    /** For a group of windows that failed part-way: the end of its last completed window. */
    completedThrough: isoInstant.nullish(),
    windowsDone: z.number().int().nonnegative().optional(),
    /** Xray: windows of the group whose answer held less than what is stored. */
    shortAnswers: z.number().int().nonnegative().optional(),
    /** MFT: whether the window's answer was a short one, kept beside the current report (the window's bounded result). */
    shortAnswer: z.boolean().optional(),
    /** MFT: the stored report, with whether a short answer was kept beside the current one. */
    object: z.object({ shortAnswer: z.boolean().optional() }).passthrough().optional(),
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
  /** Windows older than the retention that were never stored (lost for good), and their ranges. */
  lostToRetention: number;
  lost: TimeWindow[];
  /** The requested range that was not over yet (manual runs), or null. */
  cut: TimeWindow | null;
  /** Windows whose answer held less than what is stored: kept, flagged in their manifests. */
  shortAnswers: number;
  tookOver: string[];
  error?: string;
  cause?: string;
  message: string;
}

/**
 * After the windows: advances the watermark over the contiguous run of completed windows that starts at
 * it (never past `notAfter`), releases the lease, and records the run. Windows are only ever counted
 * complete once their objects and manifest are in S3, or when they lie beyond the retention (nothing can
 * be exported there any more: stored ones stay, lost ones are reported).
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
  const shortAnswers = results.reduce((sum, result) => sum + (result.shortAnswers ?? (result.shortAnswer || result.object?.shortAnswer ? 1 : 0)), 0);
  const first = failed[0]?.error;
  const base: CommitResult = {
    status: failed.length ? 'FAILED' : run.skipped ? 'SKIPPED' : 'SUCCEEDED',
    windows: windowCount,
    failedWindows: failed.length,
    watermarkAfter: null,
    lostToRetention: run.lostWindows ?? 0,
    lost: run.lost ?? [],
    cut: run.cut ?? null,
    shortAnswers,
    tookOver: run.tookOver ?? [],
    message: '',
  };
  if (first?.Error) base.error = String(first.Error);
  if (first?.Cause !== undefined) base.cause = typeof first.Cause === 'string' ? first.Cause : JSON.stringify(first.Cause);
  const notes = commitNotes(base);
  if (deferred) notes.push(`${deferred} window(s) deferred to the next run (not started within the execution timeout)`);
  if (!ledger) return { ...base, message: ['no checkpoint ledger configured', ...notes].join('; ') };
  let advancedTo: string | undefined;

  const current = await ledger.read(run.stream);
  if (current.watermark) base.watermarkBefore = current.watermark;
  const covered: { start: string; end: string; ok: boolean; completedThrough?: string | null }[] = results.map((result) => ({
    start: result.window.start,
    end: result.window.end,
    ok: result.status === 'SUCCEEDED',
    completedThrough: result.completedThrough,
  }));
  if (run.beyondRetention) covered.push({ ...run.beyondRetention, ok: true });
  const sorted = covered.sort((a, b) => a.start.localeCompare(b.start));
  let reach = current.watermark ? Date.parse(current.watermark) : run.mode === 'scheduled' && sorted[0] ? Date.parse(sorted[0].start) : undefined;
  if (reach !== undefined && run.leaseOwner) {
    for (const interval of sorted) {
      const start = Date.parse(interval.start);
      const end = Date.parse(interval.end);
      if (end <= reach) continue; // re-scanned overlap: already covered
      if (start > reach) break; // a gap: the range must stay contiguous
      if (interval.ok) {
        reach = end;
        continue;
      }
      if (interval.completedThrough) reach = Math.max(reach, Date.parse(interval.completedThrough));
      break;
    }
    // No run outruns the clock: whatever the results say, never past now − lag as planned.
    if (run.notAfter) reach = Math.min(reach, Date.parse(run.notAfter));
    const to = new Date(reach).toISOString();
    if (!current.watermark || to > current.watermark) {
      const advanced = await ledger.advance(run.stream, to, run.mode === 'scheduled' ? { owner: run.leaseOwner } : { owner: run.leaseOwner, from: sorted[0]?.start ?? to });
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
  if (sorted[0]) record.window = { start: sorted[0].start, end: sorted[sorted.length - 1]!.end };
  if (base.watermarkBefore) record.watermarkBefore = base.watermarkBefore;
  base.watermarkAfter = advancedTo ?? base.watermarkBefore ?? null;
  if (base.watermarkAfter) record.watermarkAfter = base.watermarkAfter;
  if (base.error) record.error = base.error;
  if (base.lostToRetention) record.lostToRetention = base.lostToRetention;
  if (shortAnswers) record.shortAnswers = shortAnswers;
  if (!run.skipped) await ledger.recordRun(run.stream, record);
  const head = run.skipped
    ? `skipped: ${run.skipped}`
    : advancedTo
      ? `checkpoint advanced to ${advancedTo}`
      : `checkpoint stays at ${base.watermarkBefore ?? '(none: manual runs do not start one)'}`;
  base.message = [head, ...notes].join('; ');
  return base;
}

/** What else an operator must hear about a run: what was cut, lost, short, taken over. */
function commitNotes(result: CommitResult): string[] {
  const notes: string[] = [...result.tookOver];
  if (result.cut) {
    notes.push(`not exported: ${result.cut.start} → ${result.cut.end} is not over yet (now − lag); the schedule exports it`);
  }
  if (result.lostToRetention) {
    const ranges = result.lost.map((range) => `${range.start} → ${range.end}`).join(', ');
    notes.push(`${result.lostToRetention} window(s) older than the source's retention were never stored and are lost: ${ranges}`);
  }
  if (result.shortAnswers) {
    notes.push(`${result.shortAnswers} window(s) got an answer holding less than what is stored: kept as stored, flagged in their manifests`);
  }
  return notes;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
