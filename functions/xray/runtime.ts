import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { systemClock, type Clock } from '../common/clock.js';
import type { CheckpointLedger } from '../common/checkpoints.js';
import {
  booleanFlag,
  credentialProblem,
  httpUrl,
  lazy,
  optionalCredential,
  optionalEndpointUrl,
  optionalString,
  readEnvironment,
} from '../common/config.js';
import { ledgerFromEnvironment } from '../common/ledger.js';
import { defaultLogger } from '../common/observability.js';
import type { ScheduleSettings } from '../common/run-plan.js';
import { ConfigError } from '../common/errors.js';
import { HttpClient } from '../common/http.js';
import { createS3Client } from '../common/s3-writer.js';
import { registerSecret } from '../common/scrubber.js';
import { readJsonSecret } from '../common/secrets.js';
import { XrayClient, type XrayCredentials } from './client.js';
import type { XraySettings } from './export-plan.js';
import { DEFAULT_CSV_PAGE_SIZE, MAX_CSV_PAGE_SIZE, MAX_PAGE_SIZE } from './model.js';

/** Everything an Xray handler needs, passed in: tests and the twin build it from their own parts. */
export interface XrayRuntime {
  client: () => Promise<XrayClient>;
  s3: S3Client;
  clock: Clock;
  settings: XraySettings;
  /** How long one invocation may keep fetching pages before it hands back its cursor. */
  invocationBudgetMs: number;
  ledger?: CheckpointLedger;
}

export interface XrayRuntimeParts {
  baseUrl: string;
  credentials: XrayCredentials | (() => Promise<XrayCredentials>);
  s3: S3Client;
  settings: XraySettings;
  invocationBudgetMs?: number;
  clock?: Clock;
  http?: HttpClient;
  ledger?: CheckpointLedger;
  /** Where the client's warnings go (default: the Lambda's log). */
  warn?: (message: string) => void;
}

export function buildXrayRuntime(parts: XrayRuntimeParts): XrayRuntime {
  const clock = parts.clock ?? systemClock;
  const http = parts.http ?? new HttpClient({ clock });
  const credentials =
    typeof parts.credentials === 'function' ? parts.credentials : async () => parts.credentials as XrayCredentials;
  const runtime: XrayRuntime = {
    client: lazy(async () => new XrayClient(parts.baseUrl, await credentials(), http, { warn: parts.warn ?? ((message) => defaultLogger().warn({ source: 'xray' }, message)) })),
    s3: parts.s3,
    clock,
    settings: parts.settings,
    invocationBudgetMs: parts.invocationBudgetMs ?? 600_000,
  };
  if (parts.ledger) runtime.ledger = parts.ledger;
  return runtime;
}

/** The state machine's TimeoutSeconds: a lease outliving it would only delay the next run. */
export const XRAY_EXECUTION_TIMEOUT_MS = 86_400_000;

/** JFrog keeps curation audit events this long: older windows come back empty. */
export const XRAY_RETENTION_DAYS = 30;

export function xraySchedule(options: {
  windowMinutes: number;
  lagMinutes: number;
  overlapHours: number;
  initialLookbackHours: number;
  maxWindows: number;
  /** Default XRAY_RETENTION_DAYS (null: no limit); windows older than this are never exported (see run-plan.ts). */
  retentionDays?: number | null;
}): ScheduleSettings {
  return {
    gridMs: options.windowMinutes * 60_000,
    lagMs: options.lagMinutes * 60_000,
    // Re-scanned windows fetch only the events beyond the last stored id: late events join them, none doubles.
    overlapMs: options.overlapHours * 3_600_000,
    initialLookbackMs: options.initialLookbackHours * 3_600_000,
    maxWindows: options.maxWindows,
    leaseTtlMs: XRAY_EXECUTION_TIMEOUT_MS,
    ...(options.retentionDays === null ? {} : { retentionMs: (options.retentionDays ?? XRAY_RETENTION_DAYS) * 86_400_000 }),
  };
}

const credentialsSchema = z.union([
  z.object({ accessToken: z.string().min(1) }),
  z.object({ username: z.string().min(1), password: z.string().min(1) }),
]);

/** Which field of credentials read from a secret a header cannot carry, and why (never the value). */
function credentialsProblem(credentials: XrayCredentials): string | undefined {
  const checks: [string, string, 'token' | 'user' | 'password'][] =
    'accessToken' in credentials
      ? [['accessToken', credentials.accessToken, 'token']]
      : [['username', credentials.username, 'user'], ['password', credentials.password, 'password']];
  for (const [field, value, kind] of checks) {
    const problem = credentialProblem(value, kind);
    if (problem) return `${field} ${problem}`;
  }
  return undefined;
}

const scheduleEnvironment = {
  XRAY_WINDOW_MINUTES: z.coerce.number().int().positive().max(1440).default(60),
  XRAY_MAX_WINDOWS_PER_RUN: z.coerce.number().int().positive().default(24 * 31),
};

