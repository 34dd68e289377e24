import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceAddressAllowList } from '../../emulators/common/source-address.js';
import { startMftEmulator, type MftEmulator } from '../../emulators/mft/index.js';
import { signClientAssertion } from '../../emulators/mft/testing.js';
import { CLIENT_ASSERTION_TYPE, GRANT_TYPE } from '../../emulators/mft/token-endpoint.js';
import { AUDIT_PACKAGES_PATH, startXrayEmulator, type XrayEmulator } from '../../emulators/xray/index.js';

/**
 * The emulators' IP allow-lists (an MFT API key's IP Access, a JFrog platform's allowlist) judge the real source
 * address of the connection: requests are sent from two loopback addresses, 127.0.0.2 (listed) and 127.0.0.1 (not).
 */

const LISTED = '127.0.0.2';
const UNLISTED = '127.0.0.1';

interface Answer {
  status: number;
  body: any;
}

/** One HTTP request from the given local address (node:http, so the source address can be chosen). */
function send(url: string, from: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, localAddress: from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('sourceAddressAllowList', () => {
  it('matches addresses and CIDR ranges of both families; IPv4-mapped IPv6 counts as IPv4', () => {
    const allows = sourceAddressAllowList(['203.0.113.7', '198.51.100.0/24', '2001:db8::/32'], 'ipAllowList');
    expect(allows('203.0.113.7')).toBe(true);
    expect(allows('203.0.113.8')).toBe(false);
    expect(allows('198.51.100.200')).toBe(true);
    expect(allows('198.51.101.1')).toBe(false);
    expect(allows('::ffff:198.51.100.9')).toBe(true);
    expect(allows('2001:db8:1::5')).toBe(true);
    expect(allows('2001:db9::1')).toBe(false);
    expect(allows(undefined)).toBe(false);
  });

  it.each(['203.0.113', '203.0.113.0/33', '203.0.113.0/x', '203.0.113.0/24/1', 'localhost', '2001:db8::/129'])('rejects %s', (entry) => {
    expect(() => sourceAddressAllowList([entry], 'XrayEmulatorOptions.ipAllowList')).toThrow(
      new RangeError(`XrayEmulatorOptions.ipAllowList: "${entry}" is not an IP address or CIDR range (e.g. 203.0.113.7 or 203.0.113.0/24)`),
    );
  });
});

describe('MFT emulator: the API key IP Access (ipAllowList)', () => {
  let mft: MftEmulator;

  beforeAll(async () => {
    mft = await startMftEmulator({ ipAllowList: [`${LISTED}/32`], reportReadyAfterMs: 0, eventsPerHour: 10 });
  });
  afterAll(() => mft.close());

  const tokenRequest = async (from: string) =>
    send(mft.tokenUrl, from, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: GRANT_TYPE, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: await signClientAssertion(mft) }),
    });

  it('issues a token to a listed address and refuses an unlisted one with 403, naming the address and the allow list', async () => {
    const listed = await tokenRequest(LISTED);
    expect(listed.status).toBe(200);
    expect(typeof listed.body.access_token).toBe('string');

    const unlisted = await tokenRequest(UNLISTED);
    expect(unlisted).toEqual({
      status: 403,
      body: { error: 'access_denied', error_description: `IP address ${UNLISTED} is not in the IP allow list of this API key` },
    });
  });

  it('refuses the report endpoints from an unlisted address even with a valid token; the download listener is not restricted', async () => {
    const token = (await tokenRequest(LISTED)).body.access_token as string;
    const headers = { authorization: `bearer ${token}`, 'content-type': 'application/json' };
    const body = JSON.stringify({ type: 0, start: '2026-01-01T00:00:00Z', end: '2026-01-01T01:00:00Z' });
    const refused = await send(`${mft.baseUrl}/v1/reports/audit-logs`, UNLISTED, { method: 'POST', headers, body });
    expect(refused).toEqual({ status: 403, body: { error: 'Forbidden', message: `IP address ${UNLISTED} is not in the IP allow list of this API key` } });
    expect(mft.reports()).toEqual([]);

    const created = await send(`${mft.baseUrl}/v1/reports/audit-logs`, LISTED, { method: 'POST', headers, body });
    expect(created.status).toBe(201);
    let report = created.body as { id: string; status: string; url?: string };
    while (report.status !== 'Completed') {
      await new Promise((resolve) => setTimeout(resolve, 20));
      report = (await send(`${mft.baseUrl}/v1/reports/audit-logs/${encodeURIComponent(report.id)}`, LISTED, { headers })).body;
    }
    const download = await send(report.url!, UNLISTED);
    expect(download.status).toBe(200);
    expect(Array.isArray(download.body)).toBe(true);
  });

  it('without ipAllowList every address may call (the vendor default)', async () => {
    const open = await startMftEmulator();
    try {
      const answer = await send(`${open.baseUrl}/v1/reports/audit-logs`, UNLISTED);
      expect(answer.status).toBe(401);
    } finally {
      await open.close();
    }
  });
});

describe('Xray emulator: the platform IP allowlist (ipAllowList)', () => {
  let xray: XrayEmulator;

  beforeAll(async () => {
    xray = await startXrayEmulator({ events: 100, ipAllowList: ['127.0.0.0/31', '::2'] });
  });
  afterAll(() => xray.close());

  it('serves a listed address; refuses an unlisted one with 403 in JFrog error format before authentication', async () => {
    const url = `${xray.baseUrl}${AUDIT_PACKAGES_PATH}?num_of_rows=1`;
    const authorization = `Bearer ${xray.admin.accessToken}`;
    // 127.0.0.0/31 holds 127.0.0.0 and 127.0.0.1; 127.0.0.2 is outside it.
    expect((await send(url, '127.0.0.1', { headers: { authorization } })).status).toBe(200);
    const refused = await send(url, '127.0.0.2', { headers: { authorization } });
    expect(refused).toEqual({
      status: 403,
      body: { errors: [{ status: 403, message: 'Forbidden: IP address 127.0.0.2 is not on the IP allowlist of this JFrog Platform' }] },
    });
    // Refused before authentication: no credentials still gets the allowlist's 403, not a 401.
    expect((await send(url, '127.0.0.2')).status).toBe(403);
    expect(xray.requestLog.at(-1)).toMatchObject({ status: 403, authorization: 'none' });
  });

  it('a bad entry fails at start with the option named', async () => {
    await expect(startXrayEmulator({ ipAllowList: ['127.0.0.1/40'] })).rejects.toThrow(/XrayEmulatorOptions\.ipAllowList: "127\.0\.0\.1\/40"/);
    await expect(startMftEmulator({ ipAllowList: ['nope'] })).rejects.toThrow(/MftEmulatorOptions\.ipAllowList: "nope"/);
  });
});
