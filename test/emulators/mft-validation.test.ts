import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMftEmulator, type MftEmulator } from '../../emulators/mft/index.js';
import { fetchAccessToken } from '../../emulators/mft/testing.js';
import { parseIsoTimestamp, ReportValidationError, validateCreateReport } from '../../emulators/mft/validation.js';

const VALID = { type: 1, start: '2026-06-26T00:00:00Z', end: '2026-06-26T01:00:00Z' };

interface ValidationErrorBody {
  error: string;
  message: string;
  details: { field: string; message: string }[];
}

describe('MFT emulator: create-report validation over HTTP', () => {
  let emulator: MftEmulator;
  let token: string;
  beforeAll(async () => {
    emulator = await startMftEmulator({ reportReadyAfterMs: 10 });
    token = await fetchAccessToken(emulator);
  });
  afterAll(() => emulator.close());

  async function post(body: string): Promise<Response> {
    return fetch(`${emulator.baseUrl}/v1/reports/audit-logs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body,
    });
  }

  const badBodies: [string, unknown, string, RegExp][] = [
    ['start after end', { ...VALID, start: '2026-06-26T02:00:00Z' }, 'start', /earlier than end/],
    ['start equal to end', { ...VALID, end: VALID.start }, 'start', /earlier than end/],
    ['a timestamp without zone', { ...VALID, start: '2026-06-26T00:00:00' }, 'start', /ISO-8601/],
    ['an impossible date', { ...VALID, end: '2026-02-30T00:00:00Z' }, 'end', /ISO-8601/],
    ['a non-ISO timestamp', { ...VALID, end: 'June 26, 2026' }, 'end', /ISO-8601/],
    ['a missing end', { type: 1, start: VALID.start }, 'end', /required/],
    ['a missing type', { start: VALID.start, end: VALID.end }, 'type', /required/],
    ['an unknown type', { ...VALID, type: 2 }, 'type', /unknown report type/],
    ['an unknown type name', { ...VALID, type: 'xml' }, 'type', /unknown report type/],
    ['an actor of 321 characters', { ...VALID, actor: 'a'.repeat(321) }, 'actor', /320/],
    ['an unknown actorType', { ...VALID, actorType: 'Robot' }, 'actorType', /unknown actor type/],
    ['an unknown action', { ...VALID, actions: ['Get', 'Patch'] }, 'actions[1]', /unknown action/],
    ['an action index out of range', { ...VALID, actions: [4] }, 'actions[0]', /unknown action/],
    ['an unknown resource', { ...VALID, resources: ['Bucket'] }, 'resources[0]', /unknown resource/],
    ['an unknown outcome', { ...VALID, outcomes: ['Maybe'] }, 'outcomes[0]', /unknown outcome/],
    ['actions not an array', { ...VALID, actions: 'Get' }, 'actions', /array/],
    ['a bad IP address', { ...VALID, sourceIp: '300.1.2.3' }, 'sourceIp', /IPv4 or IPv6/],
    ['an IP with a zone id', { ...VALID, sourceIp: 'fe80::1%eth0' }, 'sourceIp', /IPv4 or IPv6/],
    ['a JSON array body', [VALID], 'body', /JSON object/],
  ];

  for (const [name, body, field, message] of badBodies) {
    it(`rejects ${name} with 400 naming ${field}`, async () => {
      const response = await post(JSON.stringify(body));
      expect(response.status).toBe(400);
      const error = (await response.json()) as ValidationErrorBody;
      expect(error.error).toBe('ValidationError');
      const detail = error.details.find((problem) => problem.field === field);
      expect(detail, JSON.stringify(error.details)).toBeDefined();
      expect(detail!.message).toMatch(message);
      expect(error.message).toContain(field);
    });
  }

  it('rejects a body that is not JSON', async () => {
    const response = await post('{"type": 1, "start": ');
    expect(response.status).toBe(400);
    expect(((await response.json()) as ValidationErrorBody).details).toEqual([{ field: 'body', message: 'must be a JSON object' }]);
  });

  it('tolerates unknown fields and nulls, and echoes the normalized query', async () => {
    const response = await post(JSON.stringify({ ...VALID, start: '2026-06-26T02:00:00+02:00', actor: null, sourceIp: '2001:0DB8:0:0::1', futureField: true, actions: null }));
    expect(response.status).toBe(201);
    const report = (await response.json()) as Record<string, unknown>;
    expect(report).toMatchObject({ start: '2026-06-26T00:00:00.000Z', actor: null, actorType: 'All', actions: [], sourceIp: '2001:db8::1' });
    expect(report).not.toHaveProperty('futureField');
  });
});

describe('MFT emulator: normalization', () => {
  it('treats enum names in any case and indexes alike', () => {
    const byName = validateCreateReport({ ...VALID, type: 'CSV', actorType: 'apikey', actions: ['delete', 'Get', 'GET'], resources: ['System', 'task'], outcomes: ['error'] });
    const byIndex = validateCreateReport({ ...VALID, type: 1, actorType: 2, actions: [3, 0], resources: [18, 0], outcomes: [1] });
    expect(validateCreateReport({ ...VALID, type: '1', actorType: '2', actions: ['3', 0], resources: [18, '0'], outcomes: ['1'] })).toEqual(byIndex);
    expect(byName).toEqual(byIndex);
    expect(byIndex).toMatchObject({ actions: ['Get', 'Delete'], resources: ['Task', 'System'], outcomes: ['Error'] });
  });

  it('parses ISO-8601 with a zone only, rounding sub-milliseconds up', () => {
    expect(parseIsoTimestamp('2026-06-26T00:00:00Z')).toBe(Date.UTC(2026, 5, 26));
    expect(parseIsoTimestamp('2026-06-26T00:00Z')).toBe(Date.UTC(2026, 5, 26));
    expect(parseIsoTimestamp('2026-06-26T05:30:00+05:30')).toBe(Date.UTC(2026, 5, 26));
    expect(parseIsoTimestamp('2026-06-26T00:00:00.1234Z')).toBe(Date.UTC(2026, 5, 26) + 124);
    expect(parseIsoTimestamp('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
    for (const bad of ['2026-06-26', '2026-06-26T00:00:00', '2025-02-29T00:00:00Z', '2026-06-26T24:00:00Z', '2026-13-01T00:00:00Z', ' 2026-06-26T00:00:00Z']) {
      expect(parseIsoTimestamp(bad), bad).toBeUndefined();
    }
  });

  it('throws a typed error listing every problem', () => {
    try {
      validateCreateReport({ type: 9, start: 'x', end: 'y' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ReportValidationError);
      expect((error as ReportValidationError).details.map((problem) => problem.field)).toEqual(['type', 'start', 'end']);
    }
  });
});
