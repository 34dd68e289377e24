import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64url, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startMftEmulator, type MftEmulator } from '../../emulators/mft/index.js';
import { fetchAccessToken, postTokenRequest, signClientAssertion } from '../../emulators/mft/testing.js';
import { ConfigError } from '../../functions/common/errors.js';
import { signClientAssertion as signExporterAssertion, signingKeyFromPem } from '../../functions/mft/assertion.js';
import { MftClient } from '../../functions/mft/client.js';

const REPORTS = '/v1/reports/audit-logs';

interface OAuthErrorBody {
  error: string;
  error_description: string;
}

describe('MFT emulator: token endpoint', () => {
  let emulator: MftEmulator;
  beforeAll(async () => {
    emulator = await startMftEmulator({ reportReadyAfterMs: 10 });
  });
  afterAll(() => emulator.close());

  async function expectRejected(assertion: string, status: number, error: string, description: RegExp): Promise<void> {
    const response = await postTokenRequest(emulator, assertion);
    const text = await response.text();
    expect(response.status, text).toBe(status);
    const body = JSON.parse(text) as OAuthErrorBody;
    expect(body.error).toBe(error);
    expect(body.error_description).toMatch(description);
    expect(text).not.toContain(assertion);
  }

  it('issues an opaque bearer token for a correct ES256 assertion', async () => {
    const response = await postTokenRequest(emulator, await signClientAssertion(emulator));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 3600 });
    expect(body.access_token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  });

  it('also accepts a form-encoded token request', async () => {
    const response = await fetch(emulator.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await signClientAssertion(emulator),
      }),
    });
    expect(response.status).toBe(200);
  });

  it('rejects a signature made with a key not registered for the kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    await expectRejected(await signClientAssertion(emulator, { privateKey }), 401, 'invalid_client', /signature/);
  });

  it('rejects an unknown kid', async () => {
    await expectRejected(await signClientAssertion(emulator, { kid: 'no-such-key' }), 401, 'invalid_client', /kid/);
  });

  it('rejects alg none and HS256', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: emulator.tenantId, sub: emulator.tenantId, aud: emulator.tokenUrl, jti: crypto.randomUUID(), nbf: now, exp: now + 20 };
    const encode = (value: unknown): string => base64url.encode(JSON.stringify(value));
    const unsigned = `${encode({ alg: 'none', kid: emulator.kid })}.${encode(claims)}.`;
    await expectRejected(unsigned, 401, 'invalid_client', /ES256/);

    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: emulator.kid })
      .sign(new TextEncoder().encode('a shared secret that is long enough for HS256'));
    await expectRejected(hs256, 401, 'invalid_client', /ES256/);
  });

  it('rejects a wrong or extra audience', async () => {
    const wrong = 'https://api.us.mft.progress.com/v1/oauth/token';
    await expectRejected(await signClientAssertion(emulator, { claims: { aud: wrong } }), 401, 'invalid_client', /aud/);
    await expectRejected(await signClientAssertion(emulator, { claims: { aud: `${emulator.tokenUrl}/` } }), 401, 'invalid_client', /aud/);
    await expectRejected(await signClientAssertion(emulator, { claims: { aud: [emulator.tokenUrl, wrong] } }), 401, 'invalid_client', /aud/);
  });

  it('rejects an expired assertion but tolerates the configured clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(await signClientAssertion(emulator, { nowSeconds: now - 120 }), 401, 'invalid_client', /expired/);
    const slightlyLate = await postTokenRequest(emulator, await signClientAssertion(emulator, { nowSeconds: now - 35 }));
    expect(slightlyLate.status).toBe(200);
  });

  it('rejects an assertion that is not valid yet', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(await signClientAssertion(emulator, { nowSeconds: now + 120 }), 401, 'invalid_client', /nbf/);
  });

  it('rejects iss or sub other than the tenant of the key', async () => {
    await expectRejected(await signClientAssertion(emulator, { claims: { iss: 'other-tenant' } }), 401, 'invalid_client', /iss/);
    await expectRejected(await signClientAssertion(emulator, { claims: { sub: 'other-tenant' } }), 401, 'invalid_client', /sub/);
  });

  it('rejects a replayed jti', async () => {
    const assertion = await signClientAssertion(emulator);
    expect((await postTokenRequest(emulator, assertion)).status).toBe(200);
    await expectRejected(assertion, 401, 'invalid_client', /jti.*already been used/);
  });

  it('does not burn the jti of a rejected assertion', async () => {
    const jti = crypto.randomUUID();
    await expectRejected(await signClientAssertion(emulator, { claims: { jti, aud: 'https://elsewhere' } }), 401, 'invalid_client', /aud/);
    expect((await postTokenRequest(emulator, await signClientAssertion(emulator, { claims: { jti } }))).status).toBe(200);
  });

  it('requires jti, exp and nbf, and a lifetime of at most ten minutes (the vendor allows 10)', async () => {
    await expectRejected(await signClientAssertion(emulator, { claims: { jti: null } }), 401, 'invalid_client', /"jti"/);
    await expectRejected(await signClientAssertion(emulator, { claims: { exp: null } }), 401, 'invalid_client', /"exp"/);
    await expectRejected(await signClientAssertion(emulator, { claims: { nbf: null } }), 401, 'invalid_client', /"nbf"/);
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(await signClientAssertion(emulator, { claims: { exp: now + 601 } }), 401, 'invalid_client', /lifetime/);
    expect((await postTokenRequest(emulator, await signClientAssertion(emulator, { nowSeconds: now, claims: { exp: now + 600 } }))).status).toBe(200);
  });

  it('answers malformed requests with 400 and an OAuth error code', async () => {
    const post = (body: string) => fetch(emulator.tokenUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const cases: [string, string][] = [
      ['not json', 'invalid_request'],
      [JSON.stringify({ grant_type: 'password', client_assertion_type: 'x', client_assertion: 'y' }), 'unsupported_grant_type'],
      [JSON.stringify({ grant_type: 'client_credentials', client_assertion_type: 'x', client_assertion: 'y' }), 'invalid_request'],
      [JSON.stringify({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' }), 'invalid_request'],
    ];
    for (const [body, error] of cases) {
      const response = await post(body);
      expect(response.status, body).toBe(400);
      expect(((await response.json()) as OAuthErrorBody).error).toBe(error);
    }
    await expectRejected('not-a-jwt', 401, 'invalid_client', /JWS/);
  });

  it('accepts extra keys registered for other tenants, as CryptoKey or JWK', async () => {
    const cryptoKeyPair = await generateKeyPair('ES256', { extractable: true });
    emulator.registerKey('tenant-b-key', cryptoKeyPair.publicKey, 'tenant-b');
    const forTenantB = await signClientAssertion(emulator, {
      kid: 'tenant-b-key',
      privateKey: cryptoKeyPair.privateKey,
      claims: { iss: 'tenant-b', sub: 'tenant-b' },
    });
    expect((await postTokenRequest(emulator, forTenantB)).status).toBe(200);

    emulator.registerKey('jwk-key', await exportJWK(cryptoKeyPair.publicKey));
    const withJwk = await signClientAssertion(emulator, { kid: 'jwk-key', privateKey: cryptoKeyPair.privateKey });
    expect((await postTokenRequest(emulator, withJwk)).status).toBe(200);
    // The tenant is the key's: the default key's tenant cannot be claimed with tenant-b's key.
    const crossTenant = await signClientAssertion(emulator, { kid: 'tenant-b-key', privateKey: cryptoKeyPair.privateKey });
    await expectRejected(crossTenant, 401, 'invalid_client', /iss/);
  });

  it('allows only POST on the token endpoint', async () => {
    const response = await fetch(emulator.tokenUrl);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });
});

describe('MFT emulator: bearer tokens on the report endpoints', () => {
  let clockMs = Date.parse('2026-07-01T00:00:00Z');
  let emulator: MftEmulator;
  beforeAll(async () => {
    emulator = await startMftEmulator({ now: () => clockMs, accessTokenTtlSeconds: 60 });
  });
  afterAll(() => emulator.close());

  const listWith = (authorization?: string) =>
    fetch(`${emulator.baseUrl}${REPORTS}`, authorization === undefined ? {} : { headers: { Authorization: authorization } });

  it('requires a bearer token, with the scheme in any case', async () => {
    const token = await fetchAccessTokenAt(emulator, clockMs);
    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'bearer', 'bearer not-a-token']) {
      const response = await listWith(authorization);
      expect(response.status, String(authorization)).toBe(401);
      const body = (await response.json()) as { error: string; message: string };
      expect(body.error).toBe('unauthorized');
      expect(body.message.length).toBeGreaterThan(0);
    }
    for (const scheme of ['bearer', 'Bearer', 'BEARER']) {
      expect((await listWith(`${scheme} ${token}`)).status).toBe(200);
    }
  });

  it('expires access tokens after their TTL by the emulator clock', async () => {
    const token = await fetchAccessTokenAt(emulator, clockMs);
    clockMs += 59_000;
    expect((await listWith(`Bearer ${token}`)).status).toBe(200);
    clockMs += 2_000;
    const expired = await listWith(`Bearer ${token}`);
    expect(expired.status).toBe(401);
    expect(await expired.text()).not.toContain(token);
  });
});

