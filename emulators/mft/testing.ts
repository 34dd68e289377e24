import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { CLIENT_ASSERTION_TYPE, GRANT_TYPE } from './token-endpoint.js';
import type { MftEmulator } from './index.js';

/**
 * Helpers for tests that talk to the emulator: a correct client assertion (with any claim overridden
 * or removed) and the token exchange, written the way the vendor's documentation describes them.
 */

export interface AssertionOptions {
  /** Claims to override; `null` removes a claim. */
  claims?: { [claim: string]: unknown };
  /** Header `kid` (default: the emulator's key id). */
  kid?: string;
  /** Signing key (default: the emulator's private key). */
  privateKey?: CryptoKey | KeyObject;
  /** Header `alg` (default: the algorithm of the emulator's key). */
  alg?: string;
  /** Epoch seconds used for nbf/iat/exp (default: now). */
  nowSeconds?: number;
}

export async function signClientAssertion(emulator: MftEmulator, options: AssertionOptions = {}): Promise<string> {
  const nowSeconds = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const claims: { [claim: string]: unknown } = {
    iss: emulator.tenantId,
    sub: emulator.tenantId,
    aud: emulator.tokenUrl,
    jti: crypto.randomUUID(),
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 20,
    ...options.claims,
  };
  for (const [claim, value] of Object.entries(claims)) if (value === null) delete claims[claim];
  const privateKey = options.privateKey ?? createPrivateKey(emulator.privateKeyPem);
  const alg = options.alg ?? emulator.keyAlgorithm;
  return new SignJWT(claims as JWTPayload).setProtectedHeader({ alg, kid: options.kid ?? emulator.kid, typ: 'JWT' }).sign(privateKey);
}

/** POSTs an assertion to the token endpoint as JSON and returns the raw response. */
export function postTokenRequest(emulator: MftEmulator, clientAssertion: string): Promise<Response> {
  return fetch(emulator.tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ grant_type: GRANT_TYPE, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion }),
  });
}

/** A fresh access token for the emulator's own tenant. */
export async function fetchAccessToken(emulator: MftEmulator): Promise<string> {
  const response = await postTokenRequest(emulator, await signClientAssertion(emulator));
  const body = (await response.json()) as { access_token?: string };
  if (response.status !== 200 || !body.access_token) throw new Error(`token request failed with HTTP ${response.status}`);
  return body.access_token;
}
