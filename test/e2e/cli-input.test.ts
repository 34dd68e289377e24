import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../support/cli-process.js';

/**
 * Bad input refused early and rightly, as a user meets it: a child process, its exit code and its words.
 * Each refusal exits 2, names the flag that is wrong, and leaves nothing running.
 */

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'cli-input-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return runCli(args, { cwd: directory, env: { ...process.env, AUDIT_EXPORT_TARGET: '', ...env }, timeoutMs });
}

describe('bad input is refused before anything runs', () => {
  it.each([
    [['run', 'mft', '--start', '2026-02-30T00:00:00Z', '--end', '2026-03-05T00:00:00Z'], /--start: 2026-02-30 is not a date \(February 2026 has 28 days\)/],
    [['run', 'xray', '--start', '2026-02-31T00:00:00Z', '--end', '2026-03-05T00:00:00Z'], /--start: 2026-02-31 is not a date/],
    [['run', 'mft', '--start', '2026-03-01T00:00:00Z', '--end', '2026-03-01T24:00:00Z'], /--end: .* is not a time of day/],
    [['backfill', 'xray', '--start', '2026-02-29T00:00:00Z', '--end', '2026-03-02T00:00:00Z'], /--start: 2026-02-29 is not a date/],
    [['run', 'xray', '--lookback-hours', '1e9'], /--lookback-hours must be a positive number of hours, at most 87840 \(got 1e9\)/],
    [['run', 'mft', '--lookback-hours', '100000'], /--lookback-hours must be/],
    [['run', 'mft', '--source-ip', 'fe80::1%eth0'], /--source-ip: .*without a zone id/],
    [['emulate', '--xray-port', '99999'], /--xray-port must be a whole number from 0 to 65535/],
    [['emulate', '--events', '1.5'], /--events must be a whole number/],
    [['emulate', '--mft-port', '8443', '--xray-port', '8443'], /must differ/],
    [['emulate', '--key-file', '/nonexistent-directory/key.pem'], /--key-file: the directory \/nonexistent-directory does not exist/],
    [['emulate', '--mft-key-type', 'RS512'], /--mft-key-type must be one of ES256, ES256-SEC1, RS256, EdDSA \(got "RS512"\)/],
    [['emulate', '--mft-list-shape', 'pages'], /--mft-list-shape must be one of items, array, link-header, next-link, page-token, page-number/],
    [['emulate', '--mft-pending-statuses', 'Queued,,Running'], /--mft-pending-statuses: "" is not a status word/],
    [['emulate', '--mft-storage-encoding', 'zstd'], /--mft-storage-encoding must be one of none, gzip, deflate, br/],
    [['emulate', '--xray-last-page-next-offset', 'false'], /--xray-last-page-next-offset must be one of null, zero, omit, vary/],
    [['emulate', '--xray-csv-max-rows', '500001'], /--xray-csv-max-rows must be a whole number from 1 to 500000/],
    [['emulate', '--xray-dry-run-policies', '4'], /--xray-dry-run-policies must be a whole number from 1 to 3/],
  ])('%j → exit 2, the flag named, nothing left running', async (args, message) => {
    const { code, stderr, stdout, killed } = await cli(args, {}, 30_000);
    expect(killed, 'the process did not exit by itself').toBe(false);
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(message);
    expect(stdout).toBe('');
    // --lookback-hours is to blame, not --start.
    if (args.includes('--lookback-hours')) expect(stderr).not.toMatch(/--start/);
  });

  it('a range the planner refuses reaches the CLI as its own error, with exit 2 and every progress line', async () => {
    const { code, stdout, stderr } = await cli(['run', 'xray', '--start', '2016-01-01T00:00:00Z', '--end', '2026-01-01T00:00:00Z', '--json']);
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(/PlanExport failed: InvalidInputError: The range 2016-01-01T00:00:00.000Z → 2026-01-01T00:00:00.000Z spans more than 744 windows; at most 744 fit in one execution \(split it, e.g. with `audit-export backfill`\)/);
    expect(stderr).not.toMatch(/States\.Runtime|TypeError/);
    const summary = JSON.parse(stdout.trim().split('\n').pop()!) as { status: string; error: string };
    expect(summary).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
  });

  it('refuses configuration that can only leak or fail, by setting name, never by value', async () => {
    const env = {
      XRAY_BASE_URL: 'https://admin:pw-SECRET-77@acme.jfrog.test',
      XRAY_ACCESS_TOKEN: 'tok-SECRET-1234567890\nsecond-half-SECRET-0987654321',
      EXPORT_BUCKET: 'bucket',
    };
    const { code, stdout, stderr } = await cli(['run', 'xray', '--target', 'env', '--json'], env);
    expect(code).toBe(2);
    expect(stderr).toMatch(/XRAY_BASE_URL: must not carry a user name or password/);
    expect(stderr).toMatch(/XRAY_ACCESS_TOKEN: holds a line break/);
    for (const secret of ['pw-SECRET-77', 'tok-SECRET', 'second-half-SECRET']) {
      expect(stderr + stdout).not.toContain(secret);
    }
  });

  it('backfill cuts its chunks on the stream grid: 29 days on a 30-minute grid', async () => {
    const { code, stdout, stderr } = await cli(
      ['backfill', 'mft', '--start', '2026-11-01T00:00:00Z', '--end', '2026-11-30T00:00:00Z', '--target', 'aws', '--json'],
      { MFT_WINDOW_MINUTES: '30', MFT_MAX_WINDOWS_PER_RUN: '96', MFT_STATE_MACHINE_ARN: '' },
    );
    // No state machine to reach here: what matters is the plan printed before any execution starts.
    expect(code).toBe(2);
    expect(stderr + stdout).toMatch(/15 execution\(s\) of at most 96 window\(s\) of 30 min for mft 2026-11-01T00:00:00.000Z → 2026-11-30T00:00:00.000Z/);
    expect(stderr).toMatch(/MFT_STATE_MACHINE_ARN is not set/);
  });
});
