import { isIP } from 'node:net';
import { z } from 'zod';
import { isoInstant } from '../common/time-window.js';

/** The vendor's documented enums. Requests use the string forms; numbers are accepted on the way in. */
export const ACTOR_TYPES = ['All', 'User', 'ApiKey'] as const;
export const ACTIONS = ['Get', 'Create', 'Update', 'Delete'] as const;
export const OUTCOMES = ['Success', 'Error'] as const;
export const RESOURCES = [
  'Task', 'Endpoint', 'AuthenticationMethod', 'Schedule', 'Agent', 'Folder', 'KeyCert', 'Script', 'Parameter',
  'Tag', 'User', 'Role', 'Report', 'IdentityProvider', 'PublicKey', 'Membership', 'TenantSetting', 'AuditLog',
  'System',
] as const;
export const REPORT_TYPES = { json: 0, csv: 1 } as const;
export type ReportType = keyof typeof REPORT_TYPES;

/** Accepts a documented name in any letter case; answers with the vendor's spelling. */
function enumName<const T extends readonly string[]>(values: T, what: string) {
  return z.string().transform((value, ctx) => {
    const match = values.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `unknown ${what} ${JSON.stringify(value)}; use one of ${values.join(', ')}` });
      return z.NEVER;
    }
    return match as T[number];
  });
}

export const mftFiltersSchema = z
  .object({
    actor: z.string().min(1).max(320, 'actor is at most 320 characters (a substring of the actor e-mail)').optional(),
    actorType: enumName(ACTOR_TYPES, 'actor type').optional(),
    actions: z.array(enumName(ACTIONS, 'action')).optional(),
    resources: z.array(enumName(RESOURCES, 'resource')).optional(),
    outcomes: z.array(enumName(OUTCOMES, 'outcome')).optional(),
    sourceIp: z
      .string()
      .refine((value) => isIP(value) !== 0, 'sourceIp must be an IPv4 or IPv6 address')
      // Node's isIP accepts `fe80::1%eth0`; a zone id names an interface of one machine, and the vendor refuses it.
      .refine((value) => !value.includes('%'), 'sourceIp must be an address without a zone id (drop the %… suffix)')
      .optional(),
  })
  .strict();
export type MftFilters = z.infer<typeof mftFiltersSchema>;

/** What a person or a schedule asks of one MFT export (the state machine's execution input). */
export const mftExportInputSchema = z
  .object({
    /** A manual run or backfill; without it the run is scheduled and continues from the checkpoint. */
    window: z.object({ start: isoInstant, end: isoInstant }).strict().optional(),
    type: z.enum(['json', 'csv']).default('json'),
    filters: mftFiltersSchema.default({}),
    pollIntervalSeconds: z.number().int().min(1).max(300).optional(),
    maxWaitSeconds: z.number().int().min(1).max(86_400).optional(),
  })
  .strict();
export type MftExportInput = z.input<typeof mftExportInputSchema>;

/**
 * The body of `POST /v1/reports/audit-logs`, in the shape the vendor's reference script always sends: all nine
 * keys, the numeric type, whole-second UTC instants (`2026-06-26T00:00:00Z`), `null` / `"All"` / `[]` for the
 * filters that are not set.
 */
export interface CreateReportBody {
  type: 0 | 1;
  start: string;
  end: string;
  actor: string | null;
  actorType: (typeof ACTOR_TYPES)[number];
  actions: string[];
  resources: string[];
  outcomes: string[];
  sourceIp: string | null;
}

/** What the state machine branches on (`$.poll.status`). */
export type ReportStatus = 'InProgress' | 'Completed' | 'Failed';

/** A report's status as read: the three the exporter knows, or one it does not recognize (it keeps polling). */
export type ReportState = ReportStatus | 'Unrecognized';

/**
 * A report as the vendor returns it. Only `id` is required: the reference script reads `created.get('id')`
 * and prints the status, so a create answer without a status is a report all the same; a status that is
 * missing on a later read is one the exporter does not recognize.
 */
export const reportSchema = z
  .object({
    id: z.union([z.string().min(1), z.number()]).transform(String),
    status: z.union([z.string(), z.number(), z.boolean()]).nullish(),
    url: z.string().nullish(),
    size: z.union([z.number(), z.string()]).nullish(),
  })
  .passthrough();

export interface Report {
  id: string;
  status: ReportState;
  /** The vendor's status as sent (`""` when absent), for messages and warnings. */
  rawStatus: string;
  url?: string;
  /** The `size` the vendor shows, when it is a whole number: information only (its unit is not documented). */
  size?: number;
}

/** Words that can only mean the report will never complete. */
const FAILED_STATUSES = new Set(['failed', 'failure', 'error', 'errored', 'faulted', 'cancelled', 'canceled', 'aborted', 'rejected', 'expired']);

/**
 * The reference script's reading of a status: completed when `str(status).lower() == "completed"` or
 * `status == 1`, in progress when `"inprogress"` or `0`. It raises on anything else; the exporter ends the
 * poll only on a status that clearly says failed, and keeps polling (up to maxWaitSeconds) on any other one:
 * Queued, Running, NotStarted, a number other than 0 and 1, or none at all.
 */
export function normalizeStatus(raw: unknown): ReportState {
  if (typeof raw === 'number') return raw === 1 ? 'Completed' : raw === 0 ? 'InProgress' : 'Unrecognized';
  if (typeof raw !== 'string') return 'Unrecognized';
  const text = raw.trim().toLowerCase();
  if (text === 'completed') return 'Completed';
  if (text === 'inprogress') return 'InProgress';
  return FAILED_STATUSES.has(text) ? 'Failed' : 'Unrecognized';
}

export const tokenResponseSchema = z
  .object({
    access_token: z
      .string()
      .min(1, 'access_token is empty')
      // It goes into an Authorization header: a value that cannot be one is no token (and would fail every call).
      .refine((value) => /^[\x21-\x7e]+$/.test(value), 'access_token holds characters an HTTP header cannot carry'),
    token_type: z.string().optional(),
    expires_in: z.union([z.number(), z.string()]).optional(),
  })
  .passthrough();
