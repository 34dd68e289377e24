import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMftEmulator, type MftEmulator, type MftEmulatorOptions, type StatusFormat } from '../../emulators/mft/index.js';
import {
  REFERENCE_TOKEN_BODY,
  pythonGet,
  pythonTruthy,
  raiseForStatus,
  referenceAssertionClaims,
  referenceAuthorization,
  referenceCreateBody,
  referenceIso,
  referenceOutputName,
  referenceStatus,
  type ReferenceReportType,
} from '../support/mft-reference.js';

/**
 * The vendor's reference export script works unchanged against the MFT emulator: every assumption it makes
 * about the wire (specs/seeds, "Audit log sample"), each step as the script takes it, in TypeScript.
 * A JavaScript `undefined` is not a pass: keys are read the way Python reads them (support/mft-reference.ts).
 */

/** issue_access_token: the assertion (claims and header as the script signs them), the JSON POST, payload.get("access_token"). */
async function referenceToken(mft: MftEmulator): Promise<string> {
  const claims = referenceAssertionClaims(mft.tenantId, mft.baseUrl, Math.floor(Date.now() / 1000));
  const assertion = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: mft.kid, typ: 'JWT' }).sign(createPrivateKey(mft.privateKeyPem));
  const response = await fetch(`${mft.baseUrl}/v1/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...REFERENCE_TOKEN_BODY, client_assertion: assertion }),
  });
  raiseForStatus(response);
  const token = pythonGet(await response.json(), 'access_token');
  if (!pythonTruthy(token)) throw new Error('Token response did not contain access_token');
  expect(typeof token).toBe('string');
  return token as string;
}

interface ReferenceRun {
  created: Record<string, unknown>;
  statuses: unknown[];
  report: Record<string, unknown>;
  file: Buffer;
  outputName: string;
}

/** main(): create, poll until completed, download (retrying with the token on 401/403), delete. */
async function referenceExport(mft: MftEmulator, reportType: ReferenceReportType, startIso: string, endIso: string): Promise<ReferenceRun> {
  const token = await referenceToken(mft);
  const createResponse = await fetch(`${mft.baseUrl}/v1/reports/audit-logs`, {
    method: 'POST',
    headers: { Authorization: referenceAuthorization(token), 'Content-Type': 'application/json' },
    body: JSON.stringify(referenceCreateBody({ reportType, startIso, endIso })),
  });
  raiseForStatus(createResponse);
  const created = (await createResponse.json()) as Record<string, unknown>;
  const reportId = pythonGet(created, 'id');
  if (!pythonTruthy(reportId)) throw new Error('Create response did not include report id');
  pythonGet(created, 'status');

  const statuses: unknown[] = [];
  let report: Record<string, unknown>;
  for (;;) {
    const response = await fetch(`${mft.baseUrl}/v1/reports/audit-logs/${reportId as string}`, { headers: { Authorization: referenceAuthorization(token) } });
    raiseForStatus(response);
    report = (await response.json()) as Record<string, unknown>;
    const status = pythonGet(report, 'status');
    statuses.push(status);
    const reading = referenceStatus(status);
    if (reading === 'completed') break;
    if (reading === 'unexpected') throw new Error(`Unexpected report status: ${String(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const outputName = referenceOutputName(pythonGet(report, 'id', 'fallback'), reportType);

  const url = pythonGet(report, 'url');
  if (!pythonTruthy(url)) throw new Error('Report response did not include URL');
  let download = await fetch(url as string);
  if (download.status === 401 || download.status === 403) download = await fetch(url as string, { headers: { Authorization: referenceAuthorization(token) } });
  raiseForStatus(download);
  const file = Buffer.from(await download.arrayBuffer());

  const deleted = await fetch(`${mft.baseUrl}/v1/reports/audit-logs/${reportId as string}`, { method: 'DELETE', headers: { Authorization: referenceAuthorization(token) } });
  raiseForStatus(deleted);
  // The summary the script prints reads these; any value will do.
  pythonGet(report, 'status');
  pythonGet(report, 'size');
  return { created, statuses, report, file, outputName };
}

/** --list: response.json().get("items", []), then r.get("id") and r.get("status") of each. */
async function referenceList(mft: MftEmulator): Promise<{ id: unknown; status: unknown }[]> {
  const token = await referenceToken(mft);
  const response = await fetch(`${mft.baseUrl}/v1/reports/audit-logs`, { headers: { Authorization: referenceAuthorization(token) } });
  raiseForStatus(response);
  const items = pythonGet(await response.json(), 'items', []) as unknown[];
  return items.map((item) => ({ id: pythonGet(item, 'id'), status: pythonGet(item, 'status') }));
}

async function expectedBytes(mft: MftEmulator, reportType: ReferenceReportType, startIso: string, endIso: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of mft.expectedFile(referenceCreateBody({ reportType, startIso, endIso }) as never)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('the MFT reference script against the emulator (its defaults)', () => {
  let mft: MftEmulator;
  beforeAll(async () => {
    mft = await startMftEmulator({ reportReadyAfterMs: 200, eventsPerHour: 300 });
  });
  afterAll(() => mft.close());

  it('exports "the last 24 hours" (its default window) as JSON and as CSV: every key it reads is there, every status one it knows', async () => {
    const now = Date.parse('2026-06-26T10:17:43.512Z');
    const [startIso, endIso] = [referenceIso(now - 24 * 3_600_000), referenceIso(now)];
    expect(startIso).toBe('2026-06-25T10:17:43Z');
    for (const reportType of ['json', 'csv'] as const) {
      const run = await referenceExport(mft, reportType, startIso, endIso);
      expect(run.file.equals(await expectedBytes(mft, reportType, startIso, endIso))).toBe(true);
      expect(run.statuses.at(-1)).toBe('Completed');
      expect(run.statuses.length).toBeGreaterThan(1);
      expect(run.outputName).toBe(run.report.id);
      expect(run.outputName.endsWith(`.${reportType}`)).toBe(true);
    }
    expect(mft.reports()).toEqual([]);
  });

  it('its create request is accepted in the shape it sends, also with every filter', async () => {
    const token = await referenceToken(mft);
    const body = referenceCreateBody({
      reportType: 'csv',
      startIso: '2026-06-26T00:00:00Z',
      endIso: '2026-06-26T23:00:00Z',
      actor: 'ops@example.com',
      actorType: 'User',
      actions: ['Delete', 'Delete', 'Update'],
      resources: ['KeyCert'],
      outcomes: ['Error'],
      sourceIp: '203.0.113.7',
    });
    const response = await fetch(`${mft.baseUrl}/v1/reports/audit-logs`, {
      method: 'POST',
      headers: { Authorization: referenceAuthorization(token), 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    const entry = mft.requestLog.filter((logged) => logged.method === 'POST' && logged.path === '/v1/reports/audit-logs').at(-1)!;
    expect(entry.body).toEqual(body);
    expect(entry.authorizationScheme).toBe('bearer');
    const listed = await referenceList(mft);
    const created = (await response.json()) as { id: string };
    expect(listed).toContainEqual({ id: created.id, status: expect.anything() });
    for (const item of listed) expect(referenceStatus(item.status)).not.toBe('unexpected');
  });

  it.each(['number', 'mixed'] as StatusFormat[])('reads numeric statuses (statusFormat %s) the way the script does', async (statusFormat) => {
    const numeric = await startMftEmulator({ reportReadyAfterMs: 150, statusFormat });
    try {
      const run = await referenceExport(numeric, 'json', '2026-06-26T00:00:00Z', '2026-06-26T01:00:00Z');
      for (const status of run.statuses) expect(referenceStatus(status)).not.toBe('unexpected');
      expect(run.statuses.some((status) => typeof status === 'number')).toBe(true);
    } finally {
      await numeric.close();
    }
  });
});

describe('the options beyond the reference (for the exporter\'s tolerance tests)', () => {
  it.each([
    ['a bare array list', { listShape: 'array' }, /'list' object has no attribute 'get'/, 'list'],
    ['a status word it does not know', { pendingStatuses: ['Queued'] }, /Unexpected report status: Queued/, 'export'],
    ['a size in kilobytes and an id-only create answer (the script only prints the size and the status)', { sizeField: 'kilobytes', createAnswer: 'id-only' }, undefined, 'export'],
    ['a list of ids and statuses only', { listFields: 'minimal' }, undefined, 'list'],
  ] as [string, MftEmulatorOptions, RegExp | undefined, 'list' | 'export'][])('%s', async (_name, options, error, flow) => {
    const mft = await startMftEmulator({ reportReadyAfterMs: 100, ...options });
    try {
      const run = flow === 'list' ? referenceList(mft) : referenceExport(mft, 'json', '2026-06-26T00:00:00Z', '2026-06-26T01:00:00Z');
      if (error) await expect(run).rejects.toThrow(error);
      else await expect(run).resolves.toBeDefined();
    } finally {
      await mft.close();
    }
  });
});
