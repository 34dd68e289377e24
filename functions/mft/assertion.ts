import { randomUUID } from 'node:crypto';
import { SignJWT, importPKCS8, type CryptoKey } from 'jose';
import { ConfigError } from '../common/errors.js';

/** The API key: a registered ES256 key pair. Only the private half is ours. */
export interface MftCredentials {
  tenantId: string;
  kid: string;
  privateKeyPem: string;
}

const keyCache = new WeakMap<MftCredentials, Promise<CryptoKey>>();

function signingKey(credentials: MftCredentials): Promise<CryptoKey> {
  let key = keyCache.get(credentials);
  if (!key) {
    key = importPKCS8(credentials.privateKeyPem, 'ES256').catch(() => {
      throw new ConfigError(
        `The MFT private key for kid ${credentials.kid} is not a PKCS#8 PEM P-256 key ` +
          '(expected "-----BEGIN PRIVATE KEY-----"; convert with `openssl pkcs8 -topk8 -nocrypt`)',
      );
    });
    keyCache.set(credentials, key);
  }
  return key;
}

/**
 * The short-lived client assertion of the OAuth client-credentials grant: ES256, `kid` in the header,
 * iss = sub = tenant, aud = the token URL, a fresh jti, valid for 20 seconds from now.
 */
export async function signClientAssertion(
  credentials: MftCredentials,
  tokenUrl: string,
  nowMs: number,
): Promise<string> {
  const now = Math.floor(nowMs / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: credentials.kid, typ: 'JWT' })
    .setIssuer(credentials.tenantId)
    .setSubject(credentials.tenantId)
    .setAudience(tokenUrl)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 20)
    .sign(await signingKey(credentials));
}
