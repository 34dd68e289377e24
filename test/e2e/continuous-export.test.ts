import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyManifest } from '../../functions/common/manifest.js';
import { AuditTimeline } from '../../emulators/mft/index.js';
import { runMftExport, runXrayExport, type LocalExportOptions } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { compareIds, currentEventIds, manifestsUnder, unnamedObjects } from '../support/stored-events.js';
import { DrivenClock } from '../support/driven-clock.js';

/**
 * A simulated week of hourly schedules on the twin, with a clock the test drives: events arrive all the
 * time (some late, for windows already exported), runs fail part-way, a manual backfill overlaps a scheduled
 * run, and two scheduled runs race for one lease. Xray re-scans get short answers (a page empty once, a full
 * page without next_offset); a re-export of MFT windows gets short reports; mid-week the MFT stream changes its
 * grid (60 → 30 minutes), and near the end the Xray schedule its format (JSON → CSV, a stream of its own). At the
 * end what the manifests list is exactly the vendors' events — none missing, none twice in a stream — and every
 * manifest verifies against its objects.
 */

const HOUR = 3_600_000;
const WEEK_START = Date.parse('2026-09-07T00:00:00.000Z');
const HOURS = 168;
const MFT_EVENTS_PER_HOUR = 120;
const MFT_GRID_CHANGE_HOUR = 84;
const XRAY_FORMAT_CHANGE_HOUR = 140;
const HALF_HOUR = HOUR / 2;

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

/** The hour of the week being simulated: it sets each source's grid and format. */
let simulatedHour = 0;

function mftRun(input: object = {}, extras: RunExtras = {}) {
  const windowMinutes = simulatedHour >= MFT_GRID_CHANGE_HOUR ? 30 : 60;
  return runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1, lagMinutes: 15, windowMinutes }), { input, waitMs: 0, retryMs: 5, ...extras });
}

