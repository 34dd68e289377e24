import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConfigError } from '../common/errors.js';

/** The API key: a key pair registered with the tenant. Only the private half is ours. */
export interface MftCredentials {
  tenantId: string;
  kid: string;
  privateKeyPem: string;
}

/** The algorithms the vendor's key page allows: generated ES256 (P-256) keys, uploaded RSA (2048+) or Ed25519. */
export type AssertionAlgorithm = 'ES256' | 'RS256' | 'EdDSA';

export interface SigningKey {
  key: KeyObject;
  alg: AssertionAlgorithm;
}

const MIN_RSA_BITS = 2048;

/**
 * The algorithm follows the key: a P-256 EC key signs ES256, an RSA key of 2048 bits or more RS256, an Ed25519
 * key EdDSA. Any unencrypted PEM form Node reads: PKCS#8 (`BEGIN PRIVATE KEY`), SEC1 (`BEGIN EC PRIVATE KEY`),
 * PKCS#1 (`BEGIN RSA PRIVATE KEY`).
 */
export function signingKeyFromPem(pem: string, kid: string): SigningKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new ConfigError(
      `The MFT private key for kid ${kid} is not a readable, unencrypted PEM private key ` +
        '(PKCS#8 "BEGIN PRIVATE KEY", SEC1 "BEGIN EC PRIVATE KEY" or PKCS#1 "BEGIN RSA PRIVATE KEY")',
    );
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details.namedCurve === 'prime256v1') return { key, alg: 'ES256' };
      throw new ConfigError(`The MFT private key for kid ${kid} is an EC key on ${details.namedCurve ?? 'an unknown curve'}; MFT API keys are P-256 (ES256)`);
    case 'rsa':
      if ((details.modulusLength ?? 0) >= MIN_RSA_BITS) return { key, alg: 'RS256' };
      throw new ConfigError(`The MFT private key for kid ${kid} is RSA with ${details.modulusLength} bits; MFT accepts RSA keys of ${MIN_RSA_BITS} bits or more`);
    case 'ed25519':
      return { key, alg: 'EdDSA' };
    default:
      throw new ConfigError(
        `The MFT private key for kid ${kid} is a ${key.asymmetricKeyType ?? 'unknown'} key; MFT API keys are ES256 (P-256), RSA (2048 bits or more) or Ed25519`,
      );
  }
}

const keyCache = new WeakMap<MftCredentials, SigningKey>();

function signingKey(credentials: MftCredentials): SigningKey {
  let key = keyCache.get(credentials);
  if (!key) {
    key = signingKeyFromPem(credentials.privateKeyPem, credentials.kid);
    keyCache.set(credentials, key);
  }
  return key;
}

/**
 * The short-lived client assertion of the OAuth client-credentials grant: signed with the algorithm of the key,
 * `kid` in the header, iss = sub = tenant, aud = the token URL, a fresh jti, iat and nbf now (the vendor's
 * authentication page asks for both), valid for 20 seconds as in the vendor's reference script.
 */
export async function signClientAssertion(
  credentials: MftCredentials,
  tokenUrl: string,
  nowMs: number,
): Promise<string> {
  const { key, alg } = signingKey(credentials);
  const now = Math.floor(nowMs / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg, kid: credentials.kid, typ: 'JWT' })
    .setIssuer(credentials.tenantId)
    .setSubject(credentials.tenantId)
    .setAudience(tokenUrl)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 20)
    .sign(key);
}
