import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MalformedResponseError,
  TransientError,
  VendorAuthError,
  VendorRequestError,
} from '../../functions/common/errors.js';
import { HttpClient } from '../../functions/common/http.js';
import { MftClient } from '../../functions/mft/client.js';
import { reportRequest } from '../../functions/mft/export-plan.js';
import { XrayClient } from '../../functions/xray/client.js';
import { buildZip } from '../support/zip.js';
import { generateKeyPair, exportPKCS8 } from 'jose';

/**
 * Vendor answers that do not match the documented shape — wrong types, missing fields, HTML error pages
 * (from a load balancer, with 200 or an error status), truncated bodies, a CSV page that is not a zip —
 * each give a typed error with a clear message, never a crash, never a silently short export, and never
 * a secret in the message.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
let server: Server;
let baseUrl: string;

const TOKEN = 'at-SECRET-0123456789abcdef';
const HOUR = { start: '2026-09-07T00:00:00.000Z', end: '2026-09-07T01:00:00.000Z' };
const XRAY_TOKEN = 'xray-SECRET-token-fedcba9876543210';
const PASSWORD = 'pw-SECRET-hunter2';
let privateKeyPem: string;

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  privateKeyPem = await exportPKCS8((await generateKeyPair('ES256', { extractable: true })).privateKey);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  handler = (_req, res) => res.end();
});

function answer(status: number, body: string | Buffer, contentType = 'application/json'): Handler {
  return (req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

/** Announces `body` in full, sends half of it, then closes the connection. */
function truncated(body: string, contentType = 'application/json'): Handler {
  return (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.write(body.slice(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
  };
}

const HTML = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n';

const http = () => new HttpClient({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 }, timeoutMs: 2_000 });
const mft = () => new MftClient(baseUrl, http());
const credentials = () => ({ tenantId: 'tenant-1', kid: 'kid-1', privateKeyPem });

async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if ('value' in outcome) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(Error);
  const error = outcome.error as Error;
  for (const secret of [TOKEN, XRAY_TOKEN, PASSWORD, 'PRIVATE KEY', privateKeyPem.split('\n')[1]!]) {
    expect(error.message).not.toContain(secret);
  }
  return error;
}

