import { KeyObject, createPublicKey } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JWK } from 'jose';

/**
 * Client authentication of the token endpoint: a private-key JWT (RFC 7523) signed with the tenant's API key.
 * Everything the spec's server assumptions list is enforced, strictly, so a client that passes here will not
 * be surprised by the vendor: the alg pinned by the registered key (ES256 for a P-256 key, RS256 for RSA of
 * 2048 bits or more, EdDSA for Ed25519: the kinds the vendor's key page allows), exact aud, iss = sub = tenant
 * of the key, exp/nbf with a small skew, a lifetime of at most 10 minutes (the vendor's authentication page)
 * and single-use jti.
 */

export const MAX_ASSERTION_LIFETIME_SECONDS = 600;
/** The vendor's key page: uploaded RSA keys must have at least this many bits. */
export const MIN_RSA_KEY_BITS = 2048;

export type KeyAlgorithm = 'ES256' | 'RS256' | 'EdDSA';

export type OAuthErrorCode = 'invalid_client' | 'invalid_request' | 'unsupported_grant_type';

/** A token-endpoint failure; the description says what is wrong and never echoes the assertion. */
export class OAuthError extends Error {
  constructor(
    readonly status: 400 | 401,
    readonly code: OAuthErrorCode,
    readonly description: string,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

export type PublicKeyInput = CryptoKey | KeyObject | JWK;

interface RegisteredKey {
  key: KeyObject;
  alg: KeyAlgorithm;
  tenantId: string;
}

export interface AssertionVerifierOptions {
  tokenUrl: string;
  clockSkewSeconds: number;
  now: () => number;
}

export class AssertionVerifier {
  private readonly keys = new Map<string, RegisteredKey>();
  /** Used jtis per tenant → epoch ms after which the assertion is dead anyway and the entry can go. */
  private readonly usedJtis = new Map<string, number>();

  constructor(private readonly options: AssertionVerifierOptions) {}

  /** Registers a public key; throws for a kind the vendor does not accept (RSA under 2048 bits, another curve). */
  registerKey(kid: string, publicKey: PublicKeyInput, tenantId: string): KeyAlgorithm {
    const key = isJwk(publicKey)
      ? createPublicKey({ key: publicKey, format: 'jwk' })
      : publicKey instanceof KeyObject
        ? publicKey
        : KeyObject.from(publicKey as CryptoKey);
    const alg = algorithmOf(key);
    this.keys.set(kid, { key, alg, tenantId });
    return alg;
  }

  /** Verifies an assertion and consumes its jti; returns the tenant it authenticates. */
  async verify(assertion: string): Promise<string> {
    const { tokenUrl, clockSkewSeconds, now } = this.options;
    let header;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      throw rejected('client_assertion is not a compact JWS');
    }
    if (typeof header.kid !== 'string' || header.kid === '') throw rejected('client_assertion header has no kid');
    const registered = this.keys.get(header.kid);
    if (!registered) throw rejected('kid is not a registered API key');
    if (header.alg !== registered.alg) throw rejected(`client_assertion must be signed with alg ${registered.alg}, the algorithm of the key registered for kid`);

    const nowMs = now();
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, registered.key, {
        algorithms: [registered.alg],
        audience: tokenUrl,
        issuer: registered.tenantId,
        subject: registered.tenantId,
        clockTolerance: clockSkewSeconds,
        currentDate: new Date(nowMs),
        requiredClaims: ['exp', 'nbf', 'jti', 'iss', 'sub', 'aud'],
      }));
    } catch (error) {
      throw rejected(describeJoseFailure(error));
    }

    // jose accepts an aud array that merely contains the URL; the vendor wants exactly the token URL.
    if (payload.aud !== tokenUrl) throw rejected('aud must be exactly the token URL');
    const exp = payload.exp!;
    const start = Math.min(payload.nbf!, payload.iat ?? payload.nbf!);
    if (exp - start > MAX_ASSERTION_LIFETIME_SECONDS) {
      throw rejected(`assertion lifetime (exp - nbf/iat) exceeds ${MAX_ASSERTION_LIFETIME_SECONDS} seconds`);
    }
    if (typeof payload.jti !== 'string' || payload.jti === '') throw rejected('jti must be a non-empty string');

    // Replay check last, so a rejected assertion does not burn its jti.
    this.pruneUsedJtis(nowMs);
    const jtiKey = `${registered.tenantId}\n${payload.jti}`;
    if (this.usedJtis.has(jtiKey)) throw rejected('jti has already been used (replayed assertion)');
    this.usedJtis.set(jtiKey, (exp + clockSkewSeconds) * 1000);
    return registered.tenantId;
  }

  private pruneUsedJtis(nowMs: number): void {
    for (const [jti, deadAfterMs] of this.usedJtis) {
      if (deadAfterMs < nowMs) this.usedJtis.delete(jti);
    }
  }
}

function rejected(description: string): OAuthError {
  return new OAuthError(401, 'invalid_client', description);
}

function describeJoseFailure(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'assertion has expired (exp)';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `assertion is missing the required "${error.claim}" claim`;
    switch (error.claim) {
      case 'nbf':
        return 'assertion is not valid yet (nbf is in the future)';
      case 'aud':
        return 'aud must be exactly the token URL';
      case 'iss':
      case 'sub':
        return `${error.claim} must be the tenant id of the API key`;
      default:
        return `claim "${error.claim}" is invalid`;
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify with the key registered for kid';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'client_assertion is not signed with the algorithm of the key registered for kid';
  if (error instanceof errors.JOSEError) return 'client_assertion is malformed';
  return 'client_assertion could not be verified';
}

/** The algorithm a registered key pins, or an error for a key the vendor would not accept. */
export function algorithmOf(key: KeyObject): KeyAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < MIN_RSA_KEY_BITS) throw new RangeError(`RSA API keys need at least ${MIN_RSA_KEY_BITS} bits (got ${details.modulusLength})`);
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  throw new RangeError(`API keys are P-256, RSA (${MIN_RSA_KEY_BITS}+ bits) or Ed25519 (got ${key.asymmetricKeyType} ${details.namedCurve ?? ''})`.trim());
}

function isJwk(key: PublicKeyInput): key is JWK {
  return typeof (key as JWK).kty === 'string';
}
