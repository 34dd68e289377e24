import { z } from 'zod';
import { isoInstant } from '../common/time-window.js';

/** The vendor's page size limit for JSON (and for CSV on older platforms); JSON always asks for the largest page. */
export const MAX_PAGE_SIZE = 2000;
/** JFrog's current API reference: `num_of_rows` up to 500,000 with `format=csv`. */
export const MAX_CSV_PAGE_SIZE = 500_000;
/**
 * Events per CSV page (XRAY_CSV_PAGE_SIZE): chosen by measurement (README, "CSV page size"): peak memory grows
 * with the page and time stops improving past it. A platform that answers 400 to it gets MAX_PAGE_SIZE pages.
 */
export const DEFAULT_CSV_PAGE_SIZE = 20_000;
/** Above this many events in a time range the CSV file is named `audit_packages_incomplete.csv`. */
export const CSV_EVENT_LIMIT = 500_000;
export const CSV_FILE = 'audit_packages.csv';
export const CSV_INCOMPLETE_FILE = 'audit_packages_incomplete.csv';

/** What a person or a schedule asks of one Xray export (the state machine's execution input). */
export const xrayExportInputSchema = z
  .object({
    /** A manual run or backfill; without it the run is scheduled and continues from the checkpoint. */
    window: z.object({ start: isoInstant, end: isoInstant }).strict().optional(),
    format: z.enum(['json', 'csv']).default('json'),
    /** Export the Dry Run tab (one event per dry-run policy) instead of real events; stored apart. */
    dryRun: z.boolean().default(false),
  })
  .strict();
export type XrayExportInput = z.input<typeof xrayExportInputSchema>;

/** One audit event as the JSON format returns it; only `id` matters to the exporter, the rest is kept as sent. */
export const xrayEventSchema = z.object({ id: z.number().int().nonnegative() }).passthrough();

export const jsonPageSchema = z.object({
  data: z.array(xrayEventSchema),
  meta: z
    .object({
      next_offset: z.number().int().nonnegative().nullish(),
      result_count: z.number().int().nonnegative().optional(),
      total_count: z.number().int().nonnegative().optional(),
    })
    .passthrough(),
});
