import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER, startMftEmulator, type AuditEvent, type MftEmulator, type MftEmulatorOptions } from '../../emulators/mft/index.js';
import { fetchAccessToken, postTokenRequest, signClientAssertion } from '../../emulators/mft/testing.js';

const REPORTS = '/v1/reports/audit-logs';

interface Completed {
  id: string;
  url: string;
  size: number;
}

async function startWithToken(options: MftEmulatorOptions): Promise<{ emulator: MftEmulator; token: string }> {
  const emulator = await startMftEmulator(options);
  if (!options.now) return { emulator, token: await fetchAccessToken(emulator) };
  const assertion = await signClientAssertion(emulator, { nowSeconds: Math.floor(options.now() / 1000) });
  const token = ((await (await postTokenRequest(emulator, assertion)).json()) as { access_token: string }).access_token;
  return { emulator, token };
}

async function createReport(emulator: MftEmulator, token: string, body: unknown): Promise<string> {
  const response = await fetch(`${emulator.baseUrl}${REPORTS}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function waitCompleted(emulator: MftEmulator, token: string, id: string, advanceClock?: () => void): Promise<Completed> {
  for (let attempt = 0; attempt < 3000; attempt++) {
    const response = await fetch(`${emulator.baseUrl}${REPORTS}/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${token}` } });
    const report = (await response.json()) as Completed & { status: string };
    if (report.status === 'Completed') return report;
    advanceClock?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`report ${id} did not complete`);
}

describe('MFT emulator: presigned download links', () => {
  let clockMs = Date.parse('2026-07-01T12:00:00Z');
  let emulator: MftEmulator;
  let token: string;
  let report: Completed;
  beforeAll(async () => {
    ({ emulator, token } = await startWithToken({ now: () => clockMs, reportReadyAfterMs: 1000, downloadUrlTtlSeconds: 60 }));
    const id = await createReport(emulator, token, { type: 1, start: '2026-06-26T00:00:00Z', end: '2026-06-26T01:00:00Z' });
    report = await waitCompleted(emulator, token, id, () => (clockMs += 500));
  });
  afterAll(() => emulator.close());

  async function expectForbidden(url: string, code: string): Promise<void> {
    const response = await fetch(url);
    expect(response.status).toBe(403);
    const body = await response.text();
    expect(body).toContain(`<Code>${code}</Code>`);
    expect(body).not.toContain(new URL(report.url).searchParams.get('signature')!);
  }

  it('serves the file without Authorization, and ignores a bearer token sent anyway', async () => {
    const plain = await fetch(report.url);
    expect(plain.status).toBe(200);
    expect((await plain.arrayBuffer()).byteLength).toBe(report.size);
    const withToken = await fetch(report.url, { headers: { Authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);
    await withToken.arrayBuffer();
    const storageLog = emulator.requestLog.filter((entry) => entry.server === 'storage').map((entry) => entry.authorization);
    expect(storageLog.slice(-2)).toEqual([false, true]);
  });

  it('answers HEAD with the size and no body', async () => {
    const response = await fetch(report.url, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(Number(response.headers.get('content-length'))).toBe(report.size);
  });

  it('refuses a tampered link with 403', async () => {
    const url = new URL(report.url);
    const signature = url.searchParams.get('signature')!;
    const flipped = new URL(url);
    flipped.searchParams.set('signature', signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0'));
    await expectForbidden(flipped.toString(), 'SignatureDoesNotMatch');

    const extended = new URL(url);
    extended.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 3600));
    await expectForbidden(extended.toString(), 'SignatureDoesNotMatch');

    const otherObject = new URL(url);
    otherObject.pathname = '/reports/00000000-0000-4000-8000-000000000000.csv';
    await expectForbidden(otherObject.toString(), 'SignatureDoesNotMatch');

    const unsigned = new URL(url);
    unsigned.search = '';
    await expectForbidden(unsigned.toString(), 'AccessDenied');
  });

  it('refuses an expired link with 403, and hands out a fresh one on the next GET', async () => {
    clockMs += 61_000;
    await expectForbidden(report.url, 'AccessDenied');
    const fresh = await waitCompleted(emulator, token, report.id);
    expect(fresh.url).not.toBe(report.url);
    expect((await fetch(fresh.url)).status).toBe(200);
  });

  it('answers unknown storage paths with 404', async () => {
    expect((await fetch(`${emulator.downloadBaseUrl}/elsewhere`)).status).toBe(404);
  });
});

describe('MFT emulator: CSV quoting', () => {
  it('round-trips every field through an RFC 4180 parser', async () => {
    const emulator = await startMftEmulator({ eventsPerHour: 3000 });
    try {
      const window = { start: '2026-06-26T00:00:00Z', end: '2026-06-26T02:00:00Z' };
      const csv = (await collect(emulator.expectedFile({ type: 1, ...window }))).toString('utf8');
      const json = (await collect(emulator.expectedFile({ type: 0, ...window }))).toString('utf8');
      const events = JSON.parse(json) as AuditEvent[];
      const [header, ...rows] = parseCsv(csv);
      expect(header!.join(',')).toBe(CSV_HEADER);
      expect(rows).toEqual(events.map((event) => header!.map((field) => event[field as keyof AuditEvent])));
      // The dataset really exercises quoting.
      expect(events.some((event) => event.details.includes('"'))).toBe(true);
      expect(events.some((event) => event.details.includes(','))).toBe(true);
      expect(events.some((event) => event.resourceName.includes(','))).toBe(true);
      expect(events.some((event) => event.sourceIp.includes(':'))).toBe(true);
    } finally {
      await emulator.close();
    }
  });
});

describe('MFT emulator: large reports', () => {
  const debugLines: string[] = [];
  let emulator: MftEmulator;
  let token: string;
  let report: Completed;
  // 1 hour at 450k events/hour: about 100 MB of CSV.
  const body = { type: 1, start: '2026-06-26T00:00:00Z', end: '2026-06-26T01:00:00Z' };
  beforeAll(async () => {
    ({ emulator, token } = await startWithToken({ eventsPerHour: 450_000, reportReadyAfterMs: 0, debug: (line) => debugLines.push(line) }));
    report = await waitCompleted(emulator, token, await createReport(emulator, token, body));
  });
  afterAll(() => emulator.close());

  it('streams ~100 MB with small, bounded memory', async () => {
    expect(report.size).toBeGreaterThan(90 * 1024 * 1024);
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const retained = (): number => {
      gc();
      const usage = process.memoryUsage();
      return usage.heapUsed + usage.arrayBuffers;
    };
    const baseline = retained();
    let peakGrowth = 0;
    let received = 0;
    let nextSample = 0;
    const response = await fetch(report.url);
    expect(Number(response.headers.get('content-length'))).toBe(report.size);
    for await (const chunk of response.body!) {
      received += (chunk as Uint8Array).byteLength;
      if (received >= nextSample) {
        peakGrowth = Math.max(peakGrowth, retained() - baseline);
        nextSample += 8 * 1024 * 1024;
      }
    }
    expect(received).toBe(report.size);
    // A buffered file would retain ~100 MB; streaming keeps a few chunks in flight.
    expect(peakGrowth).toBeLessThan(24 * 1024 * 1024);
  });

  it('stops generating when the client disconnects', async () => {
    const controller = new AbortController();
    const response = await fetch(report.url, { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    for (let attempt = 0; attempt < 250 && !debugLines.some((line) => line.endsWith('download aborted')); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(debugLines.filter((line) => line.endsWith('download aborted'))).toHaveLength(1);
  });
});

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A strict RFC 4180 parser (CRLF records, quoted fields with doubled quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let index = 0;
  while (index < text.length) {
    if (text[index] === '"' && field === '') {
      index++;
      for (;;) {
        const quote = text.indexOf('"', index);
        if (quote < 0) throw new Error('unterminated quoted field');
        field += text.slice(index, quote);
        index = quote + 1;
        if (text[index] === '"') {
          field += '"';
          index++;
        } else break;
      }
    } else if (text[index] === ',') {
      row.push(field);
      field = '';
      index++;
    } else if (text.startsWith('\r\n', index)) {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      index += 2;
    } else {
      if (text[index] === '"' || text[index] === '\n' || text[index] === '\r') throw new Error(`bare ${JSON.stringify(text[index])} at ${index}`);
      field += text[index];
      index++;
    }
  }
  if (field !== '' || row.length > 0) throw new Error('last record is not terminated by CRLF');
  return rows;
}
