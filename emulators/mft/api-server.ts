import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { applyFault, describeFault, requestKey, type Fault, type FaultPlan, type FaultRequest } from '../common/faults.js';
import type { AccessTokens } from './access-tokens.js';
import type { AssertionVerifier } from './assertion.js';
import { BodyTooLargeError, decodeSegment, readBody, sendEmpty, sendJson, splitTarget } from './http-io.js';
import type { UrlSigner } from './presign.js';
import type { ReportView } from './report-view.js';
import type { ReportStore, StoredReport } from './reports.js';
import { handleTokenRequest } from './token-endpoint.js';
import type { RequestLogEntry, VendorBehaviour } from './types.js';
import { ReportValidationError, parseCreateReportBody, referenceShapeProblems } from './validation.js';

/** Routing of the API listener: the token endpoint and the audit-log report resource. */

export interface ApiContext {
  verifier: AssertionVerifier;
  tokens: AccessTokens;
  store: ReportStore;
  signer: UrlSigner;
  view: ReportView;
  requestLog: RequestLogEntry[];
  faults: FaultPlan;
  behaviour: VendorBehaviour;
  now: () => number;
  debug: (line: string) => void;
  /** The API key's IP Access; absent = every source address. */
  allowsSource?: (address: string | undefined) => boolean;
}

export const TOKEN_PATH = '/v1/oauth/token';
export const REPORTS_PATH = '/v1/reports/audit-logs';
/** Fault stage of a create that passed authentication and validation: where report outcomes are decided. */
export const REPORT_CREATED = 'report-created';

export function createApiHandler(context: ApiContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(context, req, res).catch((error: unknown) => failed(context, res, error));
  };
}

async function route(context: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { path, query } = splitTarget(req);
  const method = req.method ?? 'GET';
  const entry: RequestLogEntry = { server: 'api', method, path, authorization: req.headers.authorization !== undefined, at: context.now() };
  if (query.size) entry.query = query.toString();
  const scheme = /^\s*(\S+)/.exec(req.headers.authorization ?? '')?.[1];
  if (scheme) entry.authorizationScheme = scheme;
  if (req.headers['content-type']) entry.contentType = req.headers['content-type'];
  context.requestLog.push(entry);
  context.debug(`api ${method} ${path}`);

  const server = path === TOKEN_PATH ? 'token' : 'api';
  const faultRequest: FaultRequest = { server, method, path, key: requestKey(server, method, path, query) };
  const injected = context.faults.decide(faultRequest);
  if (injected) {
    entry.fault = injected.kind;
    context.debug(`api ${method} ${path}: fault ${describeFault(injected.fault)}`);
  }
  const exchange: Exchange = { req, res, entry, faultRequest };
  const nativeError = server === 'token' ? oauthError : apiError;
  return applyFault(injected?.fault, req, res, nativeError, (fault) => dispatch(context, exchange, method, path, fault));
}

/** One request as the handlers see it: its log entry and fault identity travel with it. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  entry: RequestLogEntry;
  faultRequest: FaultRequest;
}

async function dispatch(context: ApiContext, exchange: Exchange, method: string, path: string, fault: Fault | undefined): Promise<void> {
  const { req, res } = exchange;
  if (fault?.kind === 'expire-tokens') {
    const count = context.tokens.expireAll();
    context.debug(`${count} access token(s) expired by a fault`);
  }

  if (context.allowsSource && !context.allowsSource(req.socket.remoteAddress)) return refuseSource(context, req, res, path);
  if (path === TOKEN_PATH) {
    if (method !== 'POST') return methodNotAllowed(res, ['POST']);
    return handleTokenRequest(req, res, context.verifier, context.tokens);
  }
  if (path === REPORTS_PATH) {
    if (method === 'GET') return withTenant(context, req, res, (tenantId) => listReports(context, exchange, tenantId));
    if (method === 'POST') return withTenant(context, req, res, (tenantId) => createReport(context, exchange, tenantId));
    return methodNotAllowed(res, ['GET', 'POST']);
  }
  if (path.startsWith(`${REPORTS_PATH}/`)) {
    const id = decodeSegment(path.slice(REPORTS_PATH.length + 1));
    if (id === undefined) return notFound(res, 'no such resource');
    if (method === 'GET') return withTenant(context, req, res, (tenantId) => getReport(context, res, tenantId, id));
    if (method === 'DELETE') return withTenant(context, req, res, (tenantId) => deleteReport(context, res, tenantId, id));
    return methodNotAllowed(res, ['GET', 'DELETE']);
  }
  return notFound(res, 'no such resource');
}

async function withTenant(
  context: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  handle: (tenantId: string) => Promise<void> | void,
): Promise<void> {
  const check = context.tokens.authenticate(req.headers.authorization);
  if (!check.ok) {
    req.resume();
    return sendJson(res, 401, { error: 'unauthorized', message: check.message }, { 'WWW-Authenticate': 'Bearer' });
  }
  return handle(check.tenantId);
}

async function createReport(context: ApiContext, exchange: Exchange, tenantId: string): Promise<void> {
  const { req, res } = exchange;
  let query;
  try {
    const text = await readBody(req);
    try {
      exchange.entry.body = JSON.parse(text);
    } catch {
      exchange.entry.body = text;
    }
    if (context.behaviour.createBody === 'reference') {
      const problems = referenceShapeProblems(exchange.entry.body);
      if (problems.length) throw new ReportValidationError(problems);
    }
    query = parseCreateReportBody(text);
  } catch (error) {
    if (!(error instanceof ReportValidationError)) throw error;
    return sendJson(res, 400, { error: 'ValidationError', message: error.message, details: error.details });
  }
  // Decided only now, so that a create rejected with 401 or 400 does not use up a "fail the next report" rule.
  const forced = context.faults.decide({ ...exchange.faultRequest, stage: REPORT_CREATED });
  const outcome = forced?.fault.kind === 'report-outcome' ? forced.fault.outcome : undefined;
  if (forced) exchange.entry.fault = forced.kind;
  const report = context.store.create(tenantId, query, outcome);
  context.debug(`report ${report.id} created for tenant ${tenantId}${outcome ? ` (fault: ${outcome})` : ''}`);
  const answer = context.behaviour.createAnswer === 'id-only' ? { id: report.id } : render(context, report);
  sendJson(res, 201, answer, { Location: `${REPORTS_PATH}/${encodeURIComponent(report.id)}` });
}

/**
 * The list: `{ items }` as documented, a bare array, or pages of `listPageSize` items. Pages are linked the way
 * the shape says (a Link header, a `next` link, a `nextPageToken` answered by `pageToken`, or `page`/`pageSize`
 * with `totalCount`); a page's position is an opaque offset in the link or token.
 */
