import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, type CliRun } from '../support/cli-process.js';

/** The `audit-export` command as a user runs it: a child process, its exit code, stdout and stderr. */

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'cli-e2e-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

function cli(args: string[], timeoutMs = 60_000): Promise<CliRun> {
  return runCli(args, { cwd: directory, env: { ...process.env, AUDIT_EXPORT_TARGET: '' }, timeoutMs });
}

function lastJsonLine(stdout: string) {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, any>;
}

describe('audit-export CLI', () => {
  it('runs an MFT export on the twin and ends stdout with a JSON summary', async () => {
    const { code, stdout, stderr } = await cli([
      'run', 'mft', '--start', '2026-11-01T00:00:00Z', '--end', '2026-11-01T06:00:00Z', '--type', 'csv', '--action', 'Delete', '--json',
    ]);
    expect(code, stderr).toBe(0);
    const summary = lastJsonLine(stdout);
    expect(summary).toMatchObject({
      source: 'mft',
      status: 'SUCCEEDED',
      target: 'twin',
      window: { start: '2026-11-01T00:00:00.000Z', end: '2026-11-01T06:00:00.000Z' },
    });
    // Six hourly grid windows: six reports, six objects, each with its manifest.
    expect(summary.reportIds).toHaveLength(6);
    expect(summary.reportIds[0]).toMatch(/\.csv$/);
    expect(summary.objects).toHaveLength(6);
    expect(summary.objects[0].key).toMatch(/^source=mft\/.*\/dt=2026-11-01\/window=20261101T000000Z--20261101T010000Z\/report\.csv$/);
    expect(summary.objects[0].bytes).toBeGreaterThan(0);
    expect(stderr).toContain('report deleted on the server');
    expect(stdout.trim().split('\n')).toHaveLength(1);
  });

  it('runs an Xray export on the twin', async () => {
    const { code, stdout, stderr } = await cli(['run', 'xray', '--lookback-hours', '72', '--format', 'csv', '--json']);
    expect(code, stderr).toBe(0);
    const summary = lastJsonLine(stdout);
    expect(summary).toMatchObject({ source: 'xray', status: 'SUCCEEDED' });
    expect(summary.events).toBeGreaterThan(0);
  });

  it.each([
    [['run', 'mft', '--type', 'xml'], /--type/],
    [['run', 'mft', '--start', '2026-02-01T00:00:00Z', '--end', '2026-01-01T00:00:00Z'], /must be earlier than/],
    [['run', 'mft', '--start', 'yesterday'], /ISO-8601/],
    [['run', 'mft', '--action', 'Patch'], /unknown action "Patch"/],
    [['run', 'mft', '--source-ip', '999.1.1.1'], /IPv4 or IPv6/],
    [['run', 'mft', '--actor', 'x'.repeat(321)], /320 characters/],
    [['run', 'mft', '--bogus'], /Unknown option '--bogus'/],
    [['run', 'mft', '--target', 'mars'], /--target must be twin, deployed, env or aws/],
    [['run', 'xray', '--lookback-hours', '0'], /--lookback-hours must be a positive number/],
    [['run', 'xray', '--format', 'xml'], /--format/],
    [['run', 'salesforce'], /unknown source "salesforce" \(sources: mft, xray\)/],
  ])('rejects %j with exit code 2 and a clear message', async (args, message) => {
    const { code, stderr, stdout } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stdout).toBe('');
  });

  it('backfills a range as chunked manual executions with deterministic names', async () => {
    const args = ['backfill', 'xray', '--start', '2026-11-01T00:00:00Z', '--end', '2026-11-02T12:00:00Z', '--chunk-hours', '24', '--json'];
    const first = await cli(args);
    expect(first.code, first.stderr).toBe(0);
    const summary = lastJsonLine(first.stdout);
    expect(summary.executions).toHaveLength(2);
    expect(summary.executions.map((execution: { status: string }) => execution.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const names = summary.executions.map((execution: { executionArn: string }) => execution.executionArn.split(':').pop());
    expect(names[0]).toMatch(/^backfill-xray-20261101T000000Z-20261102T000000Z-[0-9a-f]{8}$/);
    const again = lastJsonLine((await cli(args)).stdout);
    expect(again.executions.map((execution: { executionArn: string }) => execution.executionArn.split(':').pop())).toEqual(names);
  });

  it('rejects a backfill without a source or a range', async () => {
    expect((await cli(['backfill', '--start', '2026-11-01T00:00:00Z'])).stderr).toMatch(/name the source/);
    const noEnd = await cli(['backfill', 'mft', '--start', '2026-11-01T00:00:00Z']);
    expect(noEnd.code).toBe(2);
    expect(noEnd.stderr).toMatch(/--start and --end are both required/);
  });

  it('fails with exit code 2 and names the missing settings when --target env is not configured', async () => {
    const { code, stderr } = await cli(['run', 'mft', '--target', 'env']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/MFT_BASE_URL: is required/);
    expect(stderr).toMatch(/EXPORT_BUCKET/);
  });

  it('prints help with examples for every command', async () => {
    for (const command of [
      ['--help'],
      ['run', 'mft', '--help'],
      ['run', 'xray', '--help'],
      ['emulate', '--help'],
      ['demo', '--help'],
      ['backfill', '--help'],
      ['status', '--help'],
    ]) {
      const { code, stdout } = await cli(command);
      expect(code).toBe(0);
      expect(stdout).toMatch(/Usage: audit-export/);
    }
  });

  it('emulate prints one JSON line, writes the key with mode 0600, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'emulate', '--events', '1000', '--seed', '7', '--mft-key-type', 'EdDSA', '--xray-last-page-next-offset', 'zero'], { cwd: directory });
    const line = await new Promise<string>((resolve, reject) => {
      let buffer = '';
      child.stdout.on('data', (chunk) => {
        buffer += chunk;
        if (buffer.includes('\n')) resolve(buffer.split('\n')[0]!);
      });
      child.on('error', reject);
      child.on('close', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const info = JSON.parse(line);
    expect(info.mft).toMatchObject({ baseUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), tenantId: expect.any(String), kid: expect.any(String), keyAlgorithm: 'EdDSA' });
    expect(await readFile(info.mft.privateKeyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(info.xray).toMatchObject({ baseUrl: expect.stringMatching(/^http:/), username: expect.any(String) });
    expect((await stat(info.mft.privateKeyFile)).mode & 0o777).toBe(0o600);
    const health = await fetch(`${info.xray.baseUrl}/xray/api/v1/curation/audit/packages`);
    expect(health.status).toBe(401);
    const last = await fetch(`${info.xray.baseUrl}/xray/api/v1/curation/audit/packages?num_of_rows=2000`, { headers: { authorization: `Bearer ${info.xray.accessToken}` } });
    expect(((await last.json()) as { meta: Record<string, unknown> }).meta.next_offset).toBe(0);
    // Two MFT tenants and two Xray platforms by default (a deployment with several instances), each its own.
    expect(info.instances.mft).toHaveLength(2);
    expect(info.instances.xray).toHaveLength(2);
    expect(info.instances.mft[0]).toEqual(info.mft);
    const [, otherMft] = info.instances.mft;
    const [, otherXray] = info.instances.xray;
    expect(otherMft.tenantId).not.toBe(info.mft.tenantId);
    expect(otherMft.baseUrl).not.toBe(info.mft.baseUrl);
    expect((await stat(otherMft.privateKeyFile)).mode & 0o777).toBe(0o600);
    expect(otherXray.baseUrl).not.toBe(info.xray.baseUrl);
    const other = await fetch(`${otherXray.baseUrl}/xray/api/v1/curation/audit/packages?num_of_rows=2000`, { headers: { authorization: `Bearer ${otherXray.accessToken}` } });
    expect(other.status).toBe(200);
    child.removeAllListeners('close');
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
