/** The HTTP side: routing, auth, validation, and streaming the JSON page or the zipped CSV. */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { applyFault, requestKey, type Fault, type FaultKind, type FaultPlan } from '../common/faults.js';
import { mix32 } from '../common/prng.js';
import { authenticate, type AuthScheme, type EmulatorUser } from './auth.js';
import { csvChunks, csvRows, eventRows } from './csv.js';
import type { Dataset } from './dataset.js';
import { sendError } from './errors.js';
import { jsonPageChunks, type PageMeta } from './json-page.js';
import { pageEvents, pageLength, type OrderedView } from './ordering.js';
import { parseAuditQuery, QueryError, type AuditQuery, type QueryLimits } from './query.js';
import { writeSingleFileZip } from './zip-stream.js';

export const AUDIT_PACKAGES_PATH = '/xray/api/v1/curation/audit/packages';

/**
 * How the last page says "no more": the key is present and falsy (`null`, the default, or `zero`), as the
 * vendor's example needs (it reads `output['meta']['next_offset']`); `omit` leaves the key out and `vary`
 * mixes all three, for clients that must tolerate either.
 */
export const LAST_PAGE_NEXT_OFFSETS = ['null', 'zero', 'omit', 'vary'] as const;
export type LastPageNextOffset = (typeof LAST_PAGE_NEXT_OFFSETS)[number];

/** What `offset` and `num_of_rows` count in a CSV page with dry_run=true: not documented (see README). */
export const DRY_RUN_CSV_PAGINGS = ['events', 'rows'] as const;
export type DryRunCsvPaging = (typeof DRY_RUN_CSV_PAGINGS)[number];

export interface RequestLogEntry {
  method: string;
  path: string;
  query: string;
  authorization: AuthScheme;
  /** 0 when no response was sent (an injected reset or hang). */
  status: number;
  at: number;
  /** The fault injected into this request, if any (see `xray.faults`). */
  fault?: FaultKind;
}

export interface ServerContext {
  dataset: Dataset;
  users: readonly EmulatorUser[];
  now: () => number;
  incompleteThreshold: number;
  lastPageNextOffset: LastPageNextOffset;
  dryRunCsvPaging: DryRunCsvPaging;
  /** Rows of every dry-run event (its dry-run policies): what row paging counts by. */
  dryRunPoliciesPerEvent: number;
  limits: Omit<QueryLimits, 'nowMs'>;
  requestLog: RequestLogEntry[];
  requestLogLimit: number;
  /** Fault injection; none when absent. */
  faults?: FaultPlan;
  /** The platform's IP allowlist; absent = every source address. */
  allowsSource?: (address: string | undefined) => boolean;
}

/** ISO instant, whole seconds shown without milliseconds like the vendor's meta. */
function formatInstant(instantMs: number): string {
  const iso = new Date(instantMs).toISOString();
  return instantMs % 1000 === 0 ? iso.replace(/\.000Z$/, 'Z') : iso;
}

function lastPageMarker(style: LastPageNextOffset, query: AuditQuery): number | null | undefined {
  const chosen = style === 'vary' ? (['omit', 'null', 'zero'] as const)[mix32(query.offset ^ query.createdAtStartMs) % 3]! : style;
  return chosen === 'null' ? null : chosen === 'zero' ? 0 : undefined;
}

function pageMeta(context: ServerContext, query: AuditQuery, total: number, resultCount: number): PageMeta {
  const more = query.offset + resultCount < total;
  const nextOffset = more ? query.offset + resultCount : lastPageMarker(context.lastPageNextOffset, query);
  return {
    ...(query.includeTotal ? { total_count: total } : {}),
    result_count: resultCount,
    ...(nextOffset === undefined ? {} : { next_offset: nextOffset }),
    order_by: query.orderBy,
    direction: query.direction,
    num_of_rows: query.numOfRows,
    offset: query.offset,
    include_total: query.includeTotal,
    include_explanation_and_recommendation: false,
    created_at_start: formatInstant(query.createdAtStartMs),
    created_at_end: formatInstant(query.createdAtEndMs),
  };
}

/**
 * CSV paging: a zip has no meta, and the vendor documents no header for it, so none is invented here.
 * A CSV caller pages by offset (+ num_of_rows events) until a page holds fewer than num_of_rows events.
 * With dry_run=true and dryRunCsvPaging `rows`, offset and num_of_rows count CSV rows instead.
 */
