import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cleanupReports, defaultCleanupAgeMs, whyKept } from '../../functions/mft/housekeeping.js';
import { formatCleanup, reportsCommand } from '../../cli/commands/reports.js';
import { startMftEmulator } from '../../emulators/mft/index.js';
import { TransientError } from '../../functions/common/errors.js';
import { MftClient } from '../../functions/mft/client.js';
import { planFor, reportRequest } from '../../functions/mft/export-plan.js';
import { mftExportInputSchema } from '../../functions/mft/model.js';
import { createReport, deleteReport } from '../../functions/mft/steps.js';
import { runMftExport } from '../../local/run-export.js';
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

describe('recorded reports: found by what the exporter knows, not by what the list shows', () => {
  let bare: Twin;
  let bareClock = T0;
  beforeAll(async () => {
    // A list that shows only ids and statuses, in pages of two linked by a token.
    bare = await startTwin({
      directory: path.join(directory, 'bare'),
      clock: { now: () => bareClock },
      xray: false,
      mft: { reportReadyAfterMs: 0, listFields: 'minimal', listShape: 'page-token', listPageSize: 2 },
    });
  });
  afterAll(() => bare?.close());

  const hour = (h: number) => ({ start: new Date(Date.parse('2026-09-07T00:00:00Z') + h * HOUR).toISOString(), end: new Date(Date.parse('2026-09-07T00:00:00Z') + (h + 1) * HOUR).toISOString() });

  it('records each report the moment it is created, forgets it when deleted, and housekeeping deletes what is still recorded', async () => {
    const runtime = bare.mftRuntime();
    const tenant = runtime.settings.tenantId;
    const auth = await runtime.auth.issue();
    const plan = planFor(mftExportInputSchema.parse({}), runtime.settings);
    const created: { id: string; requestedAt: string }[] = [];
    for (const h of [0, 1, 2]) created.push(await createReport(runtime, plan, hour(h), auth, `arn:execution:${h}`));
    const records = await runtime.reports!.list(tenant);
    expect(records.map((record) => record.id).sort()).toEqual(created.map((report) => report.id).sort());
    expect(records.find((record) => record.id === created[1]!.id)).toMatchObject({ window: hour(1), executionId: 'arn:execution:1', type: 'json', createdAt: new Date(T0).toISOString() });

    // The normal path: deleted, and forgotten.
    expect(await deleteReport(runtime, auth, created[0]!)).toEqual({ reportId: created[0]!.id, deleted: true });
    expect((await runtime.reports!.list(tenant)).map((record) => record.id)).not.toContain(created[0]!.id);
    // One recorded report is gone from the server already (deleted by a person).
    await runtime.auth.withToken(auth, (token) => runtime.client.deleteReport(token, created[2]!.id));
    // Two reports this exporter never recorded: a person's, and one whose create answer was lost.
    const strangers = [
      await runtime.auth.withToken(auth, (token) => runtime.client.createReport(token, reportRequest('json', hour(5)))),
      await runtime.auth.withToken(auth, (token) => runtime.client.createReport(token, reportRequest('csv', hour(6)))),
    ];

    // Young: every recorded report may still belong to a running execution.
    bareClock = T0 + HOUR;
    let result = await cleanupReports(runtime, auth);
    expect(result).toMatchObject({ listed: 3, recorded: 2, deleted: [], stale: [] });
    expect(result.kept.map((report) => report.kept)).toEqual([expect.stringMatching(/^recorded, created 60 min ago/), expect.stringMatching(/^recorded, created 60 min ago/)]);
    expect(result.unknown.map((report) => report.id).sort()).toEqual(strangers.map((report) => report.id).sort());

    // A dry run shows what it would delete (the recorded ones) and what it cannot judge (the unknown ones).
    bareClock = T0 + 2 * HOUR + 60_000;
    const dry = await cleanupReports(runtime, auth, { dryRun: true });
    expect(dry.stale.map((report) => [report.id, report.knownFrom]).sort()).toEqual([created[1]!.id, created[2]!.id].sort().map((id) => [id, 'record']));
    expect(dry.unknown).toHaveLength(2);
    const lines = formatCleanup(dry);
    expect(lines.filter((line) => line.startsWith('  would delete'))).toHaveLength(2);
    expect(lines.filter((line) => line.startsWith('  unknown ')).join('\n')).toMatch(/not recorded by this exporter, and the list shows no type, window, createdAt/);
    expect(await runtime.reports!.list(tenant)).toHaveLength(2);

    result = await cleanupReports(runtime, auth);
    // The one still on the server is deleted; the one already gone is only forgotten.
    expect(result.deleted).toEqual([created[1]!.id]);
    expect(result.failed).toEqual([]);
    expect(await runtime.reports!.list(tenant)).toEqual([]);
    expect(bare.mft.reports().map((report) => report.id).sort()).toEqual(strangers.map((report) => report.id).sort());
  });

  it('a report that cannot be recorded is deleted at once, and the create step fails to be retried', async () => {
    const runtime = bare.mftRuntime();
    const auth = await runtime.auth.issue();
    const before = new Set(bare.mft.reports().map((report) => report.id));
    const registry = runtime.reports!;
    runtime.reports = Object.assign(Object.create(registry) as typeof registry, {
      record: async () => {
        throw new Error('the table is unavailable');
      },
    });
    const plan = planFor(mftExportInputSchema.parse({}), runtime.settings);
    const failure = createReport(runtime, plan, hour(9), auth);
    await expect(failure).rejects.toBeInstanceOf(TransientError);
    await expect(failure).rejects.toThrow(/was created but could not be recorded \(the table is unavailable\); it was deleted again/);
    expect(bare.mft.reports().filter((report) => !before.has(report.id))).toEqual([]);
  });

  it.each(['items', 'array', 'link-header', 'next-link', 'page-token', 'page-number'] as const)('reads every page of a %s list', async (listShape) => {
    const mft = await startMftEmulator({ listShape, listPageSize: 2, reportReadyAfterMs: 0 });
    try {
      const client = new MftClient(mft.baseUrl);
      const token = (await client.issueToken({ tenantId: mft.tenantId, kid: mft.kid, privateKeyPem: mft.privateKeyPem })).value;
      const ids: string[] = [];
      for (const h of [0, 1, 2, 3, 4]) ids.push((await client.createReport(token, reportRequest('json', hour(h)))).id);
      expect((await client.listReports(token)).map((report) => report.id).sort()).toEqual(ids.sort());
      const pages = mft.requestLog.filter((entry) => entry.method === 'GET' && entry.path === '/v1/reports/audit-logs').length;
      expect(pages).toBe(listShape === 'items' || listShape === 'array' ? 1 : 3);
    } finally {
      await mft.close();
    }
  });
});

