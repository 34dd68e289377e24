import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFolder, verifyManifest } from '../../functions/common/manifest.js';
import { AuditTimeline } from '../../emulators/mft/index.js';
import { runMftExport, runXrayExport, type LocalExportOptions } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { duplicatesOf, readObject, storedXrayEventIds } from '../support/stored-events.js';
import { DrivenClock } from '../support/driven-clock.js';

/**
 * A simulated week of hourly schedules on the twin, with a clock the test drives: events arrive all the
 * time (some late), runs fail part-way, a manual backfill overlaps a scheduled run, and two scheduled runs
 * race for one lease. At the end S3 holds exactly the vendors' events — none missing, none twice — and
 * every manifest verifies against its objects.
 */

const HOUR = 3_600_000;
const WEEK_START = Date.parse('2026-09-07T00:00:00.000Z');
const HOURS = 168;
const MFT_EVENTS_PER_HOUR = 120;

const clock = new DrivenClock(WEEK_START);
let twin: Twin;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'continuous-'));
  twin = await startTwin({
    directory,
    clock,
    mft: { reportReadyAfterMs: 0, eventsPerHour: MFT_EVENTS_PER_HOUR },
    xray: { events: 5_000, datasetStart: new Date(WEEK_START - 48 * HOUR).toISOString(), datasetEnd: new Date(WEEK_START).toISOString() },
  });
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

type RunExtras = Pick<LocalExportOptions, 'decorate' | 'onEvent'>;

function mftRun(input: object = {}, extras: RunExtras = {}) {
  return runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1, lagMinutes: 15 }), { input, waitMs: 0, retryMs: 5, ...extras });
}

function xrayRun(input: object = {}, extras: RunExtras = {}) {
  return runXrayExport(twin.xrayRuntime({ lagMinutes: 15, overlapHours: 2 }), { input, waitMs: 0, retryMs: 5, ...extras });
}

/** Starts a second scheduled run while the first still holds the lease (its commit waits for the second's plan). */
async function racingRuns(run: (input: object, extras: RunExtras) => Promise<LocalRunResult>) {
  let secondPlanned!: () => void;
  const planned = new Promise<void>((resolve) => (secondPlanned = resolve));
  let firstPlanned!: () => void;
  const firstHasLease = new Promise<void>((resolve) => (firstPlanned = resolve));
  const first = run(
    {},
    {
      onEvent: (event) => event.type === 'StateExited' && event.state?.name === 'PlanExport' && firstPlanned(),
      decorate: (name, handler) => (name.endsWith('CommitRunFunctionArn') ? async (input) => (await planned, handler(input)) : handler),
    },
  );
  await firstHasLease;
  const second = run({}, { onEvent: (event) => event.type === 'StateExited' && event.state?.name === 'PlanExport' && secondPlanned() });
  return Promise.all([first, second]);
}

function outcome(result: LocalRunResult) {
  return result.status === 'SUCCEEDED' ? ((result.output as { status: string }).status ?? 'SUCCEEDED') : `FAILED:${result.error}`;
}

