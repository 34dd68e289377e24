import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/common/errors.js';
import { LocalKeyTokenSealer } from '../../functions/common/token-sealer.js';
import { parseInput } from '../../functions/common/validation.js';
import { createReportBody, planFor, planMftRun, reportLocation } from '../../functions/mft/export-plan.js';
import { mftSchedule } from '../../functions/mft/runtime.js';
import { mftExportInputSchema, normalizeStatus } from '../../functions/mft/model.js';

const settings = {
  bucket: 'b',
  tenantId: 'tenant',
  pollIntervalSeconds: 5,
  maxWaitSeconds: 900,
  schedule: mftSchedule({ windowMinutes: 60, lagMinutes: 15, initialLookbackHours: 24, maxWindows: 48 }),
};

describe('MFT plan', () => {
  it('starts a first scheduled run 24 hours before now − lag, in whole hourly windows', async () => {
    const { plan, windows, run } = await planMftRun(mftExportInputSchema.parse({}), settings, undefined, 'exec-1', Date.parse('2026-11-25T10:17:42.123Z'));
    expect(run).toMatchObject({ mode: 'scheduled', stream: 'mft|tenant|all|json' });
    expect(windows).toHaveLength(24);
    expect(windows[0]).toEqual({ start: '2026-11-24T10:00:00.000Z', end: '2026-11-24T11:00:00.000Z' });
    expect(windows[23]).toEqual({ start: '2026-11-25T09:00:00.000Z', end: '2026-11-25T10:00:00.000Z' });
    expect(plan.type).toBe('json');
    expect(reportLocation(plan, windows[0]!).key).toBe(
      'source=mft/tenant=tenant/filters=all/dt=2026-11-24/window=20261124T100000Z--20261124T110000Z/report.json',
    );
  });

  it('widens a manual window to whole grid windows', async () => {
    const input = mftExportInputSchema.parse({ window: { start: '2026-11-24T10:30:00Z', end: '2026-11-24T12:10:00Z' } });
    const { windows, run } = await planMftRun(input, settings, undefined, 'exec-2', Date.parse('2026-11-25T00:00:00Z'));
    expect(run.mode).toBe('manual');
    expect(windows.map((window) => window.start)).toEqual([
      '2026-11-24T10:00:00.000Z',
      '2026-11-24T11:00:00.000Z',
      '2026-11-24T12:00:00.000Z',
    ]);
    expect(run.cut).toBeUndefined();
  });

  it('cuts a manual window at the last window that is over (now − lag), and says what it cut', async () => {
    const input = mftExportInputSchema.parse({ window: { start: '2026-11-24T10:30:00Z', end: '2026-11-24T12:10:00Z' } });
    // 12:20 − 15 min lag: only 10:00–11:00 and 11:00–12:00 are over.
    const { windows, run } = await planMftRun(input, settings, undefined, 'exec-3', Date.parse('2026-11-24T12:20:00Z'));
    expect(windows.map((window) => window.start)).toEqual(['2026-11-24T10:00:00.000Z', '2026-11-24T11:00:00.000Z']);
    expect(run.cut).toEqual({ start: '2026-11-24T12:00:00.000Z', end: '2026-11-24T13:00:00.000Z' });
    expect(run.notAfter).toBe('2026-11-24T12:00:00.000Z');
  });

  it('maps filters to the documented request body, accepting any letter case', () => {
    const input = parseInput(
      mftExportInputSchema,
      { window: { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' }, type: 'csv', filters: { actorType: 'apikey', actions: ['delete'], resources: ['keycert'], sourceIp: '2001:db8::1' } },
      'input',
    );
    const body = createReportBody(planFor(input, settings), input.window!);
    expect(body).toEqual({
      type: 1,
      start: '2026-01-01T00:00:00Z',
      end: '2026-01-02T00:00:00Z',
      actor: null,
      actorType: 'ApiKey',
      actions: ['Delete'],
      resources: ['KeyCert'],
      outcomes: [],
      sourceIp: '2001:db8::1',
    });
    // The reference script's key order, every key present.
    expect(Object.keys(body)).toEqual(['type', 'start', 'end', 'actor', 'actorType', 'actions', 'resources', 'outcomes', 'sourceIp']);
  });

  it('sends the reference defaults for filters that are not set, whole seconds, lists without repeats', () => {
    const input = parseInput(mftExportInputSchema, { window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T01:00:00.000Z' } }, 'input');
    expect(JSON.stringify(createReportBody(planFor(input, settings), input.window!))).toBe(
      '{"type":0,"start":"2026-01-01T00:00:00Z","end":"2026-01-01T01:00:00Z","actor":null,"actorType":"All","actions":[],"resources":[],"outcomes":[],"sourceIp":null}',
    );
    const repeated = parseInput(mftExportInputSchema, { window: input.window, filters: { actions: ['Get', 'get', 'Delete', 'Get'], actor: 'ops@' } }, 'input');
    expect(createReportBody(planFor(repeated, settings), repeated.window!)).toMatchObject({ actions: ['Get', 'Delete'], actor: 'ops@' });
    expect(() => createReportBody(planFor(input, settings), { start: '2026-01-01T00:00:00.500Z', end: '2026-01-01T01:00:00.000Z' })).toThrow(/whole seconds/);
  });

  it.each([
    [{ type: 'xml' }, /type/],
    [{ filters: { actions: ['Patch'] } }, /unknown action "Patch"; use one of Get, Create, Update, Delete/],
    [{ filters: { sourceIp: '300.1.1.1' } }, /sourceIp must be an IPv4 or IPv6 address/],
    [{ filters: { actor: 'x'.repeat(321) } }, /actor is at most 320 characters/],
    [{ window: { start: '2026-01-01', end: '2026-01-02T00:00:00Z' } }, /window.start: must be an ISO-8601 timestamp/],
    [{ surprise: true }, /unknown field\(s\) surprise/],
  ])('rejects %j with a message that says what is wrong', (input, message) => {
    expect(() => parseInput(mftExportInputSchema, input, 'MFT export input')).toThrow(message);
  });

  it('reads report status as the reference does; clear failure words end the poll, anything else polls on', () => {
    expect(normalizeStatus('InProgress')).toBe('InProgress');
    expect(normalizeStatus(0)).toBe('InProgress');
    expect(normalizeStatus('completed')).toBe('Completed');
    expect(normalizeStatus('COMPLETED')).toBe('Completed');
    expect(normalizeStatus(1)).toBe('Completed');
    for (const failed of ['Failed', 'failure', 'Error', 'Cancelled', 'canceled', 'Aborted', 'Expired', 'Rejected']) expect(normalizeStatus(failed), failed).toBe('Failed');
    // Not documented anywhere: the exporter keeps polling (with a warning) rather than give up on the window.
    for (const other of ['Queued', 'Running', 'NotStarted', 'Pending', 'in_progress', '1', 2, -1, null, undefined, true, {}]) {
      expect(normalizeStatus(other), String(other)).toBe('Unrecognized');
    }
  });
});

describe('token sealing', () => {
  const sealer = new LocalKeyTokenSealer(LocalKeyTokenSealer.generateKey());
  const context = { purpose: 'mft-access-token', audience: 'https://api.us.mft.progress.com' };

  it('round-trips and never shows the token in the sealed form', async () => {
    const sealed = await sealer.seal('eyJ-secret-token', context);
    expect(sealed).not.toContain('secret');
    expect(await sealer.unseal(sealed, context)).toBe('eyJ-secret-token');
  });

  it('will not open a token for another host, or under another key', async () => {
    const sealed = await sealer.seal('tok', context);
    await expect(sealer.unseal(sealed, { ...context, audience: 'https://evil.example' })).rejects.toThrow(
      /does not open for https:\/\/evil\.example/,
    );
    const other = new LocalKeyTokenSealer(LocalKeyTokenSealer.generateKey());
    await expect(other.unseal(sealed, context)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('refuses a key of the wrong size', () => {
    expect(() => new LocalKeyTokenSealer(Buffer.alloc(16).toString('base64'))).toThrow(/32 bytes/);
  });
});
