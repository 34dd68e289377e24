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
