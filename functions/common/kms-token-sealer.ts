import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { InvalidInputError } from './errors.js';
import { contextBytes, type SealContext, type TokenSealer } from './token-sealer.js';

/** Envelope: a KMS data key (its encrypted copy travels along) and AES-256-GCM over the token. */
const ENVELOPE_PREFIX = 'v2.kms.';
/** Tokens sealed by an earlier version with kms:Encrypt directly (at most 4,096 bytes); still opened. */
const DIRECT_PREFIX = 'v1.kms.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals with envelope encryption: KMS generates a data key under the sealing key, the token is encrypted
 * locally with AES-256-GCM, and the data key's encrypted copy travels with it. KMS Encrypt takes at most
 * 4,096 bytes, and a vendor token (a JWT) can be longer; a data key has no such limit on what it protects.
 *
 * The context binds both layers: it is the KMS encryption context of the data key (so a key policy can pin
 * it, and Decrypt refuses another context) and the AES-GCM authenticated data of the token.
 */
export class KmsTokenSealer implements TokenSealer {
  constructor(
    private readonly keyId: string,
    private readonly kms: KMSClient = new KMSClient({}),
  ) {}

  async seal(plaintext: string, context: SealContext): Promise<string> {
    const dataKey = await this.kms.send(
      new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } }),
    );
    if (!dataKey.Plaintext || !dataKey.CiphertextBlob) {
      throw new Error(`KMS GenerateDataKey on ${this.keyId} answered without a data key`);
    }
    const key = Buffer.from(dataKey.Plaintext);
    try {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(contextBytes(context));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const wrapped = Buffer.from(dataKey.CiphertextBlob);
      const length = Buffer.alloc(2);
      length.writeUInt16BE(wrapped.length);
      return ENVELOPE_PREFIX + Buffer.concat([length, wrapped, iv, body, cipher.getAuthTag()]).toString('base64url');
    } finally {
      key.fill(0);
    }
  }

  async unseal(sealed: string, context: SealContext): Promise<string> {
    if (sealed.startsWith(DIRECT_PREFIX)) {
      return Buffer.from(await this.decrypt(Buffer.from(sealed.slice(DIRECT_PREFIX.length), 'base64url'), context)).toString('utf8');
    }
    if (!sealed.startsWith(ENVELOPE_PREFIX)) {
      throw new InvalidInputError('The sealed token was not sealed with KMS by this deployment');
    }
    const raw = Buffer.from(sealed.slice(ENVELOPE_PREFIX.length), 'base64url');
    const wrappedLength = raw.length >= 2 ? raw.readUInt16BE(0) : 0;
    if (wrappedLength === 0 || raw.length < 2 + wrappedLength + IV_BYTES + TAG_BYTES) {
      throw new InvalidInputError('The sealed token is truncated');
    }
    const key = Buffer.from(await this.decrypt(raw.subarray(2, 2 + wrappedLength), context));
    try {
      const ivAt = 2 + wrappedLength;
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(ivAt, ivAt + IV_BYTES));
      decipher.setAAD(contextBytes(context));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(ivAt + IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new InvalidInputError(`The sealed token does not open for ${context.audience}: it was altered`);
    } finally {
      key.fill(0);
    }
  }

  private async decrypt(ciphertext: Uint8Array, context: SealContext): Promise<Uint8Array> {
    try {
      const result = await this.kms.send(
        new DecryptCommand({ KeyId: this.keyId, CiphertextBlob: ciphertext, EncryptionContext: { ...context } }),
      );
      if (!result.Plaintext) throw new Error(`KMS Decrypt on ${this.keyId} answered without a plaintext`);
      return result.Plaintext;
    } catch (error) {
      if ((error as { name?: string }).name === 'InvalidCiphertextException') {
        throw new InvalidInputError(`The sealed token does not open for ${context.audience}`);
      }
      throw error;
    }
  }
}
