import { writeFile, mkdir, chmod, readFile } from 'node:fs/promises';
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
import type { VerifierRuntime } from '../functions/verifier/scheduled.js';
import { VerifiedWindows } from '../functions/verifier/verified-windows.js';
import { startLocalDynamo, type LocalDynamo } from './dynamo-server.js';
import { runXrayExport } from './run-export.js';
import { startLocalS3, type LocalS3 } from './s3-server.js';

/**
 * The local twin: both vendor emulators, a local S3 server, and runtimes wired to them — the same
 * handler code and adapters the Lambdas use in AWS, pointed at loopback endpoints.
 */
export interface TwinOptions {
  /**
   * Where the twin keeps what outlives a run: s3rver's objects (`s3/`), the checkpoint table (`dynamo/`), the
   * emulators' seed and dataset anchor (`twin.json`), the emulator key and the Lambdas' logs.
   */
  directory: string;
  bucket?: string;
  /** The emulators' seed (default: the one recorded in the directory, 1 for a new one). */
  seed?: number;
  /** Keep the checkpoint table in the directory (default true); false: in memory, gone with the process. */
  persistLedger?: boolean;
  mft?: MftEmulatorOptions;
  xray?: XrayEmulatorOptions | false;
  /** Wait states take this long on the twin (ms); the vendor-facing poll interval stays as configured. */
  waitMs?: number;
  /** Retry pauses take this long on the twin (ms). */
  retryMs?: number;
  /** The clock of the handlers and the emulators (a test can drive time). */
  clock?: Clock;
  /**
   * Several instances of a source, by name: an MFT emulator per tenant, an Xray emulator per platform, each
   * with its own dataset (seed + its position) and tenant. Absent: one of each, unnamed (what `npm start` runs).
   */
  instances?: { mft?: string[]; xray?: string[] };
}