async function sendPage(
  context: ServerContext,
  query: AuditQuery,
  response: ServerResponse,
  record: (status: number) => void,
  fault: Fault | undefined,
): Promise<void> {
  const { dataset } = context;
  const window = dataset.servedWindow(query.dryRun, query.createdAtStartMs, query.createdAtEndMs);
  const view = dataset.ordered(window, query.dryRun, query.orderBy);
  // An injected short answer: no events, or a page that does not say where the next one starts.
  const emptied = fault?.kind === 'empty-page';
  const events = emptied ? [][Symbol.iterator]() : pageEvents(view, query.offset, query.numOfRows, query.direction);
  record(200);
  if (query.format === 'csv') {
    const fileName = window.size > context.incompleteThreshold ? 'audit_packages_incomplete.csv' : 'audit_packages.csv';
    response.writeHead(200, {
      'content-type': 'application/zip',
      'content-disposition': 'attachment; filename="audit_packages.zip"',
    });
    const rows = query.dryRun && context.dryRunCsvPaging === 'rows' ? rowPage(view, query, context.dryRunPoliciesPerEvent) : eventRows(events);
    await writeSingleFileZip(response, fileName, csvChunks(rows), new Date(context.now()));
    return;
  }
  const meta = pageMeta(context, query, view.size, emptied ? 0 : pageLength(view, query.offset, query.numOfRows));
  if (emptied || fault?.kind === 'no-next-offset') delete meta.next_offset;
  if (fault?.kind === 'truncate') {
    // A truncated page announces its full length, so a client can tell it is short: build it whole (≤ 2000 events).
    const body = Buffer.from([...jsonPageChunks(events, meta)].join(''));
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    response.end(body);
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json' });
  await pipeline(Readable.from(jsonPageChunks(events, meta)), response);
}

/** The CSV rows from row `offset` on, at most num_of_rows of them (every event has `rowsPerEvent` rows). */
function* rowPage(view: OrderedView, query: AuditQuery, rowsPerEvent: number): Generator<string> {
  let skip = query.offset % rowsPerEvent;
  let left = query.numOfRows;
  const first = Math.floor(query.offset / rowsPerEvent);
  for (const event of pageEvents(view, first, Math.ceil((skip + left) / rowsPerEvent), query.direction)) {
    for (const row of csvRows(event)) {
      if (skip > 0) {
        skip--;
        continue;
      }
      if (left-- <= 0) return;
      yield row;
    }
  }
}

/** The `offset` parameter as a number (absent = 0), for fault rules that target one page. */
function offsetOf(params: URLSearchParams): number | undefined {
  const raw = params.get('offset');
  if (raw === null) return 0;
  return /^\d+$/.test(raw) ? Number(raw) : undefined;
}

async function handle(context: ServerContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://emulator');
  const method = request.method ?? 'GET';
  const injected = context.faults?.decide({
    server: 'xray',
    method,
    path: url.pathname,
    key: requestKey('xray', method, url.pathname, url.searchParams),
    offset: offsetOf(url.searchParams),
    params: url.searchParams,
  });
  const auth = authenticate(request.headers.authorization, context.users);
  const record = (status: number): void => {
    context.requestLog.push({
      method,
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
      authorization: auth.scheme,
      status,
      at: context.now(),
      ...(injected ? { fault: injected.kind } : {}),
    });
    if (context.requestLog.length > context.requestLogLimit) context.requestLog.shift();
  };
  if (!injected) return serve(context, request, response, url, auth, record, undefined);
  const fault = injected.fault;
  if (fault.kind === 'status') record(fault.status);
  else if (fault.kind === 'reset' || fault.kind === 'hang') record(0);
  return applyFault(fault, request, response, jfrogError, (proceedWith) => serve(context, request, response, url, auth, record, proceedWith));
}

function jfrogError(status: number): { contentType: string; body: string } {
  return { contentType: 'application/json', body: JSON.stringify({ errors: [{ status, message: STATUS_CODES[status] ?? 'Error' }] }) };
}

async function serve(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  auth: ReturnType<typeof authenticate>,
  record: (status: number) => void,
  fault: Fault | undefined,
): Promise<void> {
  const fail = (status: number, message: string, headers?: Record<string, string>): void => {
    record(status);
    sendError(response, status, message, headers);
  };

  // Before anything else, authentication included. JFrog documents no wording for it (assumption: 403, JFrog's error format).
  if (context.allowsSource && !context.allowsSource(request.socket.remoteAddress)) {
    return fail(403, `Forbidden: IP address ${request.socket.remoteAddress ?? 'unknown'} is not on the IP allowlist of this JFrog Platform`);
  }
  if (url.pathname !== AUDIT_PACKAGES_PATH) return fail(404, `Not Found: ${url.pathname}`);
  if (request.method !== 'GET') return fail(405, `Method ${request.method} not allowed; use GET`, { allow: 'GET' });
  if (!auth.user) {
    const why = auth.scheme === 'none' ? 'missing or unsupported Authorization header' : 'bad credentials';
    return fail(401, `Unauthorized: ${why} (use Basic user:password or Bearer <access token>)`, {
      'www-authenticate': 'Basic realm="Xray"',
    });
  }
  if (!auth.user.permissions.has('VIEW_POLICIES')) {
    return fail(403, `Forbidden: user '${auth.user.username}' lacks the VIEW_POLICIES permission`);
  }
  let query: AuditQuery;
  try {
    query = parseAuditQuery(url.searchParams, { ...context.limits, nowMs: context.now() });
  } catch (error) {
    if (error instanceof QueryError) return fail(400, error.message);
    throw error;
  }
  await sendPage(context, query, response, record, fault);
}

export function createRequestHandler(context: ServerContext) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    handle(context, request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        sendError(response, 500, `emulator error: ${error instanceof Error ? error.message : String(error)}`);
      } else {
        // Mid-stream failure or a client that went away: nothing sensible left to send.
        response.destroy();
      }
    });
  };
}
