import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokens } from './access-tokens.js';
import type { AssertionVerifier } from './assertion.js';
import { BodyTooLargeError, decodeSegment, readBody, sendEmpty, sendJson, splitTarget } from './http-io.js';
import type { UrlSigner } from './presign.js';
import type { ReportView } from './report-view.js';
import type { ReportStore, StoredReport } from './reports.js';
import { handleTokenRequest } from './token-endpoint.js';
import type { RequestLogEntry } from './types.js';
import { ReportValidationError, parseCreateReportBody } from './validation.js';

/** Routing of the API listener: the token endpoint and the audit-log report resource. */

export interface ApiContext {
  verifier: AssertionVerifier;
  tokens: AccessTokens;
  store: ReportStore;
  signer: UrlSigner;
  view: ReportView;
  requestLog: RequestLogEntry[];
  now: () => number;
  debug: (line: string) => void;
}

const TOKEN_PATH = '/v1/oauth/token';
const REPORTS_PATH = '/v1/reports/audit-logs';

export function createApiHandler(context: ApiContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(context, req, res).catch((error: unknown) => failed(context, res, error));
  };
}

async function route(context: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { path } = splitTarget(req);
  const method = req.method ?? 'GET';
  context.requestLog.push({ server: 'api', method, path, authorization: req.headers.authorization !== undefined, at: context.now() });
  context.debug(`api ${method} ${path}`);

  if (path === TOKEN_PATH) {
    if (method !== 'POST') return methodNotAllowed(res, ['POST']);
    return handleTokenRequest(req, res, context.verifier, context.tokens);
  }
  if (path === REPORTS_PATH) {
    if (method === 'GET') return withTenant(context, req, res, (tenantId) => listReports(context, res, tenantId));
    if (method === 'POST') return withTenant(context, req, res, (tenantId) => createReport(context, req, res, tenantId));
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

async function createReport(context: ApiContext, req: IncomingMessage, res: ServerResponse, tenantId: string): Promise<void> {
  let query;
  try {
    query = parseCreateReportBody(await readBody(req));
  } catch (error) {
    if (!(error instanceof ReportValidationError)) throw error;
    return sendJson(res, 400, { error: 'ValidationError', message: error.message, details: error.details });
  }
  const report = context.store.create(tenantId, query);
  context.debug(`report ${report.id} created for tenant ${tenantId}`);
  sendJson(res, 201, render(context, report), { Location: `${REPORTS_PATH}/${encodeURIComponent(report.id)}` });
}

function listReports(context: ApiContext, res: ServerResponse, tenantId: string): void {
  sendJson(res, 200, { items: context.store.list(tenantId).map((report) => render(context, report)) });
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
  const status = context.store.statusOf(report);
  // Like a presigned S3 URL, a fresh link (and expiry) on every read of a completed report.
  const url = status === 'Completed' ? context.signer.urlFor(report.id) : undefined;
  return context.view.render(report, status, url);
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
