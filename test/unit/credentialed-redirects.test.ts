import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/common/errors.js';
import { HttpClient } from '../../functions/common/http.js';
import { MftClient } from '../../functions/mft/client.js';
import { reportRequest } from '../../functions/mft/export-plan.js';
import { XrayClient } from '../../functions/xray/client.js';
import { startMftEmulator, type MftEmulator } from '../../emulators/mft/index.js';

/**
 * A request that carries credentials (the token request's client assertion, a bearer token, Basic
 * credentials) never follows a redirect: the redirect is a configuration error, reported at once (no retry,
 * no "the vendor may be down"), naming where it pointed and the base URL to configure instead.
 */

let server: Server;
let origin: string;
let requests: { method: string; url: string; authorization: boolean }[] = [];
let location = '';
let status = 301;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', authorization: req.headers.authorization !== undefined });
    req.resume();
    res.writeHead(status, location ? { location } : {});
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  requests = [];
  status = 301;
});

const http = () => new HttpClient({ retry: { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 2 } });

describe('a redirect on a credentialed request', () => {
  let mft: MftEmulator;
  beforeAll(async () => {
    mft = await startMftEmulator();
  });
  afterAll(() => mft.close());

  it.each([301, 302, 307, 308])('to the token endpoint (HTTP %i) is a ConfigError naming the base URL to configure; sent once', async (code) => {
    status = code;
    location = 'https://api.eu.mft.example/tenant-a/v1/oauth/token';
    const client = new MftClient(`${origin}/tenant-a`, http());
    const failure = client.issueToken({ tenantId: mft.tenantId, kid: mft.kid, privateKeyPem: mft.privateKeyPem });
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(
      `POST ${origin}/tenant-a/v1/oauth/token was redirected (HTTP ${code}) to https://api.eu.mft.example/tenant-a/v1/oauth/token; ` +
        'a request that carries credentials never follows a redirect: set MFT_BASE_URL (sources.mft.baseUrl) to https://api.eu.mft.example/tenant-a',
    );
    expect(requests).toHaveLength(1);
  });

  it('from an API call (http → https on the same host too: the token already went in clear)', async () => {
    location = `${origin.replace('http:', 'https:')}/v1/reports/audit-logs`;
    const client = new MftClient(origin, http());
    const failure = client.createReport('bearer-token-value', reportRequest('json', { start: '2026-01-01T00:00:00Z', end: '2026-01-01T01:00:00Z' }));
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/set MFT_BASE_URL \(sources\.mft\.baseUrl\) to https:\/\/127\.0\.0\.1:\d+$/);
    await expect(failure).rejects.not.toThrow(/bearer-token-value/);
    expect(requests).toHaveLength(1);
  });

  it('from an Xray page, with a relative Location; the query string is never quoted', async () => {
    location = '/artifactory/../xray/api/v1/curation/audit/packages?signature=secret';
    const client = new XrayClient(`${origin}/platform`, { username: 'u', password: 'pw-value' }, http());
    const failure = client.jsonPage({ window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T01:00:00.000Z' }, offset: 0, pageSize: 2000, dryRun: false });
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(
      new RegExp(`^GET ${origin}/platform/xray/api/v1/curation/audit/packages was redirected \\(HTTP 301\\) to ${origin}/xray/api/v1/curation/audit/packages; .*set XRAY_BASE_URL \\(sources\\.xray\\.baseUrl\\) to ${origin}$`),
    );
    await expect(failure).rejects.not.toThrow(/signature|secret|pw-value/);
    expect(requests).toHaveLength(1);
  });

  it('to a path that is not the endpoint names where it pointed; without a Location it says so', async () => {
    location = 'https://login.example/sso';
    const client = new XrayClient(origin, { accessToken: 'tok' }, http());
    const query = { window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T01:00:00.000Z' }, offset: 0, pageSize: 2000, dryRun: false };
    await expect(client.csvPage(query)).rejects.toThrow(/to https:\/\/login\.example\/sso; .*set XRAY_BASE_URL \(sources\.xray\.baseUrl\) to the address the platform answers at \(it redirected to https:\/\/login\.example\/sso\)/);
    location = '';
    await expect(client.csvPage(query)).rejects.toThrow(/was redirected \(HTTP 301\) without a usable Location; check the configured URL/);
  });
});