const environmentSchema = z.object({
  ...scheduleEnvironment,
  XRAY_BASE_URL: httpUrl('https://acme.jfrog.io'),
  XRAY_CREDENTIALS_SECRET_ID: optionalString,
  XRAY_ACCESS_TOKEN: optionalCredential('token'),
  XRAY_USERNAME: optionalCredential('user'),
  XRAY_PASSWORD: optionalCredential('password'),
  XRAY_TENANT: optionalString,
  EXPORT_BUCKET: z.string({ message: 'is required: the S3 bucket the exports land in' }).min(1),
  EXPORT_PREFIX: optionalString,
  S3_ENDPOINT: optionalEndpointUrl('https://s3.eu-west-1.amazonaws.com'),
  S3_FORCE_PATH_STYLE: booleanFlag,
  CHECKPOINT_TABLE: optionalString,
  DYNAMODB_ENDPOINT: optionalEndpointUrl('https://dynamodb.eu-west-1.amazonaws.com'),
  XRAY_GROUP_HOURS: z.coerce.number().positive().max(24 * 31).default(168),
  XRAY_LAG_MINUTES: z.coerce.number().nonnegative().default(15),
  XRAY_OVERLAP_HOURS: z.coerce.number().nonnegative().default(2),
  XRAY_INITIAL_LOOKBACK_HOURS: z.coerce.number().positive().default(24),
  XRAY_RETENTION_DAYS: z.coerce.number().positive().default(XRAY_RETENTION_DAYS),
  XRAY_EVENTS_PER_PART: z.coerce.number().int().positive().default(100_000),
  /** Events per CSV page: larger pages mean fewer requests and more memory (README, "CSV page size"). */
  XRAY_CSV_PAGE_SIZE: z.coerce.number().int().min(1).max(MAX_CSV_PAGE_SIZE).default(DEFAULT_CSV_PAGE_SIZE),
  XRAY_INVOCATION_BUDGET_SECONDS: z.coerce.number().positive().default(600),
});

/** The stream's grid and per-run window limit alone (what `audit-export backfill` cuts its chunks by). */
export function xrayGridFromEnvironment(env: NodeJS.ProcessEnv = process.env): { gridMs: number; maxWindows: number } {
  const config = readEnvironment(z.object(scheduleEnvironment), env, 'the Xray export');
  return { gridMs: config.XRAY_WINDOW_MINUTES * 60_000, maxWindows: config.XRAY_MAX_WINDOWS_PER_RUN };
}

/**
 * The Lambda runtime, from environment variables. Credentials come from a Secrets Manager secret
 * (JSON `{"accessToken"}` or `{"username","password"}`) or, outside AWS, from XRAY_ACCESS_TOKEN or
 * XRAY_USERNAME/XRAY_PASSWORD. The access token is preferred when both are given.
 */
export function xrayRuntimeFromEnvironment(env: NodeJS.ProcessEnv = process.env): XrayRuntime {
  const config = readEnvironment(environmentSchema, env, 'the Xray export');
  const credentials = async (): Promise<XrayCredentials> => {
    if (config.XRAY_CREDENTIALS_SECRET_ID) {
      const secret = await readJsonSecret(config.XRAY_CREDENTIALS_SECRET_ID);
      for (const field of ['accessToken', 'password'] as const) {
        if (typeof secret[field] === 'string') registerSecret(secret[field], { pinned: true });
      }
      const parsed = credentialsSchema.safeParse(secret);
      if (!parsed.success) {
        throw new ConfigError(
          `Secret ${config.XRAY_CREDENTIALS_SECRET_ID} must be JSON {"accessToken"} or {"username","password"}`,
        );
      }
      const problem = credentialsProblem(parsed.data);
      if (problem) throw new ConfigError(`Secret ${config.XRAY_CREDENTIALS_SECRET_ID}: ${problem}`);
      return parsed.data;
    }
    if (config.XRAY_ACCESS_TOKEN) return { accessToken: config.XRAY_ACCESS_TOKEN };
    if (config.XRAY_USERNAME && config.XRAY_PASSWORD) return { username: config.XRAY_USERNAME, password: config.XRAY_PASSWORD };
    throw new ConfigError(
      'Xray credentials are not configured: set XRAY_CREDENTIALS_SECRET_ID, XRAY_ACCESS_TOKEN, or XRAY_USERNAME and XRAY_PASSWORD',
    );
  };
  return buildXrayRuntime({
    ledger: ledgerFromEnvironment(env, systemClock),
    baseUrl: config.XRAY_BASE_URL,
    credentials,
    s3: createS3Client({ endpoint: config.S3_ENDPOINT, forcePathStyle: config.S3_FORCE_PATH_STYLE }),
    invocationBudgetMs: config.XRAY_INVOCATION_BUDGET_SECONDS * 1000,
    settings: {
      bucket: config.EXPORT_BUCKET,
      prefix: config.EXPORT_PREFIX,
      tenant: config.XRAY_TENANT ?? new URL(config.XRAY_BASE_URL).hostname,
      pageSize: MAX_PAGE_SIZE,
      csvPageSize: config.XRAY_CSV_PAGE_SIZE,
      eventsPerPart: config.XRAY_EVENTS_PER_PART,
      groupHours: config.XRAY_GROUP_HOURS,
      schedule: xraySchedule({
        windowMinutes: config.XRAY_WINDOW_MINUTES,
        lagMinutes: config.XRAY_LAG_MINUTES,
        overlapHours: config.XRAY_OVERLAP_HOURS,
        initialLookbackHours: config.XRAY_INITIAL_LOOKBACK_HOURS,
        maxWindows: config.XRAY_MAX_WINDOWS_PER_RUN,
        retentionDays: config.XRAY_RETENTION_DAYS,
      }),
    },
  });
}

export const defaultXrayRuntime = lazy(async () => xrayRuntimeFromEnvironment());
