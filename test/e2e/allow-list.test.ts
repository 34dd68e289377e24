import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EGRESS_IPS_OUTPUT } from '../../functions/common/allow-list.js';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { listKeys } from '../support/stored-events.js';

/**
 * Both vendors allow-list source addresses, and the exporter calls from one that is not listed (loopback; the
 * lists hold a documentation address standing for a NAT gateway's Elastic IP). Each export fails on its first
 * vendor call with an error that says so, names where the allow-list is kept and the stack output that lists
 * the addresses to enter, instead of blaming the key or the clock; nothing is stored, no report is created.
 */

let twin: Twin;
let directory: string;
const WINDOW = { start: '2026-10-30T00:00:00Z', end: '2026-10-30T01:00:00Z' };

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'allow-list-e2e-'));
  twin = await startTwin({
    directory,
    mft: { reportReadyAfterMs: 100, ipAllowList: ['203.0.113.7'] },
    xray: { events: 1_000, datasetEnd: '2026-11-01T00:00:00Z', ipAllowList: ['203.0.113.0/28'] },
  });
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

describe('a vendor that refuses the exporter because of its source address', () => {
  it('MFT: the export fails at the token request, naming the API key IP allow-list and the stack output', async () => {
    const result = await runMftExport(twin.mftRuntime({ prefix: 'refused' }), { input: { window: WINDOW }, waitMs: 0, retryMs: 10 });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('VendorAuthError');
    expect(result.cause).toContain(`Progress Automate MFT refused the token request to ${twin.mft.tokenUrl} because of the address it came from (HTTP 403: IP address 127.0.0.1 is not in the IP allow list of this API key)`);
    expect(result.cause).toContain(`the stack output ${EGRESS_IPS_OUTPUT}`);
    expect(result.cause).toContain('System > API Keys > the key > IP Access');
    // Not the message for a bad key: that one sends the operator to the key and the clock.
    expect(result.cause).not.toMatch(/clock|kid/);
    expect(twin.mft.reports()).toEqual([]);
    expect(await listKeys(twin.s3Client, twin.s3.bucket, 'refused/')).toEqual([]);
  });

  it('Xray: the export fails at the first page, naming the platform allowlist and the stack output', async () => {
    const result = await runXrayExport(twin.xrayRuntime({ prefix: 'refused' }), { input: { window: WINDOW }, waitMs: 0, retryMs: 10 });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('VendorAuthError');
    expect(result.cause).toContain(
      'JFrog refused the audit query to ' +
        `${twin.xray!.baseUrl}/xray/api/v1/curation/audit/packages because of the address it came from ` +
        '(HTTP 403: Forbidden: IP address 127.0.0.1 is not on the IP allowlist of this JFrog Platform)',
    );
    expect(result.cause).toContain(`the stack output ${EGRESS_IPS_OUTPUT}`);
    expect(result.cause).toContain("the JFrog Platform's IP/CIDR allowlist (MyJFrog");
    expect(result.cause).not.toMatch(/VIEW_POLICIES/);
    expect(JSON.stringify(result.events)).not.toContain(twin.xray!.admin.accessToken);
    expect(await listKeys(twin.s3Client, twin.s3.bucket, 'refused/')).toEqual([]);
  });
});
