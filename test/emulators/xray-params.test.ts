import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startXrayEmulator, type XrayEmulator } from '../../emulators/xray/index.js';

const NOW = Date.parse('2024-03-10T12:34:56.789Z');

describe('xray emulator: query parameters', () => {
  let emulator: XrayEmulator;

  async function call(query: string) {
    const response = await fetch(`${emulator.baseUrl}/xray/api/v1/curation/audit/packages?${query}`, {
      headers: { authorization: `Bearer ${emulator.admin.accessToken}` },
    });
    const json = response.headers.get('content-type') === 'application/json';
    return { status: response.status, body: json ? ((await response.json()) as any) : await response.arrayBuffer() };
  }

  beforeAll(async () => {
    emulator = await startXrayEmulator({ events: 2000, datasetEnd: '2024-03-10T00:00:00Z', now: () => NOW });
  });
  afterAll(() => emulator.close());

  it('applies the documented defaults', async () => {
    const { status, body } = await call('');
    expect(status).toBe(200);
    expect(body.meta).toEqual({
      result_count: 100,
      next_offset: 100,
      order_by: 'id',
      direction: 'desc',
      num_of_rows: 100,
      offset: 0,
      include_total: false,
      include_explanation_and_recommendation: false,
      created_at_start: new Date(NOW - 7 * 24 * 3600 * 1000).toISOString(),
      created_at_end: new Date(NOW).toISOString(),
    });
    expect(Object.keys(body)).toEqual(['data', 'meta']);
    const ids = body.data.map((event: { id: number }) => event.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  });

  it.each([
    ['num_of_rows=0', 'num_of_rows'],
    ['num_of_rows=2001', 'num_of_rows'],
    ['num_of_rows=1.5', 'num_of_rows'],
    ['num_of_rows=-1', 'num_of_rows'],
    ['num_of_rows=ten', 'num_of_rows'],
    ['num_of_rows=', 'num_of_rows'],
    ['created_at_start=yesterday', 'created_at_start'],
    ['created_at_start=2024-03-01', 'created_at_start'],
    ['created_at_start=2024-13-01T00:00:00Z', 'created_at_start'],
    ['created_at_start=2024-02-30T00:00:00Z', 'created_at_start'],
    ['created_at_start=2024-03-01T00:00:00', 'created_at_start'],
    ['created_at_start=2024-03-01T00:00:00+01:00', 'created_at_start'], // '+' not URL-encoded arrives as a space
    ['created_at_end=2024-03-01T25:00:00Z', 'created_at_end'],
    ['created_at_start=2024-03-05T00:00:00Z&created_at_end=2024-03-05T00:00:00Z', 'created_at_start'],
    ['created_at_start=2024-03-06T00:00:00Z&created_at_end=2024-03-05T00:00:00Z', 'created_at_start'],
    ['created_at_start=2024-03-11T00:00:00Z', 'created_at_start'], // after the default end (now)
    ['direction=up', 'direction'],
    ['direction=ASC', 'direction'],
    ['order_by=colour', 'order_by'],
    ['order_by=policies', 'order_by'],
    ['offset=-1', 'offset'],
    ['offset=2.5', 'offset'],
    ['offset=x', 'offset'],
    ['include_total=yes', 'include_total'],
    ['dry_run=1', 'dry_run'],
    ['format=xml', 'format'],
    ['include_total=true&format=csv', 'include_total'],
    ['num_of_rows=5&num_of_rows=6', 'num_of_rows'],
  ])('400 for %s, naming %s', async (query, parameter) => {
    const { status, body } = await call(query);
    expect(status).toBe(400);
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].status).toBe(400);
    expect(body.errors[0].message).toContain(parameter);
  });

  it('lists the allowed values in the message', async () => {
    expect((await call('direction=up')).body.errors[0].message).toContain('asc, desc');
    expect((await call('order_by=x')).body.errors[0].message).toContain('package_name');
    expect((await call('num_of_rows=0')).body.errors[0].message).toContain('1 to 2000');
  });

  it.each([
    ['2024-03-05T22:00:00.000Z', '2024-03-05T22:00:00Z'],
    ['2024-03-05T22:00:00Z', '2024-03-05T22:00:00Z'],
    ['2024-03-05T22:00:00.5Z', '2024-03-05T22:00:00.500Z'],
    ['2024-03-06T00:00:00%2B02:00', '2024-03-05T22:00:00Z'],
    ['2024-03-05T19:30:00-02:30', '2024-03-05T22:00:00Z'],
  ])('accepts the date-time %s', async (text, expected) => {
    const { status, body } = await call(`created_at_start=${text}&num_of_rows=1`);
    expect(status).toBe(200);
    expect(body.meta.created_at_start).toBe(expected);
  });

  it('accepts every boundary value', async () => {
    for (const query of ['num_of_rows=1', 'num_of_rows=2000', 'offset=0', 'offset=999999', 'direction=asc',
      'include_total=false', 'dry_run=false', 'dry_run=true', 'format=json', 'format=csv', 'order_by=created_at',
      'order_by=username', 'unknown_parameter=ignored']) {
      expect((await call(query)).status, query).toBe(200);
    }
  });
});
