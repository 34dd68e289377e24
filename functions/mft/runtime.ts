import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { systemClock, type Clock } from '../common/clock.js';
import type { CheckpointLedger } from '../common/checkpoints.js';
import { booleanFlag, httpUrl, lazy, optionalEndpointUrl, optionalString, readEnvironment } from '../common/config.js';
import { ledgerFromEnvironment } from '../common/ledger.js';
import type { ScheduleSettings } from '../common/run-plan.js';
import { ConfigError } from '../common/errors.js';
import { HttpClient } from '../common/http.js';
import { createS3Client } from '../common/s3-writer.js';
import { registerSecret } from '../common/scrubber.js';
import { readJsonSecret } from '../common/secrets.js';
import { LocalKeyTokenSealer, type TokenSealer } from '../common/token-sealer.js';
import type { MftCredentials } from './assertion.js';
import { MftAuth } from './auth.js';
import { MftClient, type DownloadPolicy } from './client.js';
import type { MftPlanSettings } from './export-plan.js';
import { ReportRegistry } from './report-registry.js';

/** Everything an MFT handler needs, passed in: tests and the twin build it from their own parts. */
export interface MftRuntime {
  client: MftClient;
  auth: MftAuth;
  s3: S3Client;
  clock: Clock;
  settings: MftPlanSettings;
  /** The checkpoint ledger; without one, scheduled runs start from the initial lookback every time. */
  ledger?: CheckpointLedger;
  /** The record of created reports (checkpoint table); without one, housekeeping has only the vendor's list. */
  reports?: ReportRegistry;
}

export interface MftRuntimeParts {
  baseUrl: string;
  credentials: MftCredentials | (() => Promise<MftCredentials>);
  sealer: TokenSealer;
  s3: S3Client;
  settings: MftPlanSettings;
  clock?: Clock;
  http?: HttpClient;
  ledger?: CheckpointLedger;
  reports?: ReportRegistry;
  /** Where report downloads may go; by default public addresses only, redirects within the link's origin. */
  download?: DownloadPolicy;
}

export function buildMftRuntime(parts: MftRuntimeParts): MftRuntime {
  const clock = parts.clock ?? systemClock;
  const client = new MftClient(parts.baseUrl, parts.http ?? new HttpClient({ clock }), clock, parts.download);
  const read = typeof parts.credentials === 'function' ? parts.credentials : async () => parts.credentials as MftCredentials;
  const credentials = async () => {
    const value = await read();
    // Known to the scrubber before anything can fail with it (a PEM quoted in an error, line by line).
    registerSecret(value.privateKeyPem, { pinned: true });
    return value;
  };
  const runtime: MftRuntime = { client, auth: new MftAuth(client, credentials, parts.sealer, clock), s3: parts.s3, clock, settings: parts.settings };
  if (parts.ledger) runtime.ledger = parts.ledger;
  if (parts.reports) runtime.reports = parts.reports;
  return runtime;
}

const credentialsSchema = z.object({
  tenantId: z.string().min(1),
  kid: z.string().min(1),
  privateKeyPem: z.string().includes('PRIVATE KEY', { message: 'must be a PEM private key' }),
});

const scheduleEnvironment = {
  MFT_WINDOW_MINUTES: z.coerce.number().int().positive().max(1440).default(60),
  MFT_MAX_WINDOWS_PER_RUN: z.coerce.number().int().positive().max(500).default(48),
};

