import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage } from '../../functions/common/errors.js';
import { HttpClient } from '../../functions/common/http.js';
import { listFolder, verifyManifest } from '../../functions/common/manifest.js';
import { createHousekeepingHandler, type HousekeepingSummary } from '../../functions/mft/housekeeping.js';
import type { MftRuntime } from '../../functions/mft/runtime.js';
import { AuditTimeline } from '../../emulators/mft/index.js';
import type { RandomFaultKind } from '../../emulators/common/faults.js';
import { MFT_DEFINITION, runMftExport, runXrayExport } from '../../local/run-export.js';
import type { LocalRunResult, TaskHandler } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { duplicatesOf, readObject, storedXrayEventIds } from '../support/stored-events.js';
import { DrivenClock } from '../support/driven-clock.js';

/**
 * Chaos on the twin: hours of hourly scheduled runs of both sources while both emulators inject seeded
 * random faults (error statuses with and without Retry-After and HTML bodies, connection resets, truncated
 * bodies, answers slower than the client's timeout, MFT reports that fail or never complete, access tokens
 * that expire mid-run). Runs fail; later runs catch up. Then the faults stop, a few clean hours pass, and:
 * S3 holds exactly the vendors' events for the covered range (none missing, none twice), every window has a
 * manifest that verifies, and no report is left on the MFT server (a create whose reply was lost leaves an
 * orphan only the housekeeping step can find: it runs in every MFT execution right after IssueToken, as
 * proposed for the state machine).
 *
 * Reproducible: the fault schedule is drawn from `SEED` (override with CHAOS_SEED=N); requests that run
 * concurrently (windows of one Map) may arrive in another order from run to run, and so may their faults.
 */

const SEED = Number(process.env.CHAOS_SEED ?? 20_260_907);
const RATE = Number(process.env.CHAOS_RATE ?? 0.1);
const FAULTY_HOURS = 30;
const CLEAN_HOURS = 4;
const HOUR = 3_600_000;
const START = Date.parse('2026-09-07T00:00:00.000Z');
const MFT_EVENTS_PER_HOUR = 60;
const LOOKBACK_HOURS = 6;

const MFT_KINDS: RandomFaultKind[] = ['status', 'reset', 'truncate', 'delay', 'report-failed', 'report-never-completes', 'expire-tokens'];
const XRAY_KINDS: RandomFaultKind[] = ['status', 'reset', 'truncate', 'delay'];
/** Slower than the client's per-attempt timeout on the MFT API, so those attempts time out and are retried. */
const DELAY_MS = 400;
const CLIENT_TIMEOUT_MS = 250;

const clock = new DrivenClock(START);
let twin: Twin;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'chaos-'));
  twin = await startTwin({
    directory,
    clock,
    mft: { reportReadyAfterMs: 0, eventsPerHour: MFT_EVENTS_PER_HOUR, statusFormat: 'mixed' },
    xray: { events: 600, datasetStart: new Date(START - 12 * HOUR).toISOString(), datasetEnd: new Date(START).toISOString() },
  });
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

/** Short pauses and a short per-attempt deadline, so a chaotic hour takes well under a second. */
function chaosHttp(): HttpClient {
  return new HttpClient({
    clock,
    timeoutMs: CLIENT_TIMEOUT_MS,
    retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 50, maxElapsedMs: 3_000 },
  });
}

const housekeeping: { passes: number; deleted: number; failed: number } = { passes: 0, deleted: 0, failed: 0 };
/** Once the state machine has its own Housekeeping state, the test stops adding one. */
const ASL_HAS_HOUSEKEEPING = readFileSync(MFT_DEFINITION, 'utf8').includes('${HousekeepingFunctionArn}');

