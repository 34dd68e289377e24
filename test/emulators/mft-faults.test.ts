import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMftEmulator, type InjectedFault, type MftEmulator } from '../../emulators/mft/index.js';
import { fetchAccessToken } from '../../emulators/mft/testing.js';
import { readPartial } from '../support/read-partial.js';

const REPORTS = '/v1/reports/audit-logs';
const WINDOW = { type: 1, start: '2026-01-01T00:00:00Z', end: '2026-01-01T06:00:00Z' };

interface ReportObject {
  id: string;
  status: string | number;
  size?: number;
  url?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The injected log without the arrival times, for comparing two runs. */
const withoutTimes = (log: InjectedFault[]) => log.map(({ at: _at, ...rest }) => rest);

describe('mft emulator: fault injection', () => {
  let mft: MftEmulator;
  let token: string;

  const api = (path: string, init: RequestInit = {}, bearer = token) =>
    fetch(`${mft.baseUrl}${path}`, { ...init, headers: { Authorization: `Bearer ${bearer}`, ...init.headers } });

  async function createReport(): Promise<ReportObject> {
    const response = await api(REPORTS, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(WINDOW) });
    expect(response.status).toBe(201);
    return (await response.json()) as ReportObject;
  }

  async function getReport(id: string): Promise<ReportObject> {
    const response = await api(`${REPORTS}/${encodeURIComponent(id)}`);
    expect(response.status).toBe(200);
    return (await response.json()) as ReportObject;
  }

  /** Polls until the report leaves InProgress (the background size pass can be slow on a busy machine). */
  async function waitSettled(id: string): Promise<ReportObject> {
    for (let poll = 0; poll < 1000; poll++) {
      const report = await getReport(id);
      if (report.status !== 'InProgress') return report;
      await sleep(10);
    }
    throw new Error(`report ${id} stayed InProgress`);
  }

  async function waitCompleted(id: string): Promise<ReportObject> {
    const report = await waitSettled(id);
    expect(report.status).toBe('Completed');
    return report;
  }

  beforeAll(async () => {
    mft = await startMftEmulator({ reportReadyAfterMs: 50 });
    token = await fetchAccessToken(mft);
  });
  afterEach(() => mft.faults.clear());
  afterAll(() => mft.close());

  it('answers 429 with Retry-After and a JSON body, for as many requests as `times` says', async () => {
    mft.faults.add({ match: { server: 'api', method: 'GET' }, fault: { kind: 'status', status: 429, retryAfterSeconds: 2 }, times: 2 });
    for (let i = 0; i < 2; i++) {
      const response = await api(REPORTS);
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('2');
      expect(await response.json()).toEqual({ error: 'TooManyRequests', message: 'Too Many Requests' });
    }
    expect((await api(REPORTS)).status).toBe(200);
    const log = mft.faults.injected();
    expect(log.map((entry) => [entry.kind, entry.server, entry.method, entry.path])).toEqual([
      ['status', 'api', 'GET', REPORTS],
      ['status', 'api', 'GET', REPORTS],
    ]);
    expect(typeof log[0]!.at).toBe('number');
  });

  it('serves gateway HTML error pages, OAuth errors on the token endpoint and S3 XML on storage', async () => {
    mft.faults.add({ match: { server: 'token' }, fault: { kind: 'status', status: 502, body: 'html' }, times: 1 });
    mft.faults.add({ match: { server: 'token' }, fault: { kind: 'status', status: 503 }, times: 1 });
    mft.faults.add({ match: { server: 'storage' }, fault: { kind: 'status', status: 503, retryAfterSeconds: 1 }, times: 1 });

    const html = await fetch(mft.tokenUrl, { method: 'POST', body: '{}' });
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(await html.text()).toMatch(/^<!DOCTYPE html>[\s\S]*502 Bad Gateway/);

    const oauth = await fetch(mft.tokenUrl, { method: 'POST', body: '{}' });
    expect(oauth.status).toBe(503);
    expect(await oauth.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'Service Unavailable' });

    const storage = await fetch(`${mft.downloadBaseUrl}/reports/whatever.csv`);
    expect(storage.status).toBe(503);
    expect(storage.headers.get('retry-after')).toBe('1');
    expect(await storage.text()).toContain('<Code>SlowDown</Code>');
    // The token endpoint works again once the budget is used up.
    expect(await fetchAccessToken(mft)).toMatch(/\S+/);
  });

