import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { applyFault, describeFault, requestKey, type FaultPlan } from '../common/faults.js';
import { contentTypeOf } from './formats.js';
import { decodeSegment, splitTarget, streamChunks } from './http-io.js';
import type { UrlSigner } from './presign.js';
import type { ReportStore } from './reports.js';
import type { RequestLogEntry } from './types.js';

/**
 * The "object storage" listener that serves presigned report downloads, on its own port so it is a
 * different origin from the API (a client must not send its bearer token here). Errors are S3-style XML.
 */

export interface StorageContext {
  store: ReportStore;
  /** The Content-Encoding the storage keeps files in (`none`: plain). */
  encoding: string;
  signer: UrlSigner;
  requestLog: RequestLogEntry[];
  faults: FaultPlan;
  now: () => number;
  debug: (line: string) => void;
}

const OBJECT_PREFIX = '/reports/';

export function createStorageHandler(context: StorageContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    serve(context, req, res).catch((error: unknown) => {
      context.debug(`storage internal error: ${error instanceof Error ? error.stack : String(error)}`);
      if (res.headersSent) res.destroy();
      else sendXmlError(res, 500, 'InternalError', 'We encountered an internal error');
    });
  };
}

async function serve(context: StorageContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { path, query } = splitTarget(req);
  const method = req.method ?? 'GET';
  const entry: RequestLogEntry = { server: 'storage', method, path, authorization: req.headers.authorization !== undefined, at: context.now() };
  if (req.headers['accept-encoding']) entry.acceptEncoding = req.headers['accept-encoding'];
  context.requestLog.push(entry);
  context.debug(`storage ${method} ${path}`);
  req.resume();

  // A retried download gets a freshly signed link: the object, not the link, identifies the request.
  const injected = context.faults.decide({ server: 'storage', method, path, key: requestKey('storage', method, path) });
  if (injected) {
    entry.fault = injected.kind;
    context.debug(`storage ${method} ${path}: fault ${describeFault(injected.fault)}`);
  }
  return applyFault(injected?.fault, req, res, xmlError, () => serveObject(context, res, method, path, query));
}

async function serveObject(context: StorageContext, res: ServerResponse, method: string, path: string, query: URLSearchParams): Promise<void> {
  const id = path.startsWith(OBJECT_PREFIX) ? decodeSegment(path.slice(OBJECT_PREFIX.length)) : undefined;
  if (id === undefined) return sendXmlError(res, 404, 'NoSuchKey', 'The specified key does not exist');
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendXmlError(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource');
  }
  const link = context.signer.check(id, query);
  if (!link.ok) return sendXmlError(res, 403, link.code, link.message);

  const report = context.store.findById(id);
  if (!report || report.size === undefined || context.store.statusOf(report) !== 'Completed') {
    return sendXmlError(res, 404, 'NoSuchKey', 'The specified key does not exist');
  }
  const encoder = context.store.encoder();
  if (encoder && report.encodedSize !== undefined) {
    // Kept encoded, and served so whatever the client asked: the length is that of the encoded bytes.
    res.writeHead(200, {
      'Content-Type': contentTypeOf(report.query.type),
      'Content-Encoding': context.encoding,
      'Content-Length': report.encodedSize,
    });
    if (method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(Readable.from(context.store.reportFile(report)), encoder, res).then(
      () => context.debug(`storage ${id}: encoded download finished`),
      () => context.debug(`storage ${id}: encoded download aborted`),
    );
    return;
  }
  res.writeHead(200, { 'Content-Type': contentTypeOf(report.query.type), 'Content-Length': report.size });
  if (method === 'HEAD') {
    res.end();
    return;
  }
  const outcome = await streamChunks(res, context.store.reportFile(report));
  context.debug(`storage ${id}: download ${outcome}`);
}

/** S3's codes for the statuses a fault can inject. */
const S3_CODES: Record<number, string> = { 429: 'SlowDown', 500: 'InternalError', 502: 'BadGateway', 503: 'SlowDown', 504: 'GatewayTimeout' };

function xmlError(status: number): { contentType: string; body: string } {
  return { contentType: 'application/xml', body: xmlErrorBody(S3_CODES[status] ?? 'InternalError', STATUS_CODES[status] ?? 'Error') };
}

function xmlErrorBody(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>\n`;
}

function sendXmlError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = xmlErrorBody(code, message);
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
