import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from 'jose';
import { startMftEmulator, type AuditEvent, type CreateReportRequest, type MftEmulator, type MftEmulatorOptions } from '../../emulators/mft/index.js';
import { fetchAccessToken, postTokenRequest, signClientAssertion } from '../../emulators/mft/testing.js';

const REPORTS = '/v1/reports/audit-logs';

interface ReportObject {
  id: string;
  status: string | number;
  type: number;
  size?: number;
  url?: string;
  [field: string]: unknown;
}

/** A minimal client, as an exporter would write it. */
class Client {
  constructor(
    readonly emulator: MftEmulator,
    readonly token: string,
  ) {}

  request(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.emulator.baseUrl}${path}`, { ...init, headers: { Authorization: `Bearer ${this.token}`, ...init.headers } });
  }

  async create(body: unknown): Promise<ReportObject> {
    const response = await this.request(REPORTS, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as ReportObject;
  }

  async get(id: string): Promise<Response> {
    return this.request(`${REPORTS}/${encodeURIComponent(id)}`);
  }

  async waitCompleted(id: string): Promise<{ report: ReportObject; statuses: (string | number)[] }> {
    const statuses: (string | number)[] = [];
    for (let attempt = 0; attempt < 500; attempt++) {
      const response = await this.get(id);
      expect(response.status).toBe(200);
      const report = (await response.json()) as ReportObject;
      statuses.push(report.status);
      if (report.status === 'Completed' || report.status === 1) return { report, statuses };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`report ${id} did not complete`);
  }

  async list(): Promise<ReportObject[]> {
    const response = await this.request(REPORTS);
    expect(response.status).toBe(200);
    return ((await response.json()) as { items: ReportObject[] }).items;
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

async function startWithClient(options: MftEmulatorOptions = {}): Promise<{ emulator: MftEmulator; client: Client }> {
  const emulator = await startMftEmulator({ reportReadyAfterMs: 100, ...options });
  return { emulator, client: new Client(emulator, await fetchAccessToken(emulator)) };
}

describe('MFT emulator: report lifecycle', () => {
  let emulator: MftEmulator;
  let client: Client;
  beforeAll(async () => {
    ({ emulator, client } = await startWithClient());
  });
  afterAll(() => emulator.close());

  it('creates, completes, serves exactly the expected CSV, then deletes', async () => {
    const body = { type: 1, start: '2026-06-26T00:00:00Z', end: '2026-06-26T06:00:00Z' };
    const created = await client.create(body);
    expect(created.id).toMatch(/^[0-9a-f-]{36}\.csv$/);
    expect(created.status).toBe('InProgress');
    expect(created.url).toBeUndefined();

    const { report, statuses } = await client.waitCompleted(created.id);
    expect(statuses[0]).toBe('InProgress');
    expect(report.url?.startsWith(`${emulator.downloadBaseUrl}/reports/`)).toBe(true);
    expect(new URL(report.url!).host).not.toBe(new URL(emulator.baseUrl).host);

    const download = await fetch(report.url!);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('text/csv');
    expect(Number(download.headers.get('content-length'))).toBe(report.size);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(report.size);
    expect(bytes.equals(await collect(emulator.expectedFile(body)))).toBe(true);
    // 6 hours at 600 events/hour, plus the header line.
    expect(bytes.toString('utf8').split('\r\n').filter(Boolean)).toHaveLength(3601);

    const storageRequest = emulator.requestLog.find((entry) => entry.server === 'storage');
    expect(storageRequest).toMatchObject({ method: 'GET', authorization: false });
    expect(storageRequest!.path).not.toContain('signature');

    expect((await client.list()).map((item) => item.id)).toContain(created.id);
    expect(emulator.reports().find((record) => record.id === created.id)).toMatchObject({ status: 'Completed', size: report.size });

    const deleted = await client.request(`${REPORTS}/${encodeURIComponent(created.id)}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect((await client.get(created.id)).status).toBe(404);
    expect((await client.list()).map((item) => item.id)).not.toContain(created.id);
    expect((await fetch(report.url!)).status).toBe(404);
    const again = await client.request(`${REPORTS}/${encodeURIComponent(created.id)}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(emulator.reports().map((record) => record.id)).not.toContain(created.id);
  });

  it('applies every filter to a JSON report', async () => {
    const window = { start: '2026-06-24T00:00:00Z', end: '2026-06-27T00:00:00Z' };
    const filtered = {
      type: 'json',
      ...window,
      actor: 'ALICE',
      actorType: 'User',
      actions: ['Update', 3],
      resources: ['Task', 'endpoint', 'Folder'],
      outcomes: [0],
    };
    const created = await client.create(filtered);
    expect(created).toMatchObject({ type: 0, actorType: 'User', actions: ['Update', 'Delete'], resources: ['Task', 'Endpoint', 'Folder'], outcomes: ['Success'] });
    expect(created.id).toMatch(/\.json$/);
    const { report } = await client.waitCompleted(created.id);
    const download = await fetch(report.url!);
    expect(download.headers.get('content-type')).toBe('application/json');
    const text = await download.text();
    expect(Buffer.from(text).equals(await collect(emulator.expectedFile(filtered as CreateReportRequest)))).toBe(true);
    expect(text.startsWith('[\n')).toBe(true);
    expect(text.endsWith('\n]\n')).toBe(true);

    const events = JSON.parse(text) as AuditEvent[];
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) {
      expect(event.actor.toLowerCase()).toContain('alice');
      expect(event.actorType).toBe('User');
      expect(['Update', 'Delete']).toContain(event.action);
      expect(['Task', 'Endpoint', 'Folder']).toContain(event.resource);
      expect(event.outcome).toBe('Success');
      expect(event.timestamp >= '2026-06-24T00:00:00.000Z' && event.timestamp < '2026-06-27T00:00:00.000Z').toBe(true);
    }

    const everything = JSON.parse(Buffer.from(await collect(emulator.expectedFile({ type: 0, ...window }))).toString()) as AuditEvent[];
    expect(everything).toHaveLength(3 * 24 * 600);
    expect(events.length).toBeLessThan(everything.length / 20);
    // The filtered report is exactly the matching subset of the whole window.
    const matching = everything.filter(
      (event) =>
        event.actor.toLowerCase().includes('alice') &&
        event.actorType === 'User' &&
        ['Update', 'Delete'].includes(event.action) &&
        ['Task', 'Endpoint', 'Folder'].includes(event.resource) &&
        event.outcome === 'Success',
    );
    expect(events).toEqual(matching);

    const someIp = everything[10]!.sourceIp;
    const byIp = JSON.parse(Buffer.from(await collect(emulator.expectedFile({ type: 0, ...window, sourceIp: someIp }))).toString()) as AuditEvent[];
    expect(byIp.length).toBeGreaterThan(1);
    expect(byIp).toEqual(everything.filter((event) => event.sourceIp === someIp));
    const apiKeys = JSON.parse(Buffer.from(await collect(emulator.expectedFile({ type: 0, ...window, actorType: 2 }))).toString()) as AuditEvent[];
    expect(apiKeys.length).toBeGreaterThan(0);
    expect(apiKeys.every((event) => event.actorType === 'ApiKey')).toBe(true);
  });

  it('serves an empty window as an empty JSON array', async () => {
    const body = { type: 0, start: '2019-01-01T00:00:00Z', end: '2019-12-31T00:00:00Z' };
    const { report } = await client.waitCompleted((await client.create(body)).id);
    expect(report.size).toBe(3);
    expect(await (await fetch(report.url!)).text()).toBe('[]\n');
  });

  it('keeps tenants apart', async () => {
    const keys = await generateKeyPair('ES256');
    emulator.registerKey('other-tenant-key', keys.publicKey, 'other-tenant');
    const assertion = await signClientAssertion(emulator, {
      kid: 'other-tenant-key',
      privateKey: keys.privateKey,
      claims: { iss: 'other-tenant', sub: 'other-tenant' },
    });
    const token = ((await (await postTokenRequest(emulator, assertion)).json()) as { access_token: string }).access_token;
    const other = new Client(emulator, token);

    const mine = await client.create({ type: 1, start: '2026-06-26T00:00:00Z', end: '2026-06-26T00:10:00Z' });
    expect((await other.get(mine.id)).status).toBe(404);
    expect((await other.request(`${REPORTS}/${encodeURIComponent(mine.id)}`, { method: 'DELETE' })).status).toBe(404);
    expect(await other.list()).toEqual([]);
    expect((await client.get(mine.id)).status).toBe(200);
    expect(emulator.reports().find((record) => record.id === mine.id)?.tenantId).toBe(emulator.tenantId);
  });

  it('answers unknown routes with 404 and wrong methods with 405, in JSON', async () => {
    for (const [path, method, status] of [
      ['/v1/reports/other', 'GET', 404],
      ['/', 'GET', 404],
      [REPORTS, 'PUT', 405],
      [`${REPORTS}/some-id.csv`, 'POST', 405],
      [`${REPORTS}/no-such-id.csv`, 'GET', 404],
    ] as const) {
      const response = await client.request(path, { method });
      expect(response.status, `${method} ${path}`).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.text()).not.toContain(client.token);
    }
  });
});

describe('MFT emulator: status serialization', () => {
  it('serializes status as numbers with statusFormat number', async () => {
    const { emulator, client } = await startWithClient({ statusFormat: 'number' });
    try {
      const created = await client.create({ type: 1, start: '2026-06-26T00:00:00Z', end: '2026-06-26T00:10:00Z' });
      expect(created.status).toBe(0);
      const { report, statuses } = await client.waitCompleted(created.id);
      expect(report.status).toBe(1);
      expect(statuses.every((status) => typeof status === 'number')).toBe(true);
      expect(typeof report.size).toBe('number');
    } finally {
      await emulator.close();
    }
  });

  it('alternates string and number with statusFormat mixed', async () => {
    const { emulator, client } = await startWithClient({ statusFormat: 'mixed', reportReadyAfterMs: 60_000 });
    try {
      const created = await client.create({ type: 1, start: '2026-06-26T00:00:00Z', end: '2026-06-26T00:10:00Z' });
      const seen = [created.status];
      for (let poll = 0; poll < 3; poll++) seen.push(((await (await client.get(created.id)).json()) as ReportObject).status);
      expect(seen).toEqual(['InProgress', 0, 'InProgress', 0]);
    } finally {
      await emulator.close();
    }
  });
});
