import { z } from 'zod';
import { filtersId, windowObjectKey } from '../common/s3-layout.js';
import { isoInstant, makeWindow, parseWindow, type TimeWindow } from '../common/time-window.js';
import {
  REPORT_TYPES,
  mftFiltersSchema,
  type CreateReportBody,
  type MftFilters,
  type mftExportInputSchema,
} from './model.js';

/** Everything the later steps need, decided once at the start of an execution (small, no secrets). */
export const mftExportPlanSchema = z
  .object({
    window: z.object({ start: isoInstant, end: isoInstant }).strict(),
    type: z.enum(['json', 'csv']),
    filters: mftFiltersSchema,
    filtersId: z.string(),
    destination: z.object({ bucket: z.string().min(1), key: z.string().min(1) }).strict(),
    pollIntervalSeconds: z.number().int().positive(),
    maxWaitSeconds: z.number().int().positive(),
  })
  .strict();
export type MftExportPlan = z.infer<typeof mftExportPlanSchema>;

export interface MftPlanSettings {
  bucket: string;
  prefix?: string;
  tenantId: string;
  defaultLookbackHours: number;
  pollIntervalSeconds: number;
  maxWaitSeconds: number;
}

/**
 * Turns an execution input into a plan. With no window (a scheduled run) the window is the
 * lookback ending at the current minute, so two runs in the same minute ask for the same window.
 */
export function planMftExport(
  input: z.output<typeof mftExportInputSchema>,
  settings: MftPlanSettings,
  nowMs: number,
): MftExportPlan {
  let window: TimeWindow;
  if (input.window) {
    window = parseWindow(input.window);
  } else {
    const end = Math.floor(nowMs / 60_000) * 60_000;
    const hours = input.lookbackHours ?? settings.defaultLookbackHours;
    window = makeWindow(end - hours * 3_600_000, end);
  }
  const filters: MftFilters = input.filters;
  const id = filtersId(filters);
  return {
    window,
    type: input.type,
    filters,
    filtersId: id,
    destination: {
      bucket: settings.bucket,
      key: windowObjectKey({
        prefix: settings.prefix,
        source: 'mft',
        tenant: settings.tenantId,
        filtersId: id,
        window,
        extension: input.type,
      }),
    },
    pollIntervalSeconds: input.pollIntervalSeconds ?? settings.pollIntervalSeconds,
    maxWaitSeconds: input.maxWaitSeconds ?? settings.maxWaitSeconds,
  };
}

export function createReportBody(plan: MftExportPlan): CreateReportBody {
  const body: CreateReportBody = { type: REPORT_TYPES[plan.type], start: plan.window.start, end: plan.window.end };
  const { actor, actorType, actions, resources, outcomes, sourceIp } = plan.filters;
  if (actor) body.actor = actor;
  if (actorType) body.actorType = actorType;
  if (actions?.length) body.actions = actions;
  if (resources?.length) body.resources = resources;
  if (outcomes?.length) body.outcomes = outcomes;
  if (sourceIp) body.sourceIp = sourceIp;
  return body;
}
