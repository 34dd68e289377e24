import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startXrayEmulator, type AuditEvent, type InjectedFault, type XrayEmulator } from '../../emulators/xray/index.js';
import { readPartial } from '../support/read-partial.js';

const PATH = '/xray/api/v1/curation/audit/packages';
const DATASET_END = '2024-02-01T00:00:00Z';
const NOW = Date.parse(DATASET_END);
const WINDOW = { created_at_start: '2024-01-01T00:00:00.000Z', created_at_end: '2024-02-01T00:00:00.000Z', order_by: 'id', direction: 'asc' };

const withoutTimes = (log: InjectedFault[]) => log.map(({ at: _at, ...rest }) => rest);

describe('xray emulator: fault injection', () => {
  let xray: XrayEmulator;

  function page(params: Record<string, string | number> = {}, init: RequestInit = {}, emulator = xray): Promise<Response> {
    const url = new URL(PATH, emulator.baseUrl);
    for (const [key, value] of Object.entries({ ...WINDOW, num_of_rows: 100, ...params })) url.searchParams.set(key, String(value));
    return fetch(url, { ...init, headers: { authorization: `Bearer ${emulator.admin.accessToken}` } });
  }

  beforeAll(async () => {
    xray = await startXrayEmulator({ events: 5000, seed: 3, datasetEnd: DATASET_END, now: () => NOW });
  });
  afterEach(() => xray.faults.clear());
  afterAll(() => xray.close());

  it('answers 429 with Retry-After and a JFrog-style error body, then recovers', async () => {
    xray.faults.add({ fault: { kind: 'status', status: 429, retryAfterSeconds: 2 }, times: 1 });
    const limited = await page();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(await limited.json()).toEqual({ errors: [{ status: 429, message: 'Too Many Requests' }] });
    expect((await page()).status).toBe(200);
    expect(xray.requestLog.at(-2)).toMatchObject({ status: 429, fault: 'status' });
    expect(xray.requestLog.at(-1)!.fault).toBeUndefined();
  });

  it('serves a burst of 500/502/503 HTML gateway pages', async () => {
    for (const status of [500, 502, 503] as const) xray.faults.add({ fault: { kind: 'status', status, body: 'html' }, times: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await page();
      statuses.push(response.status);
      if (response.status !== 200) {
        expect(response.headers.get('content-type')).toBe('text/html');
        expect(await response.text()).toContain('<html>');
      } else await response.arrayBuffer();
    }
    expect(statuses).toEqual([500, 502, 503, 200]);
  });

  it('faults come before authentication, like a gateway in front of the service', async () => {
    xray.faults.add({ fault: { kind: 'status', status: 503 }, times: 1 });
    expect((await fetch(`${xray.baseUrl}${PATH}`)).status).toBe(503);
    expect((await fetch(`${xray.baseUrl}${PATH}`)).status).toBe(401);
  });

  it('resets the connection: fetch rejects; the request log says status 0', async () => {
    xray.faults.add({ fault: { kind: 'reset' }, times: 1 });
    await expect(page()).rejects.toThrow();
    expect(xray.requestLog.at(-1)).toMatchObject({ status: 0, fault: 'reset' });
    expect((await page()).status).toBe(200);
  });

  it('delays past the client timeout, and hangs', async () => {
    xray.faults.add({ fault: { kind: 'delay', ms: 2000 }, times: 1 });
    xray.faults.add({ fault: { kind: 'hang' }, times: 1 });
    await expect(page({}, { signal: AbortSignal.timeout(200) })).rejects.toThrow(/timeout|aborted/i);
    await expect(page({}, { signal: AbortSignal.timeout(200) })).rejects.toThrow(/timeout|aborted/i);
    expect((await page({}, { signal: AbortSignal.timeout(1000) })).status).toBe(200);
  });

  it('truncates a JSON page: Content-Length announces the whole page, the body ends early', async () => {
    const whole = await page({ num_of_rows: 500 });
    const length = (await whole.arrayBuffer()).byteLength;
    xray.faults.add({ match: { offset: 0 }, fault: { kind: 'truncate', afterBytes: 2000 }, times: 1 });
    const cut = await page({ num_of_rows: 500 });
    expect(cut.status).toBe(200);
    expect(Number(cut.headers.get('content-length'))).toBe(length);
    const partial = await readPartial(cut);
    expect(partial.error).toBeDefined();
    expect(partial.bytes).toBe(2000);
    // A client that parses the body fails on it too.
    xray.faults.add({ fault: { kind: 'truncate', afterBytes: 10 }, times: 1 });
    await expect((await page({ num_of_rows: 500 })).json()).rejects.toThrow();
  });

  it('truncates a CSV zip stream (chunked, no length): the body read rejects', async () => {
    xray.faults.add({ fault: { kind: 'truncate', afterBytes: 100 }, times: 1 });
    const response = await page({ format: 'csv', num_of_rows: 1000 });
    expect(response.status).toBe(200);
    const partial = await readPartial(response);
    expect(partial.error).toBeDefined();
    expect(partial.bytes).toBeLessThanOrEqual(100);
  });

  it('targets one page by offset', async () => {
    xray.faults.add({ match: { offset: 200 }, fault: { kind: 'status', status: 502 } });
    expect((await page({ offset: 0 })).status).toBe(200);
    expect((await page({ offset: 100 })).status).toBe(200);
    expect((await page({ offset: 200 })).status).toBe(502);
    expect((await page({ offset: 300 })).status).toBe(200);
  });

  it('fails a page only on its first retry (attempt 2): ok, 503, ok — per distinct request', async () => {
    xray.faults.add({ match: { attempt: 2 }, fault: { kind: 'status', status: 503 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await page({ offset: 1000 })).status);
    expect(statuses).toEqual([200, 503, 200]);
    // The same parameters in another order are the same request.
    const url = new URL(PATH, xray.baseUrl);
    for (const [key, value] of Object.entries({ offset: 1000, num_of_rows: 100, ...WINDOW }).reverse()) url.searchParams.set(key, String(value));
    expect((await fetch(url, { headers: { authorization: `Bearer ${xray.admin.accessToken}` } })).status).toBe(200);
    // Another page has its own count.
    expect((await page({ offset: 1100 })).status).toBe(200);
    expect((await page({ offset: 1100 })).status).toBe(503);
  });

  it('a client that retries reads exactly the ground truth through faults on every first attempt', async () => {
    xray.faults.add({ match: { attempt: 1 }, fault: { kind: 'reset' } });
    const events: AuditEvent[] = [];
    let offset = 0;
    for (;;) {
      let body: { data: AuditEvent[]; meta: { next_offset?: number | null } } | undefined;
      for (let attempt = 0; !body && attempt < 3; attempt++) {
        try {
          const response = await page({ offset, num_of_rows: 1000 });
          if (response.status === 200) body = (await response.json()) as typeof body;
        } catch {
          // reset: try again
        }
      }
      events.push(...body!.data);
      if (!body!.meta.next_offset) break;
      offset = body!.meta.next_offset;
    }
    expect(events.map((event) => event.id)).toEqual(xray.eventIds({ start: WINDOW.created_at_start, end: WINDOW.created_at_end }));
    expect(xray.faults.injected().every((entry) => entry.kind === 'reset' && entry.attempt === 1)).toBe(true);
  });

  it('rejects MFT-only faults and other servers', () => {
    expect(() => xray.faults.add({ fault: { kind: 'expire-tokens' } })).toThrow(/cannot inject/);
    expect(() => xray.faults.add({ fault: { kind: 'report-outcome', outcome: 'failed' } })).toThrow(/cannot inject/);
    expect(() => xray.faults.add({ match: { server: 'api' }, fault: { kind: 'reset' } })).toThrow(/server/);
    expect(() => xray.faults.randomize({ seed: 1, rate: 0.1, kinds: ['report-failed'] })).toThrow(/cannot inject/);
  });

  it('randomize: the same seed and request sequence give the same faults; rules given at start apply', async () => {
    async function run(seed: number): Promise<InjectedFault[]> {
      const emulator = await startXrayEmulator({
        events: 2000,
        seed: 3,
        datasetEnd: DATASET_END,
        now: () => NOW,
        faults: [{ match: { offset: 0, attempt: 1 }, fault: { kind: 'status', status: 500 } }],
      });
      try {
        emulator.faults.randomize({ seed, rate: 0.25, kinds: ['status', 'reset', 'truncate'] });
        for (let i = 0; i < 80; i++) {
          try {
            await (await page({ offset: (i % 10) * 100 }, {}, emulator)).arrayBuffer();
          } catch {
            // resets and truncations
          }
        }
        return emulator.faults.injected();
      } finally {
        await emulator.close();
      }
    }
    const first = await run(11);
    const second = await run(11);
    expect(first[0]).toMatchObject({ rule: 1, kind: 'status', offset: 0, attempt: 1 });
    expect(first.length).toBeGreaterThan(10);
    expect(withoutTimes(second)).toEqual(withoutTimes(first));
    expect(withoutTimes(await run(12))).not.toEqual(withoutTimes(first));
  });
});
