/**
 * Local twin of Progress Automate MFT's Audit Logs Reporting API (see shared/specs/mft-audit-logs-api.md):
 * token endpoint with private-key JWT client assertions, asynchronous audit-log reports over a
 * deterministic synthetic timeline, and a separate "object storage" listener for presigned downloads.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { oneOf } from '../common/options.js';
import { FAULT_KINDS, FaultPlan, type FaultController, type FaultKind, type FaultRequest, type FaultRule, type ReportOutcome, type RuleHandle } from '../common/faults.js';
import { sourceAddressAllowList } from '../common/source-address.js';
import { AccessTokens } from './access-tokens.js';
import { createApiHandler, REPORT_CREATED } from './api-server.js';
import { AssertionVerifier, type PublicKeyInput } from './assertion.js';
import { AuditTimeline } from './dataset.js';
import { UrlSigner } from './presign.js';
import { ReportView, type StatusFormat } from './report-view.js';
import { ReportStore } from './reports.js';
import { createStorageHandler } from './storage-server.js';
import {
  CREATE_ANSWERS,
  CREATE_BODY_RULES,
  LIST_FIELDS,
  LIST_SHAPES,
  MFT_KEY_TYPES,
  SIZE_FIELDS,
  STORAGE_ENCODINGS,
  type CreateReportRequest,
  type MftKeyType,
  type ReportRecord,
  type RequestLogEntry,
  type VendorBehaviour,
} from './types.js';
import { validateCreateReport } from './validation.js';

export type { CreateReportRequest, ReportRecord, RequestLogEntry, ReportQuery, AuditEvent, ReportStatus, MftKeyType, ListShape, SizeField, StorageEncoding } from './types.js';
export { MFT_KEY_TYPES, CREATE_BODY_RULES, CREATE_ANSWERS, SIZE_FIELDS, STORAGE_ENCODINGS, LIST_SHAPES, LIST_FIELDS } from './types.js';
export { MAX_ASSERTION_LIFETIME_SECONDS } from './assertion.js';
export { REFERENCE_BODY_KEYS } from './validation.js';
export type { StatusFormat } from './report-view.js';
export type { PublicKeyInput } from './assertion.js';
export { ReportValidationError } from './validation.js';
export { AuditTimeline, TIMELINE_ORIGIN_MS } from './dataset.js';
export { CSV_HEADER, CSV_LINE_END } from './formats.js';
// The fault-injection types, so callers import everything from the emulator they drive.
export type * from '../common/faults.js';

export const DEFAULT_TENANT_ID = '3f6c1a9e-7b42-4d8e-9a15-c0d2e8f4b7a1';

export interface MftEmulatorOptions {
  host?: string;
  /** API port, 0 = any free port. */
  port?: number;
  /** Separate "object storage" listener for presigned downloads, 0 = any free port. */
  downloadPort?: number;
  /** Dataset seed. */
  seed?: number;
  /** Density of the synthetic audit-event timeline. */
  eventsPerHour?: number;
  /** A report stays InProgress at least this long. */
  reportReadyAfterMs?: number;
  accessTokenTtlSeconds?: number;
  downloadUrlTtlSeconds?: number;
  /** Allowed skew for the assertion's exp/nbf. */
  clockSkewSeconds?: number;
  /** How report.status is serialized; 'mixed' alternates per serialized report, string first. */
  statusFormat?: StatusFormat;
  tenantId?: string;
  /** Clock in ms. */
  now?: () => number;
  /** Debug lines: `true` writes them to stderr (stdout is left to the CLI), a function receives them. */
  debug?: boolean | ((line: string) => void);
  /** Fault rules installed at start (servers `api`, `token`, `storage`); more via `faults.add()`. */
  faults?: FaultRule[];
  /**
   * The API key's IP Access (addresses or CIDR ranges): an API request (token or reports) from any other source
   * address gets 403. Absent: every address, the vendor's default. The download listener is not restricted.
   */
  ipAllowList?: readonly string[];
  /**
   * The API key generated and registered for `kid`: ES256 (P-256, PKCS#8 PEM; the default), ES256-SEC1 (the
   * same key kind as a `BEGIN EC PRIVATE KEY` PEM), RS256 (RSA 2048) or EdDSA (Ed25519), as the vendor allows.
   */
  keyType?: MftKeyType;
  /** `reference`: a create body must have the reference script's exact shape, or 400 (default `lenient`). */
  createBody?: (typeof CREATE_BODY_RULES)[number];
  /** The create answer: the report object (default), or `id-only`: `{ "id": … }` and nothing else. */
  createAnswer?: (typeof CREATE_ANSWERS)[number];
  /** The status words (string format) a report shows while generated, in turn (default `["InProgress"]`). */
  pendingStatuses?: string[];
  /** The status word (string format) of a failed report (default `Failed`). */
  failedStatus?: string;
  /** What `size` holds: the file's bytes (default), `kilobytes`, its `records`, or `omit` (no size). */
  sizeField?: (typeof SIZE_FIELDS)[number];
  /** The storage keeps and serves every file with this Content-Encoding, whatever is asked (default `none`). */
  storageEncoding?: (typeof STORAGE_ENCODINGS)[number];
  /** The list: `items` (default), a bare `array`, or pages linked by `link-header`, `next-link`, `page-token`, `page-number`. */
  listShape?: (typeof LIST_SHAPES)[number];
  /** Items per page of a paged list shape (default 50). */
  listPageSize?: number;
  /** List items carry the whole report object (`full`, default) or only `minimal`: id and status. */
  listFields?: (typeof LIST_FIELDS)[number];
}

