import { randomBytes } from 'node:crypto';
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/common/errors.js';
import { KmsTokenSealer } from '../../functions/common/kms-token-sealer.js';
import { LocalKeyTokenSealer } from '../../functions/common/token-sealer.js';
import { startAwsStandIns, type AwsStandIns } from '../../local/aws-stand-ins.js';

/**
 * Tokens travel sealed through the state machine. A vendor token can be long (a JWT with many claims); KMS
 * Encrypt takes at most 4,096 bytes, so the KMS sealer uses envelope encryption. These tests run the real SDK
 * against the twin's KMS stand-in, which enforces that limit and the encryption context as KMS does.
 */

const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/0c6f3a1e-1111-4222-8333-944445555666';
const OTHER_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/0c6f3a1e-9999-4222-8333-944445555666';
const context = { purpose: 'mft-access-token', audience: 'https://api.us.mft.progress.com' };
/** An 8 KiB JWT-like token. */
const LONG_TOKEN = `eyJhbGciOiJFUzI1NiJ9.${randomBytes(6100).toString('base64url')}.${randomBytes(64).toString('base64url')}`.slice(0, 8192);

let aws: AwsStandIns;
let kms: KMSClient;

beforeAll(async () => {
  aws = await startAwsStandIns();
  aws.createKey(KEY);
  aws.createKey(OTHER_KEY);
  kms = new KMSClient({ endpoint: aws.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTWIN', secretAccessKey: 'twin' } });
});

afterAll(async () => {
  kms?.destroy();
  await aws?.close();
});

describe('KMS token sealing (envelope: a data key from KMS, AES-256-GCM locally)', () => {
  it('seals and opens an 8 KiB token (KMS Encrypt alone refuses more than 4,096 bytes)', async () => {
    expect(LONG_TOKEN.length).toBe(8192);
    await expect(
      kms.send(new EncryptCommand({ KeyId: KEY, Plaintext: Buffer.from(LONG_TOKEN), EncryptionContext: context })),
    ).rejects.toMatchObject({ name: 'ValidationException' });

    const sealer = new KmsTokenSealer(KEY, kms);
    aws.calls.length = 0;
    const sealed = await sealer.seal(LONG_TOKEN, context);
    expect(sealed).not.toContain(LONG_TOKEN.slice(21, 60));
    expect(await sealer.unseal(sealed, context)).toBe(LONG_TOKEN);
    expect(aws.calls).toEqual(['kms:GenerateDataKey', 'kms:Decrypt']);
  });

  it('is bound to purpose and origin (the encryption context), to its key, and to every byte', async () => {
    const sealer = new KmsTokenSealer(KEY, kms);
    const sealed = await sealer.seal('a-token', context);
    await expect(sealer.unseal(sealed, { ...context, audience: 'https://evil.example' })).rejects.toThrow(InvalidInputError);
    await expect(sealer.unseal(sealed, { ...context, purpose: 'xray-access-token' })).rejects.toThrow(/does not open for/);
    await expect(new KmsTokenSealer(OTHER_KEY, kms).unseal(sealed, context)).rejects.toMatchObject({ name: 'IncorrectKeyException' });
    const raw = Buffer.from(sealed.slice('v2.kms.'.length), 'base64url');
    raw[raw.length - 20]! ^= 1;
    await expect(sealer.unseal(`v2.kms.${raw.toString('base64url')}`, context)).rejects.toThrow(/altered/);
    await expect(sealer.unseal(`v2.kms.${raw.subarray(0, 10).toString('base64url')}`, context)).rejects.toThrow(/truncated/);
    await expect(sealer.unseal('v1.local.abc', context)).rejects.toThrow(/not sealed with KMS/);
  });

  it('still opens a token sealed by the previous version (kms:Encrypt of the token itself)', async () => {
    const direct = await kms.send(new EncryptCommand({ KeyId: KEY, Plaintext: Buffer.from('short-token'), EncryptionContext: context }));
    const sealed = `v1.kms.${Buffer.from(direct.CiphertextBlob!).toString('base64url')}`;
    expect(await new KmsTokenSealer(KEY, kms).unseal(sealed, context)).toBe('short-token');
  });
});

describe('local-key token sealing (the twin)', () => {
  it('seals an 8 KiB token and binds it to its context', async () => {
    const sealer = new LocalKeyTokenSealer(LocalKeyTokenSealer.generateKey());
    const sealed = await sealer.seal(LONG_TOKEN, context);
    expect(await sealer.unseal(sealed, context)).toBe(LONG_TOKEN);
    await expect(sealer.unseal(sealed, { ...context, audience: 'https://evil.example' })).rejects.toThrow(InvalidInputError);
  });
});
