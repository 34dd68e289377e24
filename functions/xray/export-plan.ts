import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { streamKey, type CheckpointLedger } from '../common/checkpoints.js';
import { manifestWindows } from '../common/manifest.js';
import { planRun, type RunInfo, type ScheduleSettings } from '../common/run-plan.js';
import { windowSchema as isoWindowSchema } from '../common/run-window.js';
import { streamFolder } from '../common/s3-layout.js';
import { groupWindowsByGrid } from '../common/window-grid.js';
import { isoInstant } from '../common/time-window.js';
import { DEFAULT_CSV_PAGE_SIZE, MAX_CSV_PAGE_SIZE, MAX_PAGE_SIZE, xrayExportInputSchema } from './model.js';

/** Everything each group of windows needs (small, no secrets): it travels to every Map iteration. */
export const xrayExportPlanSchema = z
  .object({
    format: z.enum(['json', 'csv']),
    dryRun: z.boolean(),
    filtersId: z.string(),
    bucket: z.string().min(1),
    prefix: z.string(),
    tenant: z.string().min(1),
    /** Events per page: at most 2,000 for JSON; for CSV up to 500,000 (XRAY_CSV_PAGE_SIZE). */
    pageSize: z.number().int().min(1).max(MAX_CSV_PAGE_SIZE),
    /** Events per stored part; a multiple of pageSize so parts start on page boundaries. */
    eventsPerPart: z.number().int().positive(),
    /** The stream's window grid (ms): every window of a group is one grid cell. */
    gridMs: z.number().int().positive(),
    /** `now − lag` when planned: no window ending later is ever written. */
    notAfter: isoInstant.optional(),
  })
  .strict()
  .refine((plan) => plan.format === 'csv' || plan.pageSize <= MAX_PAGE_SIZE, { message: `a JSON page holds at most ${MAX_PAGE_SIZE} events`, path: ['pageSize'] });
export type XrayExportPlan = z.infer<typeof xrayExportPlanSchema>;

export const windowSchema = isoWindowSchema;

/** A Map item: consecutive windows of one grid (the plan's unless `gridMs` says otherwise: time exported on an earlier grid). */
export const groupSchema = z.object({ start: isoInstant, end: isoInstant, gridMs: z.number().int().positive().optional() }).strict();
export type WindowGroup = z.infer<typeof groupSchema>;

export interface XraySettings {
  bucket: string;
  prefix?: string;
  /** Names the platform in object keys (default: the platform URL's host name). */
  tenant: string;
  /** Events per JSON page (at most 2,000). */
  pageSize: number;
  /** Events per CSV page (at most 500,000); default DEFAULT_CSV_PAGE_SIZE. */
  csvPageSize?: number;
  eventsPerPart: number;
  /** Grid windows per Map item: one invocation walks them in turn, so transitions stay few. */
  groupHours: number;
  schedule: ScheduleSettings;
}

export async function planXrayRun(
  input: z.output<typeof xrayExportInputSchema>,
  settings: XraySettings,
  ledger: CheckpointLedger | undefined,
  executionId: string,
  nowMs: number,
  s3?: S3Client,
): Promise<{ plan: XrayExportPlan; groups: WindowGroup[]; run: RunInfo }> {
  const pageSize = input.format === 'csv' ? (settings.csvPageSize ?? DEFAULT_CSV_PAGE_SIZE) : settings.pageSize;
  const eventsPerPart = Math.max(1, Math.round(settings.eventsPerPart / pageSize)) * pageSize;
  const plan: XrayExportPlan = {
    format: input.format,
    dryRun: input.dryRun,
    filtersId: input.dryRun ? 'dry-run' : 'all',
    bucket: settings.bucket,
    prefix: settings.prefix ?? '',
    tenant: settings.tenant,
    pageSize,
    eventsPerPart,
    gridMs: settings.schedule.gridMs,
  };
  const { windows, run } = await planRun({
    window: input.window,
    stream: streamKey({ source: 'xray', tenant: plan.tenant, filtersId: plan.filtersId, format: plan.format }),
    executionId,
    ledger,
    settings: settings.schedule,
    nowMs,
    storedWindows: s3 ? (range) => manifestWindows(s3, plan.bucket, xrayStreamFolder(plan), range) : undefined,
  });
  if (run.notAfter) plan.notAfter = run.notAfter;
  return { plan, groups: groupWindowsByGrid(windows, settings.schedule.gridMs, settings.groupHours * 3_600_000), run };
}

/** The folder of every window of the plan's stream (format and dry-run are part of it). */
export function xrayStreamFolder(plan: Pick<XrayExportPlan, 'prefix' | 'tenant' | 'filtersId' | 'format'>): string {
  return streamFolder({ prefix: plan.prefix, source: 'xray', tenant: plan.tenant, filtersId: plan.filtersId, format: plan.format });
}
