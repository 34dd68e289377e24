import type { FaultKind } from '../common/faults.js';

/**
 * Vocabulary of the Automate MFT Audit Logs Reporting API, shared by every part of the emulator.
 * Enum orders are the vendor's documented orders: clients may send the index instead of the name.
 */

export const REPORT_TYPES = ['Json', 'Csv'] as const;
export const ACTOR_TYPES = ['All', 'User', 'ApiKey'] as const;
export const ACTIONS = ['Get', 'Create', 'Update', 'Delete'] as const;
export const OUTCOMES = ['Success', 'Error'] as const;
export const RESOURCES = [
  'Task',
  'Endpoint',
  'AuthenticationMethod',
  'Schedule',
  'Agent',
  'Folder',
  'KeyCert',
  'Script',
  'Parameter',
  'Tag',
  'User',
  'Role',
  'Report',
  'IdentityProvider',
  'PublicKey',
  'Membership',
  'TenantSetting',
  'AuditLog',
  'System',
] as const;
/** Index = the numeric serialization of a status. */
export const REPORT_STATUSES = ['InProgress', 'Completed', 'Failed'] as const;

export type ReportTypeName = (typeof REPORT_TYPES)[number];
export type ActorType = (typeof ACTOR_TYPES)[number];
export type Action = (typeof ACTIONS)[number];
export type Outcome = (typeof OUTCOMES)[number];
export type Resource = (typeof RESOURCES)[number];
export type ReportStatus = (typeof REPORT_STATUSES)[number];

/** `0` = JSON, `1` = CSV. */
export type ReportType = 0 | 1;

/** A create-report body as a client may send it: enums by name (any case) or by index. */
export interface CreateReportRequest {
  type: number | string;
  start: string;
  end: string;
  actor?: string | null;
  actorType?: number | string | null;
  actions?: (number | string)[] | null;
  resources?: (number | string)[] | null;
  outcomes?: (number | string)[] | null;
  sourceIp?: string | null;
  [unknownField: string]: unknown;
}

/** A validated, normalized create-report body: what a report is generated from. */
export interface ReportQuery {
  type: ReportType;
  /** ISO-8601 UTC with milliseconds; the window is `[start, end)`. */
  start: string;
  end: string;
  actor: string | null;
  actorType: ActorType;
  /** Empty = no filter. Deduplicated, in the documented order. */
  actions: Action[];
  resources: Resource[];
  outcomes: Outcome[];
  /** Normalized textual form (lower-case, compressed IPv6). */
  sourceIp: string | null;
}

/** One audit event of the synthetic timeline; key order is the JSON and CSV column order. */
export interface AuditEvent {
  id: string;
  timestamp: string;
  actor: string;
  actorType: Exclude<ActorType, 'All'>;
  action: Action;
  resource: Resource;
  resourceName: string;
  outcome: Outcome;
  sourceIp: string;
  details: string;
}

export const AUDIT_EVENT_FIELDS = [
  'id',
  'timestamp',
  'actor',
  'actorType',
  'action',
  'resource',
  'resourceName',
  'outcome',
  'sourceIp',
  'details',
] as const satisfies readonly (keyof AuditEvent)[];

/** Test API view of a report that still exists on the emulator. */
export interface ReportRecord {
  id: string;
  tenantId: string;
  status: ReportStatus;
  query: ReportQuery;
  /** ISO-8601 UTC. */
  createdAt: string;
  /** Exact byte length of the file, once known. */
  size?: number;
}

export interface RequestLogEntry {
  server: 'api' | 'storage';
  method: string;
  /** Request path without its query string (it may carry a signature). */
  path: string;
  /** Whether an Authorization header was sent (its value is never recorded). */
  authorization: boolean;
  /** `now()` when the request arrived, in ms. */
  at: number;
  /** The fault injected into this request, if any (see `mft.faults`). */
  fault?: FaultKind;
}
