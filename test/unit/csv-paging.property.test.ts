import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { csvNextOffset } from '../../functions/xray/csv-page.js';

/**
 * CSV paging without meta: following csvNextOffset from offset 0 reads every row exactly once, whatever the
 * platform counts (events or rows) with dry_run=true, whatever the ids (shared by several events or not) and
 * however many rows each event has; with dry_run=false, under the documented reading (events, distinct ids).
 */

interface Event {
  id: number;
  rows: string[];
}

/** Events in id order; with `shareIds`, runs of consecutive events share one id (dry-run events of one request). */
const eventsArbitrary = (shareIds: boolean) =>
  fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.boolean()), { maxLength: 120 }).map((shapes) => {
    let id = 0;
    return shapes.map(([rows, sameIdAsBefore], index): Event => {
      if (!(shareIds && sameIdAsBefore && index > 0)) id++;
      return { id, rows: Array.from({ length: rows }, (_, k) => `${id},event ${index},policy ${k}`) };
    });
  });

/** One page as a platform that counts `unit` would answer it. */
function page(events: Event[], unit: 'events' | 'rows', offset: number, pageSize: number): Event[] {
  if (unit === 'events') return events.slice(offset, offset + pageSize);
  const rows = events.flatMap((event) => event.rows.map((row) => ({ id: event.id, row })));
  return rows.slice(offset, offset + pageSize).map(({ id, row }) => ({ id, rows: [row] }));
}

function readAll(events: Event[], unit: 'events' | 'rows', pageSize: number, dryRun: boolean): { rows: string[]; requests: number } {
  const rows: string[] = [];
  let offset = 0;
  for (let requests = 1; ; requests++) {
    const answer = page(events, unit, offset, pageSize);
    const pageRows = answer.flatMap((event) => event.rows);
    const ids = answer.map((event) => event.id).filter((id, k, all) => k === 0 || all[k - 1] !== id);
    rows.push(...pageRows);
    const next = csvNextOffset({ offset, pageSize, events: ids.length, rows: pageRows.length, dryRun });
    if (next === undefined) return { rows, requests };
    expect(next).toBeGreaterThan(offset);
    if (requests > 10_000) throw new Error('no end');
    offset = next;
  }
}

describe('csvNextOffset', () => {
  it('dry_run=true: every row exactly once, whether the platform counts events or rows, ids shared or not', () => {
    fc.assert(
      fc.property(eventsArbitrary(true), fc.integer({ min: 1, max: 9 }), fc.constantFrom('events' as const, 'rows' as const), (events, pageSize, unit) => {
        const all = events.flatMap((event) => event.rows);
        expect(readAll(events, unit, pageSize, true).rows).toEqual(all);
      }),
      { numRuns: 500 },
    );
  });

  it('dry_run=false: the documented reading (events, distinct ids) reads every row once, stopping at the first short page', () => {
    fc.assert(
      fc.property(eventsArbitrary(false), fc.integer({ min: 1, max: 9 }), (events, pageSize) => {
        const { rows, requests } = readAll(events, 'events', pageSize, false);
        expect(rows).toEqual(events.flatMap((event) => event.rows));
        expect(requests).toBe(Math.floor(events.length / pageSize) + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('the old rule (distinct ids decide a full page) loses rows when dry-run events share ids', () => {
    const events: Event[] = [1, 1, 2, 2, 3, 3].map((id, k) => ({ id, rows: [`${id},${k}`] }));
    const firstPage = page(events, 'events', 0, 4);
    const distinct = new Set(firstPage.map((event) => event.id)).size;
    // 4 events asked, 4 returned, but only 2 distinct ids: the page looked short, and events 5 and 6 were never read.
    expect(distinct).toBeLessThan(4);
    expect(csvNextOffset({ offset: 0, pageSize: 4, events: distinct, rows: 4, dryRun: true })).toBe(4);
  });
});
