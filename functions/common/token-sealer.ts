import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError, InvalidInputError } from './errors.js';

/**
 * Access tokens travel between Lambda steps through the state machine's data, and execution history is
 * readable by operators. So a token is only ever carried sealed: encrypted and bound (as authenticated
 * data / KMS encryption context) to the API origin it was issued for. A sealed token cannot be used by
 * reading the history, and cannot be unsealed for another host.
 *
 * Adapters: AES-256-GCM under a local key (the twin) and AWS KMS (see `kms-token-sealer.ts`).
 */
export interface TokenSealer {
  seal(plaintext: string, context: SealContext): Promise<string>;
  unseal(sealed: string, context: SealContext): Promise<string>;
}

/** What the sealed value is bound to; both sides must present the same context. */
export interface SealContext {
  purpose: string;
  /** The API origin the token was issued by and may be sent to. */
  audience: string;
}

const LOCAL_PREFIX = 'v1.local.';

export class LocalKeyTokenSealer implements TokenSealer {
  private readonly key: Buffer;

  constructor(base64Key: string) {
    const key = Buffer.from(base64Key, 'base64');
    if (key.length !== 32) {
      throw new ConfigError(
        'The local token-sealing key must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)',
      );
    }
    this.key = key;
  }

  static generateKey(): string {
    return randomBytes(32).toString('base64');
  }

  async seal(plaintext: string, context: SealContext): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(contextBytes(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return LOCAL_PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  async unseal(sealed: string, context: SealContext): Promise<string> {
    if (!sealed.startsWith(LOCAL_PREFIX)) {
      throw new InvalidInputError('The sealed token was not sealed by this deployment (unknown format)');
    }
    const raw = Buffer.from(sealed.slice(LOCAL_PREFIX.length), 'base64url');
    if (raw.length < 12 + 16) throw new InvalidInputError('The sealed token is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAAD(contextBytes(context));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      throw new InvalidInputError(
        `The sealed token does not open for ${context.audience}: it was sealed with another key or for another host`,
      );
    }
  }
}

/** Canonical bytes of a context: key order must not matter. */
export function contextBytes(context: SealContext): Buffer {
  return Buffer.from(JSON.stringify({ audience: context.audience, purpose: context.purpose }), 'utf8');
}
