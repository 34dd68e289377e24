import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOW_LISTS, EGRESS_IPS_OUTPUT, allowListRefusal, isSourceAddressRefusal } from '../../functions/common/allow-list.js';
import { VendorAuthError } from '../../functions/common/errors.js';
import { HttpClient } from '../../functions/common/http.js';
import { AccessTokenRejectedError, MftClient } from '../../functions/mft/client.js';
import { XrayClient } from '../../functions/xray/client.js';

/**
 * Telling "your address is not on the allow-list" apart from "bad key or clock": the wordings an API or a
 * gateway uses for an address-based refusal are recognized; the refusals the vendors document for bad
 * credentials or permissions are not.
 */

describe('isSourceAddressRefusal', () => {
  it.each([
    // the twin's assumed wordings (emulators/*/README.md)
    'IP address 127.0.0.1 is not in the IP allow list of this API key',
    'Forbidden: IP address 127.0.0.1 is not on the IP allowlist of this JFrog Platform',
    // Progress MOVEit's own words for the same kind of rule
    'Invalid username/password or not allowed to sign on from this location',
    // common API and gateway phrasings
    'IP is not in the IP whitelist',
    'Your IP address 203.0.113.7 is not allowed to access this resource',
    'Access denied for IP 198.51.100.4',
    'Request from 198.51.100.4 blocked',
    'client IP not permitted',
    'The request was rejected because of an IP restriction',
    'Source address not allow-listed',
    'IPv4 access denied',
    '<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>Your&nbsp;IP&nbsp;address is not permitted.</p></body></html>',
  ])('recognizes %s', (text) => {
    expect(isSourceAddressRefusal(text)).toBe(true);
  });

  it.each([
    // the vendors' (and the twin's) answers to bad credentials and missing permissions
    'kid is not a registered API key',
    'assertion has expired (exp)',
    'assertion is not valid yet (nbf is in the future)',
    'signature does not verify with the key registered for kid',
    'jti has already been used (replayed assertion)',
    'aud must be exactly the token URL',
    'iss must be the tenant id of the API key',
    'client_assertion must be signed with alg ES256',
    'access token has expired',
    'Authorization must use the bearer scheme',
    "Forbidden: user 'auditor' lacks the VIEW_POLICIES permission",
    'Unauthorized: bad credentials (use Basic user:password or Bearer <access token>)',
    'Unauthorized: missing or unsupported Authorization header (use Basic user:password or Bearer <access token>)',
    // words of the Curation domain and bare statuses
    'Package lodash 4.17.20 was blocked by policy',
    'allowed methods: GET, POST',
    'Forbidden',
    'Access denied',
    '<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center><hr><center>nginx</center></body></html>',
  ])('does not take %s for an address refusal', (text) => {
    expect(isSourceAddressRefusal(text)).toBe(false);
  });
});

describe('allowListRefusal', () => {
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  it('names the vendor, the vendor words, the allow-list and the stack output', async () => {
    const message = await allowListRefusal('mft', json(403, { error: 'access_denied', error_description: 'IP address 52.1.2.3 is not in the IP allow list' }), 'the token request');
    expect(message).toBe(
      'Progress Automate MFT refused the token request because of the address it came from (HTTP 403: IP address 52.1.2.3 is not in the IP allow list). ' +
        `Add the exporter's egress IP addresses (the stack output ${EGRESS_IPS_OUTPUT}) to ${ALLOW_LISTS.mft.where}; ` +
        'a deployment without the network setting has no fixed addresses (README, "Fixed egress addresses")',
    );
    expect(message).toContain('System > API Keys');
    const xray = await allowListRefusal('xray', json(401, { errors: [{ status: 401, message: 'client IP not permitted' }] }), 'the audit query');
    expect(xray).toMatch(/^JFrog refused the audit query .*\(HTTP 401: client IP not permitted\).*IP\/CIDR allowlist \(MyJFrog/);
  });

  it('answers nothing for other statuses or other refusals, and leaves the body to the caller', async () => {
    for (const status of [200, 400, 404, 429, 500]) {
      const response = json(status, { message: 'IP address not allowed' });
      expect(await allowListRefusal('xray', response, 'x'), String(status)).toBeUndefined();
      expect(response.bodyUsed).toBe(false);
    }
    const refused = json(403, { errors: [{ message: "Forbidden: user 'a' lacks the VIEW_POLICIES permission" }] });
    expect(await allowListRefusal('xray', refused, 'x')).toBeUndefined();
    expect(await refused.json()).toEqual({ errors: [{ message: "Forbidden: user 'a' lacks the VIEW_POLICIES permission" }] });
  });

  it('reads at most 16 KiB of a body, even one that never ends', async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1024;
        controller.enqueue(new TextEncoder().encode(pulled === 1024 ? 'Forbidden: source IP not allowed. ' : 'x'.repeat(1024)));
      },
    });
    const message = await allowListRefusal('xray', new Response(endless, { status: 403 }), 'the audit query');
    expect(message).toMatch(/source IP not allowed/);
    expect(message!.length).toBeLessThan(800);
    expect(pulled).toBeLessThan(64 * 1024);
  });
});

