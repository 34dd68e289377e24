import { z } from 'zod';
import { isoInstant } from '../common/time-window.js';

/** The vendor's page size limit; we always ask for the largest page. */
export const MAX_PAGE_SIZE = 2000;
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