function listReports(context: ApiContext, exchange: Exchange, tenantId: string): void {
  const { req, res } = exchange;
  const { listShape, listPageSize } = context.behaviour;
  const all = context.store.list(tenantId).map((report) => context.view.renderListed(report, context.store.statusOf(report), urlOf(context, report)));
  if (listShape === 'items') return sendJson(res, 200, { items: all });
  if (listShape === 'array') return sendJson(res, 200, all);
  const params = splitTarget(req).query;
  const cursorOf = (value: string | null) => (value && /^\d+$/.test(value) ? Number(value) : 0);
  if (listShape === 'page-number') {
    const page = Math.max(1, cursorOf(params.get('page')) || 1);
    const pageSize = Math.min(Math.max(1, cursorOf(params.get('pageSize')) || listPageSize), 1000);
    const items = all.slice((page - 1) * pageSize, page * pageSize);
    return sendJson(res, 200, { items, page, pageSize, totalCount: all.length });
  }
  const offset = cursorOf(listShape === 'page-token' ? params.get('pageToken') : params.get('cursor'));
  const items = all.slice(offset, offset + listPageSize);
  const more = offset + listPageSize < all.length;
  const nextLink = `${REPORTS_PATH}?cursor=${offset + listPageSize}`;
  if (listShape === 'link-header') return sendJson(res, 200, { items }, more ? { Link: `<${nextLink}>; rel="next"` } : {});
  if (listShape === 'next-link') return sendJson(res, 200, { items, next: more ? nextLink : null });
  return sendJson(res, 200, { items, ...(more ? { nextPageToken: String(offset + listPageSize) } : {}) });
}

function getReport(context: ApiContext, res: ServerResponse, tenantId: string, id: string): void {
  const report = context.store.find(tenantId, id);
  if (!report) return notFound(res, 'report not found');
  sendJson(res, 200, render(context, report));
}

function deleteReport(context: ApiContext, res: ServerResponse, tenantId: string, id: string): void {
  if (!context.store.delete(tenantId, id)) return notFound(res, 'report not found');
  sendEmpty(res, 204);
}

function render(context: ApiContext, report: StoredReport): Record<string, unknown> {
  return context.view.render(report, context.store.statusOf(report), urlOf(context, report));
}

/** Like a presigned S3 URL, a fresh link (and expiry) on every read of a completed report. */
function urlOf(context: ApiContext, report: StoredReport): string | undefined {
  return context.store.statusOf(report) === 'Completed' ? context.signer.urlFor(report.id) : undefined;
}

/** Native body of an injected error status on the report endpoints. */
function apiError(status: number): { contentType: string; body: string } {
  const reason = STATUS_CODES[status] ?? 'Error';
  return { contentType: 'application/json; charset=utf-8', body: JSON.stringify({ error: reason.replace(/[^A-Za-z]/g, ''), message: reason }) };
}

/** Native body of an injected error status on the token endpoint (RFC 6749 style). */
function oauthError(status: number): { contentType: string; body: string } {
  const error = status === 429 ? 'slow_down' : status === 503 ? 'temporarily_unavailable' : 'server_error';
  return { contentType: 'application/json; charset=utf-8', body: JSON.stringify({ error, error_description: STATUS_CODES[status] ?? 'Error' }) };
}

/**
 * A request from an address the API key's IP Access does not list. The vendor documents neither status nor
 * wording (assumption: 403, in the endpoint's own error format, naming the address and the allow list).
 */
function refuseSource(context: ApiContext, req: IncomingMessage, res: ServerResponse, path: string): void {
  req.resume();
  const address = req.socket.remoteAddress ?? 'unknown';
  const description = `IP address ${address} is not in the IP allow list of this API key`;
  context.debug(`api ${path}: refused, source ${address} not allowed`);
  if (path === TOKEN_PATH) return sendJson(res, 403, { error: 'access_denied', error_description: description });
  sendJson(res, 403, { error: 'Forbidden', message: description });
}

function notFound(res: ServerResponse, message: string): void {
  sendJson(res, 404, { error: 'NotFound', message });
}

function methodNotAllowed(res: ServerResponse, allowed: string[]): void {
  sendJson(res, 405, { error: 'MethodNotAllowed', message: `allowed methods: ${allowed.join(', ')}` }, { Allow: allowed.join(', ') });
}

function failed(context: ApiContext, res: ServerResponse, error: unknown): void {
  if (error instanceof BodyTooLargeError) {
    if (!res.headersSent) sendJson(res, 413, { error: 'PayloadTooLarge', message: error.message }, { Connection: 'close' });
    return;
  }
  context.debug(`api internal error: ${error instanceof Error ? error.stack : String(error)}`);
  if (res.headersSent) res.destroy();
  else sendJson(res, 500, { error: 'InternalError', message: 'internal error' });
}