describe('a create whose answer was lost', () => {
  it('leaves an unrecorded report that only the list can show; housekeeping deletes it once stale when the list shows it is ours', async () => {
    const runtime = twin.mftRuntime({ windowMinutes: 1440, pollIntervalSeconds: 1 });
    const before = new Set(twin.mft.reports().map((report) => report.id));
    // The server creates the report, the answer is cut: the retried create makes a second one.
    twin.mft.faults.add({ match: { server: 'api', method: 'POST', path: '/v1/reports/audit-logs' }, fault: { kind: 'truncate', afterBytes: 10 }, times: 1 });
    const result = await runMftExport(runtime, { input: { window: { start: '2026-09-01T00:00:00Z', end: '2026-09-02T00:00:00Z' } }, waitMs: 20, retryMs: 10 });
    twin.mft.faults.clear();
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const left = twin.mft.reports().filter((report) => !before.has(report.id));
    expect(left).toHaveLength(1);
    expect(await runtime.reports!.list(runtime.settings.tenantId)).toEqual([]);
    simulated += 3 * HOUR;
    const auth = await runtime.auth.issue();
    const cleaned = await cleanupReports(runtime, auth, { match: (report) => report.id === left[0]!.id });
    expect(cleaned.stale).toEqual([expect.objectContaining({ id: left[0]!.id, knownFrom: 'list' })]);
    expect(cleaned.deleted).toEqual([left[0]!.id]);
  });
});
