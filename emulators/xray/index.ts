/**
 * HTTP emulator of JFrog Xray Curation's "Get Approved/Blocked Audit Logs" API
 * (GET /xray/api/v1/curation/audit/packages), with a lazily generated dataset of any size.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { oneOf } from '../common/options.js';
import { FaultPlan, type FaultController, type FaultKind, type FaultRequest, type FaultRule } from '../common/faults.js';
import { Prng } from '../common/prng.js';
import { sourceAddressAllowList } from '../common/source-address.js';
import type { EmulatorUser } from './auth.js';
import { Dataset, parseInstantOrThrow, type AddEventsOptions, type WindowQuery } from './dataset.js';
import {
  DRY_RUN_CSV_PAGINGS,
  LAST_PAGE_NEXT_OFFSETS,
  createRequestHandler,
  type DryRunCsvPaging,
  type LastPageNextOffset,
  type RequestLogEntry,
} from './server.js';
import type { AuditEvent } from './types.js';

export { AUDIT_PACKAGES_PATH, DRY_RUN_CSV_PAGINGS, LAST_PAGE_NEXT_OFFSETS, type DryRunCsvPaging, type LastPageNextOffset, type RequestLogEntry } from './server.js';
export { CSV_COLUMNS, csvRows } from './csv.js';
export type { AuditEvent, PolicyHit } from './types.js';
// The fault-injection types, so callers import everything from the emulator they drive.
export type * from '../common/faults.js';

export interface XrayEmulatorOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  seed?: number;
  /** Base events in the dataset (default 10,000). Generated on demand: 1,000,000 starts instantly. */
  events?: number;
  /** Base events are spread over [datasetStart, datasetEnd), created_at growing with the id. */
  datasetStart?: string;
  /** Default: now rounded down to the hour; datasetStart defaults to 30 days before datasetEnd. */
  datasetEnd?: string;
  /** The CSV file is named audit_packages_incomplete.csv when the time range holds more events (default 500,000). */
  incompleteThreshold?: number;
  /** Clock for the created_at_start/end defaults and added events (default Date.now). */
  now?: () => number;
  /** How the last JSON page signals the end (default `null`: the key present and falsy, as the vendor's example reads it). */
  lastPageNextOffset?: LastPageNextOffset;
  /** Largest num_of_rows for format=csv (default 500,000, JFrog's current reference; 2000 is an older Xray). */
  csvMaxRows?: number;
  /**
   * Reject windows longer than this many hours with 400 "Maximum allowed duration is N hours" (default: no
   * limit; third-party clients report 168, and the vendor's own example asks for 30 days in one request).
   */
  maxWindowHours?: number;
  /** Dry-run policies each dry-run event carries (default 1, "one per dry run policy"; at most 3). */
  dryRunPoliciesPerEvent?: number;
  /** Dry-run events carry the id of the request they belong to, so one request's events share an id (default false). */
  dryRunSharedIds?: boolean;
  /** What offset and num_of_rows count in a dry_run=true CSV page: `events` (default) or `rows`. */
  dryRunCsvPaging?: DryRunCsvPaging;
  /** Fault rules installed at start (server `xray`); more via `faults.add()`. */
  faults?: FaultRule[];
  /**
   * Serve only events created in the last N days, as JFrog does (30 days for curation audit data); by default
   * every event is served. The ground truth (`eventIds`) is unchanged.
   */
  retentionDays?: number;
  /** The platform's IP/CIDR allowlist: a request from any other source address gets 403. Absent: every address. */
  ipAllowList?: readonly string[];
}

export interface XrayCredentials {
  username: string;
  password: string;
  accessToken: string;
}

export interface XrayEmulator {
  /** The platform URL; the endpoint is at `${baseUrl}/xray/api/v1/curation/audit/packages`. */
  baseUrl: string;
  /** Has VIEW_POLICIES. */
  admin: XrayCredentials;
  /** A valid user without VIEW_POLICIES (→ 403). */
  noPermission: XrayCredentials;
  /** Inserts events now (ids keep growing), possibly with a past created_at; returns the new real ids. */
  addEvents(count: number, options?: AddEventsOptions): number[];
  /** Ground truth: ids (ascending) with created_at in [start, end), whether or not they are still served. */
  eventIds(query: WindowQuery): number[];
  /** The vendor drops every event created before `instant` (both streams): the API no longer serves them. */
  purgeBefore(instant: string): void;
  countEvents(query: WindowQuery): number;
  /** Ground truth: the events with created_at in [start, end) as served, in id order. */
  events(query: WindowQuery): Iterable<AuditEvent>;
  /** Every request (latest 50,000), without credentials. */
  requestLog: RequestLogEntry[];
  /** Fault injection (server `xray`; HTTP-level kinds only); see emulators/xray/README.md. */
  faults: FaultController;
  close(): Promise<void>;
}

/** Kinds the Xray emulator can inject: the HTTP-level ones and short pages (report outcomes and token expiry are MFT's). */
const XRAY_FAULT_KINDS: readonly FaultKind[] = ['status', 'reset', 'delay', 'truncate', 'hang', 'empty-page', 'no-next-offset'];

