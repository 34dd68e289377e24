import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startXrayEmulator, type XrayEmulator, type XrayEmulatorOptions } from '../../emulators/xray/index.js';
import { pythonIndex, pythonTruthy, raiseForStatus } from '../support/python-semantics.js';

/**
 * The vendor's Python example of the Xray audit API (specs/seeds, "Get Approved/Blocked Audit Logs API") works
 * unchanged against the emulator: each assumption it makes about the wire, in TypeScript, read the way Python
 * reads it (a missing key is a KeyError, not undefined).
 *
 * What the example does: Basic auth; for 30 days back from now in steps of 7 days, pages with include_total
 * 'false', order_by id, direction asc, num_of_rows 1000, created_at_start = `datetime.isoformat()` (an offset
 * `+00:00`, no created_at_end: the window runs to now) and offset; reads `output['meta']['next_offset']`, stops
 * when it is falsy, else adds `output['meta']['result_count']`.
 */

const NOW = Date.parse('2026-11-01T12:00:00Z');
const DAY = 86_400_000;

/** `datetime.isoformat()` of a whole-second UTC datetime: `2026-10-02T12:00:00+00:00`. */
function pythonIsoformat(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', '+00:00');
}

/** `requests` encodes params with urlencode: `+` and `:` are escaped. */
function pythonParams(params: Record<string, string | number>): string {
  return Object.entries(params)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
    .join('&');
}

interface ExamplePage {
  ids: number[];
  nextOffset: unknown;
  resultCount: unknown;
}

async function examplePage(xray: XrayEmulator, createdAtStart: number, offset: number): Promise<ExamplePage> {
  const query = pythonParams({ include_total: 'false', order_by: 'id', direction: 'asc', num_of_rows: 1000, created_at_start: pythonIsoformat(createdAtStart), offset });
  const basic = Buffer.from(`${xray.admin.username}:${xray.admin.password}`).toString('base64');
  const response = await fetch(`${xray.baseUrl}/xray/api/v1/curation/audit/packages?${query}`, { headers: { authorization: `Basic ${basic}` } });
  raiseForStatus(response);
  const output = (await response.json()) as { data: { id: number }[] };
  const meta = pythonIndex(output, 'meta');
  return { ids: output.data.map((event) => event.id), nextOffset: pythonIndex(meta, 'next_offset'), resultCount: pythonIndex(meta, 'result_count') };
}

/** The example's loops, keeping what each window returned. */
async function runExample(xray: XrayEmulator): Promise<{ windows: { start: number; ids: number[]; pages: ExamplePage[] }[]; eventsFetched: number }> {
  const start = NOW;
  let current = start - 30 * DAY;
  let eventsFetched = 0;
  const windows = [];
  while (current < start) {
    let offset = 0;
    const pages: ExamplePage[] = [];
    for (;;) {
      const page = await examplePage(xray, current, offset);
      pages.push(page);
      if (!pythonTruthy(page.nextOffset)) break;
      offset = page.nextOffset as number;
      eventsFetched += page.resultCount as number;
    }
    windows.push({ start: current, ids: pages.flatMap((page) => page.ids), pages });
    current += 7 * DAY;
  }
  return { windows, eventsFetched };
}

describe('the Xray example against the emulator (its defaults)', () => {
  let xray: XrayEmulator;
  beforeAll(async () => {
    xray = await startXrayEmulator({ events: 12_000, datasetEnd: '2026-11-01T12:00:00Z', now: () => NOW });
  });
  afterAll(() => xray.close());

  it('runs to its end: every page has meta.next_offset and meta.result_count, and each window is every event from its start to now', async () => {
    const { windows, eventsFetched } = await runExample(xray);
    expect(windows).toHaveLength(5);
    for (const window of windows) {
      // The window runs to now: created_at_end defaults to the request's now.
      expect(window.ids).toEqual(xray.eventIds({ start: new Date(window.start).toISOString(), end: new Date(NOW).toISOString() }));
      const last = window.pages.at(-1)!;
      expect(pythonTruthy(last.nextOffset)).toBe(false);
      expect(last.nextOffset).toBeNull();
      for (const page of window.pages.slice(0, -1)) expect(page.nextOffset).toBe((page.resultCount as number) + window.pages.indexOf(page) * 1000);
      for (const page of window.pages) expect(page.resultCount).toBe(page.ids.length);
    }
    // The first window asks for 30 days in one request: no range cap by default.
    expect(windows[0]!.ids.length).toBeGreaterThan(11_000);
    // What the example counts (it leaves out each window's last page): the sum of the full pages.
    expect(eventsFetched).toBe(windows.reduce((sum, window) => sum + window.pages.slice(0, -1).reduce((pages, page) => pages + page.ids.length, 0), 0));
  });

  it('accepts its created_at_start with a +00:00 offset (encoded %2B by requests) and include_total as the string false', async () => {
    const page = await examplePage(xray, NOW - DAY, 0);
    const logged = xray.requestLog.at(-1)!;
    expect(logged.status).toBe(200);
    expect(logged.query).toContain(`created_at_start=${encodeURIComponent(pythonIsoformat(NOW - DAY))}`);
    expect(logged.query).toContain('%2B00%3A00');
    expect(logged.authorization).toBe('basic');
    expect(page.ids.length).toBeGreaterThan(0);
  });
});

describe('the options beyond the example (for the exporter\'s tolerance tests)', () => {
  it.each([
    ['next_offset left out of the last page', { lastPageNextOffset: 'omit' }, /KeyError: 'next_offset'/],
    ['next_offset 0 on the last page', { lastPageNextOffset: 'zero' }, undefined],
    ['a 168-hour range cap', { maxWindowHours: 168 }, /400 Error/],
  ] as [string, XrayEmulatorOptions, RegExp | undefined][])('%s', async (_name, options, error) => {
    const xray = await startXrayEmulator({ events: 2_000, datasetEnd: '2026-11-01T12:00:00Z', now: () => NOW, ...options });
    try {
      const run = runExample(xray);
      if (error) await expect(run).rejects.toThrow(error);
      else await expect(run).resolves.toBeDefined();
    } finally {
      await xray.close();
    }
  });
});
