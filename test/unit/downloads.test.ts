import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DownloadRefusedError,
  addressProblem,
  classifyAddress,
  guardedFetch,
  normalizeAddress,
  takeNodeBody,
  type Resolver,
} from '../../functions/common/egress.js';
import { HttpClient } from '../../functions/common/http.js';
import { MftClient, nextListPage, redirectProblem } from '../../functions/mft/client.js';

/**
 * Downloads go only where they should: the presigned link and any redirect from it are followed only under
 * the documented rules, and no connection is opened to the metadata service, loopback or private addresses
 * unless allowed, judged on the resolved address.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  url: string;
  requests: string[];
  handler: Handler;
  server: Server;
}

async function startServer(): Promise<TestServer> {
  const state: TestServer = { url: '', requests: [], handler: (_req, res) => res.end('ok'), server: createServer() };
  state.server.on('request', (req, res) => {
    state.requests.push(`${req.method} ${req.url}${req.headers.authorization ? ' (with authorization)' : ''}`);
    state.handler(req, res);
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

let storage: TestServer;
let metadata: TestServer;

beforeAll(async () => {
  storage = await startServer();
  metadata = await startServer();
});
afterAll(async () => {
  for (const server of [storage, metadata]) {
    server.server.closeAllConnections();
    await new Promise((resolve) => server.server.close(resolve));
  }
});
beforeEach(() => {
  storage.requests.length = 0;
  metadata.requests.length = 0;
  metadata.handler = (_req, res) => res.end('{"AccessKeyId":"ASIA-STOLEN","SecretAccessKey":"stolen"}');
});

describe('addresses', () => {
  it.each([
    ['169.254.169.254', 'link-local'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::169.254.169.254', 'link-local'],
    ['fd00:ec2::254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['127.0.0.1', 'loopback'],
    ['127.9.9.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.31.255.1', 'private'],
    ['192.168.0.10', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['0.0.0.0', 'reserved'],
    ['::', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['52.216.8.1', 'public'],
    ['2600:1f18::1', 'public'],
    ['::ffff:52.216.8.1', 'public'],
    ['not an address', 'reserved'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it('normalizes IPv4-mapped IPv6 to the IPv4 address it carries', () => {
    expect(normalizeAddress('::ffff:169.254.169.254')).toEqual({ address: '169.254.169.254', family: 4 });
    expect(normalizeAddress('[::FFFF:A9FE:A9FE]')).toEqual({ address: '169.254.169.254', family: 4 });
    expect(normalizeAddress('2001:db8:0:0:0:0:0:1')).toEqual({ address: '2001:db8:0:0:0:0:0:1', family: 6 });
  });

  it('allows loopback and private ranges only when told, link-local never', () => {
    const open = { allowLoopback: true, allowPrivate: true };
    expect(addressProblem('127.0.0.1', { allowLoopback: false, allowPrivate: true })).toMatch(/loopback/);
    expect(addressProblem('127.0.0.1', open)).toBeUndefined();
    expect(addressProblem('10.0.0.1', { allowLoopback: true, allowPrivate: false })).toMatch(/private/);
    expect(addressProblem('10.0.0.1', open)).toBeUndefined();
    expect(addressProblem('169.254.169.254', open)).toMatch(/link-local/);
    expect(addressProblem('::ffff:169.254.169.254', open)).toMatch(/link-local/);
  });
});

describe('guardedFetch', () => {
  it('refuses a name that resolves to the metadata address, judged on the resolved address', async () => {
    const resolve: Resolver = (hostname, _options, callback) =>
      callback(null, hostname === 'metadata.storage.test' ? [{ address: '::ffff:169.254.169.254', family: 6 }] : [{ address: '127.0.0.1', family: 4 }]);
    const fetch = guardedFetch({ rules: { allowLoopback: true, allowPrivate: true }, resolve });
    const port = new URL(metadata.url).port;
    const failure = await fetch(`http://metadata.storage.test:${port}/latest/meta-data/`).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DownloadRefusedError);
    expect((failure as Error).message).toMatch(/metadata\.storage\.test resolves to ::ffff:169\.254\.169\.254, a link-local address/);
    expect(metadata.requests).toEqual([]);
    // The same server under a name that resolves to loopback (allowed here) answers.
    const answer = await fetch(`http://ok.storage.test:${port}/x`);
    expect(answer.status).toBe(200);
    await answer.text();
  });

  it('refuses loopback unless allowed, IP literals included (they never go through a lookup)', async () => {
    const strict = guardedFetch({ rules: { allowLoopback: false, allowPrivate: false } });
    await expect(strict(`${storage.url}/x`)).rejects.toThrow(/127\.0\.0\.1:\d+ is a loopback address: the download was refused/);
    await expect(strict('http://[::ffff:169.254.169.254]/latest/meta-data/')).rejects.toThrow(DownloadRefusedError);
    await expect(strict('http://169.254.169.254/latest/meta-data/')).rejects.toThrow(/link-local/);
    expect(storage.requests).toEqual([]);
  });

  it('refuses a URL with user-info, and does not follow redirects by itself', async () => {
    const fetch = guardedFetch({ rules: { allowLoopback: true, allowPrivate: false } });
    await expect(fetch(storage.url.replace('http://', 'http://user:pw@'))).rejects.toThrow(/user-info/);
    storage.handler = (_req, res) => res.writeHead(302, { location: `${metadata.url}/latest/meta-data/` }).end();
    const answer = await fetch(`${storage.url}/r`);
    expect(answer.status).toBe(302);
    expect(metadata.requests).toEqual([]);
  });
});

describe('guardedFetch bodies as Node streams', () => {
  const fetch = guardedFetch({ rules: { allowLoopback: true, allowPrivate: false } });
  const read = async (stream: AsyncIterable<Buffer>) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    return Buffer.concat(chunks);
  };

  it('hands its body over as the Node stream, whole, and the web body refuses to be read after', async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 'report,');
    storage.handler = (_req, res) => res.writeHead(200, { 'content-length': payload.length }).end(payload);
    const response = await fetch(`${storage.url}/big`);
    const body = takeNodeBody(response);
    expect(body).toBeDefined();
    expect(takeNodeBody(response)).toBeUndefined(); // handed over once
    expect((await read(body!)).equals(payload)).toBe(true);
    await expect(response.arrayBuffer()).rejects.toThrow(/read as a Node stream/);
  });

  it('keeps a body that is read as a web stream first for the web stream alone', async () => {
    storage.handler = (_req, res) => res.end('[1,2]');
    const response = await fetch(`${storage.url}/web`);
    expect(await response.text()).toBe('[1,2]');
    expect(takeNodeBody(response)).toBeUndefined();
    expect(takeNodeBody(new Response('x'))).toBeUndefined();
  });

  it('keeps a connection cut before anyone reads on the stream: the reader gets the error, the process no uncaught one', async () => {
    const encoded = gzipSync(Buffer.alloc(1_000_000, 'report,'));
    storage.handler = (_req, res) => {
      // Encoded: the body is the transport's gunzip stream, which emits the cut as an error.
      res.writeHead(200, { 'content-length': encoded.length, 'content-encoding': 'gzip' });
      res.write(encoded.subarray(0, 100));
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const response = await fetch(`${storage.url}/cut`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(read(takeNodeBody(response)!)).rejects.toThrow();
  });
});

describe('MftClient.openDownload', () => {
  const rules = { allowLoopback: true, allowPrivate: false };
  const client = (redirectHosts: string[] = []) =>
    new MftClient('https://api.mft.test', new HttpClient({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } }), undefined, {
      addresses: rules,
      redirectHosts,
    });
  const link = () => `${storage.url}/reports/r1.json?expires=9999999999&signature=${'ab'.repeat(32)}`;

  it('follows a redirect within the link origin', async () => {
    storage.handler = (req, res) => {
      if (req.url!.startsWith('/reports/')) return res.writeHead(307, { location: '/moved/r1.json?signature=other-signature' }).end();
      res.writeHead(200, { 'content-length': 2 }).end('[]');
    };
    const download = await client().openDownload(link(), 'bearer-token-value');
    const chunks: Buffer[] = [];
    for await (const chunk of download.body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('[]');
    expect(storage.requests.map((request) => request.split('?')[0])).toEqual(['GET /reports/r1.json', 'GET /moved/r1.json']);
  });

  it.each([
    ['another origin over plain http (the metadata stand-in)', () => `${metadata.url}/latest/meta-data/iam/security-credentials/role`, /another origin over plain http/],
    ['the metadata address itself', () => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/role', /another origin over plain http/],
    ['a URL with user-info', () => storage.url.replace('http://', 'http://user:pw@'), /a URL with user-info/],
  ])('refuses a redirect to %s; the target receives nothing, the message holds no signature', async (_name, location, problem) => {
    storage.handler = (_req, res) => res.writeHead(302, { location: location() }).end();
    const failure = (await client().openDownload(link(), 'bearer-token-value').catch((error: unknown) => error)) as Error;
    expect(failure).toBeInstanceOf(DownloadRefusedError);
    expect(failure.message).toMatch(/^Download from http:\/\/127\.0\.0\.1:\d+\/reports\/r1\.json was redirected \(HTTP 302\) to /);
    expect(failure.message).toMatch(problem);
    expect(failure.message).toMatch(/refused, nothing was stored/);
    expect(failure.message).not.toContain('signature');
    expect(failure.message).not.toContain('pw@');
    expect(metadata.requests).toEqual([]);
    expect(storage.requests).toHaveLength(1);
  });

  it('refuses a presigned link with user-info without connecting', async () => {
    const failure = (await client().openDownload(link().replace('http://', 'http://u:link-secret@'), 't').catch((error: unknown) => error)) as Error;
    expect(failure).toBeInstanceOf(DownloadRefusedError);
    expect(failure.message).not.toContain('link-secret');
    expect(storage.requests).toEqual([]);
  });

  it('stops after five redirects', async () => {
    storage.handler = (req, res) => res.writeHead(302, { location: `${req.url!.split('?')[0]}x` }).end();
    await expect(client().openDownload(link(), 't')).rejects.toThrow(/more than 5 redirects/);
  });

  it('allows https redirects to the same host or to listed hosts only', () => {
    const first = new URL('https://storage.vendor.test/r?sig=1');
    expect(redirectProblem(first, new URL('https://storage.vendor.test/other'))).toBeUndefined();
    expect(redirectProblem(new URL('http://storage.vendor.test/r'), new URL('https://storage.vendor.test/r'))).toBeUndefined();
    expect(redirectProblem(first, new URL('http://storage.vendor.test:8080/r'))).toMatch(/plain http/);
    expect(redirectProblem(first, new URL('https://eu.s3.test/r'))).toMatch(/another host/);
    expect(redirectProblem(first, new URL('https://eu.s3.test/r'), ['eu.s3.test'])).toBeUndefined();
    expect(redirectProblem(first, new URL('https://bucket.eu.s3.test/r'), ['.s3.test'])).toBeUndefined();
    expect(redirectProblem(first, new URL('https://s3.test/r'), ['.s3.test'])).toMatch(/another host/);
    expect(redirectProblem(first, new URL('https://evils3.test/r'), ['.s3.test'])).toMatch(/another host/);
    expect(redirectProblem(first, new URL('ftp://storage.vendor.test/r'))).toMatch(/ftp:/);
  });
});

describe('encoded downloads', () => {
  const client = () =>
    new MftClient('https://api.mft.test', new HttpClient({ retry: { maxAttempts: 1 } }), undefined, { addresses: { allowLoopback: true, allowPrivate: false } });
  const report = '[\n{"id":"e1"},\n{"id":"e2"}\n]\n'.repeat(200);

  it.each([
    ['gzip', (body: Buffer) => gzipSync(body)],
    ['deflate', (body: Buffer) => deflateSync(body)],
    ['br', (body: Buffer) => brotliCompressSync(body)],
  ] as const)('a %s body is decoded; its Content-Length (of the encoded bytes) is not the report length', async (encoding, encode) => {
    const encoded = encode(Buffer.from(report));
    storage.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding, 'content-length': encoded.length });
      res.end(encoded);
    };
    const download = await client().openDownload(`${storage.url}/reports/r1.json`, 't');
    expect(download.contentEncoding).toBe(encoding);
    expect(download.contentLength).toBeUndefined();
    const chunks: Buffer[] = [];
    for await (const chunk of download.body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(report);
  });

  it('an encoding it did not ask for is refused, nothing read', async () => {
    storage.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'compress' });
      res.end('LZW?');
    };
    await expect(client().openDownload(`${storage.url}/reports/r1.json`, 't')).rejects.toThrow(
      /arrived with Content-Encoding "compress", which the exporter does not decode \(it asks for gzip, deflate or br\): nothing was stored/,
    );
  });

  it('an unencoded body keeps its Content-Length as the length to verify', async () => {
    storage.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(report) });
      res.end(report);
    };
    const download = await client().openDownload(`${storage.url}/reports/r1.json`, 't');
    expect([download.contentLength, download.contentEncoding]).toEqual([Buffer.byteLength(report), undefined]);
    download.body.destroy();
  });
});

describe('the report list: pages as the API may link them', () => {
  const page1 = new URL('https://api.mft.test/v1/reports/audit-logs');
  it.each([
    ['a Link header', {}, '<https://api.mft.test/v1/reports/audit-logs?cursor=2>; rel="next", <https://api.mft.test/x>; rel="prev"', 'https://api.mft.test/v1/reports/audit-logs?cursor=2'],
    ['a relative Link header with several rels', {}, '</v1/reports/audit-logs?cursor=3>; rel="last next"', 'https://api.mft.test/v1/reports/audit-logs?cursor=3'],
    ['a next link', { next: '/v1/reports/audit-logs?cursor=4' }, null, 'https://api.mft.test/v1/reports/audit-logs?cursor=4'],
    ['an OData next link', { '@odata.nextLink': 'https://api.mft.test/v1/reports/audit-logs?$skip=5' }, null, 'https://api.mft.test/v1/reports/audit-logs?$skip=5'],
    ['links.next.href', { links: { next: { href: '?cursor=6' } } }, null, 'https://api.mft.test/v1/reports/audit-logs?cursor=6'],
    ['a page token', { nextPageToken: 'abc' }, null, 'https://api.mft.test/v1/reports/audit-logs?pageToken=abc'],
    ['a continuation token', { continuationToken: 'x y' }, null, 'https://api.mft.test/v1/reports/audit-logs?continuationToken=x+y'],
    ['page numbers with a total', { page: 1, pageSize: 50, totalCount: 51 }, null, 'https://api.mft.test/v1/reports/audit-logs?page=2&pageSize=50'],
    ['page numbers with hasMore', { page: '2', pageSize: '10', hasMore: true }, null, 'https://api.mft.test/v1/reports/audit-logs?page=3&pageSize=10'],
  ])('follows %s', (_name, body, link, next) => {
    expect(nextListPage(page1, { items: [], ...body }, link)?.href).toBe(next);
  });

  it.each([
    ['no paging fields', {}, null],
    ['a null next link', { next: null }, null],
    ['the last page by number', { page: 2, pageSize: 50, totalCount: 100 }, null],
    ['a prev link only', {}, '<https://api.mft.test/x>; rel="prev"'],
  ])('stops on %s', (_name, body, link) => {
    expect(nextListPage(page1, { items: [], ...body }, link)).toBeUndefined();
  });

  it('never sends the token to another origin, and stops a loop', async () => {
    const pages = [
      { items: [{ id: 'r1', status: 0 }], next: 'https://evil.example/v1/reports/audit-logs' },
      { items: [{ id: 'r1', status: 0 }], next: '/v1/reports/audit-logs' },
    ];
    let answered = 0;
    const fetch = (async () => new Response(JSON.stringify(pages[answered++ % 2]), { status: 200, headers: { 'content-type': 'application/json' } })) as typeof globalThis.fetch;
    const mft = new MftClient('https://api.mft.test', new HttpClient({ fetch, retry: { maxAttempts: 1 } }));
    await expect(mft.listReports('token')).rejects.toThrow(/next page at https:\/\/evil\.example\/v1\/reports\/audit-logs, another origin than the API's \(https:\/\/api\.mft\.test\): not followed/);
    answered = 1;
    await expect(mft.listReports('token')).rejects.toThrow(/points its next page back at https:\/\/api\.mft\.test\/v1\/reports\/audit-logs \(page 1\): a loop/);
  });
});