/** The two clients against a real HTTP server that answers as a gateway with an IP allow-list would. */
describe('the clients report an address refusal as such', () => {
  let server: Server;
  let baseUrl: string;
  let answer: (req: IncomingMessage, res: ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((req, res) => answer(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const http = () => new HttpClient({ retry: { maxAttempts: 1 } });

  it('Xray: an HTML 403 page about the address (larger than what is read of it)', async () => {
    answer = (_req, res) => {
      res.writeHead(403, { 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html><html><body><h1>403</h1><p>Access from your IP address (127.0.0.1) is blocked.</p><!-- ${'x'.repeat(200_000)} --></body></html>`);
    };
    const client = new XrayClient(baseUrl, { accessToken: 'tok-SECRET' }, http());
    const error = await client.jsonPage({ window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-02T00:00:00.000Z' }, offset: 0, pageSize: 10, dryRun: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VendorAuthError);
    expect((error as Error).message).toMatch(/^JFrog refused the audit query to http:\/\/127\.0\.0\.1:\d+\/xray\/api\/v1\/curation\/audit\/packages because of the address it came from \(HTTP 403: 403 Access from your IP address \(127\.0\.0\.1\) is blocked\.\)/);
    expect((error as Error).message).toContain(EGRESS_IPS_OUTPUT);
    expect((error as Error).message).not.toContain('tok-SECRET');
  });

  it('Xray: a 403 without such words keeps its permission message', async () => {
    answer = (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ status: 403, message: 'Forbidden' }] }));
    };
    const client = new XrayClient(baseUrl, { accessToken: 'tok' }, http());
    const error = await client.jsonPage({ window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-02T00:00:00.000Z' }, offset: 0, pageSize: 10, dryRun: false }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/VIEW_POLICIES/);
    expect((error as Error).message).not.toContain(EGRESS_IPS_OUTPUT);
  });

  it('MFT: a 401 about the address on a report endpoint is not taken for an expired token (re-issuing cannot help)', async () => {
    answer = (_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized', message: 'Requests from IP 127.0.0.1 are not permitted for this API key' }));
    };
    const client = new MftClient(baseUrl, http());
    const error = await client.listReports('at-SECRET').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VendorAuthError);
    expect(error).not.toBeInstanceOf(AccessTokenRejectedError);
    expect((error as Error).message).toMatch(/^Progress Automate MFT refused GET \/v1\/reports\/audit-logs because of the address it came from \(HTTP 401: Requests from IP 127\.0\.0\.1/);

    answer = (_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized', message: 'access token has expired' }));
    };
    expect(await client.listReports('at-SECRET').catch((e: unknown) => e)).toBeInstanceOf(AccessTokenRejectedError);
  });

  it('MFT: the token endpoint, without such words, still points at the key and the clock', async () => {
    const privateKeyPem = await exportPKCS8((await generateKeyPair('ES256', { extractable: true })).privateKey);
    answer = (req, res) => {
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_client', error_description: 'kid is not a registered API key' }));
    };
    const client = new MftClient(baseUrl, http());
    const error = await client.issueToken({ tenantId: 't', kid: 'k', privateKeyPem }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/kid is not a registered API key.*clock is right/);
    expect((error as Error).message).not.toContain(EGRESS_IPS_OUTPUT);
  });
});