export interface MftEmulator {
  /** e.g. http://127.0.0.1:PORT, no trailing slash. */
  baseUrl: string;
  /** `${baseUrl}/v1/oauth/token`: also the only accepted assertion audience. */
  tokenUrl: string;
  /** Origin of the storage listener (another port, so another origin). */
  downloadBaseUrl: string;
  tenantId: string;
  kid: string;
  /** PEM of the freshly generated key registered for `kid` (PKCS#8, or SEC1 with keyType ES256-SEC1). */
  privateKeyPem: string;
  /** The algorithm an assertion for `kid` must use. */
  keyAlgorithm: 'ES256' | 'RS256' | 'EdDSA';
  /** Registers another API key (for tests), by default for `tenantId`; refuses RSA under 2048 bits and other curves. */
  registerKey(kid: string, publicKey: PublicKeyInput, tenantId?: string): void;
  /** Every report that still exists, all tenants. */
  reports(): ReportRecord[];
  requestLog: RequestLogEntry[];
  /** Exactly the bytes a report created with this body would serve; throws ReportValidationError if invalid. */
  expectedFile(request: CreateReportRequest): AsyncIterable<Buffer>;
  /** Fault injection on the three servers (`api`, `token`, `storage`); see README.md. */
  faults: FaultController;
  /** The next `count` reports created end Failed, or stay InProgress forever (a rule; `faults.clear()` removes it). */
  failNextReports(count: number, outcome?: ReportOutcome): RuleHandle;
  /** Every access token issued so far expires now: its next use gets 401; new tokens work. Returns how many. */
  expireAccessTokens(): number;
  /**
   * The vendor drops every event before `instant` (a retention the API does not document): reports of those
   * times hold fewer events, or none, from now on. The timeline (the ground truth) is unchanged.
   */
  purgeBefore(instant: string): void;
  close(): Promise<void>;
}

/** Kinds the MFT emulator can inject: all but the Xray page faults. */
const MFT_FAULT_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((kind) => kind !== 'empty-page' && kind !== 'no-next-offset');

/**
 * A report outcome applies only once a create has been accepted (stage `report-created`, and nothing else does
 * then); expiring tokens only to the report endpoints; truncation needs a body.
 */
function mftFaultApplies(kind: FaultKind, request: FaultRequest): boolean {
  if (request.stage === REPORT_CREATED) return kind === 'report-outcome';
  if (kind === 'report-outcome') return false;
  if (kind === 'expire-tokens') return request.server === 'api';
  if (kind === 'truncate') return request.method !== 'HEAD' && request.method !== 'DELETE';
  return true;
}

