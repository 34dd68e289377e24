import { writeFile, mkdir, chmod } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { HttpClient } from '../functions/common/http.js';
import { createS3Client } from '../functions/common/s3-writer.js';
import { LocalKeyTokenSealer } from '../functions/common/token-sealer.js';
import { CheckpointLedger } from '../functions/common/checkpoints.js';
import { createLogger, type Logger } from '../functions/common/observability.js';
import { pino } from 'pino';
import type { Clock } from '../functions/common/clock.js';
import { ReportRegistry } from '../functions/mft/report-registry.js';
import { buildMftRuntime, mftSchedule, type MftRuntime } from '../functions/mft/runtime.js';
import { DEFAULT_CSV_PAGE_SIZE, MAX_PAGE_SIZE } from '../functions/xray/model.js';
import { buildXrayRuntime, xraySchedule, type XrayRuntime } from '../functions/xray/runtime.js';
import { startMftEmulator, type MftEmulator, type MftEmulatorOptions } from '../emulators/mft/index.js';
import { startXrayEmulator, type XrayEmulator, type XrayEmulatorOptions } from '../emulators/xray/index.js';
import { startLocalDynamo, type LocalDynamo } from './dynamo-server.js';
import { startLocalS3, type LocalS3 } from './s3-server.js';

/**
 * The local twin: both vendor emulators, a local S3 server, and runtimes wired to them — the same
 * handler code and adapters the Lambdas use in AWS, pointed at loopback endpoints.
 */
export interface TwinOptions {
  /** Where s3rver keeps the exported objects and where the emulator key is written. */
  directory: string;
  bucket?: string;
  seed?: number;
  mft?: MftEmulatorOptions;
  xray?: XrayEmulatorOptions | false;
  /** Wait states take this long on the twin (ms); the vendor-facing poll interval stays as configured. */
  waitMs?: number;
  /** Retry pauses take this long on the twin (ms). */
  retryMs?: number;
  /** The clock of the handlers and the emulators (a test can drive time). */
  clock?: Clock;
}

export interface Twin {
  directory: string;
  s3: LocalS3;
  s3Client: S3Client;
  dynamo: LocalDynamo;
  ledger: CheckpointLedger;
  clock: Clock;
  /** The handlers' structured logs and EMF metrics (what CloudWatch Logs would hold), one JSON line each. */
  logger: Logger;
  logFile: string;
  mft: MftEmulator;
  xray?: XrayEmulator;
  /** The ES256 private key of the emulator's registered API key, written with mode 0600. */
  mftPrivateKeyFile: string;
  mftRuntime(overrides?: Partial<MftRuntimeOverrides>): MftRuntime;
  /** Requires the Xray emulator (not disabled with `xray: false`). */
  xrayRuntime(overrides?: Partial<XrayRuntimeOverrides>): XrayRuntime;
  waitMs: number;
  retryMs: number;
  close(): Promise<void>;
}

export interface MftRuntimeOverrides {
  http: HttpClient;
  maxWaitSeconds: number;
  pollIntervalSeconds: number;
  windowMinutes: number;
  lagMinutes: number;
  initialLookbackHours: number;
  maxWindows: number;
  prefix: string;
  retentionDays: number;
}

export interface XrayRuntimeOverrides {
  http: HttpClient;
  credentials: { accessToken: string } | { username: string; password: string };
  eventsPerPart: number;
  csvPageSize: number;
  /** Where the Xray client's warnings go (default: the twin's log). */
  warn: (message: string) => void;
  invocationBudgetMs: number;
  windowMinutes: number;
  groupHours: number;
  lagMinutes: number;
  overlapHours: number;
  initialLookbackHours: number;
  maxWindows: number;
  prefix: string;
  retentionDays: number;
}

/** Xray object keys name the platform; the twin's changes port every run, so it gets a stable name. */
export const TWIN_XRAY_TENANT = 'xray-twin';

export const TWIN_BUCKET = 'audit-export-twin';

