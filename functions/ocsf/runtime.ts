import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { booleanFlag, optionalString, readEnvironment } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { normalizePrefix } from '../common/s3-layout.js';
import { createS3Client } from '../common/s3-writer.js';
import type { NormalizerDeps, OcsfDestination } from './normalizer.js';
import type { OcsfSource } from './sources.js';

/**
 * The normalizer's configuration, from its environment (set by infra/constructs/ocsf-normalizer.ts):
 *
 * - `OCSF_TARGET=bucket` (default): `<OCSF_PREFIX>ext/<source name>/…` in the export bucket
 *   (OCSF_PREFIX defaults to `<EXPORT_PREFIX>ocsf/`);
 * - `OCSF_TARGET=security-lake`: each source's custom source, where its ProviderDetails say: `OCSF_<SOURCE>_LOCATION`
 *   (an s3:// URL) written with the credentials of `OCSF_<SOURCE>_ROLE_ARN`, assumed with `OCSF_EXTERNAL_ID`.
 * - `OCSF_ACCOUNT_ID`, `OCSF_REGION` (default AWS_REGION): the partition values.
 */

/** Security Lake's limit on a custom source's name (it becomes part of the provider role's name). */
export const SOURCE_NAME_MAX = 20;
export const SOURCE_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,20}$/;
export const DEFAULT_SOURCE_NAMES = { mft: 'progress-mft', xray: 'jfrog-xray-curation' } as const;

const sourceName = z.string().regex(SOURCE_NAME_PATTERN, `must be 1-${SOURCE_NAME_MAX} letters, digits, "-" or "_" (Security Lake's limit)`);

const environmentSchema = z.object({
  EXPORT_BUCKET: z.string({ message: 'is required: the export bucket the manifests are in' }).min(1),
  EXPORT_PREFIX: optionalString,
  AWS_REGION: optionalString,
  S3_ENDPOINT: optionalString,
  S3_FORCE_PATH_STYLE: booleanFlag,
  OCSF_TARGET: z.enum(['bucket', 'security-lake']).default('bucket'),
  OCSF_PREFIX: optionalString,
  OCSF_ACCOUNT_ID: z.string().regex(/^\d{12}$/, 'must be the 12-digit AWS account id the logs are filed under'),
  OCSF_REGION: optionalString,
  OCSF_MFT_SOURCE_NAME: sourceName.default(DEFAULT_SOURCE_NAMES.mft),
  OCSF_XRAY_SOURCE_NAME: sourceName.default(DEFAULT_SOURCE_NAMES.xray),
  OCSF_MFT_LOCATION: optionalString,
  OCSF_MFT_ROLE_ARN: optionalString,
  OCSF_XRAY_LOCATION: optionalString,
  OCSF_XRAY_ROLE_ARN: optionalString,
  OCSF_EXTERNAL_ID: optionalString,
  OCSF_ROWS_PER_GROUP: z.coerce.number().int().min(1000).max(1_000_000).optional(),
});

export function ocsfDepsFromEnvironment(env: NodeJS.ProcessEnv): NormalizerDeps {
  const settings = readEnvironment(environmentSchema, env, 'the OCSF normalizer');
  const region = settings.OCSF_REGION ?? settings.AWS_REGION ?? 'us-east-1';
  const s3 = createS3Client({ endpoint: settings.S3_ENDPOINT, forcePathStyle: settings.S3_FORCE_PATH_STYLE, region: settings.AWS_REGION });
  const names = { mft: settings.OCSF_MFT_SOURCE_NAME, xray: settings.OCSF_XRAY_SOURCE_NAME };
  let destination: (source: OcsfSource) => Promise<OcsfDestination>;
  if (settings.OCSF_TARGET === 'bucket') {
    const prefix = normalizePrefix(settings.OCSF_PREFIX ?? `${normalizePrefix(settings.EXPORT_PREFIX)}ocsf/`);
    destination = async (source) => ({ s3, bucket: settings.EXPORT_BUCKET, prefix: `${prefix}ext/${names[source.source]}/` });
  } else {
    const externalId = settings.OCSF_EXTERNAL_ID;
    if (!externalId) throw new ConfigError('Configuration of the OCSF normalizer is invalid: OCSF_EXTERNAL_ID is required with OCSF_TARGET=security-lake');
    const custom = {
      mft: { location: settings.OCSF_MFT_LOCATION, roleArn: settings.OCSF_MFT_ROLE_ARN },
      xray: { location: settings.OCSF_XRAY_LOCATION, roleArn: settings.OCSF_XRAY_ROLE_ARN },
    };
    const clients = new Map<string, OcsfDestination>();
    destination = async (source) => {
      const cached = clients.get(source.source);
      if (cached) return cached;
      const { location, roleArn } = custom[source.source];
      const variable = `OCSF_${source.source.toUpperCase()}`;
      if (!location || !roleArn) throw new ConfigError(`The ${source.source} custom source is not configured: set ${variable}_LOCATION and ${variable}_ROLE_ARN (the custom source's ProviderDetails)`);
      const { bucket, prefix } = parseS3Location(location, `${variable}_LOCATION`);
      const created: OcsfDestination = { s3: assumedRoleS3Client(roleArn, externalId, region, settings.S3_ENDPOINT), bucket, prefix };
      clients.set(source.source, created);
      return created;
    };
  }
  return {
    s3,
    bucket: settings.EXPORT_BUCKET,
    destination,
    region,
    accountId: settings.OCSF_ACCOUNT_ID,
    ...(settings.OCSF_ROWS_PER_GROUP ? { rowsPerGroup: settings.OCSF_ROWS_PER_GROUP } : {}),
  };
}

/** `s3://bucket/ext/name/…` → bucket and a prefix ending in "/". */
export function parseS3Location(location: string, what: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location.trim());
  if (!match) throw new ConfigError(`${what} must be an s3:// location (the custom source's ProviderDetails.Location), got ${JSON.stringify(location)}`);
  return { bucket: match[1]!, prefix: normalizePrefix(match[2]) };
}

/** An S3 client acting as the custom source's provider role; credentials are assumed again before they expire. */
export function assumedRoleS3Client(roleArn: string, externalId: string, region: string, endpoint?: string): S3Client {
  const sts = new STSClient({ region });
  return createS3Client({ region, endpoint, credentials: async () => {
    const { Credentials: credentials } = await sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, ExternalId: externalId, RoleSessionName: 'audit-export-ocsf', DurationSeconds: 3600 }),
    );
    if (!credentials?.AccessKeyId || !credentials.SecretAccessKey) throw new Error(`AssumeRole of ${roleArn} returned no credentials`);
    return {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
      expiration: credentials.Expiration,
    };
  } });
}
