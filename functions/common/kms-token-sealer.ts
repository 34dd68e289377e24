import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { InvalidInputError } from './errors.js';
import type { SealContext, TokenSealer } from './token-sealer.js';

const KMS_PREFIX = 'v1.kms.';

/** Seals with AWS KMS; the context becomes the KMS encryption context, so a key policy can pin it too. */
export class KmsTokenSealer implements TokenSealer {
  constructor(
    private readonly keyId: string,
    private readonly kms: KMSClient = new KMSClient({}),
  ) {}

  async seal(plaintext: string, context: SealContext): Promise<string> {
    const result = await this.kms.send(
      new EncryptCommand({
        KeyId: this.keyId,
        Plaintext: Buffer.from(plaintext, 'utf8'),
        EncryptionContext: { ...context },
      }),
    );
    return KMS_PREFIX + Buffer.from(result.CiphertextBlob ?? new Uint8Array()).toString('base64url');
  }

  async unseal(sealed: string, context: SealContext): Promise<string> {
    if (!sealed.startsWith(KMS_PREFIX)) {
      throw new InvalidInputError('The sealed token was not sealed with KMS by this deployment');
    }
    try {
      const result = await this.kms.send(
        new DecryptCommand({
          KeyId: this.keyId,
          CiphertextBlob: Buffer.from(sealed.slice(KMS_PREFIX.length), 'base64url'),
          EncryptionContext: { ...context },
        }),
      );
      return Buffer.from(result.Plaintext ?? new Uint8Array()).toString('utf8');
    } catch (error) {
      if ((error as { name?: string }).name === 'InvalidCiphertextException') {
        throw new InvalidInputError(`The sealed token does not open for ${context.audience}`);
      }
      throw error;
    }
  }
}
