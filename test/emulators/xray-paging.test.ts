import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startXrayEmulator, type AuditEvent, type XrayEmulator } from '../../emulators/xray/index.js';

const DATASET_END = '2024-02-01T00:00:00Z';
const NOW = Date.parse(DATASET_END);

type Params = Record<string, string | number | boolean>;

async function page(emulator: XrayEmulator, params: Params) {
  const url = new URL('/xray/api/v1/curation/audit/packages', emulator.baseUrl);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
  const response = await fetch(url, { headers: { authorization: `Bearer ${emulator.admin.accessToken}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as { data: AuditEvent[]; meta: Record<string, unknown> };
}

/** Follows next_offset until it is falsy, like the vendor's example client. */
async function collect(emulator: XrayEmulator, params: Params, beforeNextPage?: () => void): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let offset = 0;
  for (;;) {
    const { data, meta } = await page(emulator, { ...params, offset });
    events.push(...data);
    expect(meta.result_count).toBe(data.length);
    if (!meta.next_offset) return events;
    beforeNextPage?.();
    expect(meta.next_offset).toBe(offset + data.length);
    offset = meta.next_offset as number;
  }
}

const ids = (events: AuditEvent[]) => events.map((event) => event.id);

describe('xray emulator: windows, paging and ordering', () => {
  let emulator: XrayEmulator;
  const window = { created_at_start: '2024-01-10T00:00:00.000Z', created_at_end: '2024-01-20T00:00:00.000Z' };
  const truthQuery = { start: window.created_at_start, end: window.created_at_end };

  beforeAll(async () => {
    emulator = await startXrayEmulator({ events: 20_000, seed: 7, datasetEnd: DATASET_END, now: () => NOW });
  });
  afterAll(() => emulator.close());

  it('pages asc by id with 2000 rows through a window: exactly the ground truth, no gaps or duplicates', async () => {
    const expected = emulator.eventIds(truthQuery);
    expect(expected.length).toBeGreaterThan(4000);
    const events = await collect(emulator, { ...window, order_by: 'id', direction: 'asc', num_of_rows: 2000 });
    expect(ids(events)).toEqual(expected);
    for (const event of events) {
      expect(event.created_at >= '2024-01-10T00:00:00Z' && event.created_at < '2024-01-20T00:00:00Z').toBe(true);
    }
  });

  it('pages desc: the same ids in reverse', async () => {
    const events = await collect(emulator, { ...window, direction: 'desc', num_of_rows: 2000 });
    expect(ids(events)).toEqual(emulator.eventIds(truthQuery).reverse());
  });

  it('sends next_offset null on the last page by default (the key present, as the vendor example reads it), and only then', async () => {
    const total = emulator.countEvents(truthQuery);
    const last = await page(emulator, { ...window, num_of_rows: 2000, offset: total - 5 });
    expect(last.meta.result_count).toBe(5);
    expect('next_offset' in last.meta).toBe(true);
    expect(last.meta.next_offset).toBeNull();
    const beyond = await page(emulator, { ...window, num_of_rows: 10, offset: total + 100 });
    expect(beyond.data).toEqual([]);
    expect('next_offset' in beyond.meta).toBe(true);
    expect(beyond.meta.next_offset).toBeFalsy();
  });

  it('omits next_offset on the last page when asked to (lastPageNextOffset omit, for tolerance tests)', async () => {
    const other = await startXrayEmulator({ events: 100, datasetEnd: DATASET_END, now: () => NOW, lastPageNextOffset: 'omit' });
    try {
      const last = await page(other, { num_of_rows: 2000, created_at_start: '2024-01-01T00:00:00Z' });
      expect('next_offset' in last.meta).toBe(false);
    } finally {
      await other.close();
    }
  });

  it.each([
    ['null', null],
    ['zero', 0],
  ] as const)('can end with next_offset %s', async (style, marker) => {
    const other = await startXrayEmulator({ events: 100, datasetEnd: DATASET_END, now: () => NOW, lastPageNextOffset: style });
    try {
      const last = await page(other, { num_of_rows: 2000, created_at_start: '2024-01-01T00:00:00Z' });
      expect(last.meta.next_offset).toBe(marker);
    } finally {
      await other.close();
    }
  });

  it('adds total_count only with include_total=true', async () => {
    const withTotal = await page(emulator, { ...window, include_total: true, num_of_rows: 1 });
    expect(withTotal.meta.total_count).toBe(emulator.countEvents(truthQuery));
    expect(Object.keys(withTotal.meta)[0]).toBe('total_count');
    const without = await page(emulator, { ...window, num_of_rows: 1 });
    expect('total_count' in without.meta).toBe(false);
  });

  it('filters half-open: an event exactly at created_at_start is in, exactly at created_at_end is out', async () => {
    const [probe] = (await page(emulator, { ...window, direction: 'asc', num_of_rows: 1, offset: 1234 })).data;
    const at = probe!.created_at;
    const sameSecond = emulator.eventIds({ start: at, end: new Date(Date.parse(at) + 1000).toISOString() });
    expect(sameSecond).toContain(probe!.id);

    const from = await collect(emulator, { created_at_start: at, created_at_end: '2024-01-20T00:00:00Z', direction: 'asc', num_of_rows: 2000 });
    expect(ids(from).slice(0, sameSecond.length)).toEqual(sameSecond);

    const until = await collect(emulator, { created_at_start: '2024-01-10T00:00:00Z', created_at_end: at, direction: 'asc', num_of_rows: 2000 });
    expect(ids(until)).not.toContain(probe!.id);
    expect(ids(until).at(-1)).toBe(sameSecond[0]! - 1);
  });

  it('merges late events (added now with an old created_at) into that old window', async () => {
    const before = emulator.countEvents(truthQuery);
    const lateIds = emulator.addEvents(3, { createdAt: (i) => `2024-01-15T0${i}:00:00Z` });
    expect(lateIds[0]).toBeGreaterThan(20_000);
    expect(emulator.countEvents(truthQuery)).toBe(before + 3);
    expect(emulator.eventIds(truthQuery).slice(-3)).toEqual(lateIds);

    const byId = await collect(emulator, { ...window, direction: 'asc', num_of_rows: 2000 });
    expect(ids(byId).slice(-3)).toEqual(lateIds);

    const byTime = await collect(emulator, { ...window, order_by: 'created_at', direction: 'asc', num_of_rows: 2000 });
    expect([...ids(byTime)].sort((a, b) => a - b)).toEqual(emulator.eventIds(truthQuery));
    const times = byTime.map((event) => event.created_at);
    expect(times).toEqual([...times].sort());
    expect(byTime.find((event) => event.id === lateIds[1])!.created_at).toBe('2024-01-15T01:00:00Z');

    const byTimeDesc = await collect(emulator, { ...window, order_by: 'created_at', direction: 'desc', num_of_rows: 1500 });
    expect(ids(byTimeDesc)).toEqual(ids(byTime).reverse());
  });

  it('keeps offsets stable for order_by=id asc while new events arrive', async () => {
    const live = { created_at_start: '2024-01-25T00:00:00Z', created_at_end: '2024-02-05T00:00:00Z' };
    const events = await collect(emulator, { ...live, direction: 'asc', num_of_rows: 2000 }, () => {
      emulator.addEvents(7); // created_at = now, inside the window
    });
    expect(ids(events)).toEqual(emulator.eventIds({ start: live.created_at_start, end: live.created_at_end }));
  });

  it('orders by another column (materialised), ties by id', async () => {
    const small = { created_at_start: '2024-01-12T00:00:00Z', created_at_end: '2024-01-13T00:00:00Z' };
    const events = await collect(emulator, { ...small, order_by: 'package_name', direction: 'asc', num_of_rows: 100 });
    expect([...ids(events)].sort((a, b) => a - b)).toEqual(emulator.eventIds({ start: small.created_at_start, end: small.created_at_end }));
    for (let k = 1; k < events.length; k++) {
      const [a, b] = [events[k - 1]!, events[k]!];
      expect(a.package_name < b.package_name || (a.package_name === b.package_name && a.id < b.id)).toBe(true);
    }
  });

  it('produces realistic, self-consistent events, as wide as public clients show them', async () => {
    const { data } = await page(emulator, { ...window, num_of_rows: 500 });
    for (const event of data) {
      expect(['approved', 'blocked', 'passed']).toContain(event.action);
      // Blocked events name the policies that blocked them; approved ones may have none (null), passed ones never do.
      if (event.action === 'blocked') expect(event.policies?.length).toBeGreaterThanOrEqual(1);
      if (event.action === 'passed') expect(event.policies).toBeNull();
      expect((event.policies ?? []).length).toBeLessThanOrEqual(3);
      expect((event.policies ?? []).every((policy) => policy.dry_run === false && ['blocked', 'waived', 'bypassed'].includes(policy.result))).toBe(true);
      expect(typeof event.ecosystem).toBe('string');
      expect(typeof event.ondemand).toBe('boolean');
      expect(typeof event.event_origin).toBe('string');
      expect(event.package_url).toContain(event.package_name.split(':').pop()!.split('/').pop()!.toLowerCase());
      expect(event.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      if (event.action === 'blocked') expect(event.reason).toBe('Policy violations');
    }
    expect(new Set(data.map((event) => event.package_type)).size).toBeGreaterThanOrEqual(5);
    expect(new Set(data.map((event) => event.action))).toEqual(new Set(['approved', 'blocked', 'passed']));
    expect(data.some((event) => event.action === 'approved' && event.policies === null)).toBe(true);
    expect(data.some((event) => event.action === 'approved' && event.policies !== null)).toBe(true);
  });
});