describe('MftClient against malformed answers', () => {
  it.each([
    ['a number as access_token', '{"access_token":12345,"expires_in":300}', /no usable access_token/],
    ['no access_token', '{"token_type":"bearer"}', /no usable access_token/],
    ['an empty access_token', '{"access_token":""}', /access_token is empty|no usable access_token/],
    ['null', 'null', /no usable access_token/],
    ['an HTML page with 200', HTML, /MFT token response: expected JSON but got an HTML page \(HTTP 200/],
    ['truncated JSON text', '{"access_token":"abc', /expected JSON but got text that is not JSON/],
  ])('token endpoint: %s → MalformedResponseError', async (_name, body, message) => {
    handler = answer(200, body, body.startsWith('<') ? 'text/html' : 'application/json');
    const error = await failure(mft().issueToken(credentials()));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toMatch(message);
  });

  it('token endpoint: a body cut short → TransientError (a fresh request may succeed)', async () => {
    handler = truncated(JSON.stringify({ access_token: TOKEN, expires_in: 300 }));
    const error = await failure(mft().issueToken(credentials()));
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toMatch(/MFT token response: the response body \(HTTP 200\) was cut short/);
  });

  it('token endpoint: 401 with an HTML page → VendorAuthError saying what to check', async () => {
    handler = answer(401, HTML, 'text/html');
    const error = await failure(mft().issueToken(credentials()));
    expect(error).toBeInstanceOf(VendorAuthError);
    expect(error.message).toMatch(/refused the client assertion \(HTTP 401: an HTML error page\)/);
  });

  it('token endpoint: every attempt carries a fresh single-use assertion', async () => {
    const assertions: string[] = [];
    let calls = 0;
    handler = (req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        assertions.push((JSON.parse(body) as { client_assertion: string }).client_assertion);
        if (++calls === 1) answer(502, HTML, 'text/html')(req, res);
        else answer(200, JSON.stringify({ access_token: TOKEN, expires_in: 300 }))(req, res);
      });
    };
    expect((await mft().issueToken(credentials())).value).toBe(TOKEN);
    expect(assertions).toHaveLength(2);
    expect(assertions[0]).not.toBe(assertions[1]);
  });

  it.each([
    ['no id', '{"status":"InProgress"}', /\(id: /],
    ['an object as id', '{"id":{"value":"r1"},"status":"InProgress"}', /\(id: /],
    ['an empty id', '{"id":"","status":0}', /\(id: /],
    ['an array', '[{"id":"r1.json","status":0}]', /\(body: /],
    ['a boolean url', '{"id":"r1.json","status":1,"url":true}', /\(url: /],
  ])('create report: %s → MalformedResponseError naming the field', async (_name, body, message) => {
    handler = answer(200, body);
    const error = await failure(mft().createReport(TOKEN, reportRequest('json', HOUR)));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toMatch(/^MFT report object does not match the documented shape/);
    expect(error.message).toMatch(message);
  });

  it.each([
    ['no status', '{"id":"r1.json"}', ''],
    ['a null status', '{"id":"r1.json","status":null}', ''],
    ['a numeric id', '{"id":42,"status":"Queued"}', 'Queued'],
  ])('create report: an answer with %s is a report (the reference needs only its id)', async (_name, body, rawStatus) => {
    handler = answer(201, body);
    const created = await mft().createReport(TOKEN, reportRequest('json', HOUR));
    expect(created.id).toBe(JSON.parse(body).id.toString());
    expect(created.rawStatus).toBe(rawStatus);
    expect(created.status).toBe('Unrecognized');
  });

  it('get report: a gateway HTML page with 502 on every attempt → TransientError; with 200 → MalformedResponseError', async () => {
    handler = answer(502, HTML, 'text/html');
    const gateway = await failure(mft().getReport(TOKEN, 'r1.json'));
    expect(gateway).toBeInstanceOf(TransientError);
    expect(gateway.message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/v1\/reports\/audit-logs\/r1\.json answered HTTP 502 \(2 attempts/);
    handler = answer(200, HTML, 'text/html');
    const page = await failure(mft().getReport(TOKEN, 'r1.json'));
    expect(page).toBeInstanceOf(MalformedResponseError);
    expect(page.message).toMatch(/MFT report r1\.json: expected JSON but got an HTML page/);
  });

  it.each([
    ['""', undefined],
    ['" "', undefined],
    ['-5', undefined],
    ['12.5', undefined],
    ['"1e3"', undefined],
    ['"1234"', 1234],
    ['1234', 1234],
  ])('get report: size %s is read as %s (an unusable size is unknown, never 0)', async (size, expected) => {
    handler = answer(200, `{"id":"r1.json","status":"Completed","url":"http://storage.test/r1","size":${size}}`);
    expect((await mft().getReport(TOKEN, 'r1.json')).size).toBe(expected);
  });

  it('get report: truncated JSON → TransientError', async () => {
    handler = truncated('{"id":"r1.json","status":"Completed","size":1234,"url":"http://storage.test/r1?signature=abc"}');
    expect(await failure(mft().getReport(TOKEN, 'r1.json'))).toBeInstanceOf(TransientError);
  });

  it('a 400 with the vendor message → VendorRequestError quoting it (never the request)', async () => {
    handler = answer(400, '{"error":"invalid_request","message":"start must be earlier than end"}');
    const error = await failure(mft().createReport(TOKEN, { ...reportRequest('json', HOUR), start: HOUR.end, end: HOUR.start }));
    expect(error).toBeInstanceOf(VendorRequestError);
    expect(error.message).toBe('MFT API could not create a report: HTTP 400: start must be earlier than end');
  });

  it.each([
    ['no items', '{"reports":[]}'],
    ['items not an array', '{"items":"r1,r2"}'],
    ['null', 'null'],
    ['a number', '42'],
  ])('list reports: %s → MalformedResponseError', async (_name, body) => {
    handler = answer(200, body);
    const error = await failure(mft().listReports(TOKEN));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toBe('MFT report list is neither an array nor an object with an `items` array');
  });

  it('list reports: one bad item fails the list clearly; missing optional fields are tolerated', async () => {
    handler = answer(200, '{"items":[{"id":"r1.json","status":0,"start":"not a date","createdAt":17},{"id":"r2.json","status":"Failed"}]}');
    const reports = await mft().listReports(TOKEN);
    expect(reports.map((report) => [report.id, report.status, report.start, report.createdAt])).toEqual([
      ['r1.json', 'InProgress', undefined, undefined],
      ['r2.json', 'Failed', undefined, undefined],
    ]);
    handler = answer(200, '[{"id":"r3.json"}]');
    expect((await mft().listReports(TOKEN)).map((report) => [report.id, report.status])).toEqual([['r3.json', 'Unrecognized']]);
    handler = answer(200, '{"items":[{"id":"r1.json","status":0},{"status":1}]}');
    expect(await failure(mft().listReports(TOKEN))).toBeInstanceOf(MalformedResponseError);
  });

  it.each([
    ['not a URL', 'not a url', /not a valid URL/],
    ['a javascript: URL', 'javascript:alert(1)', /unsupported scheme javascript:/],
    ['a file: URL', 'file:///etc/passwd', /unsupported scheme file:/],
  ])('download: %s → MalformedResponseError', async (_name, url, message) => {
    const error = await failure(mft().openDownload(url, TOKEN));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toMatch(message);
  });
});

const page = { window: { start: '2026-09-07T00:00:00.000Z', end: '2026-09-07T01:00:00.000Z' }, offset: 0, pageSize: 2000, dryRun: false };
const xray = (credentials: { accessToken: string } | { username: string; password: string } = { accessToken: XRAY_TOKEN }) =>
  new XrayClient(baseUrl, credentials, http());

function zipOf(files: Record<string, string>): Buffer {
  return buildZip(Object.entries(files).map(([name, text]) => ({ name, data: Buffer.from(text), deflate: true })));
}

describe('XrayClient against malformed answers', () => {
  it.each([
    ['data not an array', '{"data":{"id":1},"meta":{}}', /\(data: /],
    ['no data', '{"meta":{"result_count":0}}', /\(data: /],
    ['no meta', '{"data":[{"id":1}]}', /\(meta: /],
    ['an event without id', '{"data":[{"package_name":"left-pad"}],"meta":{}}', /\(data\.0\.id: /],
    ['a string id', '{"data":[{"id":"7"}],"meta":{}}', /\(data\.0\.id: /],
    ['a negative id', '{"data":[{"id":-1}],"meta":{}}', /\(data\.0\.id: /],
    ['next_offset as a string', '{"data":[{"id":1}],"meta":{"next_offset":"2000"}}', /next_offset/],
    ['next_offset negative', '{"data":[{"id":1}],"meta":{"next_offset":-2000}}', /next_offset/],
    ['next_offset fractional', '{"data":[{"id":1}],"meta":{"next_offset":2000.5}}', /next_offset/],
    ['meta not JSON', '{"data":[{"id":1}],"meta":undefined}', /Xray audit page/],
    ['meta an array', '{"data":[{"id":1}],"meta":[1,2]}', /meta/],
    ['null', 'null', /\(body: /],
  ])('JSON page: %s → MalformedResponseError (never a short export)', async (_name, body, message) => {
    handler = answer(200, body);
    const error = await failure(xray().jsonPage(page));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toMatch(message);
  });

  it('JSON page: an HTML page with 200 → MalformedResponseError; truncated JSON → TransientError', async () => {
    handler = answer(200, HTML, 'text/html');
    const html = await failure(xray().jsonPage(page));
    expect(html).toBeInstanceOf(MalformedResponseError);
    expect(html.message).toMatch(/Xray audit page: expected JSON but got an HTML page \(HTTP 200/);
    handler = truncated(JSON.stringify({ data: [{ id: 1, package_name: 'a' }, { id: 2, package_name: 'b' }], meta: { next_offset: 2 } }));
    expect(await failure(xray().jsonPage(page))).toBeInstanceOf(TransientError);
  });

  it('JSON page: a well-formed page still reads (the checks above reject only bad shapes)', async () => {
    handler = answer(200, '{"data":[{"id":1,"a":"x"},{"id":2}],"meta":{"result_count":2,"next_offset":2}}');
    const read = await xray().jsonPage(page);
    expect(read.ids).toEqual([1, 2]);
    expect(read.nextOffset).toBe(2);
    handler = answer(200, '{"data":[{"id":3}],"meta":{"next_offset":null}}');
    expect((await xray().jsonPage(page)).nextOffset).toBeUndefined();
  });

  it.each([
    ['a JSON error body', '{"errors":[{"message":"internal"}]}', /the server sent text, not a zip/],
    ['an HTML page', HTML, /the server sent text, not a zip/],
    ['random bytes', Buffer.from('PK\u0003\u0004 this is not really a zip'), /no end-of-central-directory record/],
    ['an empty body', '', /no end-of-central-directory record/],
  ])('CSV page: %s → MalformedResponseError', async (_name, body, message) => {
    handler = answer(200, body, 'application/zip');
    const error = await failure(xray().csvPage(page));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toMatch(/^Xray CSV page is not a readable zip file: /);
    expect(error.message).toMatch(message);
  });

  it('CSV page: a zip with two CSV files, or none → MalformedResponseError; a zip cut short → TransientError', async () => {
    handler = answer(200, zipOf({ 'a.csv': 'id\n1\n', 'b.csv': 'id\n2\n' }), 'application/zip');
    expect((await failure(xray().csvPage(page))).message).toBe('Xray CSV page holds 2 CSV files; expected exactly one');
    handler = answer(200, zipOf({ 'readme.txt': 'hi' }), 'application/zip');
    expect((await failure(xray().csvPage(page))).message).toBe('Xray CSV page holds 0 CSV files; expected exactly one');
    handler = truncated(zipOf({ 'audit_packages.csv': 'id,name\n1,a\n' }).toString('latin1'), 'application/zip');
    expect(await failure(xray().csvPage(page))).toBeInstanceOf(TransientError);
    handler = answer(200, zipOf({ 'audit_packages.csv': 'id,name\n1,a\n' }), 'application/zip');
    expect((await xray().csvPage(page)).csv.toString()).toBe('id,name\n1,a\n');
  });

  it.each([
    [401, HTML, VendorAuthError, /Xray rejected the credentials \(HTTP 401: an HTML error page\)/],
    [403, '{"errors":[{"message":"missing VIEW_POLICIES"}]}', VendorAuthError, /HTTP 403: missing VIEW_POLICIES\); the user needs the VIEW_POLICIES permission/],
    [404, HTML, VendorRequestError, /Xray answered 404/],
    [400, '{"errors":[{"message":"created_at_start is invalid"}]}', VendorRequestError, /HTTP 400: created_at_start is invalid/],
    [503, HTML, TransientError, /answered HTTP 503 \(2 attempts/],
  ] as const)('HTTP %i → typed error with a clear message, without credentials', async (status, body, type, message) => {
    handler = answer(status, body, body.startsWith('<') ? 'text/html' : 'application/json');
    for (const client of [xray(), xray({ username: 'auditor', password: PASSWORD })]) {
      const error = await failure(client.jsonPage(page));
      expect(error).toBeInstanceOf(type);
      expect(error.message).toMatch(message);
    }
  });
});
