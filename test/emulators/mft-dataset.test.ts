import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditTimeline, TIMELINE_ORIGIN_MS } from '../../emulators/mft/index.js';
import { validateCreateReport } from '../../emulators/mft/validation.js';
import { normalizeIp } from '../../emulators/mft/ip.js';

describe('MFT emulator: synthetic timeline', () => {
  it('places event i at ORIGIN + floor(i * 1h / eventsPerHour)', () => {
    const timeline = new AuditTimeline(1, 600);
    expect(timeline.timeOf(0)).toBe(TIMELINE_ORIGIN_MS);
    expect(timeline.timeOf(1)).toBe(TIMELINE_ORIGIN_MS + 6000);
    expect(new AuditTimeline(1, 7).timeOf(1)).toBe(TIMELINE_ORIGIN_MS + Math.floor(3_600_000 / 7));
    // Exact far beyond where i * 3.6e6 loses precision.
    const dense = new AuditTimeline(1, 3_600_000);
    expect(dense.timeOf(5e12)).toBe(TIMELINE_ORIGIN_MS + 5e12);
  });

  it('finds the first index of a window arithmetically, for any rate and instant', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 5_000_000 }), fc.double({ min: 0.01, max: 100_000, noNaN: true })),
        fc.integer({ min: TIMELINE_ORIGIN_MS - 1000, max: TIMELINE_ORIGIN_MS + 20 * 365 * 86_400_000 }),
        (eventsPerHour, ms) => {
          const timeline = new AuditTimeline(1, eventsPerHour);
          const first = timeline.firstIndexAtOrAfter(ms);
          expect(timeline.timeOf(first)).toBeGreaterThanOrEqual(ms);
          if (first > 0) expect(timeline.timeOf(first - 1)).toBeLessThan(ms);
        },
      ),
    );
  });

  it('is deterministic per seed and differs across seeds', () => {
    const a = new AuditTimeline(7, 600);
    const b = new AuditTimeline(7, 600);
    const c = new AuditTimeline(8, 600);
    for (const index of [0, 1, 12345, 9_876_543]) expect(a.event(index)).toEqual(b.event(index));
    expect(a.event(42)).not.toEqual(c.event(42));
  });

  it('generates plausible, unique events', () => {
    const timeline = new AuditTimeline(1, 600);
    const events = Array.from({ length: 20_000 }, (_, index) => timeline.event(1_000_000 + index));
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
    for (const event of events.slice(0, 2000)) {
      expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(normalizeIp(event.sourceIp)).toBe(event.sourceIp);
      if (event.actorType === 'User') expect(event.actor).toMatch(/^[a-z.]+@[a-z-]+\.[a-z]+$/);
    }
    const share = (predicate: (event: (typeof events)[number]) => boolean): number => events.filter(predicate).length / events.length;
    expect(share((event) => event.action === 'Get')).toBeGreaterThan(0.4);
    expect(share((event) => event.outcome === 'Success')).toBeGreaterThan(0.85);
    expect(share((event) => event.actorType === 'ApiKey')).toBeGreaterThan(0.05);
    expect(share((event) => event.sourceIp.includes(':'))).toBeGreaterThan(0.1);
    expect(new Set(events.map((event) => event.resource)).size).toBe(19);
  });

  it('yields exactly the half-open window [start, end)', () => {
    const timeline = new AuditTimeline(3, 600);
    const query = validateCreateReport({ type: 0, start: '2026-06-26T00:00:06Z', end: '2026-06-26T00:01:00Z' });
    const events = [...timeline.eventsFor(query)];
    expect(events[0]!.timestamp).toBe('2026-06-26T00:00:06.000Z');
    expect(events.at(-1)!.timestamp).toBe('2026-06-26T00:00:54.000Z');
    expect(events).toHaveLength(9);
  });
});
