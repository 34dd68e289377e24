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

/**
 * How the emulated vendor answers where its documents are silent. The defaults are the documented behaviour;
 * the other values are plausible answers a client must tolerate (see README.md, "Behaviour").
 */
export const MFT_KEY_TYPES = ['ES256', 'ES256-SEC1', 'RS256', 'EdDSA'] as const;
export type MftKeyType = (typeof MFT_KEY_TYPES)[number];
export const CREATE_BODY_RULES = ['lenient', 'reference'] as const;
export const CREATE_ANSWERS = ['report', 'id-only'] as const;
export const SIZE_FIELDS = ['bytes', 'kilobytes', 'records', 'omit'] as const;
export const STORAGE_ENCODINGS = ['none', 'gzip', 'deflate', 'br'] as const;
export const LIST_SHAPES = ['items', 'array', 'link-header', 'next-link', 'page-token', 'page-number'] as const;
export const LIST_FIELDS = ['full', 'minimal'] as const;
export type SizeField = (typeof SIZE_FIELDS)[number];
export type StorageEncoding = (typeof STORAGE_ENCODINGS)[number];
export type ListShape = (typeof LIST_SHAPES)[number];

export interface VendorBehaviour {
  createBody: (typeof CREATE_BODY_RULES)[number];
  createAnswer: (typeof CREATE_ANSWERS)[number];
  pendingStatuses: readonly string[];
  failedStatus: string;
  sizeField: SizeField;
  storageEncoding: StorageEncoding;
  listShape: ListShape;
  listPageSize: number;
  listFields: (typeof LIST_FIELDS)[number];
}

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
  /** Records in the file, once known. */
  records?: number;
  /** Byte length of the file as the storage sends it, when it encodes it. */
  encodedSize?: number;
}

export interface RequestLogEntry {
  server: 'api' | 'storage';
  method: string;
  /** Request path without its query string (it may carry a signature). */
  path: string;
  /** The query string of an API request (never of a download link: it holds the signature). */
  query?: string;
  /** Whether an Authorization header was sent (its value is never recorded). */
  authorization: boolean;
  /** The Authorization scheme as sent (`bearer`, `Bearer`, …), without the credentials. */
  authorizationScheme?: string;
  /** The Content-Type header as sent. */
  contentType?: string;
  /** The Accept-Encoding header as sent (downloads). */
  acceptEncoding?: string;
  /** A report create's body exactly as received, parsed as JSON (a token request's body is a credential: never kept). */
  body?: unknown;
  /** `now()` when the request arrived, in ms. */
  at: number;
  /** The fault injected into this request, if any (see `mft.faults`). */
  fault?: FaultKind;
}
