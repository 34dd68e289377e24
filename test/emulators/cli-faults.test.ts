import { describe, expect, it } from 'vitest';
import { emulateCommand } from '../../cli/commands/emulate.js';
import { UsageError } from '../../cli/usage.js';
import { FaultSpecError, parseFaultSpec, parseRandomFaultKinds } from '../../emulators/common/fault-spec.js';
import { startXrayEmulator } from '../../emulators/xray/index.js';

describe('emulate --faults: the spec grammar', () => {
  it('parses the documented example', () => {
    expect(parseFaultSpec('api:503x3,storage:truncate@1000x1,xray:429/2x5,xray:reset~0.02', 9)).toEqual({
      mft: [
        { match: { server: 'api' }, fault: { kind: 'status', status: 503 }, times: 3 },
        { match: { server: 'storage' }, fault: { kind: 'truncate', afterBytes: 1000 }, times: 1 },
      ],
      xray: [
        { fault: { kind: 'status', status: 429, retryAfterSeconds: 2 }, times: 5 },
        { fault: { kind: 'reset' }, probability: 0.02, seed: 9 },
      ],
    });
  });

  it('parses methods, paths, offsets, attempts, after, html bodies and the MFT-only faults', () => {
    expect(
      parseFaultSpec(
        ' token:502.html , api.delete/v1/reports:500#2 ,xray?offset=2000:503#1-3, mft:hang+4x1, api:failedx2,' +
          'api:never-completes, mft:expire-tokens+6x1, xray:delay@45000, api:504/0.json',
      ),
    ).toEqual({
      mft: [
        { match: { server: 'token' }, fault: { kind: 'status', status: 502, body: 'html' } },
        { match: { server: 'api', method: 'DELETE', path: '/v1/reports', attempt: 2 }, fault: { kind: 'status', status: 500 } },
        { fault: { kind: 'hang' }, after: 4, times: 1 },
        { match: { server: 'api' }, fault: { kind: 'report-outcome', outcome: 'failed' }, times: 2 },
        { match: { server: 'api' }, fault: { kind: 'report-outcome', outcome: 'never-completes' } },
        { fault: { kind: 'expire-tokens' }, after: 6, times: 1 },
        { match: { server: 'api' }, fault: { kind: 'status', status: 504, retryAfterSeconds: 0, body: 'json' } },
      ],
      xray: [
        { match: { offset: 2000, attempt: [1, 2, 3] }, fault: { kind: 'status', status: 503 } },
        { fault: { kind: 'delay', ms: 45000 } },
      ],
    });
  });

  it.each([
    ['', /empty/],
    ['api:503,,xray:reset', /empty item #2/],
    ['s3:503', /target must be api, token, storage, mft or xray/],
    ['api', /expected TARGET/],
    ['api:418', /status must be one of 429, 500, 502, 503, 504/],
    ['xray:explode', /unknown fault/],
    ['xray:failed', /MFT report\/token fault/],
    ['storage:expire-tokens', /MFT report\/token fault/],
    ['api?offset=5:503', /only applies to xray/],
    ['xray:503x', /unexpected "x"/],
    ['xray:503x2x3', /"x" given twice/],
    ['xray:reset~1.5', /probability must be from 0 to 1/],
    ['xray:503#0', /attempts count from 1/],
    ['xray:503#3-2', /attempts count from 1/],
    ['xray:delay', /unknown fault/],
  ])('rejects %j', (spec, message) => {
    expect(() => parseFaultSpec(spec)).toThrow(FaultSpecError);
    expect(() => parseFaultSpec(spec)).toThrow(message);
  });

  it('parses chaos kinds', () => {
    expect(parseRandomFaultKinds('status,reset,report-failed,status')).toEqual(['status', 'reset', 'report-failed']);
    expect(() => parseRandomFaultKinds('status,boom')).toThrow(/unknown chaos kind "boom"/);
  });

  it('every rule it produces is accepted by the emulators and takes effect', async () => {
    const { xray: rules } = parseFaultSpec('xray:429/3x1,xray?offset=100:502');
    const xray = await startXrayEmulator({ events: 500, faults: rules });
    try {
      const get = (offset: number) =>
        fetch(`${xray.baseUrl}/xray/api/v1/curation/audit/packages?offset=${offset}`, { headers: { authorization: `Bearer ${xray.admin.accessToken}` } });
      const first = await get(0);
      expect([first.status, first.headers.get('retry-after')]).toEqual([429, '3']);
      expect((await get(0)).status).toBe(200);
      expect((await get(100)).status).toBe(502);
    } finally {
      await xray.close();
    }
  });

  it.each([
    [['--faults', 'xray:999']],
    [['--faults', 'nope']],
    [['--chaos-rate', '2']],
    [['--chaos-seed', '1', '--chaos-kinds', 'status,meteor']],
    [['--chaos-seed', 'x']],
  ])('emulate %j is a usage error, before anything starts', async (args) => {
    await expect(emulateCommand(args)).rejects.toThrow(UsageError);
  });
});