/** Runs the proposed `Housekeeping` state right after IssueToken; like its Catch, a failure never fails the run. */
function withHousekeeping(runtime: MftRuntime) {
  const clean = createHousekeepingHandler(async () => runtime);
  return (name: string, handler: TaskHandler): TaskHandler =>
    name !== 'IssueTokenFunctionArn'
      ? handler
      : async (input) => {
          const auth = await handler(input);
          try {
            const summary: HousekeepingSummary = await clean({ auth });
            housekeeping.passes++;
            housekeeping.deleted += summary.deleted;
          } catch {
            housekeeping.failed++;
          }
          return auth;
        };
}

function mftRun(): Promise<LocalRunResult> {
  const runtime = twin.mftRuntime({
    http: chaosHttp(),
    pollIntervalSeconds: 1,
    maxWaitSeconds: 2,
    lagMinutes: 15,
    initialLookbackHours: LOOKBACK_HOURS,
  });
  return runMftExport(runtime, { input: {}, waitMs: 10, retryMs: 5, ...(ASL_HAS_HOUSEKEEPING ? {} : { decorate: withHousekeeping(runtime) }) });
}

function xrayRun(): Promise<LocalRunResult> {
  const runtime = twin.xrayRuntime({ http: chaosHttp(), lagMinutes: 15, overlapHours: 2, initialLookbackHours: LOOKBACK_HOURS });
  return runXrayExport(runtime, { input: {}, waitMs: 0, retryMs: 5 });
}