const environmentSchema = z.object({
  ...scheduleEnvironment,
  MFT_BASE_URL: httpUrl('https://api.us.mft.progress.com'),
  MFT_TENANT_ID: optionalString,
  MFT_CREDENTIALS_SECRET_ID: optionalString,
  MFT_KID: optionalString,
  MFT_PRIVATE_KEY_FILE: optionalString,
  EXPORT_BUCKET: z.string({ message: 'is required: the S3 bucket the exports land in' }).min(1),
  EXPORT_PREFIX: optionalString,
  TOKEN_SEALING_KMS_KEY_ID: optionalString,
  TOKEN_SEALING_LOCAL_KEY: optionalString,
  S3_ENDPOINT: optionalEndpointUrl('https://s3.eu-west-1.amazonaws.com'),
  S3_FORCE_PATH_STYLE: booleanFlag,
  CHECKPOINT_TABLE: optionalString,
  DYNAMODB_ENDPOINT: optionalEndpointUrl('https://dynamodb.eu-west-1.amazonaws.com'),
  MFT_POLL_INTERVAL_SECONDS: z.coerce.number().int().positive().default(5),
  MFT_MAX_WAIT_SECONDS: z.coerce.number().int().positive().default(900),
  MFT_LAG_MINUTES: z.coerce.number().nonnegative().default(15),
  MFT_INITIAL_LOOKBACK_HOURS: z.coerce.number().positive().default(24),
  /** The vendor documents no retention: none by default. */
  MFT_RETENTION_DAYS: z.coerce.number().positive().optional(),
  /** Downloads may connect to loopback addresses: only for local emulators (the twin sets it itself). */
  MFT_DOWNLOAD_ALLOW_LOOPBACK: booleanFlag,
  /** Downloads may connect to private addresses: for storage reached through a VPC interface endpoint. */
  MFT_DOWNLOAD_ALLOW_PRIVATE: booleanFlag,
  /** Comma-separated hosts (or `.suffix`es) an https redirect of a download may lead to. */
  MFT_DOWNLOAD_REDIRECT_HOSTS: optionalString,
});

/** The stream's grid and per-run window limit alone (what `audit-export backfill` cuts its chunks by). */
export function mftGridFromEnvironment(env: NodeJS.ProcessEnv = process.env): { gridMs: number; maxWindows: number } {
  const config = readEnvironment(z.object(scheduleEnvironment), env, 'the MFT export');
  return { gridMs: config.MFT_WINDOW_MINUTES * 60_000, maxWindows: config.MFT_MAX_WINDOWS_PER_RUN };
}

/** The state machine's TimeoutSeconds: a lease outliving it would only delay the next run. */
export const MFT_EXECUTION_TIMEOUT_MS = 7_200_000;

export function mftSchedule(options: { windowMinutes: number; lagMinutes: number; initialLookbackHours: number; maxWindows: number; retentionDays?: number }): ScheduleSettings {
  return {
    gridMs: options.windowMinutes * 60_000,
    lagMs: options.lagMinutes * 60_000,
    // An MFT report is a whole window: re-scanning would store its events again, so there is no overlap;
    // the lag leaves late-committed events time to arrive before a window is exported.
    overlapMs: 0,
    initialLookbackMs: options.initialLookbackHours * 3_600_000,
    maxWindows: options.maxWindows,
    leaseTtlMs: MFT_EXECUTION_TIMEOUT_MS,
    ...(options.retentionDays === undefined ? {} : { retentionMs: options.retentionDays * 86_400_000 }),
  };
}

/**
 * The Lambda runtime, from environment variables. Credentials come from a Secrets Manager secret
 * (JSON `{tenantId, kid, privateKeyPem}`) or, outside AWS, from `MFT_TENANT_ID`/`MFT_KID`/`MFT_PRIVATE_KEY_FILE`.
 */
