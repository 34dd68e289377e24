import { describe, expect, it } from 'vitest';
import { verifyManifest } from '../../functions/common/manifest.js';
import { AuditTimeline } from '../../emulators/mft/index.js';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import type { LocalRunResult } from '../../local/state-machine-runner.js';
import { DrivenClock } from '../support/driven-clock.js';
import { succeededOutput, temporaryTwins } from '../support/temporary-twin.js';
import { compareIds, currentEventIds, manifestsUnder, storedXrayEventIds, unnamedObjects } from '../support/stored-events.js';

/**
 * Exports only grow. A re-export of a window that gets a short answer (an empty page, a page without
 * `next_offset`, a vendor that purged the range) must never shrink what is stored: it is retried when the
 * vendor's own count shows it is short, and flagged when the vendor counts less than is stored. Each test ends
 * with the ids consumers load (the manifests' current objects) against the emulator's ground truth.
 */

const HOUR = 3_600_000;
const T0 = Date.parse('2026-09-07T10:05:00.000Z');
const start = temporaryTwins('short-answers');

function succeeded(result: LocalRunResult) {
  return succeededOutput<{ status: string; shortAnswers: number; lostToRetention: number; lost: { start: string; end: string }[]; message: string }>(result);
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('an overlap re-scan that gets a short answer', () => {
  for (const variant of [
    // Page 0 of a re-scan comes back empty once (no next_offset): today's exporter ended the window there.
    { fault: 'empty-page' as const, late: 30 },
    // A full page without next_offset: only a count tells it from the last page. Late events fill more than a page.
    { fault: 'no-next-offset' as const, late: 2_500 },
  ]) {
    it(`keeps every stored event and fetches the late ones (${variant.fault})`, async () => {
      const clock = new DrivenClock(T0);
      const twin = await start({
        clock,
        xray: { events: 12_000, datasetStart: '2026-09-07T06:00:00Z', datasetEnd: '2026-09-07T09:00:00Z' },
        mft: { reportReadyAfterMs: 0 },
      });
      const run = () =>
        runXrayExport(twin.xrayRuntime({ lagMinutes: 15, overlapHours: 2, initialLookbackHours: 3 }), { input: {}, waitMs: 0, retryMs: 5 });
      succeeded(await run()); // 06:00–09:00: three windows of ~4,000 events
      const before = await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/');
      expect(before).toHaveLength(12_000);

      // Late events for 07:00–08:00 (inside the overlap of the next run), and the next hour's events.
      twin.xray!.addEvents(variant.late, { createdAt: (i) => iso(Date.parse('2026-09-07T07:00:00Z') + (i % 3_600) * 1000) });
      twin.xray!.addEvents(40, { createdAt: (i) => iso(Date.parse('2026-09-07T09:00:00Z') + i * 60_000) });
      clock.set(T0 + HOUR);
      const rule = twin.xray!.faults.add({ match: { server: 'xray', query: { num_of_rows: '2000' } }, fault: { kind: variant.fault }, times: 1 });
      const rescan = await run();
      expect(rule.hits).toBe(1);
      succeeded(rescan);
      // Two more hours: 07:00–08:00 leaves the overlap.
      for (const hour of [2, 3]) {
        clock.set(T0 + hour * HOUR);
        succeeded(await run());
      }

      const end = Date.parse('2026-09-07T12:00:00Z');
      const truth = twin.xray!.eventIds({ start: '2026-09-07T06:00:00Z', end: iso(end) });
      const consumed = await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/');
      const figures = compareIds(truth, consumed);
      console.info(
        `short answer (${variant.fault}) during an overlap re-scan: stored before ${before.length}, vendor ${truth.length}, ` +
          `stored after ${figures.stored}, lost ${figures.lost.length}, duplicated ${figures.duplicated.length}`,
      );
      expect(figures.lost, 'events lost').toEqual([]);
      expect(figures.duplicated, 'events stored twice').toEqual([]);
      expect(figures.extra).toEqual([]);
      // Nothing in the folders but what the manifests name, and every manifest verifies.
      expect(await storedXrayEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/')).toHaveLength(truth.length);
      expect(await unnamedObjects(twin.s3Client, twin.s3.bucket, 'source=xray/')).toEqual([]);
      for (const { key, manifest } of await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=xray/')) {
        expect(await verifyManifest(twin.s3Client, twin.s3.bucket, key), key).toEqual({ ok: true, problems: [] });
        expect(manifest.vendorCount, key).toBe(manifest.events);
      }
      // The re-scanned window grew by a generation: its first parts kept their keys, the late events got new ones.
      const rescanned = (await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=xray/')).find(({ key }) => key.includes('window=20260907T070000Z--'));
      expect(rescanned!.manifest.generation).toBe(2);
      expect(rescanned!.manifest.objects.map((object) => object.generation)).toEqual([1, 2]);
    }, 120_000);
  }

  it('fails the window, and commits nothing for it, while the vendor keeps answering short', async () => {
    const clock = new DrivenClock(T0);
    const twin = await start({
      clock,
      xray: { events: 6_000, datasetStart: '2026-09-07T08:00:00Z', datasetEnd: '2026-09-07T09:00:00Z' },
      mft: { reportReadyAfterMs: 0 },
    });
    twin.xray!.faults.add({ match: { server: 'xray', query: { num_of_rows: '2000' }, offset: 2000 }, fault: { kind: 'empty-page' } });
    const result = await runXrayExport(twin.xrayRuntime({ lagMinutes: 15, initialLookbackHours: 1 }), { input: {}, waitMs: 0, retryMs: 5 });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('TransientError');
    expect(result.cause).toMatch(/ended 2026-09-07T08:00:00.000Z → 2026-09-07T09:00:00.000Z at offset 2000 \(an empty page\), but counted 6000 events/);
    expect((await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=xray/')).length).toBe(0);
    // The stream starts at the window, which is not committed: the checkpoint stays before it.
    expect((await twin.ledger.checkpoints())[0]?.watermark).toBe('2026-09-07T08:00:00.000Z');
  }, 60_000);
});

describe('a backfill re-run after the vendor purged the range', () => {
  it('Xray: a count below what is stored changes nothing and is flagged; windows past the retention are never written empty', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-10T00:00:00Z'));
    const twin = await start({
      clock,
      xray: { events: 12_000, datasetStart: '2026-08-29T00:00:00Z', datasetEnd: '2026-09-03T00:00:00Z', retentionDays: 30 },
      mft: { reportReadyAfterMs: 0 },
    });
    const backfill = (window: { start: string; end: string }) =>
      runXrayExport(twin.xrayRuntime({ lagMinutes: 15 }), { input: { window }, waitMs: 0, retryMs: 5 });
    const range = { start: '2026-09-01T00:00:00Z', end: '2026-09-03T00:00:00Z' };
    succeeded(await backfill(range));
    const truth = twin.xray!.eventIds(range);
    const before = await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/');
    expect(compareIds(truth, before).lost).toEqual([]);

    // The vendor purges the range (earlier than its documented retention), and the backfill is run again.
    twin.xray!.purgeBefore('2026-09-03T00:00:00Z');
    const again = succeeded(await backfill(range));
    const purged = compareIds(truth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/'));
    console.info(
      `backfill re-run after a purge (xray): stored before ${before.length}, vendor now 0, stored after ${purged.stored}, ` +
        `lost ${purged.lost.length}, duplicated ${purged.duplicated.length}`,
    );
    expect(purged.lost).toEqual([]);
    expect(again.shortAnswers).toBe(48);
    expect(again.message).toMatch(/48 window\(s\) got an answer holding less than what is stored/);
    const manifests = await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=xray/');
    expect(manifests).toHaveLength(48);
    for (const { manifest } of manifests) {
      expect(manifest).toMatchObject({ shortAnswer: true, vendorCount: 0, generation: 1 });
      expect(manifest.shortAnswers?.at(-1)).toMatchObject({ vendorCount: 0, stored: manifest.events });
    }

    // A month later the range is past the retention: a re-run asks the vendor nothing for it, and a range
    // never exported is reported lost instead of being stored as empty "complete" windows.
    clock.set(Date.parse('2026-10-05T00:00:00Z'));
    const requests = twin.xray!.requestLog.length;
    const late = succeeded(await backfill({ start: '2026-08-31T00:00:00Z', end: '2026-09-03T00:00:00Z' }));
    expect(twin.xray!.requestLog.length).toBe(requests);
    expect(late.lostToRetention).toBe(24);
    expect(late.lost).toEqual([{ start: '2026-08-31T00:00:00.000Z', end: '2026-09-01T00:00:00.000Z' }]);
    expect(late.message).toMatch(/24 window\(s\) older than the source's retention were never stored and are lost/);
    const after = await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/');
    expect((await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=xray/tenant=xray-twin/filters=all/dt=2026-08-31/')).length).toBe(0);
    expect((await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=xray/')).length).toBe(48);

    const figures = compareIds(truth, after);
    console.info(
      `backfill past the retention (xray): stored after ${figures.stored}, lost ${figures.lost.length}, duplicated ${figures.duplicated.length}; ` +
        `windows never stored reported lost ${late.lostToRetention}, empty manifests written 0`,
    );
    expect(figures.lost).toEqual([]);
    expect(figures.duplicated).toEqual([]);
  }, 120_000);

  it('MFT: a report holding fewer records is kept beside the current one, flagged, and never made current', async () => {
    const clock = new DrivenClock(Date.parse('2026-09-10T00:00:00Z'));
    const twin = await start({ clock, xray: false, mft: { reportReadyAfterMs: 0, eventsPerHour: 120 } });
    const backfill = () =>
      runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1 }), { input: { window: { start: '2026-09-01T00:00:00Z', end: '2026-09-01T06:00:00Z' } }, waitMs: 0, retryMs: 5 });
    succeeded(await backfill());
    const timeline = new AuditTimeline(1, 120);
    const [first, last] = timeline.indexRange(Date.parse('2026-09-01T00:00:00Z'), Date.parse('2026-09-01T06:00:00Z'));
    const truth = Array.from({ length: last - first }, (_, i) => timeline.event(first + i).id);
    const before = await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=mft/');

    twin.mft.purgeBefore('2026-09-01T03:30:00Z');
    const again = succeeded(await backfill());
    const purged = compareIds(truth, await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=mft/'));
    console.info(
      `backfill re-run after a purge (mft): stored before ${before.length}, stored after ${purged.stored}, lost ${purged.lost.length}, ` +
        `duplicated ${purged.duplicated.length}`,
    );
    expect(purged.lost).toEqual([]);
    // Four windows hold fewer records now (one of them half), two as many (identical: not stored twice).
    expect(again.shortAnswers).toBe(4);
    const manifests = await manifestsUnder(twin.s3Client, twin.s3.bucket, 'source=mft/');
    expect(manifests).toHaveLength(6);
    for (const { key, manifest } of manifests) {
      expect(await verifyManifest(twin.s3Client, twin.s3.bucket, key), key).toEqual({ ok: true, problems: [] });
      expect(manifest.objects.map((object) => object.key.split('/').pop()), key).toEqual(['report.json']);
      if (manifest.shortAnswer) {
        expect(manifest.shortAnswers?.at(-1)!.objects!.map((object) => object.key.split('/').pop())).toEqual(['report-g2.json']);
        expect(manifest.shortAnswers?.at(-1)!.records).toBeLessThan(manifest.records);
      }
    }
    expect(manifests.filter(({ manifest }) => manifest.shortAnswer)).toHaveLength(4);
    expect(await unnamedObjects(twin.s3Client, twin.s3.bucket, 'source=mft/')).toEqual([]);

    const after = await currentEventIds(twin.s3Client, twin.s3.bucket, 'source=mft/');
    const figures = compareIds(truth, after);
    expect(figures.lost).toEqual([]);
    expect(figures.duplicated).toEqual([]);
    expect(twin.mft.reports()).toEqual([]);
  }, 120_000);
});