describe('chaos on the twin', () => {
  it('loses and duplicates nothing, and leaves no report behind, through seeded random faults', async () => {
    const started = Date.now();
    let faultsInjected = 0;
    const byKind: Record<string, number> = {};
    const onFault = (fault: { kind: string; server: string }) => {
      faultsInjected++;
      byKind[`${fault.server}:${fault.kind}`] = (byKind[`${fault.server}:${fault.kind}`] ?? 0) + 1;
    };
    twin.mft.faults.onInjected(onFault);
    twin.xray!.faults.onInjected(onFault);
    twin.mft.faults.randomize({ seed: SEED, rate: RATE, kinds: MFT_KINDS, delayMs: DELAY_MS, maxRetryAfterSeconds: 0, maxTruncateBytes: 200 });
    twin.xray!.faults.randomize({ seed: SEED + 1, rate: RATE, kinds: XRAY_KINDS, delayMs: DELAY_MS, maxRetryAfterSeconds: 0, maxTruncateBytes: 2000 });

    let runs = 0;
    let failed = 0;
    const failures: Record<string, number> = {};
    const record = (result: LocalRunResult) => {
      runs++;
      if (result.status === 'FAILED') {
        failed++;
        failures[result.error ?? '?'] = (failures[result.error ?? '?'] ?? 0) + 1;
        if (process.env.CHAOS_VERBOSE) {
          const where = result.events.filter((event) => event.type.endsWith('Failed') && event.state).map((event) => event.state!.name);
          console.info(`failed run: ${result.error}: ${result.cause} (in ${where.join(', ')})`);
        }
      }
    };

    for (let hour = 0; hour < FAULTY_HOURS + CLEAN_HOURS; hour++) {
      if (hour === FAULTY_HOURS) {
        twin.mft.faults.clear();
        twin.xray!.faults.clear();
      }
      const now = START + hour * HOUR + 5 * 60_000;
      clock.set(now);
      twin.xray!.addEvents(12, { createdAt: (i) => new Date(now - HOUR + i * 300_000).toISOString() });
      const results = await Promise.all([mftRun(), xrayRun()]);
      results.forEach(record);
    }
    expect(faultsInjected).toBeGreaterThan(20);

    // The last run's now − lag, down to the hourly grid; the first run's initial lookback before it.
    const end = Math.floor((START + (FAULTY_HOURS + CLEAN_HOURS - 1) * HOUR + 5 * 60_000 - 15 * 60_000) / HOUR) * HOUR;
    const start = Math.floor((START + 5 * 60_000 - 15 * 60_000) / HOUR) * HOUR - LOOKBACK_HOURS * HOUR;
    const checkpoints = await twin.ledger.checkpoints();
    expect(checkpoints).toHaveLength(2);
    for (const checkpoint of checkpoints) {
      expect(checkpoint.watermark, checkpoint.stream).toBe(new Date(end).toISOString());
      expect(checkpoint.leases, checkpoint.stream).toEqual([]);
    }

    // Xray: exactly the emulator's ids.
    const xrayTruth = twin.xray!.eventIds({ start: new Date(start).toISOString(), end: new Date(end).toISOString() });
    const xrayStored = await storedXrayEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/');
    const xrayDuplicates = duplicatesOf(xrayStored);
    const xrayStoredSet = new Set(xrayStored);
    const xrayLost = xrayTruth.filter((id) => !xrayStoredSet.has(id));

    // MFT: exactly the timeline's ids.
    const timeline = new AuditTimeline(1, MFT_EVENTS_PER_HOUR);
    const [first, last] = timeline.indexRange(start, end);
    const mftTruth = Array.from({ length: last - first }, (_, i) => timeline.event(first + i).id);
    const mftKeys = await listFolder(twin.s3Client, twin.s3.bucket, 'source=mft/');
    const mftStored: string[] = [];
    for (const key of mftKeys.filter((name) => name.endsWith('/report.json'))) {
      const events = JSON.parse((await readObject(twin.s3Client, twin.s3.bucket, key)).toString('utf8')) as { id: string }[];
      mftStored.push(...events.map((event) => event.id));
    }
    const mftStoredSet = new Set(mftStored);
    const mftDuplicates = mftStored.length - mftStoredSet.size;
    const mftLost = mftTruth.filter((id) => !mftStoredSet.has(id));

    const lost = xrayLost.length + mftLost.length;
    const duplicated = xrayDuplicates.length + mftDuplicates;
    const leftover = twin.mft.reports();
    const eventsChecked = xrayTruth.length + mftTruth.length;
    // The one line CI shows (issue 6: runs, faults injected, events checked, lost, duplicated, leftover reports).
    console.info(
      `chaos: seed ${SEED}, runs ${runs} (failed ${failed}), faults injected ${faultsInjected}, events checked ${eventsChecked}, ` +
        `lost ${lost}, duplicated ${duplicated}, leftover reports ${leftover.length}`,
    );
    console.info(
      `chaos details: faults ${JSON.stringify(byKind)}, failures ${JSON.stringify(failures)}, housekeeping ${ASL_HAS_HOUSEKEEPING ? '(state machine step)' : JSON.stringify(housekeeping)}, ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );

    expect(xrayLost, 'xray events missing from S3').toEqual([]);
    expect(xrayDuplicates, 'xray events stored twice').toEqual([]);
    expect(xrayStored.length).toBe(xrayTruth.length);
    expect(mftLost, 'mft events missing from S3').toEqual([]);
    expect(mftDuplicates, 'mft events stored twice').toBe(0);
    expect(mftStored.length).toBe(mftTruth.length);
    expect(leftover.map((report) => `${report.id} ${report.status} ${report.query.start} created ${report.createdAt}`)).toEqual([]);

    // Every window has its manifest, and every manifest verifies against its objects: nothing half-written.
    const xrayKeys = await listFolder(twin.s3Client, twin.s3.bucket, 'source=xray/');
    const manifests = [...mftKeys, ...xrayKeys].filter((key) => key.endsWith('/_manifest.json'));
    expect(manifests.length).toBe(2 * ((end - start) / HOUR));
    for (const key of manifests) {
      const check = await verifyManifest(twin.s3Client, twin.s3.bucket, key).catch((error: unknown) => ({ ok: false, problems: [errorMessage(error)] }));
      expect(check, key).toEqual({ ok: true, problems: [] });
    }
    // Every data object belongs to a window with a manifest.
    const folders = new Set(manifests.map((key) => key.slice(0, key.lastIndexOf('/') + 1)));
    for (const key of [...mftKeys, ...xrayKeys]) expect(folders.has(key.slice(0, key.lastIndexOf('/') + 1)), key).toBe(true);
    // Some runs really failed, and the faults really happened.
    expect(failed).toBeGreaterThan(0);
  }, 120_000);
});
