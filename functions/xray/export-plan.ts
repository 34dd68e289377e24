import { z } from 'zod';
import { InvalidInputError } from '../common/errors.js';
import { isoInstant, makeWindow, parseWindow, type TimeWindow } from '../common/time-window.js';
import { MAX_PAGE_SIZE, xrayExportInputSchema } from './model.js';

/** Everything each window's iteration needs (small, no secrets): it travels to every Map iteration. */
export const xrayExportPlanSchema = z
  .object({
    format: z.enum(['json', 'csv']),
    dryRun: z.boolean(),
    filtersId: z.string(),
    bucket: z.string().min(1),
    prefix: z.string(),
    tenant: z.string().min(1),
    pageSize: z.number().int().min(1).max(MAX_PAGE_SIZE),
    /** Events per stored part; a multiple of pageSize so parts start on page boundaries. */
    eventsPerPart: z.number().int().positive(),
  })
  .strict();
export type XrayExportPlan = z.infer<typeof xrayExportPlanSchema>;

export const windowSchema = z.object({ start: isoInstant, end: isoInstant }).strict();

export interface XraySettings {
  bucket: string;
  prefix?: string;
  /** Names the platform in object keys (default: the platform URL's host name). */
  tenant: string;
  defaultLookbackHours: number;
  defaultWindowHours: number;
  pageSize: number;
  eventsPerPart: number;
}

const MAX_WINDOWS = 1000;

/**
 * Cuts the requested range into windows aligned to multiples of windowHours (UTC), so the same range
 * always yields the same windows (and the same object keys), whoever asks.
 */
export function planXrayExport(
  input: z.output<typeof xrayExportInputSchema>,
  settings: XraySettings,
  nowMs: number,
): { plan: XrayExportPlan; windows: TimeWindow[] } {
  let range: TimeWindow;
  if (input.window) {
    range = parseWindow(input.window);
  } else {
    const end = Math.floor(nowMs / 60_000) * 60_000;
    range = makeWindow(end - (input.lookbackHours ?? settings.defaultLookbackHours) * 3_600_000, end);
  }
  const step = (input.windowHours ?? settings.defaultWindowHours) * 3_600_000;
  const windows: TimeWindow[] = [];
  const rangeEnd = Date.parse(range.end);
  for (let start = Date.parse(range.start); start < rangeEnd; ) {
    const end = Math.min(rangeEnd, (Math.floor(start / step) + 1) * step);
    windows.push(makeWindow(start, end));
    start = end;
    if (windows.length > MAX_WINDOWS) {
      throw new InvalidInputError(`The range needs more than ${MAX_WINDOWS} windows; use a larger windowHours`);
    }
  }
  const eventsPerPart = Math.max(1, Math.round(settings.eventsPerPart / settings.pageSize)) * settings.pageSize;
  return {
    plan: {
      format: input.format,
      dryRun: input.dryRun,
      filtersId: input.dryRun ? 'dry-run' : 'all',
      bucket: settings.bucket,
      prefix: settings.prefix ?? '',
      tenant: settings.tenant,
      pageSize: settings.pageSize,
      eventsPerPart,
    },
    windows,
  };
}