describe('continuous export over a simulated week', () => {
  it('stores every event exactly once despite late events, failures, a backfill and racing runs', async () => {
    const outcomes: Record<string, number> = {};
    const count = (key: string) => (outcomes[key] = (outcomes[key] ?? 0) + 1);
    let lateEvents = 0;

    for (let hour = 0; hour < HOURS; hour++) {
      const now = WEEK_START + hour * HOUR + 5 * 60_000;
      // Events of the past hour arrive, and a few late ones for an hour or two back.
      clock.set(now);
      twin.xray!.addEvents(20, { createdAt: (i) => new Date(now - HOUR + i * 150_000).toISOString() });
      if (hour % 5 === 0) {
        twin.xray!.addEvents(3, { createdAt: (i) => new Date(now - 100 * 60_000 - i * 60_000).toISOString() });
        lateEvents += 3;
      }

      if (hour === 40) {
        // Xray answers 503 for a while: the run fails part-way, the next runs catch up.
        twin.xray!.faults.add({ match: { server: 'xray' }, fault: { kind: 'status', status: 503 }, after: 2, times: 30 });
      }
      if (hour === 70) twin.mft.failNextReports(1, 'failed'); // one MFT window fails; the checkpoint stops before it

      if (hour === 100) {
        // A manual backfill of the last ten hours runs while the scheduled runs do.
        const backfill = { window: { start: new Date(now - 10 * HOUR).toISOString(), end: new Date(now - HOUR).toISOString() } };
        const results = await Promise.all([mftRun(), xrayRun(), mftRun(backfill), xrayRun(backfill)]);
        results.forEach((result) => count(outcome(result)));
        continue;
      }
      if (hour === 120) {
        // Two scheduled executions at once: one holds the lease, the other skips.
        const results = (await Promise.all([racingRuns(xrayRun), racingRuns(mftRun)])).flat();
        const statuses = results.map(outcome);
        expect(statuses.filter((status) => status === 'SKIPPED')).toHaveLength(2);
        statuses.forEach(count);
        continue;
      }
      const results = await Promise.all([mftRun(), xrayRun()]);
      results.forEach((result) => count(outcome(result)));
    }
    // The outage and the failed report each failed at least one run, and later runs caught up.
    expect(Object.keys(outcomes).some((key) => key.startsWith('FAILED'))).toBe(true);

    const checkpoints = await twin.ledger.checkpoints();
    expect(checkpoints.map((checkpoint) => checkpoint.stream).sort()).toEqual([
      `mft|${twin.mft.tenantId}|all|json`,
      'xray|xray-twin|all|json',
    ]);
    // The last run's now − lag (…:05 − 15 min), down to the hourly grid.
    const end = Math.floor((WEEK_START + (HOURS - 1) * HOUR + 5 * 60_000 - 15 * 60_000) / HOUR) * HOUR;
    for (const checkpoint of checkpoints) {
      expect(checkpoint.watermark).toBe(new Date(end).toISOString());
      expect(checkpoint.leases).toEqual([]);
    }
    // The first run's initial lookback: 24 hours before its now − lag, on the grid.
    const start = Math.floor((WEEK_START + 5 * 60_000 - 15 * 60_000) / HOUR) * HOUR - 24 * HOUR;

    // Xray: the ids in S3 are exactly the emulator's, late ones included.
    const xrayTruth = twin.xray!.eventIds({ start: new Date(start).toISOString(), end: new Date(end).toISOString() });
    const xrayStored = await storedXrayEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/');
    expect(duplicatesOf(xrayStored)).toEqual([]);
    expect([...xrayStored].sort((a, b) => a - b)).toEqual(xrayTruth);
    expect(lateEvents).toBeGreaterThan(0);

    // MFT: the ids in S3 are exactly the timeline's.
    const timeline = new AuditTimeline(1, MFT_EVENTS_PER_HOUR);
    const [first, last] = timeline.indexRange(start, end);
    const mftTruth = Array.from({ length: last - first }, (_, i) => timeline.event(first + i).id).sort();
    const mftStored: string[] = [];
    const keys = await listFolder(twin.s3Client, twin.s3.bucket, 'source=mft/');
    for (const key of keys.filter((name) => name.endsWith('/report.json'))) {
      const events = JSON.parse((await readObject(twin.s3Client, twin.s3.bucket, key)).toString('utf8')) as { id: string }[];
      mftStored.push(...events.map((event) => event.id));
    }
    expect(mftStored.length).toBe(mftTruth.length);
    expect(new Set(mftStored).size).toBe(mftStored.length);
    expect(mftStored.sort()).toEqual(mftTruth);

    // "Manifest present ⇒ window complete": every manifest verifies, and every window has one.
    const manifests = [...keys, ...(await listFolder(twin.s3Client, twin.s3.bucket, 'source=xray/'))].filter((key) =>
      key.endsWith('/_manifest.json'),
    );
    expect(manifests.length).toBe(2 * ((end - start) / HOUR));
    for (const key of manifests) {
      expect(await verifyManifest(twin.s3Client, twin.s3.bucket, key), key).toEqual({ ok: true, problems: [] });
    }
    // No report is left on the vendor's server.
    expect(twin.mft.reports()).toEqual([]);
    console.info(
      `continuous week: runs ${JSON.stringify(outcomes)}, xray events ${xrayStored.length} (late ${lateEvents}), ` +
        `mft events ${mftStored.length}, manifests ${manifests.length}, lost 0, duplicated 0`,
    );
  }, 600_000);
});
