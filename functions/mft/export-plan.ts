import { z } from 'zod';
import { streamKey } from '../common/checkpoints.js';
import { planRun, type PlannedRun, type ScheduleSettings } from '../common/run-plan.js';
import { filtersId, windowFolder } from '../common/s3-layout.js';
import { InvalidInputError } from '../common/errors.js';
import type { TimeWindow } from '../common/time-window.js';
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
): Promise<PlannedRun & { plan: MftExportPlan }> {
  const plan = planFor(input, settings);
  const planned = await planRun({
    window: input.window,
    stream: streamKey({ source: 'mft', tenant: plan.tenant, filtersId: plan.filtersId, format: plan.type }),
    executionId,
    ledger,
    settings: settings.schedule,
    nowMs,
  });
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

/** The window's folder and its data object: `…/window=<start>--<end>/report.<json|csv>`. */
export function reportLocation(plan: MftExportPlan, window: TimeWindow): { folder: string; key: string } {
  const folder = windowFolder({ prefix: plan.prefix, source: 'mft', tenant: plan.tenant, filtersId: plan.filtersId, window });
  return { folder, key: `${folder}report.${plan.type}` };
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