/** One emulated instance of a source: its name and its emulator (the ground truth of its stream). */
export interface TwinInstance<E> {
  name: string;
  emulator: E;
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
  /** The (first) MFT emulator and Xray emulator. */
  mft: MftEmulator;
  xray?: XrayEmulator;
  /** Every emulated instance (`options.instances`; one unnamed of each by default). */
  mftInstances: TwinInstance<MftEmulator>[];
  xrayInstances: TwinInstance<XrayEmulator>[];
  /** The ES256 private key of the emulator's registered API key, written with mode 0600. */
  mftPrivateKeyFile: string;
  /** The runtime of an instance (by name; the first by default). */
  mftRuntime(overrides?: Partial<MftRuntimeOverrides>, instance?: string): MftRuntime;
  /** Requires the Xray emulator (not disabled with `xray: false`). */
  xrayRuntime(overrides?: Partial<XrayRuntimeOverrides>, instance?: string): XrayRuntime;
  /**
   * The verifier Lambda's runtime on the twin: its bucket and checkpoint table, Xray counts from the emulator,
   * and re-exports run as manual executions of the Xray state machine on the local runner.
   */
  verifierRuntime(overrides?: Partial<Pick<VerifierRuntime, 'days' | 'hashBudgetMs'>> & { xray?: Partial<XrayRuntimeOverrides> }): VerifierRuntime;
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

/** What makes a twin directory's emulators answer the same on every start (`twin.json`). */
export interface TwinIdentity {
  seed: number;
  /** The Xray dataset's anchor (an hour): its events keep their instants from one start to the next. */
  xrayAnchor: string;
}

const IDENTITY_FILE = 'twin.json';
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The Xray emulator's default dataset: 10,000 events over the 30 days before the anchor… */
const XRAY_BASE_EVENTS = 10_000;
const XRAY_HISTORY_DAYS = 30;
/** …and, at the same rate, this many times as long in all: the hours after the anchor hold events too. */
const XRAY_SPAN_FACTOR = 13;

/** Reads the directory's identity, or records a new one (seed 1 unless given, anchored at this hour). */
export async function twinIdentity(directory: string, seed: number | undefined, nowMs: number): Promise<TwinIdentity> {
  const file = path.join(directory, IDENTITY_FILE);
  let stored: Partial<TwinIdentity> = {};
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as Partial<TwinIdentity>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file} is not readable JSON: delete it to start the twin afresh`, { cause: error });
  }
  const identity: TwinIdentity = {
    seed: seed ?? (Number.isSafeInteger(stored.seed) ? stored.seed! : 1),
    xrayAnchor: typeof stored.xrayAnchor === 'string' && !Number.isNaN(Date.parse(stored.xrayAnchor)) ? stored.xrayAnchor : new Date(Math.floor(nowMs / HOUR_MS) * HOUR_MS).toISOString(),
  };
  if (identity.seed !== stored.seed || identity.xrayAnchor !== stored.xrayAnchor) await writeFile(file, `${JSON.stringify(identity, null, 2)}\n`);
  return identity;
}

/**
 * The Xray dataset of a twin directory: the 30 days before its anchor hold `events` (as the emulator's default
 * window does), and the dataset goes on at the same rate long after, so a later start serves the same events at
 * the same instants plus those of the hours since. Scaling count and span alike keeps every base event's instant.
 */
function stableXrayDataset(identity: TwinIdentity, xray: XrayEmulatorOptions | undefined): XrayEmulatorOptions {
  if (xray?.datasetStart || xray?.datasetEnd) return {};
  const anchorMs = Date.parse(identity.xrayAnchor);
  const startMs = anchorMs - XRAY_HISTORY_DAYS * DAY_MS;
  return {
    datasetStart: new Date(startMs).toISOString(),
    datasetEnd: new Date(startMs + XRAY_SPAN_FACTOR * XRAY_HISTORY_DAYS * DAY_MS).toISOString(),
    events: (xray?.events ?? XRAY_BASE_EVENTS) * XRAY_SPAN_FACTOR,
  };
}

/** Xray object keys name the platform; the twin's changes port every run, so it gets a stable name. */
export const TWIN_XRAY_TENANT = 'xray-twin';
/** The name of the twin's one instance of a source when no instances are named. */
export const TWIN_SINGLE_INSTANCE = 'default';

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
    const identity = await twinIdentity(directory, options.seed, clock.now());
    const dynamo = await startLocalDynamo(undefined, options.persistLedger === false ? undefined : path.join(directory, 'dynamo'));
    started.push(dynamo);
    const ledger = new CheckpointLedger(dynamo.client, dynamo.table, clock);
    // The twin's MFT answers 400 to a create body that is not in the reference script's exact shape.
    const mftInstances: TwinInstance<MftEmulator>[] = [];
    for (const [index, name] of (options.instances?.mft ?? [TWIN_SINGLE_INSTANCE]).entries()) {
      const named = name === TWIN_SINGLE_INSTANCE ? {} : { tenantId: `twin-${name}`, seed: identity.seed + index };
      const emulator = await startMftEmulator({ seed: identity.seed, reportReadyAfterMs: 1500, now, createBody: 'reference', ...options.mft, ...named });
      started.push(emulator);
      mftInstances.push({ name, emulator });
    }
    const mft = mftInstances[0]!.emulator;
    const xrayInstances: TwinInstance<XrayEmulator>[] = [];
    const xrayOptions = options.xray === false ? undefined : { ...options.xray, ...stableXrayDataset(identity, options.xray || undefined) };
    if (xrayOptions) {
      for (const [index, name] of (options.instances?.xray ?? [TWIN_SINGLE_INSTANCE]).entries()) {
        const named = name === TWIN_SINGLE_INSTANCE ? {} : { seed: identity.seed + index };
        const emulator = await startXrayEmulator({ seed: identity.seed, now, ...xrayOptions, ...named });
        started.push(emulator);
        xrayInstances.push({ name, emulator });
      }
    }
    const xray = xrayInstances[0]?.emulator;
    const xrayRetentionDays = options.xray ? options.xray.retentionDays : undefined;

    const mftPrivateKeyFile = path.join(directory, 'mft-private-key.pem');
    await writeFile(mftPrivateKeyFile, mft.privateKeyPem, { mode: 0o600 });
    await chmod(mftPrivateKeyFile, 0o600);
    const instanceOf = <E>(instances: TwinInstance<E>[], name: string | undefined, source: string): E => {
      const found = name === undefined ? instances[0] : instances.find((instance) => instance.name === name);
      if (!found) throw new Error(`This twin has no ${source} instance ${JSON.stringify(name)} (it has ${instances.map((i) => i.name).join(', ') || 'none'})`);
      return found.emulator;
    };
    const xrayTenant = (name: string) => (name === TWIN_SINGLE_INSTANCE ? TWIN_XRAY_TENANT : `${TWIN_XRAY_TENANT}-${name}`);

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

    const twin: Twin = {
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
      mftInstances,
      xrayInstances,
      mftPrivateKeyFile,
      waitMs,
      retryMs,
      mftRuntime(overrides = {}, instance) {
        const mft = instanceOf(mftInstances, instance, 'MFT');
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
      xrayRuntime(overrides = {}, instance) {
        if (!xray) throw new Error('This twin was started without the Xray emulator');
        const platform = instanceOf(xrayInstances, instance, 'Xray');
        return buildXrayRuntime({
          baseUrl: platform.baseUrl,
          credentials: overrides.credentials ?? { accessToken: platform.admin.accessToken },
          s3: s3Client,
          clock,
          ledger,
          http: overrides.http ?? twinHttp(),
          warn: overrides.warn ?? ((message) => logger.warn({ source: 'xray' }, message)),
          invocationBudgetMs: overrides.invocationBudgetMs ?? 600_000,
          settings: {
            bucket,
            prefix: overrides.prefix,
            tenant: xrayTenant(instance ?? xrayInstances[0]!.name),
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
      verifierRuntime(overrides = {}) {
        const runtime: VerifierRuntime = {
          s3: s3Client,
          ledger,
          verified: new VerifiedWindows(dynamo.client, dynamo.table),
          clock,
          logger: logger.child({ source: 'verifier' }),
          bucket,
          days: overrides.days ?? 7,
          hashBudgetMs: overrides.hashBudgetMs ?? 600_000,
          retentionMs: (source) => (source === 'xray' && xrayRetentionDays !== undefined ? xrayRetentionDays * DAY_MS : undefined),
        };
        if (xray) {
          const exporter = () => twin.xrayRuntime(overrides.xray);
          runtime.xray = {
            tenant: TWIN_XRAY_TENANT,
            count: async (window, dryRun) => (await (await exporter().client()).countWindow({ window, offset: 0, dryRun })).total,
            reexport: async (input) => {
              const result = await runXrayExport(exporter(), { input, waitMs, retryMs, logger });
              if (result.status !== 'SUCCEEDED') throw new Error(`the re-export of ${input.window.start} → ${input.window.end} ended ${result.status}: ${result.error ?? ''} ${result.cause ?? ''}`.trim());
              return result.executionArn;
            },
          };
        }
        return runtime;
      },
      async close() {
        s3Client.destroy();
        await Promise.allSettled(started.reverse().map((part) => part.close()));
      },
    };
    return twin;
  } catch (error) {
    await Promise.allSettled(started.reverse().map((part) => part.close()));
    throw error;
  }
}

/** The checkpoint table of a twin directory alone (what `audit-export status` reads): no emulator, no S3. */
export async function openTwinLedger(directory: string, clock: Clock = { now: () => Date.now() }): Promise<{ ledger: CheckpointLedger; close(): Promise<void> }> {
  const dynamo = await startLocalDynamo(undefined, path.join(path.resolve(directory), 'dynamo'));
  return { ledger: new CheckpointLedger(dynamo.client, dynamo.table, clock), close: () => dynamo.close() };
}
