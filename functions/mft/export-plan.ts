import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { streamKey } from '../common/checkpoints.js';
import { manifestWindows } from '../common/manifest.js';
import { planRun, type PlannedRun, type ScheduleSettings } from '../common/run-plan.js';
import { filtersId, streamFolder, windowFolder } from '../common/s3-layout.js';
import { InvalidInputError } from '../common/errors.js';
import { isoInstant, type TimeWindow } from '../common/time-window.js';
import type { CheckpointLedger } from '../common/checkpoints.js';
import {
  REPORT_TYPES,
  mftFiltersSchema,
  type CreateReportBody,
  type MftFilters,
  type mftExportInputSchema,
} from './model.js';

/** What every window of one execution shares (small, no secrets). */
export const mftExportPlanSchema = z
  .object({
    type: z.enum(['json', 'csv']),
    filters: mftFiltersSchema,
    filtersId: z.string(),
    bucket: z.string().min(1),
    prefix: z.string(),
    tenant: z.string().min(1),
    pollIntervalSeconds: z.number().int().positive(),
    maxWaitSeconds: z.number().int().positive(),
    /** A scheduled run's windows not started by then are deferred to the next run (see windowStartDeadline). */
    deadline: isoInstant.optional(),
    /** The deadline holds for the windows starting here and later: the first Map round always starts. */
    deadlineFrom: isoInstant.optional(),
    /** `now − lag` when planned: no window ending later is ever written. */
    notAfter: isoInstant.optional(),
  })
  .strict();
export type MftExportPlan = z.infer<typeof mftExportPlanSchema>;

export interface MftPlanSettings {
  bucket: string;
  prefix?: string;
  tenantId: string;
  pollIntervalSeconds: number;
  maxWaitSeconds: number;
  schedule: ScheduleSettings;
  /** How long after planning a scheduled run's windows may still start; default: see windowStartDeadline. */
  windowStartBudgetMs?: number;
}

/**
 * What a window may still need once its report is created, beside the report's own wait: CopyReport's Task
 * (930 s), DeleteReport's (90 s), then CommitRun's (90 s), and a margin.
 */
export const WINDOW_COPY_RESERVE_MS = 1_200_000;
/** Windows may start during at least this long, however long the waits are. */
export const MIN_WINDOW_START_BUDGET_MS = 60_000;
/** Windows the MFT state machine exports at once (its Map's MaxConcurrency; test-checked against the ASL). */
export const MFT_WINDOW_CONCURRENCY = 2;

/**
 * Until when a scheduled run may start windows: the execution timeout (the lease's lifetime) less what the
 * last window started may still take. A window not started by then is deferred, so CommitRun runs before the
 * timeout and keeps what the run did; the next run continues from there.
 */
export function windowStartDeadline(nowMs: number, plan: MftExportPlan, settings: MftPlanSettings): number {
  const budget =
    settings.windowStartBudgetMs ??
    Math.max(
      MIN_WINDOW_START_BUDGET_MS,
      settings.schedule.leaseTtlMs - (plan.maxWaitSeconds + plan.pollIntervalSeconds) * 1000 - WINDOW_COPY_RESERVE_MS,
    );
  return nowMs + budget;
}

export async function planMftRun(
  input: z.output<typeof mftExportInputSchema>,
  settings: MftPlanSettings,
  ledger: CheckpointLedger | undefined,
  executionId: string,
  nowMs: number,
  s3?: S3Client,
): Promise<PlannedRun & { plan: MftExportPlan }> {
  const plan = planFor(input, settings);
  const planned = await planRun({
    window: input.window,
    stream: streamKey({ source: 'mft', tenant: plan.tenant, filtersId: plan.filtersId, format: plan.type }),
    executionId,
    ledger,
    settings: settings.schedule,
    nowMs,
    storedWindows: s3 ? (range) => manifestWindows(s3, plan.bucket, mftStreamFolder(plan), range) : undefined,
  });
  // A manual run exports what it was asked for, or fails; a scheduled one keeps within its execution timeout.
  // The first Map round starts whatever the time (slow steps before it must not stop every run from making
  // progress); the deadline holds for the windows after it.
  const firstDeferrable = planned.windows[MFT_WINDOW_CONCURRENCY];
  if (planned.run.mode === 'scheduled' && firstDeferrable) {
    plan.deadline = new Date(windowStartDeadline(nowMs, plan, settings)).toISOString();
    plan.deadlineFrom = firstDeferrable.start;
  }
  if (planned.run.notAfter) plan.notAfter = planned.run.notAfter;
  return { plan, ...planned };
}

export function planFor(input: z.output<typeof mftExportInputSchema>, settings: MftPlanSettings): MftExportPlan {
  const filters: MftFilters = input.filters;
  return {
    type: input.type,
    filters,
    filtersId: filtersId(filters),
    bucket: settings.bucket,
    prefix: settings.prefix ?? '',
    tenant: settings.tenantId,
    pollIntervalSeconds: input.pollIntervalSeconds ?? settings.pollIntervalSeconds,
    maxWaitSeconds: input.maxWaitSeconds ?? settings.maxWaitSeconds,
  };
}

/**
 * The window's folder and the key of one generation's report: `…/window=<start>--<end>/report.<json|csv>` for
 * the first (the key every export had before generations), `report-g<N>.<json|csv>` for generation N ≥ 2.
 */
export function reportLocation(plan: MftExportPlan, window: TimeWindow, generation = 1): { folder: string; key: string } {
  const folder = windowFolder({ prefix: plan.prefix, source: 'mft', tenant: plan.tenant, filtersId: plan.filtersId, format: plan.type, window });
  return { folder, key: `${folder}report${generation > 1 ? `-g${generation}` : ''}.${plan.type}` };
}

/** The folder of every window of the plan's stream (filters and type are part of it). */
export function mftStreamFolder(plan: Pick<MftExportPlan, 'prefix' | 'tenant' | 'filtersId' | 'type'>): string {
  return streamFolder({ prefix: plan.prefix, source: 'mft', tenant: plan.tenant, filtersId: plan.filtersId, format: plan.type });
}

/** `2026-06-26T00:00:00Z`: how the reference script writes an instant (whole seconds, UTC, no fraction). */
export function wholeSecondInstant(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms) || ms % 1000 !== 0) {
    throw new InvalidInputError(`MFT report windows are whole seconds; ${iso} is not (windows are cut on the grid, so this is a bug)`);
  }
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** The create body of a plan's window, in the reference script's exact shape (see CreateReportBody). */
export function createReportBody(plan: MftExportPlan, window: TimeWindow): CreateReportBody {
  return reportRequest(plan.type, window, plan.filters);
}

/** A create body in the reference script's exact shape: lists deduplicated in order, unset filters null/All/[]. */
export function reportRequest(type: keyof typeof REPORT_TYPES, window: TimeWindow, filters: MftFilters = {}): CreateReportBody {
  const { actor, actorType, actions, resources, outcomes, sourceIp } = filters;
  const unique = (values: readonly string[] | undefined) => [...new Set(values ?? [])];
  return {
    type: REPORT_TYPES[type],
    start: wholeSecondInstant(window.start),
    end: wholeSecondInstant(window.end),
    actor: actor || null,
    actorType: actorType ?? 'All',
    actions: unique(actions),
    resources: unique(resources),
    outcomes: unique(outcomes),
    sourceIp: sourceIp || null,
  };
}
