import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startXrayEmulator, type AuditEvent, type XrayEmulator } from '../../emulators/xray/index.js';

const NOW = Date.parse('2024-02-01T00:00:00Z');

describe('xray emulator: dry_run=true (the Dry Run tab)', () => {
  let emulator: XrayEmulator;
  const window = { start: '2024-01-05T00:00:00Z', end: '2024-01-25T00:00:00Z' };

  async function collect(dryRun: boolean, direction = 'asc'): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    let offset = 0;
    for (;;) {
      const url = new URL('/xray/api/v1/curation/audit/packages', emulator.baseUrl);
      url.search = new URLSearchParams({
        created_at_start: window.start, created_at_end: window.end, dry_run: String(dryRun),
        direction, num_of_rows: '2000', offset: String(offset), include_total: 'true',
      }).toString();
      const response = await fetch(url, { headers: { authorization: `Bearer ${emulator.admin.accessToken}` } });
      const body = (await response.json()) as { data: AuditEvent[]; meta: { next_offset?: number; total_count: number } };
      expect(body.meta.total_count).toBe(emulator.countEvents({ ...window, dryRun }));
      events.push(...body.data);
      if (!body.meta.next_offset) return events;
      offset = body.meta.next_offset;
    }
  }

  beforeAll(async () => {
    emulator = await startXrayEmulator({ events: 30_000, seed: 3, datasetEnd: '2024-02-01T00:00:00Z', now: () => NOW });
  });
  afterAll(() => emulator.close());

  it('serves a separate stream whose ground truth is eventIds({dryRun:true})', async () => {
    const events = await collect(true);
    const expected = emulator.eventIds({ ...window, dryRun: true });
    expect(events.length).toBeGreaterThan(1000);
    expect(events.map((event) => event.id)).toEqual(expected);
    expect(emulator.countEvents({ ...window, dryRun: true })).toBeLessThan(emulator.countEvents(window));
  });

  it('has one event per dry-run policy, each carrying just that policy', async () => {
    const events = await collect(true);
    for (const event of events) {
      expect(event.policies).toHaveLength(1);
      expect(event.policies![0]!.dry_run).toBe(true);
    }
    // Some requests matched two dry-run policies: consecutive events for one package at one instant.
    const twins = events.filter((event, k) => {
      const next = events[k + 1];
      return next && next.created_at === event.created_at && next.package_url === event.package_url
        && next.policies![0]!.policy_id !== event.policies![0]!.policy_id;
    });
    expect(twins.length).toBeGreaterThan(50);
  });

  it('keeps dry-run policies out of real events', async () => {
    const events = await collect(false, 'desc');
    expect(events.every((event) => (event.policies ?? []).every((policy) => !policy.dry_run))).toBe(true);
  });

  it('adds dry-run events for added events that carry dry-run policies', async () => {
    const before = emulator.countEvents({ ...window, dryRun: true });
    const ids = emulator.addEvents(10, { createdAt: '2024-01-10T10:00:00Z', dryRunPolicies: true });
    const after = emulator.countEvents({ ...window, dryRun: true });
    expect(after - before).toBeGreaterThanOrEqual(10);
    expect(after - before).toBeLessThanOrEqual(20);
    const events = await collect(true);
    expect(events.map((event) => event.id)).toEqual(emulator.eventIds({ ...window, dryRun: true }));
    expect(events.filter((event) => event.created_at === '2024-01-10T10:00:00Z').length).toBeGreaterThanOrEqual(10);
    expect(emulator.eventIds(window).slice(-10)).toEqual(ids);
  });
});