/** fetchAccessToken with assertion times taken from a fake clock. */
async function fetchAccessTokenAt(emulator: MftEmulator, clockMs: number): Promise<string> {
  const assertion = await signClientAssertion(emulator, { nowSeconds: Math.floor(clockMs / 1000) });
  const response = await postTokenRequest(emulator, assertion);
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

// Keep the helper's default path exercised too.
it('fetchAccessToken helper works against a default emulator', async () => {
  const emulator = await startMftEmulator();
  try {
    expect(await fetchAccessToken(emulator)).toMatch(/\S{40,}/);
  } finally {
    await emulator.close();
  }
});

describe('API keys of every kind the vendor allows', () => {
  it('the exporter signs with the algorithm of its key, and the emulator verifies each kind (with iat and nbf)', async () => {
    for (const keyType of ['ES256', 'ES256-SEC1', 'RS256', 'EdDSA'] as const) {
      const emulator = await startMftEmulator({ keyType });
      try {
        expect(emulator.privateKeyPem).toMatch(keyType === 'ES256-SEC1' ? /^-----BEGIN EC PRIVATE KEY-----/ : /^-----BEGIN PRIVATE KEY-----/);
        const credentials = { tenantId: emulator.tenantId, kid: emulator.kid, privateKeyPem: emulator.privateKeyPem };
        const assertion = await signExporterAssertion(credentials, emulator.tokenUrl, Date.now());
        const header = JSON.parse(Buffer.from(assertion.split('.')[0]!, 'base64url').toString()) as { alg: string };
        const claims = JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()) as { iat: number; nbf: number; exp: number };
        expect(header.alg).toBe(keyType === 'ES256-SEC1' ? 'ES256' : keyType);
        expect(claims.iat).toBe(claims.nbf);
        expect(claims.exp - claims.nbf).toBe(20);
        expect((await postTokenRequest(emulator, assertion)).status, keyType).toBe(200);
        // The same key with another algorithm is refused: the key pins it.
        const other = keyType === 'RS256' ? 'PS256' : keyType === 'EdDSA' ? 'Ed25519' : 'ES384';
        const wrongAlg = await signClientAssertion(emulator, { alg: other }).catch(() => undefined);
        if (wrongAlg) expect((await postTokenRequest(emulator, wrongAlg)).status).toBe(401);
        expect(await new MftClient(emulator.baseUrl).issueToken(credentials)).toMatchObject({ value: expect.any(String) });
      } finally {
        await emulator.close();
      }
    }
  });

  it('refuses keys the vendor does not accept, on both sides, naming the kid', async () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const emulator = await startMftEmulator();
    try {
      expect(() => emulator.registerKey('small-rsa', rsa1024.publicKey)).toThrow(/at least 2048 bits/);
      expect(() => emulator.registerKey('p384', p384.publicKey)).toThrow(/P-256, RSA \(2048\+ bits\) or Ed25519/);
    } finally {
      await emulator.close();
    }
    const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => signingKeyFromPem(pem(rsa1024.privateKey), 'kid-1')).toThrow(/kid kid-1 is RSA with 1024 bits; MFT accepts RSA keys of 2048 bits or more/);
    expect(() => signingKeyFromPem(pem(p384.privateKey), 'kid-2')).toThrow(/EC key on secp384r1; MFT API keys are P-256/);
    const encrypted = p384.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }).toString();
    expect(() => signingKeyFromPem(encrypted, 'kid-3')).toThrow(ConfigError);
    expect(() => signingKeyFromPem('-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n', 'kid-4')).toThrow(/not a readable, unencrypted PEM/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(signingKeyFromPem(rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(), 'kid-5').alg).toBe('RS256');
  });
});
