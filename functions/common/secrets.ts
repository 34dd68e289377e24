import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from './errors.js';

/** Reads a JSON secret from AWS Secrets Manager. Errors name the secret, never its value. */
export async function readJsonSecret(
  secretId: string,
  client: SecretsManagerClient = new SecretsManagerClient({}),
): Promise<Record<string, unknown>> {
  const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!result.SecretString) {
    throw new ConfigError(`Secret ${secretId} has no string value; store it as JSON (see README, "Secrets")`);
  }
  try {
    const value = JSON.parse(result.SecretString) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ConfigError(`Secret ${secretId} is not a JSON object; store it as JSON (see README, "Secrets")`);
}
