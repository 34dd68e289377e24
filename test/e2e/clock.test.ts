import { describe, expect, it } from 'vitest';
import { AuditTimeline } from '../../emulators/mft/index.js';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { DrivenClock } from '../support/driven-clock.js';
import { succeededOutput, temporaryTwins } from '../support/temporary-twin.js';
import { compareIds, currentEventIds, manifestsUnder } from '../support/stored-events.js';

/**
 * No run outruns the clock: a manual range that reaches into the present is cut at the last window that is over
 * (now − lag), says so, and moves no checkpoint past it; the scheduled runs that follow export the rest, events
 * that arrive later in those windows included.
 */

const HOUR = 3_600_000;
const start = temporaryTwins('clock');

function succeeded(result: LocalRunResult) {
  return succeededOutput<{ status: string; checkpoint: string | null; message: string; cut: { start: string; end: string } | null; windows: unknown[] }>(result);
}

describe('a manual run into the present', () => {
  it('MFT: `--lookback-hours 2` at 10:05 exports only finished windows; the schedule exports the rest', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-07T09:05:00Z'));
    const twin = await start({ clock, xray: false, mft: { reportReadyAfterMs: 0, eventsPerHour: 120 } });
    const run = (input: object) => runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1, lagMinutes: 15, initialLookbackHours: 2 }), { input, waitMs: 0, retryMs: 5 });
    expect(succeeded(await run({})).checkpoint).toBe('2026-09-07T08:00:00.000Z');

    // 10:05, `run mft --lookback-hours 2`: 08:05 → 10:05, widened to 08:00 → 11:00; only 08:00–09:00 is over (now − lag = 09:50).
    clock.set(Date.parse('2026-09-07T10:05:00Z'));
    const manual = succeeded(await run({ window: { start: '2026-09-07T08:05:00.000Z', end: '2026-09-07T10:05:00.000Z' } }));
    const checkpoints: [number, string | null][] = [[clock.now(), manual.checkpoint]];
    for (const hour of [11, 12]) {
      clock.set(Date.parse(`2026-09-07T${hour}:05:00Z`));
      checkpoints.push([clock.now(), succeeded(await run({})).checkpoint]);
    }

    const timeline = new AuditTimeline(1, 120);
    const [first, last] = timeline.indexRange(Date.parse('2026-09-07T06:00:00Z'), Date.parse('2026-09-07T11:00:00Z'));
    const truth = Array.from({ length: last - first }, (_, i) => timeline.event(first + i).id);
    const figures = compareIds(truth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=mft/'));
    console.info(`manual run into the present hour (mft): vendor ${truth.length}, stored ${figures.stored}, lost ${figures.lost.length}, duplicated ${figures.duplicated.length}`);
    expect(figures.lost).toEqual([]);
    expect(figures.duplicated).toEqual([]);
    expect(manual.cut).toEqual({ start: '2026-09-07T09:00:00.000Z', end: '2026-09-07T11:00:00.000Z' });
    expect(manual.message).toContain('not exported: 2026-09-07T09:00:00.000Z → 2026-09-07T11:00:00.000Z is not over yet');
    expect(manual.windows).toHaveLength(1);
    // No checkpoint ever past now − lag.
    expect(checkpoints.map(([, checkpoint]) => checkpoint)).toEqual(['2026-09-07T09:00:00.000Z', '2026-09-07T10:00:00.000Z', '2026-09-07T11:00:00.000Z']);
    for (const [now, checkpoint] of checkpoints) expect(Date.parse(checkpoint!)).toBeLessThanOrEqual(now - 15 * 60_000);
    // Every window manifest ends before the instant it was written at, less the lag.
    for (const { key, manifest } of await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=mft/')) {
      const written = manifest as unknown as { window: { end: string }; completedAt: string };
      expect(Date.parse(written.window.end), key).toBeLessThanOrEqual(Date.parse(written.completedAt) - 15 * 60_000);
    }
  }, 120_000);

  it('Xray: a range to the next midnight stops at now − lag, and events arriving later that day are all exported', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-07T14:05:00Z'));
    const twin = await start({ clock, xray: { events: 1_400, datasetStart: '2026-09-07T00:00:00Z', datasetEnd: '2026-09-07T14:00:00Z' }, mft: { reportReadyAfterMs: 0 } });
    const run = (input: object) => runXrayExport(twin.xrayRuntime({ lagMinutes: 15, overlapHours: 2, initialLookbackHours: 13 }), { input, waitMs: 0, retryMs: 5 });
    expect(succeeded(await run({})).checkpoint).toBe('2026-09-07T13:00:00.000Z');
    const manual = succeeded(await run({ window: { start: '2026-09-07T00:00:00Z', end: '2026-09-08T00:00:00Z' } }));

    // 200 events arrive during the rest of the day; the schedule runs every hour.
    let added = 0;
    for (let hour = 15; hour <= 25; hour++) {
      const now = Date.parse('2026-09-07T00:05:00Z') + hour * HOUR;
      if (hour <= 24) {
        const count = 20;
        twin.xray!.addEvents(count, { createdAt: (i) => new Date(now - HOUR + i * 150_000).toISOString() });
        added += count;
      }
      clock.set(now);
      succeeded(await run({}));
    }
    expect(added).toBe(200);
    const truth = twin.xray!.eventIds({ start: '2026-09-07T00:00:00Z', end: '2026-09-08T00:00:00Z' });
    const figures = compareIds(truth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/'));
    console.info(
      `manual run to the next midnight (xray): vendor ${truth.length} (200 arriving after the run), stored ${figures.stored}, ` +
        `lost ${figures.lost.length}, duplicated ${figures.duplicated.length}`,
    );
    expect(figures.lost).toEqual([]);
    expect(figures.duplicated).toEqual([]);
    expect(manual.cut).toEqual({ start: '2026-09-07T13:00:00.000Z', end: '2026-09-08T00:00:00.000Z' });
    expect(manual.checkpoint).toBe('2026-09-07T13:00:00.000Z');
  }, 120_000);
});
