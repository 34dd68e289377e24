import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startXrayEmulator, type AuditEvent, type XrayEmulator } from '../../emulators/xray/index.js';

const NOW = Date.parse('2024-02-01T00:00:00Z');

describe('xray emulator: 1,000,000 events', () => {
  let emulator: XrayEmulator;
  let startupMs: number;
  const all = { created_at_start: '2024-01-01T00:00:00Z', created_at_end: '2024-02-01T00:00:00Z' };

  async function page(params: Record<string, string | number | boolean>) {
    const url = new URL('/xray/api/v1/curation/audit/packages', emulator.baseUrl);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
    const response = await fetch(url, { headers: { authorization: `Bearer ${emulator.admin.accessToken}` } });
    expect(response.status).toBe(200);
    return (await response.json()) as { data: AuditEvent[]; meta: Record<string, number> };
  }

  beforeAll(async () => {
    const started = performance.now();
    emulator = await startXrayEmulator({ events: 1_000_000, datasetEnd: '2024-02-01T00:00:00Z', now: () => NOW });
    startupMs = performance.now() - started;
  });
  afterAll(() => emulator.close());

  it('starts without generating the dataset', () => {
    // Behaviour check: nothing is materialised, so start-up is far below a full generation pass.
    expect(startupMs).toBeLessThan(5_000);
    expect(emulator.countEvents({ start: all.created_at_start, end: all.created_at_end })).toBe(1_000_000);
  });

  it('serves a 2000-event page from the middle, asc and desc, by index arithmetic', async () => {
    const asc = await page({ ...all, direction: 'asc', num_of_rows: 2000, offset: 500_000, include_total: true });
    expect(asc.meta.total_count).toBe(1_000_000);
    expect(asc.meta.next_offset).toBe(502_000);
    expect(asc.data.map((event) => event.id)).toEqual(Array.from({ length: 2000 }, (_, k) => 500_001 + k));
    const desc = await page({ ...all, direction: 'desc', num_of_rows: 2000, offset: 500_000 });
    expect(desc.data.map((event) => event.id)).toEqual(Array.from({ length: 2000 }, (_, k) => 500_000 - k));
  });

  it('finds a narrow window in the middle by binary search, created_at order included', async () => {
    const window = { start: '2024-01-16T12:00:00Z', end: '2024-01-16T13:00:00Z' };
    const expected = emulator.eventIds(window);
    expect(expected.length).toBeGreaterThan(1000);
    const first = await page({ created_at_start: window.start, created_at_end: window.end, direction: 'asc', num_of_rows: 2000, order_by: 'created_at' });
    expect(first.data.map((event) => event.id)).toEqual(expected.slice(0, 2000));
    expect(first.data[0]!.created_at >= '2024-01-16T12:00:00Z').toBe(true);
  });

  it('takes a late event into a window of a million', async () => {
    const [late] = emulator.addEvents(1, { createdAt: '2024-01-16T12:30:00Z' });
    const last = await page({ ...all, direction: 'asc', num_of_rows: 5, offset: 999_998, include_total: true });
    expect(last.meta.total_count).toBe(1_000_001);
    expect(last.data.map((event) => event.id)).toEqual([999_999, 1_000_000, late]);
    expect(last.meta.next_offset).toBeNull();
  });
});
