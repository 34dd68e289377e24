import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The few AWS Secrets Manager and KMS calls the Lambdas make, on one loopback HTTP server speaking the AWS JSON
 * 1.1 protocol, so bundled code reaches them with its own SDK over the wire (AWS_ENDPOINT_URL_KMS and
 * AWS_ENDPOINT_URL_SECRETS_MANAGER point there). It is as strict as the services where the code could differ:
 *
 * - every request is SigV4-signed for the right service;
 * - KMS `Encrypt` takes at most 4,096 bytes; `GenerateDataKey`/`Decrypt` bind the encryption context, and
 *   Decrypt with another context (or another key) fails with InvalidCiphertextException / IncorrectKeyException;
 * - an unknown key or secret is NotFoundException / ResourceNotFoundException.
 */

export interface AwsStandIns {
  /** For AWS_ENDPOINT_URL_KMS and AWS_ENDPOINT_URL_SECRETS_MANAGER. */
  endpoint: string;
  /** A symmetric KMS key under this ARN (any ARN the template names). */
  createKey(arn: string): void;
  putSecret(arn: string, value: string): void;
  /** Every call made, in order: `kms:GenerateDataKey`, `secretsmanager:GetSecretValue`… */
  calls: string[];
  close(): Promise<void>;
}

/** KMS's limit on the plaintext of Encrypt. */
export const KMS_ENCRYPT_MAX_BYTES = 4096;

class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const BLOB_MAGIC = Buffer.from('sk1');

export async function startAwsStandIns(): Promise<AwsStandIns> {
  const keys = new Map<string, Buffer>();
  const secrets = new Map<string, { value: string; versionId: string; createdAt: number }>();
  const calls: string[] = [];

  const keyFor = (keyId: unknown): [string, Buffer] => {
    if (typeof keyId !== 'string' || !keyId) throw new ServiceError('ValidationException', 'KeyId is required');
    const material = keys.get(keyId);
    if (!material) throw new ServiceError('NotFoundException', `Key '${keyId}' does not exist`);
    return [keyId, material];
  };
  const context = (value: unknown): Buffer => {
    const entries = Object.entries((value ?? {}) as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [, v] of entries) if (typeof v !== 'string') throw new ServiceError('ValidationException', 'EncryptionContext values must be strings');
    return Buffer.from(JSON.stringify(entries), 'utf8');
  };
  const encrypt = (arn: string, material: Buffer, plaintext: Buffer, aad: Buffer): Buffer => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', material, iv);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(arn, 'utf8');
    return Buffer.concat([BLOB_MAGIC, Buffer.from([id.length >> 8, id.length & 0xff]), id, iv, body, cipher.getAuthTag()]);
  };
  const decrypt = (blob: Buffer, requestedKey: unknown, aad: Buffer): { arn: string; plaintext: Buffer } => {
    if (blob.length < 5 || !blob.subarray(0, 3).equals(BLOB_MAGIC)) throw new ServiceError('InvalidCiphertextException', '');
    const idLength = blob.readUInt16BE(3);
    const arn = blob.subarray(5, 5 + idLength).toString('utf8');
    if (requestedKey !== undefined && requestedKey !== arn) {
      throw new ServiceError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
    }
    const [, material] = keyFor(arn);
    const at = 5 + idLength;
    try {
      const decipher = createDecipheriv('aes-256-gcm', material, blob.subarray(at, at + 12));
      decipher.setAAD(aad);
      decipher.setAuthTag(blob.subarray(blob.length - 16));
      return { arn, plaintext: Buffer.concat([decipher.update(blob.subarray(at + 12, blob.length - 16)), decipher.final()]) };
    } catch {
      throw new ServiceError('InvalidCiphertextException', '');
    }
  };
  const base64 = (value: unknown, field: string): Buffer => {
    if (typeof value !== 'string') throw new ServiceError('ValidationException', `${field} is required`);
    return Buffer.from(value, 'base64');
  };

  const actions: Record<string, (body: Record<string, unknown>) => unknown> = {
    'TrentService.GenerateDataKey': (body) => {
      const [arn, material] = keyFor(body.KeyId);
      const bytes = body.KeySpec === 'AES_256' ? 32 : body.KeySpec === 'AES_128' ? 16 : Number(body.NumberOfBytes);
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024) throw new ServiceError('ValidationException', 'KeySpec or NumberOfBytes is required');
      const plaintext = randomBytes(bytes);
      return {
        KeyId: arn,
        Plaintext: plaintext.toString('base64'),
        CiphertextBlob: encrypt(arn, material, plaintext, context(body.EncryptionContext)).toString('base64'),
      };
    },
    'TrentService.Encrypt': (body) => {
      const [arn, material] = keyFor(body.KeyId);
      const plaintext = base64(body.Plaintext, 'Plaintext');
      if (plaintext.length > KMS_ENCRYPT_MAX_BYTES) {
        throw new ServiceError(
          'ValidationException',
          `1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to ${KMS_ENCRYPT_MAX_BYTES}`,
        );
      }
      return { KeyId: arn, CiphertextBlob: encrypt(arn, material, plaintext, context(body.EncryptionContext)).toString('base64') };
    },
    'TrentService.Decrypt': (body) => {
      const { arn, plaintext } = decrypt(base64(body.CiphertextBlob, 'CiphertextBlob'), body.KeyId, context(body.EncryptionContext));
      return { KeyId: arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    'secretsmanager.GetSecretValue': (body) => {
      const id = body.SecretId;
      const secret = typeof id === 'string' ? secrets.get(id) : undefined;
      if (!secret) throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      return {
        ARN: id,
        Name: String(id).split(':').at(-1),
        SecretString: secret.value,
        VersionId: secret.versionId,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: secret.createdAt,
      };
    },
  };
  const signingService: Record<string, string> = { TrentService: 'kms', secretsmanager: 'secretsmanager' };

  const server = createServer((request, response) => {
    void handle(request, response);
  });
  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const target = String(request.headers['x-amz-target'] ?? '');
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    try {
      const action = actions[target];
      if (request.method !== 'POST' || !action) throw new ServiceError('UnknownOperationException', `The stand-in does not implement ${target || request.url}`);
      const service = signingService[target.split('.')[0]!]!;
      const authorization = String(request.headers.authorization ?? '');
      if (!new RegExp(`^AWS4-HMAC-SHA256 Credential=[^/]+/\\d{8}/[a-z0-9-]+/${service}/aws4_request`).test(authorization)) {
        throw new ServiceError('MissingAuthenticationTokenException', `Request is not signed for ${service}`, 403);
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      calls.push(`${service}:${target.split('.')[1]}`);
      send(response, 200, action(body));
    } catch (error) {
      const failure = error instanceof ServiceError ? error : new ServiceError('InternalFailure', (error as Error).message, 500);
      send(response, failure.status, { __type: failure.type, message: failure.message }, failure.type);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    createKey(arn) {
      if (!keys.has(arn)) keys.set(arn, randomBytes(32));
    },
    putSecret(arn, value) {
      secrets.set(arn, { value, versionId: randomUUID(), createdAt: Math.floor(Date.now() / 1000) });
    },
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  response.end(text);
}