export async function startMftEmulator(options: MftEmulatorOptions = {}): Promise<MftEmulator> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  const tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
  const debug = debugSink(options.debug);
  const allowsSource = options.ipAllowList ? sourceAddressAllowList(options.ipAllowList, 'MftEmulatorOptions.ipAllowList') : undefined;
  const requestLog: RequestLogEntry[] = [];

  const behaviour = vendorBehaviour(options);
  const readyAfterMs = options.reportReadyAfterMs ?? 1500;
  const timeline = new AuditTimeline(options.seed ?? 1, options.eventsPerHour ?? 600);
  const store = new ReportStore({ timeline, readyAfterMs, encoding: behaviour.storageEncoding, now, debug });

  const storageServer = createServer();
  const apiServer = createServer();
  const downloadBaseUrl = await listen(storageServer, host, options.downloadPort ?? 0);
  const baseUrl = await listen(apiServer, host, options.port ?? 0);
  const tokenUrl = `${baseUrl}/v1/oauth/token`;

  const verifier = new AssertionVerifier({ tokenUrl, clockSkewSeconds: options.clockSkewSeconds ?? 30, now });
  const tokens = new AccessTokens(options.accessTokenTtlSeconds ?? 3600, now);
  const signer = new UrlSigner(downloadBaseUrl, options.downloadUrlTtlSeconds ?? 900, now);
  const faults = new FaultPlan({ servers: ['api', 'token', 'storage'], kinds: MFT_FAULT_KINDS, applies: mftFaultApplies, now });
  for (const rule of options.faults ?? []) faults.add(rule);
  const view = new ReportView({ statusFormat: options.statusFormat ?? 'string', behaviour, readyAfterMs, now });

  const { privateKeyPem, publicKey } = generateApiKey(options.keyType ?? 'ES256');
  const kid = `mft-apikey-${crypto.randomUUID()}`;
  const keyAlgorithm = verifier.registerKey(kid, publicKey, tenantId);

  storageServer.on('request', createStorageHandler({ store, signer, requestLog, faults, encoding: behaviour.storageEncoding, now, debug }));
  apiServer.on('request', createApiHandler({ verifier, tokens, store, signer, view, requestLog, faults, behaviour, now, debug, ...(allowsSource ? { allowsSource } : {}) }));

  return {
    baseUrl,
    tokenUrl,
    downloadBaseUrl,
    tenantId,
    kid,
    privateKeyPem,
    keyAlgorithm,
    registerKey: (extraKid, key, keyTenantId = tenantId) => void verifier.registerKey(extraKid, key, keyTenantId),
    reports: () => store.records(),
    requestLog,
    expectedFile: (request) => {
      const query = validateCreateReport(request);
      return yieldingChunks(store.fileChunks(query));
    },
    faults,
    failNextReports: (count, outcome = 'failed') =>
      faults.add({ match: { server: 'api' }, fault: { kind: 'report-outcome', outcome }, times: count }),
    expireAccessTokens: () => tokens.expireAll(),
    purgeBefore: (instant) => store.purgeBefore(Date.parse(instant)),
    close: async () => {
      store.close();
      await Promise.all([shutdown(apiServer), shutdown(storageServer)]);
    },
  };
}

/** A key pair of the kind asked for; the private half as the PEM a customer would hold. */
function generateApiKey(keyType: MftKeyType): { privateKeyPem: string; publicKey: KeyObject } {
  const pair =
    keyType === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : keyType === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const privateKeyPem = pair.privateKey.export({ format: 'pem', type: keyType === 'ES256-SEC1' ? 'sec1' : 'pkcs8' }).toString();
  return { privateKeyPem, publicKey: pair.publicKey };
}


/** The options that decide what the documents leave open, checked (a bad one fails before anything listens). */
export function vendorBehaviour(options: MftEmulatorOptions): VendorBehaviour {
  oneOf(options.keyType, MFT_KEY_TYPES, 'ES256', 'MftEmulatorOptions.keyType');
  const pendingStatuses = options.pendingStatuses ?? ['InProgress'];
  if (pendingStatuses.length === 0 || pendingStatuses.some((status) => typeof status !== 'string' || status === '')) {
    throw new RangeError('MftEmulatorOptions.pendingStatuses must be a non-empty list of status words');
  }
  const listPageSize = options.listPageSize ?? 50;
  if (!Number.isSafeInteger(listPageSize) || listPageSize < 1) throw new RangeError(`MftEmulatorOptions.listPageSize must be a positive integer, got ${listPageSize}`);
  return {
    createBody: oneOf(options.createBody, CREATE_BODY_RULES, 'lenient', 'MftEmulatorOptions.createBody'),
    createAnswer: oneOf(options.createAnswer, CREATE_ANSWERS, 'report', 'MftEmulatorOptions.createAnswer'),
    pendingStatuses,
    failedStatus: options.failedStatus || 'Failed',
    sizeField: oneOf(options.sizeField, SIZE_FIELDS, 'bytes', 'MftEmulatorOptions.sizeField'),
    storageEncoding: oneOf(options.storageEncoding, STORAGE_ENCODINGS, 'none', 'MftEmulatorOptions.storageEncoding'),
    listShape: oneOf(options.listShape, LIST_SHAPES, 'items', 'MftEmulatorOptions.listShape'),
    listPageSize,
    listFields: oneOf(options.listFields, LIST_FIELDS, 'full', 'MftEmulatorOptions.listFields'),
  };
}

function debugSink(option: MftEmulatorOptions['debug']): (line: string) => void {
  if (typeof option === 'function') return option;
  if (option) return (line) => void process.stderr.write(`[mft-emulator] ${line}\n`);
  return () => {};
}

async function* yieldingChunks(chunks: Iterable<Buffer>): AsyncGenerator<Buffer> {
  for (const chunk of chunks) {
    yield chunk;
    await yieldToEventLoop();
  }
}

function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve(`http://${hostPart}:${address.port}`);
    });
  });
}

function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