export async function mftRuntimeFromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<MftRuntime> {
  const config = readEnvironment(environmentSchema, env, 'the MFT export');
  registerSecret(config.TOKEN_SEALING_LOCAL_KEY, { pinned: true });
  const credentials = lazy(async () => {
    if (config.MFT_CREDENTIALS_SECRET_ID) {
      const parsed = credentialsSchema.safeParse(await readJsonSecret(config.MFT_CREDENTIALS_SECRET_ID));
      if (!parsed.success) {
        throw new ConfigError(
          `Secret ${config.MFT_CREDENTIALS_SECRET_ID} must be JSON {"tenantId","kid","privateKeyPem"}; ` +
            `${parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`,
        );
      }
      return parsed.data;
    }
    if (!config.MFT_TENANT_ID || !config.MFT_KID || !config.MFT_PRIVATE_KEY_FILE) {
      throw new ConfigError(
        'MFT credentials are not configured: set MFT_CREDENTIALS_SECRET_ID, or MFT_TENANT_ID, MFT_KID and MFT_PRIVATE_KEY_FILE',
      );
    }
    const privateKeyPem = await readFile(config.MFT_PRIVATE_KEY_FILE, 'utf8').catch(() => {
      throw new ConfigError(`MFT_PRIVATE_KEY_FILE ${config.MFT_PRIVATE_KEY_FILE} cannot be read`);
    });
    return { tenantId: config.MFT_TENANT_ID, kid: config.MFT_KID, privateKeyPem };
  });
  const tenantId = config.MFT_TENANT_ID ?? (await credentials()).tenantId;
  return buildMftRuntime({
    ledger: ledgerFromEnvironment(env, systemClock),
    reports: reportRegistryFromEnvironment(config.CHECKPOINT_TABLE, config.DYNAMODB_ENDPOINT),
    baseUrl: config.MFT_BASE_URL,
    credentials,
    download: {
      addresses: { allowLoopback: config.MFT_DOWNLOAD_ALLOW_LOOPBACK, allowPrivate: config.MFT_DOWNLOAD_ALLOW_PRIVATE },
      redirectHosts: (config.MFT_DOWNLOAD_REDIRECT_HOSTS ?? '').split(',').map((host) => host.trim()).filter(Boolean),
    },
    sealer: await sealerFromEnvironment(config.TOKEN_SEALING_KMS_KEY_ID, config.TOKEN_SEALING_LOCAL_KEY),
    s3: createS3Client({ endpoint: config.S3_ENDPOINT, forcePathStyle: config.S3_FORCE_PATH_STYLE }),
    settings: {
      bucket: config.EXPORT_BUCKET,
      prefix: config.EXPORT_PREFIX,
      tenantId,
      pollIntervalSeconds: config.MFT_POLL_INTERVAL_SECONDS,
      maxWaitSeconds: config.MFT_MAX_WAIT_SECONDS,
      schedule: mftSchedule({
        windowMinutes: config.MFT_WINDOW_MINUTES,
        lagMinutes: config.MFT_LAG_MINUTES,
        initialLookbackHours: config.MFT_INITIAL_LOOKBACK_HOURS,
        maxWindows: config.MFT_MAX_WINDOWS_PER_RUN,
        ...(config.MFT_RETENTION_DAYS === undefined ? {} : { retentionDays: config.MFT_RETENTION_DAYS }),
      }),
    },
  });
}

/** The report record lives in the checkpoint table (CHECKPOINT_TABLE), under its own keys. */
function reportRegistryFromEnvironment(table: string | undefined, endpoint: string | undefined): ReportRegistry | undefined {
  if (!table) return undefined;
  return new ReportRegistry(new DynamoDBClient(endpoint ? { endpoint } : {}), table, systemClock);
}

async function sealerFromEnvironment(kmsKeyId?: string, localKey?: string): Promise<TokenSealer> {
  if (kmsKeyId) {
    // Loaded only where used, so the twin never needs KMS.
    const { KmsTokenSealer } = await import('../common/kms-token-sealer.js');
    return new KmsTokenSealer(kmsKeyId);
  }
  if (localKey) return new LocalKeyTokenSealer(localKey);
  throw new ConfigError('Token sealing is not configured: set TOKEN_SEALING_KMS_KEY_ID (AWS) or TOKEN_SEALING_LOCAL_KEY');
}

/** One runtime per Lambda container, built on first use. */
export const defaultMftRuntime = lazy(() => mftRuntimeFromEnvironment());
