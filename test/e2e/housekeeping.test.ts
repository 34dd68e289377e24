import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reportRequest } from '../../functions/mft/export-plan.js';
import { cleanupReports, defaultCleanupAgeMs, whyKept } from '../../functions/mft/housekeeping.js';
import { reportsCommand } from '../../cli/commands/reports.js';
import { startTwin, type Twin } from '../../local/twin.js';

/**
 * MFT housekeeping: a report whose create reply was lost is invisible to the state machine; the
 * housekeeping pass finds it by listing and deletes it once it is stale — and touches nothing else.
 */

const HOUR = 3_600_000;
const T0 = Date.parse('2026-09-07T10:05:00.000Z');
let simulated = T0;
const clock = { now: () => simulated };
let twin: Twin;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'housekeeping-'));
  twin = await startTwin({ directory, clock, xray: false, mft: { reportReadyAfterMs: 0 } });
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

describe('whyKept (what counts as ours and stale)', () => {
  const base = { id: 'r', status: 'Completed' as const, rawStatus: 'Completed', type: 0, start: '2026-09-07T08:00:00.000Z', end: '2026-09-07T09:00:00.000Z', createdAt: '2026-09-07T06:00:00.000Z' };
  const options = { gridMs: HOUR, olderThanMs: 2 * HOUR, nowMs: Date.parse('2026-09-07T10:00:00.000Z') };
  it('accepts one grid window, a type we create, older than the limit', () => {
    expect(whyKept(base, options)).toBeUndefined();
    expect(whyKept({ ...base, type: 'Csv' }, options)).toBeUndefined();
    expect(whyKept({ ...base, type: '1' }, options)).toBeUndefined();
  });
  it('keeps everything else, saying why', () => {
    expect(whyKept({ ...base, type: 7 }, options)).toMatch(/type 7/);
    expect(whyKept({ ...base, type: undefined }, options)).toMatch(/type null/);
    expect(whyKept({ ...base, end: '2026-09-07T10:00:00.000Z' }, options)).toMatch(/not one window/);
    expect(whyKept({ ...base, start: '2026-09-07T08:17:00.000Z', end: '2026-09-07T09:17:00.000Z' }, options)).toMatch(/not one window/);
    expect(whyKept({ ...base, start: undefined }, options)).toMatch(/does not show its window/);
    expect(whyKept({ ...base, createdAt: undefined }, options)).toMatch(/does not say when/);
    expect(whyKept({ ...base, createdAt: '2026-09-07T09:00:00.000Z' }, options)).toMatch(/created 60 min ago/);
  });
});

describe('cleanupReports on the emulator', () => {
  it('deletes only stale reports of ours, and a dry run deletes nothing', async () => {
    const runtime = twin.mftRuntime();
    expect(defaultCleanupAgeMs(runtime)).toBe(2 * HOUR);
    const auth = await runtime.auth.issue();
    const create = (start: string, end: string, type: 0 | 1 = 0) =>
      runtime.auth.withToken(auth, (token) => runtime.client.createReport(token, reportRequest(type === 0 ? 'json' : 'csv', { start, end })));
    // Created at T0: an orphan of ours (JSON), one CSV of ours, a person's ad-hoc 24-hour report, an off-grid hour.
    const orphan = await create('2026-09-07T08:00:00Z', '2026-09-07T09:00:00Z');
    const orphanCsv = await create('2026-09-07T07:00:00Z', '2026-09-07T08:00:00Z', 1);
    const adHoc = await create('2026-09-06T10:00:00Z', '2026-09-07T10:00:00Z');
    const offGrid = await create('2026-09-07T08:17:00Z', '2026-09-07T09:17:00Z');
    simulated = T0 + HOUR;
    const fresh = await create('2026-09-07T10:00:00Z', '2026-09-07T11:00:00Z');

    // One hour later nothing is old enough.
    let result = await cleanupReports(runtime, auth);
    expect(result.deleted).toEqual([]);
    expect(result.kept).toHaveLength(5);

    simulated = T0 + 2 * HOUR + 60_000;
    const dry = await cleanupReports(runtime, auth, { dryRun: true });
    expect(dry.stale.map((report) => report.id).sort()).toEqual([orphan.id, orphanCsv.id].sort());
    expect(dry.deleted).toEqual([]);
    expect(twin.mft.reports()).toHaveLength(5);

    result = await cleanupReports(runtime, auth, { match: (report) => report.id !== orphanCsv.id });
    expect(result.deleted).toEqual([orphan.id]);
    result = await cleanupReports(runtime, auth);
    expect(result.deleted).toEqual([orphanCsv.id]);
    expect(twin.mft.reports().map((report) => report.id).sort()).toEqual([adHoc.id, offGrid.id, fresh.id].sort());
    expect(result.kept.find((report) => report.id === adHoc.id)?.kept).toMatch(/not one window of the 60-minute grid/);

    // A deletion that fails is reported, not thrown (the next pass tries again).
    simulated = T0 + 4 * HOUR;
    twin.mft.faults.add({ match: { server: 'api', method: 'DELETE' }, fault: { kind: 'status', status: 503 } });
    result = await cleanupReports(runtime, auth);
    expect(result.failed.map((failure) => failure.id)).toEqual([fresh.id]);
    expect(result.failed[0]!.error).toMatch(/answered HTTP 503/);
    twin.mft.faults.clear();
    expect((await cleanupReports(runtime, auth)).deleted).toEqual([fresh.id]);
  });
});

describe('audit-export reports', () => {
  it('lists and cleans up on a fresh twin, as JSON', async () => {
    const stdout: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (stdout.push(String(chunk)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const twinDir = path.join(directory, 'cli-twin');
      expect(await reportsCommand(['list', '--json', '--twin-dir', twinDir])).toBe(0);
      expect(JSON.parse(stdout.pop()!)).toEqual({ reports: [] });
      expect(await reportsCommand(['cleanup', '--dry-run', '--older-than-minutes', '30', '--json', '--twin-dir', twinDir])).toBe(0);
      expect(JSON.parse(stdout.pop()!)).toMatchObject({ listed: 0, deleted: [], dryRun: true, olderThanMs: 1_800_000 });
      await expect(reportsCommand(['purge'])).rejects.toThrow(/unknown reports action "purge"/);
      await expect(reportsCommand(['list', '--dry-run'])).rejects.toThrow(/belong to reports cleanup/);
      await expect(reportsCommand(['cleanup', '--target', 'aws'])).rejects.toThrow(/--target env/);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
