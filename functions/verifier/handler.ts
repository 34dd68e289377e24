import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { systemClock } from '../common/clock.js';
import { booleanFlag, lazy, optionalEndpointUrl, optionalString, readEnvironment } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { ledgerFromEnvironment } from '../common/ledger.js';
import { defaultLogger } from '../common/observability.js';
import { createS3Client } from '../common/s3-writer.js';
import { compactInstant, type TimeWindow } from '../common/time-window.js';
import { parseInput } from '../common/validation.js';
import { XRAY_RETENTION_DAYS, xrayRuntimeFromEnvironment } from '../xray/runtime.js';
import { runScheduledVerification, type VerificationSummary, type VerifierRuntime } from './scheduled.js';
import { VerifiedWindows } from './verified-windows.js';

/**
 * The verifier Lambda, started daily by the stack's schedule: `runScheduledVerification` over the previous
 * VERIFY_DAYS of every stream, publishing `UnverifiedWindows` and `ReconciledWindows` (EMF). An invocation may
 * ask for other days (`{"days": 30}`).
 */

const eventSchema = z.object({ days: z.number().int().positive().max(366).optional() }).passthrough();

export const verifierEnvironmentSchema = z.object({
  EXPORT_BUCKET: z.string({ message: 'is required: the S3 bucket the exports land in' }).min(1),
  EXPORT_PREFIX: optionalString,
  CHECKPOINT_TABLE: z.string({ message: 'is required: the checkpoint table' }).min(1),
  DYNAMODB_ENDPOINT: optionalEndpointUrl('https://dynamodb.eu-west-1.amazonaws.com'),
  S3_ENDPOINT: optionalEndpointUrl('https://s3.eu-west-1.amazonaws.com'),
  S3_FORCE_PATH_STYLE: booleanFlag,
  VERIFY_DAYS: z.coerce.number().int().positive().max(366).default(7),
  /** Hashing stops after this long (the Lambda's timeout is 15 minutes); the rest is hashed the next day. */
  VERIFY_HASH_BUDGET_SECONDS: z.coerce.number().positive().max(840).default(600),
  MFT_RETENTION_DAYS: z.coerce.number().positive().optional(),
  XRAY_RETENTION_DAYS: z.coerce.number().positive().default(XRAY_RETENTION_DAYS),
  /** With XRAY_BASE_URL (and its credentials): Xray windows are counted again and re-exported when they grew. */
  XRAY_BASE_URL: optionalString,
  XRAY_STATE_MACHINE_ARN: optionalString,
});

export function createVerifierHandler(runtime: () => Promise<VerifierRuntime>) {
  return async (event: unknown): Promise<VerificationSummary> => {
    const input = parseInput(eventSchema, event ?? {}, 'verifier event ({} or {"days": N})');
    const base = await runtime();
    return runScheduledVerification(input.days ? { ...base, days: input.days } : base);
  };
}

/** The Lambda's runtime from its environment (see verifierEnvironmentSchema). */
export async function verifierRuntimeFromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<VerifierRuntime> {
  const config = readEnvironment(verifierEnvironmentSchema, env, 'the verifier');
  const ledger = ledgerFromEnvironment(env, systemClock);
  if (!ledger) throw new ConfigError('CHECKPOINT_TABLE is required: the checkpoint table');
  const runtime: VerifierRuntime = {
    s3: createS3Client({ endpoint: config.S3_ENDPOINT, forcePathStyle: config.S3_FORCE_PATH_STYLE }),
    ledger,
    verified: new VerifiedWindows(new DynamoDBClient(config.DYNAMODB_ENDPOINT ? { endpoint: config.DYNAMODB_ENDPOINT } : {}), config.CHECKPOINT_TABLE),
    clock: systemClock,
    logger: defaultLogger().child({ source: 'verifier' }),
    bucket: config.EXPORT_BUCKET,
    days: config.VERIFY_DAYS,
    hashBudgetMs: config.VERIFY_HASH_BUDGET_SECONDS * 1000,
    retentionMs: (source) => {
      const days = source === 'xray' ? config.XRAY_RETENTION_DAYS : source === 'mft' ? config.MFT_RETENTION_DAYS : undefined;
      return days === undefined ? undefined : days * 86_400_000;
    },
  };
  if (config.EXPORT_PREFIX) runtime.prefix = config.EXPORT_PREFIX;
  if (config.XRAY_BASE_URL) {
    if (!config.XRAY_STATE_MACHINE_ARN) throw new ConfigError('XRAY_STATE_MACHINE_ARN is required with XRAY_BASE_URL: windows that gained events are re-exported by it');
    const xray = xrayRuntimeFromEnvironment(env);
    const stateMachineArn = config.XRAY_STATE_MACHINE_ARN;
    runtime.xray = {
      tenant: xray.settings.tenant,
      count: async (window, dryRun) => (await (await xray.client()).countWindow({ window, offset: 0, dryRun })).total,
      reexport: (input) => startReexport(stateMachineArn, input, systemClock.now()),
    };
  }
  return runtime;
}

/**
 * Starts the manual execution of one window. Its name is fixed per window, input and day: a retried
 * invocation finds the execution it started instead of starting a second one.
 */
async function startReexport(stateMachineArn: string, input: { window: TimeWindow; format: string; dryRun: boolean }, nowMs: number): Promise<string> {
  const { SFNClient, StartExecutionCommand, ExecutionAlreadyExists } = await import('@aws-sdk/client-sfn');
  const day = new Date(nowMs).toISOString().slice(0, 10).replaceAll('-', '');
  const hash = createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 8);
  const name = `reconcile-${compactInstant(input.window.start)}-${day}-${hash}`.replace(/[^A-Za-z0-9_-]/g, '');
  try {
    const started = await new SFNClient({}).send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
    return started.executionArn!;
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    throw error;
  }
}

export const handler = createVerifierHandler(lazy(() => verifierRuntimeFromEnvironment()));