function xrayFaultApplies(kind: FaultKind, request: FaultRequest): boolean {
  if (kind === 'empty-page' || kind === 'no-next-offset') return request.method === 'GET';
  return kind !== 'truncate' || request.method !== 'HEAD';
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function credentialsFor(seed: number, username: string, permissions: EmulatorUser['permissions']): EmulatorUser {
  const prng = new Prng(seed ^ 0xc4ed, username.length * 7919 + username.charCodeAt(0));
  return { username, password: `pw-${prng.hex(16)}`, accessToken: `tok-${prng.hex(40)}`, permissions };
}

function publicCredentials(user: EmulatorUser): XrayCredentials {
  return { username: user.username, password: user.password, accessToken: user.accessToken };
}

function requireNonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`XrayEmulatorOptions.${name} must be a non-negative integer, got ${value}`);
  return value;
}


export async function startXrayEmulator(options: XrayEmulatorOptions = {}): Promise<XrayEmulator> {
  const now = options.now ?? Date.now;
  const seed = options.seed ?? 1;
  const events = requireNonNegativeInteger(options.events ?? 10_000, 'events');
  if (events > 1_000_000_000) throw new RangeError(`XrayEmulatorOptions.events must be at most 1,000,000,000, got ${events}`);
  const endMs = options.datasetEnd ? parseInstantOrThrow(options.datasetEnd, 'datasetEnd') : Math.floor(now() / HOUR_MS) * HOUR_MS;
  const startMs = options.datasetStart ? parseInstantOrThrow(options.datasetStart, 'datasetStart') : endMs - 30 * DAY_MS;
  if (startMs >= endMs) throw new RangeError(`datasetStart (${options.datasetStart}) must be before datasetEnd (${new Date(endMs).toISOString()})`);

  if (options.retentionDays !== undefined && !(options.retentionDays > 0)) {
    throw new RangeError(`XrayEmulatorOptions.retentionDays must be positive, got ${options.retentionDays}`);
  }
  const dryRunPoliciesPerEvent = options.dryRunPoliciesPerEvent ?? 1;
  if (!Number.isInteger(dryRunPoliciesPerEvent) || dryRunPoliciesPerEvent < 1 || dryRunPoliciesPerEvent > 3) {
    throw new RangeError(`XrayEmulatorOptions.dryRunPoliciesPerEvent must be 1, 2 or 3, got ${dryRunPoliciesPerEvent}`);
  }
  const lastPageNextOffset = oneOf(options.lastPageNextOffset, LAST_PAGE_NEXT_OFFSETS, 'null', 'XrayEmulatorOptions.lastPageNextOffset');
  const dryRunCsvPaging = oneOf(options.dryRunCsvPaging, DRY_RUN_CSV_PAGINGS, 'events', 'XrayEmulatorOptions.dryRunCsvPaging');
  const csvMaxRows = options.csvMaxRows ?? 500_000;
  if (!Number.isSafeInteger(csvMaxRows) || csvMaxRows < 1) throw new RangeError(`XrayEmulatorOptions.csvMaxRows must be a positive integer, got ${csvMaxRows}`);
  if (options.maxWindowHours !== undefined && !(options.maxWindowHours > 0)) {
    throw new RangeError(`XrayEmulatorOptions.maxWindowHours must be positive, got ${options.maxWindowHours}`);
  }
  const dataset = new Dataset(
    { seed, events, startMs, endMs },
    now,
    { policiesPerEvent: dryRunPoliciesPerEvent, sharedIds: options.dryRunSharedIds ?? false },
    options.retentionDays === undefined ? undefined : options.retentionDays * DAY_MS,
  );
  const admin = credentialsFor(seed, 'admin', new Set(['VIEW_POLICIES']));
  const noPermission = credentialsFor(seed, 'auditor-without-policies', new Set());
  const requestLog: RequestLogEntry[] = [];
  const allowsSource = options.ipAllowList ? sourceAddressAllowList(options.ipAllowList, 'XrayEmulatorOptions.ipAllowList') : undefined;
  const faults = new FaultPlan({ servers: ['xray'], kinds: XRAY_FAULT_KINDS, applies: xrayFaultApplies, now });
  for (const rule of options.faults ?? []) faults.add(rule);
  const server = createServer(
    createRequestHandler({
      dataset,
      users: [admin, noPermission],
      now,
      incompleteThreshold: requireNonNegativeInteger(options.incompleteThreshold ?? 500_000, 'incompleteThreshold'),
      lastPageNextOffset,
      dryRunCsvPaging,
      dryRunPoliciesPerEvent,
      limits: { maxRows: 2000, csvMaxRows, maxWindowHours: options.maxWindowHours },
      requestLog,
      requestLogLimit: 50_000,
      faults,
      ...(allowsSource ? { allowsSource } : {}),
    }),
  );
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    admin: publicCredentials(admin),
    noPermission: publicCredentials(noPermission),
    addEvents: (count, addOptions) => dataset.addEvents(count, addOptions),
    eventIds: (query) => dataset.eventIds(query),
    purgeBefore: (instant) => dataset.purgeBefore(parseInstantOrThrow(instant, 'purgeBefore')),
    countEvents: (query) => dataset.countEvents(query),
    events: (query) => dataset.events(query),
    requestLog,
    faults,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