export async function startTwin(options: TwinOptions): Promise<Twin> {
  const bucket = options.bucket ?? TWIN_BUCKET;
  const directory = path.resolve(options.directory);
  await mkdir(directory, { recursive: true });
  const started: { close(): Promise<void> }[] = [];
  try {
    const clock = options.clock ?? { now: () => Date.now() };
    const now = () => clock.now();
    const s3 = await startLocalS3({ directory: path.join(directory, 's3'), bucket });
    started.push(s3);
    const dynamo = await startLocalDynamo();
    started.push(dynamo);
    const ledger = new CheckpointLedger(dynamo.client, dynamo.table, clock);
    // The twin's MFT answers 400 to a create body that is not in the reference script's exact shape.
    const mft = await startMftEmulator({ seed: options.seed, reportReadyAfterMs: 1500, now, createBody: 'reference', ...options.mft });
    started.push(mft);
    const xray =
      options.xray === false ? undefined : await startXrayEmulator({ seed: options.seed, now, ...options.xray });
    const xrayRetentionDays = options.xray ? options.xray.retentionDays : undefined;
    if (xray) started.push(xray);

    const mftPrivateKeyFile = path.join(directory, 'mft-private-key.pem');
    await writeFile(mftPrivateKeyFile, mft.privateKeyPem, { mode: 0o600 });
    await chmod(mftPrivateKeyFile, 0o600);

    const s3Client = createS3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    await mkdir(path.join(directory, 'logs'), { recursive: true });
    const logFile = path.join(directory, 'logs', 'lambda.log');
    const logDestination = pino.destination({ dest: logFile, append: true, sync: true });
    const logger = createLogger({ destination: logDestination });
    const sealer = new LocalKeyTokenSealer(LocalKeyTokenSealer.generateKey());
    // The twin's vendors are on loopback: short backoff so retried faults do not slow the tests down.
    const twinHttp = () => new HttpClient({ clock, retry: { baseDelayMs: 50, maxDelayMs: 500, maxElapsedMs: 10_000 } });
    const waitMs = options.waitMs ?? 250;
    const retryMs = options.retryMs ?? 100;

    return {
      directory,
      s3,
      s3Client,
      dynamo,
      ledger,
      clock,
      logger,
      logFile,
      mft,
      xray,
      mftPrivateKeyFile,
      waitMs,
      retryMs,
      mftRuntime(overrides = {}) {
        return buildMftRuntime({
          baseUrl: mft.baseUrl,
          credentials: { tenantId: mft.tenantId, kid: mft.kid, privateKeyPem: mft.privateKeyPem },
          sealer,
          s3: s3Client,
          clock,
          ledger,
          reports: new ReportRegistry(dynamo.client, dynamo.table, clock),
          http: overrides.http ?? twinHttp(),
          // The emulator's storage listens on loopback: allowed here, and nowhere by default.
          download: { addresses: { allowLoopback: true, allowPrivate: false } },
          settings: {
            bucket,
            prefix: overrides.prefix,
            tenantId: mft.tenantId,
            pollIntervalSeconds: overrides.pollIntervalSeconds ?? 5,
            maxWaitSeconds: overrides.maxWaitSeconds ?? 900,
            schedule: mftSchedule({
              windowMinutes: overrides.windowMinutes ?? 60,
              lagMinutes: overrides.lagMinutes ?? 0,
              initialLookbackHours: overrides.initialLookbackHours ?? 24,
              maxWindows: overrides.maxWindows ?? 48,
              ...(overrides.retentionDays === undefined ? {} : { retentionDays: overrides.retentionDays }),
            }),
          },
        });
      },
      xrayRuntime(overrides = {}) {
        if (!xray) throw new Error('This twin was started without the Xray emulator');
        return buildXrayRuntime({
          baseUrl: xray.baseUrl,
          credentials: overrides.credentials ?? { accessToken: xray.admin.accessToken },
          s3: s3Client,
          clock,
          ledger,
          http: overrides.http ?? twinHttp(),
          warn: overrides.warn ?? ((message) => logger.warn({ source: 'xray' }, message)),
          invocationBudgetMs: overrides.invocationBudgetMs ?? 600_000,
          settings: {
            bucket,
            prefix: overrides.prefix,
            tenant: TWIN_XRAY_TENANT,
            pageSize: MAX_PAGE_SIZE,
            csvPageSize: overrides.csvPageSize ?? DEFAULT_CSV_PAGE_SIZE,
            eventsPerPart: overrides.eventsPerPart ?? 100_000,
            groupHours: overrides.groupHours ?? 168,
            schedule: xraySchedule({
              windowMinutes: overrides.windowMinutes ?? 60,
              lagMinutes: overrides.lagMinutes ?? 0,
              overlapHours: overrides.overlapHours ?? 2,
              initialLookbackHours: overrides.initialLookbackHours ?? 24,
              maxWindows: overrides.maxWindows ?? 24 * 31,
              // As long as the emulator keeps events (by default it keeps them all).
              retentionDays: overrides.retentionDays ?? xrayRetentionDays ?? null,
            }),
          },
        });
      },
      async close() {
        s3Client.destroy();
        await Promise.allSettled(started.reverse().map((part) => part.close()));
      },
    };
  } catch (error) {
    await Promise.allSettled(started.reverse().map((part) => part.close()));
    throw error;
  }
}