function xrayRun(input: object = {}, extras: RunExtras = {}) {
  const format = simulatedHour >= XRAY_FORMAT_CHANGE_HOUR ? { format: 'csv' } : {};
  return runXrayExport(twin.xrayRuntime({ lagMinutes: 15, overlapHours: 2 }), { input: { ...format, ...input }, waitMs: 0, retryMs: 5, ...extras });
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
    let shortAnswers = 0;
    const shortFaults: Record<string, number> = {};
    const countShort = (result: LocalRunResult) => (shortAnswers += (result.output as { shortAnswers?: number } | undefined)?.shortAnswers ?? 0);

    for (let hour = 0; hour < HOURS; hour++) {
      simulatedHour = hour;
      const now = WEEK_START + hour * HOUR + 5 * 60_000;
      // Events of the past hour arrive, and a few late ones for a window exported an hour ago.
      clock.set(now);
      twin.xray!.addEvents(20, { createdAt: (i) => new Date(now - HOUR + i * 150_000).toISOString() });
      if (hour % 5 === 0) {
        twin.xray!.addEvents(3, { createdAt: (i) => new Date(now - 150 * 60_000 - i * 60_000).toISOString() });
        lateEvents += 3;
      }
      // Short answers during re-scans that have late events to fetch: one data page comes back empty, or full
      // without next_offset (JSON pages of 2,000: all before the format change, since CSV pages are larger).
      const shortFault = { 30: 'empty-page', 60: 'no-next-offset', 130: 'empty-page', 135: 'no-next-offset' }[hour] as 'empty-page' | 'no-next-offset' | undefined;
      if (shortFault) {
        const rule = twin.xray!.faults.add({ match: { server: 'xray', query: { num_of_rows: '2000' } }, fault: { kind: shortFault }, times: 1 });
        const results = await Promise.all([mftRun(), xrayRun()]);
        results.forEach((result) => (count(outcome(result)), countShort(result)));
        shortFaults[shortFault] = (shortFaults[shortFault] ?? 0) + rule.hits;
        rule.remove();
        continue;
      }
      if (hour === 110) {
        // Stored MFT windows are exported again, and three of the reports come back short: kept beside, never current.
        const results = await Promise.all([mftRun(), xrayRun()]);
        results.forEach((result) => (count(outcome(result)), countShort(result)));
        const shortRule = twin.mft.failNextReports(3, 'short');
        const backfill = await mftRun({ window: { start: new Date(now - 10 * HOUR).toISOString(), end: new Date(now - 2 * HOUR).toISOString() } });
        shortRule.remove();
        count(outcome(backfill));
        countShort(backfill);
        continue;
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

    const checkpoints = new Map((await twin.ledger.checkpoints()).map((checkpoint) => [checkpoint.stream, checkpoint]));
    expect([...checkpoints.keys()]).toEqual([`mft|${twin.mft.tenantId}|all|json`, 'xray|xray-twin|all|csv', 'xray|xray-twin|all|json']);
    for (const checkpoint of checkpoints.values()) expect(checkpoint.leases).toEqual([]);
    // The last run's now − lag, down to each stream's grid.
    const lastNowLessLag = WEEK_START + (HOURS - 1) * HOUR + 5 * 60_000 - 15 * 60_000;
    const end = Math.floor(lastNowLessLag / HOUR) * HOUR;
    const mftEnd = Math.floor(lastNowLessLag / HALF_HOUR) * HALF_HOUR;
    const mft = checkpoints.get(`mft|${twin.mft.tenantId}|all|json`)!;
    expect(mft.watermark).toBe(new Date(mftEnd).toISOString());
    expect(checkpoints.get('xray|xray-twin|all|csv')!.watermark).toBe(new Date(end).toISOString());
    const mftGridSince = Date.parse(mft.grids.at(-1)!.since!);
    expect(mft.grids.map((period) => period.ms)).toEqual([HOUR, HALF_HOUR]);
    // The JSON Xray stream stopped where its last run left it; the CSV one began at its first run's lookback.
    const xrayJsonEnd = Date.parse(checkpoints.get('xray|xray-twin|all|json')!.watermark!);
    const xrayCsvStart = Math.floor((WEEK_START + XRAY_FORMAT_CHANGE_HOUR * HOUR + 5 * 60_000 - 15 * 60_000) / HOUR) * HOUR - 24 * HOUR;
    expect(xrayCsvStart).toBeLessThanOrEqual(xrayJsonEnd);
    // The first run's initial lookback: 24 hours before its now − lag, on the grid.
    const start = Math.floor((WEEK_START + 5 * 60_000 - 15 * 60_000) / HOUR) * HOUR - 24 * HOUR;
    const iso = (ms: number) => new Date(ms).toISOString();

    // Xray: each stream's manifests list each event once, and together they hold exactly the emulator's ids, late
    // ones included (those that arrived for the JSON stream's last windows after it stopped are in the CSV one's).
    const jsonIds = await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/tenant=xray-twin/filters=all/');
    const csvIds = await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/tenant=xray-twin/filters=all-csv/');
    const xrayTruth = twin.xray!.eventIds({ start: iso(start), end: iso(end) });
    const xrayJson = compareIds(twin.xray!.eventIds({ start: iso(start), end: iso(xrayCsvStart) }), jsonIds);
    const xrayCsv = compareIds(twin.xray!.eventIds({ start: iso(xrayCsvStart), end: iso(end) }), csvIds);
    const xrayBoth = compareIds(xrayTruth, [...new Set([...jsonIds, ...csvIds])]);
    expect(lateEvents).toBeGreaterThan(0);

    // MFT: exactly the timeline's ids, across the grid change.
    const timeline = new AuditTimeline(1, MFT_EVENTS_PER_HOUR);
    const [first, last] = timeline.indexRange(start, mftEnd);
    const mftFigures = compareIds(
      Array.from({ length: last - first }, (_, i) => timeline.event(first + i).id),
      await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=mft/'),
    );

    // "Manifest present ⇒ window complete": every manifest verifies, every window has one, nothing is unnamed.
    const manifests = await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=');
    expect(manifests.length).toBe(
      (mftGridSince - start) / HOUR + (mftEnd - mftGridSince) / HALF_HOUR + (xrayJsonEnd - start) / HOUR + (end - xrayCsvStart) / HOUR,
    );
    for (const { key } of manifests) {
      expect(await verifyManifest(twin.s3Client, twin.s3.bucket, key), key).toEqual({ ok: true, problems: [] });
    }
    expect(await unnamedObjects(twin.s3Client, twin.s3.bucket, 'source=')).toEqual([]);
    // No report is left on the vendor's server.
    expect(twin.mft.reports()).toEqual([]);
    const lost = xrayBoth.lost.length + mftFigures.lost.length;
    const duplicated = xrayJson.duplicated.length + xrayCsv.duplicated.length + mftFigures.duplicated.length;
    console.info(
      `continuous week: runs ${JSON.stringify(outcomes)}, xray events ${xrayJson.stored} json + ${xrayCsv.stored} csv (late ${lateEvents}), ` +
        `mft events ${mftFigures.stored} (grid 60 → 30 min at ${iso(mftGridSince)}), short-answer faults ${JSON.stringify(shortFaults)}, ` +
        `short answers kept ${shortAnswers}, manifests ${manifests.length}, lost ${lost}, duplicated ${duplicated}`,
    );
    for (const [name, figures] of [['xray json', xrayJson], ['xray csv', xrayCsv], ['xray', xrayBoth], ['mft', mftFigures]] as const) {
      expect(figures.duplicated, `${name}: events stored twice`).toEqual([]);
      if (name !== 'xray json') expect(figures.lost, `${name}: events missing`).toEqual([]);
      if (name === 'xray' || name === 'mft') expect(figures.extra, `${name}: events that are not the vendor's`).toEqual([]);
    }
    expect(Object.values(shortFaults).reduce((sum, hits) => sum + hits, 0)).toBe(4);
    expect(shortAnswers).toBeGreaterThan(0);
  }, 600_000);
});