  it('resets the connection without a response: fetch rejects, the next request works', async () => {
    mft.faults.add({ match: { server: 'api', path: REPORTS }, fault: { kind: 'reset' }, times: 1 });
    await expect(api(REPORTS)).rejects.toThrow();
    expect((await api(REPORTS)).status).toBe(200);
    expect(mft.requestLog.filter((entry) => entry.fault === 'reset')).toHaveLength(1);
  });

  it('answers slower than the client timeout (delay) or never (hang)', async () => {
    mft.faults.add({ match: { server: 'api' }, fault: { kind: 'delay', ms: 1500 }, times: 1 });
    mft.faults.add({ match: { server: 'api' }, fault: { kind: 'hang' }, times: 1 });
    await expect(api(REPORTS, { signal: AbortSignal.timeout(200) })).rejects.toThrow(/timeout|aborted/i);
    await expect(api(REPORTS, { signal: AbortSignal.timeout(200) })).rejects.toThrow(/timeout|aborted/i);
    const started = Date.now();
    expect((await api(REPORTS, { signal: AbortSignal.timeout(1000) })).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a delayed request is still answered in full once the delay is over', async () => {
    mft.faults.add({ match: { server: 'api' }, fault: { kind: 'delay', ms: 300 }, times: 1 });
    const started = Date.now();
    const response = await api(REPORTS);
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(await response.json()).toHaveProperty('items');
  });

  it('truncates a download: full Content-Length announced, the body stops after afterBytes', async () => {
    const report = await waitCompleted((await createReport()).id);
    expect(report.size).toBeGreaterThan(5000);
    mft.faults.add({ match: { server: 'storage', method: 'GET' }, fault: { kind: 'truncate', afterBytes: 1000 }, times: 1 });

    const cut = await fetch(report.url!);
    expect(cut.status).toBe(200);
    expect(Number(cut.headers.get('content-length'))).toBe(report.size);
    const partial = await readPartial(cut);
    expect(partial.error).toBeDefined();
    expect(partial.bytes).toBe(1000);

    const whole = await fetch((await getReport(report.id)).url!);
    expect((await whole.arrayBuffer()).byteLength).toBe(report.size);
    expect((await api(`${REPORTS}/${encodeURIComponent(report.id)}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('truncates a small JSON answer too (always at least one byte short)', async () => {
    mft.faults.add({ match: { server: 'api' }, fault: { kind: 'truncate', afterBytes: 1_000_000 }, times: 1 });
    const response = await api(REPORTS);
    const announced = Number(response.headers.get('content-length'));
    const partial = await readPartial(response);
    expect(partial.error).toBeDefined();
    expect(partial.bytes).toBe(announced - 1);
  });

  it('fails only the second arrival of an identical request (attempt 2): ok, 503, ok', async () => {
    const { id } = await createReport();
    mft.faults.add({ match: { server: 'api', method: 'GET', attempt: 2 }, fault: { kind: 'status', status: 503 } });
    const path = `${REPORTS}/${encodeURIComponent(id)}`;
    expect((await api(path)).status).toBe(200);
    expect((await api(path)).status).toBe(503);
    expect((await api(path)).status).toBe(200);
    // Another request has its own count: its first arrival passes.
    expect((await api(REPORTS)).status).toBe(200);
    expect((await api(path, { method: 'DELETE' })).status).toBe(204);
  });

  it('attempt [1, 2] fails the first two tries of every distinct request; `after` skips matching requests', async () => {
    mft.faults.add({ match: { server: 'api', path: `${REPORTS}/`, attempt: [1, 2] }, fault: { kind: 'status', status: 500 } });
    for (const id of ['a.csv', 'b.csv']) {
      const path = `${REPORTS}/${id}`;
      expect((await api(path)).status).toBe(500);
      expect((await api(path)).status).toBe(500);
      expect((await api(path)).status).toBe(404);
    }
    mft.faults.clear();
    const skipping = mft.faults.add({ match: { server: 'api' }, fault: { kind: 'status', status: 504 }, after: 2, times: 1 });
    expect([(await api(REPORTS)).status, (await api(REPORTS)).status, (await api(REPORTS)).status, (await api(REPORTS)).status]).toEqual([
      200, 200, 504, 200,
    ]);
    expect(skipping.hits).toBe(1);
    expect(skipping.seen).toBe(4);
  });

  it('failNextReports(n, "failed"): the next n reports end Failed, with no url; they can be deleted', async () => {
    mft.failNextReports(1, 'failed');
    const failed = await createReport();
    const normal = await createReport();
    expect(failed.status).toBe('InProgress');
    const after = await waitSettled(failed.id);
    expect(after.status).toBe('Failed');
    expect(after.url).toBeUndefined();
    expect((await waitCompleted(normal.id)).status).toBe('Completed');
    for (const id of [failed.id, normal.id]) expect((await api(`${REPORTS}/${encodeURIComponent(id)}`, { method: 'DELETE' })).status).toBe(204);
    expect(mft.reports()).toEqual([]);
  });

  it('never-completes: the report stays InProgress forever, is listed, and can be deleted', async () => {
    mft.failNextReports(1, 'never-completes');
    const stuck = await createReport();
    await sleep(200);
    expect((await getReport(stuck.id)).status).toBe('InProgress');
    expect(mft.reports().map((report) => [report.id, report.status])).toEqual([[stuck.id, 'InProgress']]);
    expect((await api(`${REPORTS}/${encodeURIComponent(stuck.id)}`, { method: 'DELETE' })).status).toBe(204);
    expect(mft.reports()).toEqual([]);
  });

  it('a create rejected with 401 or 400 does not use up failNextReports', async () => {
    const rule = mft.failNextReports(1, 'failed');
    const json = { 'Content-Type': 'application/json' };
    expect((await api(REPORTS, { method: 'POST', headers: json, body: JSON.stringify(WINDOW) }, 'not-a-token')).status).toBe(401);
    expect((await api(REPORTS, { method: 'POST', headers: json, body: JSON.stringify({ ...WINDOW, type: 9 }) })).status).toBe(400);
    expect(rule.hits).toBe(0);
    const report = await createReport();
    expect(rule.hits).toBe(1);
    expect(mft.requestLog.at(-1)).toMatchObject({ method: 'POST', fault: 'report-outcome' });
    expect((await waitSettled(report.id)).status).toBe('Failed');
    expect(mft.faults.injected()).toMatchObject([{ kind: 'report-outcome', method: 'POST', path: REPORTS, attempt: 3 }]);
    await api(`${REPORTS}/${encodeURIComponent(report.id)}`, { method: 'DELETE' });
  });

  it('a report-outcome rule only counts creates', async () => {
    mft.faults.add({ fault: { kind: 'report-outcome', outcome: 'failed' }, after: 1, times: 1 });
    await api(REPORTS);
    const first = await createReport();
    const second = await createReport();
    expect((await waitSettled(first.id)).status).toBe('Completed');
    expect((await waitSettled(second.id)).status).toBe('Failed');
    for (const id of [first.id, second.id]) await api(`${REPORTS}/${encodeURIComponent(id)}`, { method: 'DELETE' });
  });

  it('expireAccessTokens(): every issued token gets 401 on its next use; a new token works', async () => {
    const own = await fetchAccessToken(mft);
    expect((await api(REPORTS, {}, own)).status).toBe(200);
    expect(mft.expireAccessTokens()).toBeGreaterThanOrEqual(1);
    const rejected = await api(REPORTS, {}, own);
    expect(rejected.status).toBe(401);
    expect(((await rejected.json()) as { message: string }).message).toMatch(/expired/);
    token = await fetchAccessToken(mft);
    expect((await api(REPORTS)).status).toBe(200);
  });

  it('an expire-tokens rule makes tokens expire in the middle of a run (at the matching request)', async () => {
    mft.faults.add({ fault: { kind: 'expire-tokens' }, after: 2, times: 1 });
    expect((await api(REPORTS)).status).toBe(200);
    expect((await api(REPORTS)).status).toBe(200);
    expect((await api(REPORTS)).status).toBe(401);
    token = await fetchAccessToken(mft);
    expect((await api(REPORTS)).status).toBe(200);
    expect(mft.faults.injected().map((entry) => entry.kind)).toEqual(['expire-tokens']);
  });

  it('never puts credentials or link signatures in the injected log or the request log', async () => {
    const report = await waitCompleted((await createReport()).id);
    mft.faults.add({ match: { server: 'storage' }, fault: { kind: 'status', status: 500 }, times: 1 });
    await (await fetch(report.url!)).text();
    const [entry] = mft.faults.injected();
    expect(entry!.path).toBe(`/reports/${encodeURIComponent(report.id)}`);
    const text = JSON.stringify([mft.faults.injected(), mft.requestLog]);
    expect(text).not.toContain('signature');
    expect(text).not.toContain(token);
    await api(`${REPORTS}/${encodeURIComponent(report.id)}`, { method: 'DELETE' });
  });

  it('rejects rules it cannot apply', () => {
    expect(() => mft.faults.add({ fault: { kind: 'status', status: 418 as 503 } })).toThrow(RangeError);
    expect(() => mft.faults.add({ match: { server: 'xray' }, fault: { kind: 'reset' } })).toThrow(/server/);
    expect(() => mft.faults.add({ fault: { kind: 'reset' }, probability: 2 })).toThrow(RangeError);
    expect(() => mft.faults.add({ match: { attempt: 0 }, fault: { kind: 'reset' } })).toThrow(RangeError);
    expect(() => mft.faults.randomize({ seed: 1, rate: 0.5, kinds: [] })).toThrow(RangeError);
  });

  it('installs rules given at start', async () => {
    const other = await startMftEmulator({ faults: [{ match: { server: 'token' }, fault: { kind: 'status', status: 500 }, times: 1 }] });
    try {
      const response = await fetch(other.tokenUrl, { method: 'POST', body: '{}' });
      expect(response.status).toBe(500);
      expect(await fetchAccessToken(other)).toMatch(/\S+/);
    } finally {
      await other.close();
    }
  });

  it('randomize: the same seed and the same request sequence give the same injected faults', async () => {
    async function run(seed: number): Promise<InjectedFault[]> {
      const emulator = await startMftEmulator({ reportReadyAfterMs: 0 });
      try {
        const bearer = await fetchAccessToken(emulator);
        emulator.faults.randomize({
          seed,
          rate: 0.3,
          kinds: ['status', 'reset', 'truncate', 'report-failed', 'report-never-completes', 'expire-tokens'],
          match: { server: ['api', 'storage'] },
        });
        for (let i = 0; i < 60; i++) {
          const path = i % 3 === 0 ? REPORTS : `${REPORTS}/missing-${i % 7}.csv`;
          const init: RequestInit =
            i % 5 === 0 ? { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(WINDOW) } : {};
          try {
            const response = await fetch(`${emulator.baseUrl}${path}`, { ...init, headers: { Authorization: `Bearer ${bearer}`, ...init.headers } });
            await response.arrayBuffer();
          } catch {
            // resets and truncations are the point
          }
        }
        return emulator.faults.injected();
      } finally {
        await emulator.close();
      }
    }
    const first = await run(7);
    const second = await run(7);
    const other = await run(8);
    expect(first.length).toBeGreaterThan(5);
    expect(withoutTimes(second)).toEqual(withoutTimes(first));
    expect(withoutTimes(other)).not.toEqual(withoutTimes(first));
    expect(new Set(first.map((entry) => entry.kind)).size).toBeGreaterThan(2);
    // Report outcomes are only drawn for creates.
    for (const entry of first.filter((fault) => fault.kind === 'report-outcome')) expect([entry.method, entry.path]).toEqual(['POST', REPORTS]);
  });
});
