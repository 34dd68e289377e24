import { spawn } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMftExport, runXrayExport } from '../../local/run-export.js';
import { startTwin, type Twin } from '../../local/twin.js';
import { DrivenClock } from '../support/driven-clock.js';
import { listKeys } from '../support/stored-events.js';

/**
 * `audit-export verify` as an auditor runs it, on an exported range of the twin: exit 0 when every window is
 * complete; exit 1 naming the window after one object is deleted, after one byte of a part changes on disk (same
 * size: only the SHA-256 can tell), and after a manifest is removed.
 */

const BIN = path.resolve('bin/audit-export.mjs');
const RANGE = { start: '2026-11-01T00:00:00.000Z', end: '2026-11-01T06:00:00.000Z' };
const HOUR = 3_600_000;
let directory: string;
let twinDir: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'verify-'));
  twinDir = path.join(directory, '.twin');
  const clock = new DrivenClock(Date.parse(RANGE.end) + 2 * HOUR);
  const twin = await startTwin({ directory: twinDir, clock, mft: { reportReadyAfterMs: 0, eventsPerHour: 200 }, xray: { events: 1_800_000 } });
  try {
    // Small parts: several objects per window.
    const xray = await runXrayExport(twin.xrayRuntime({ eventsPerPart: 2_000 }), { input: { window: RANGE }, waitMs: 0, retryMs: 5 });
    expect(xray.status, xray.cause).toBe('SUCCEEDED');
    const mft = await runMftExport(twin.mftRuntime({ pollIntervalSeconds: 1 }), { input: { window: RANGE }, waitMs: 0, retryMs: 5 });
    expect(mft.status, mft.cause).toBe('SUCCEEDED');
  } finally {
    await twin.close();
  }
}, 120_000);
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

function verify(source: string, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string; evidence: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const args = [BIN, 'verify', source, '--start', RANGE.start, '--end', RANGE.end, '--twin-dir', twinDir, '--json', ...extra];
    const child = spawn(process.execPath, args, { cwd: directory, env: { ...process.env, AUDIT_EXPORT_TARGET: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      let evidence: Record<string, any> = {};
      try {
        evidence = JSON.parse(stdout.trim().split('\n').at(-1)!);
      } catch {
        // no evidence line: the test's expectation on the exit code says why
      }
      resolve({ code, stdout, stderr, evidence });
    });
  });
}

async function withTwin<T>(use: (twin: Twin) => Promise<T>): Promise<T> {
  const twin = await startTwin({ directory: twinDir, xray: false });
  try {
    return await use(twin);
  } finally {
    await twin.close();
  }
}

const windowStart = (hour: number) => new Date(Date.parse(RANGE.start) + hour * HOUR).toISOString();
const folderOf = (hour: number) => `window=${windowStart(hour).replace(/[-:]/g, '').replace('.000', '')}--`;

describe('audit-export verify', () => {
  let manifestsSha256: string;

  it('exits 0 on an exported range, with evidence an auditor can keep', async () => {
    for (const source of ['xray', 'mft']) {
      const result = await verify(source);
      expect(result.code, result.stderr).toBe(0);
      expect(result.evidence).toMatchObject({
        range: RANGE,
        windowsChecked: 6,
        windowsComplete: 6,
        problems: [],
        complete: true,
        gridMinutes: 60,
      });
      expect(result.evidence.stream).toMatch(new RegExp(`^${source}\\|`));
      expect(result.evidence.bytesHashed).toBeGreaterThan(0);
      expect(result.evidence.manifestsSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(result.stderr).toContain('6/6 windows');
      if (source === 'xray') {
        manifestsSha256 = result.evidence.manifestsSha256;
        expect(result.evidence.objectsChecked).toBeGreaterThan(6);
      }
    }
    // The same bucket gives the same evidence.
    expect((await verify('xray')).evidence.manifestsSha256).toBe(manifestsSha256);
  });

  it('exits 1 naming the window whose object was deleted', async () => {
    await withTwin(async (twin) => {
      const part = (await listKeys(twin.s3Client, twin.s3.bucket, 'source=xray/')).find((key) => key.includes(folderOf(1)) && key.endsWith('.ndjson.gz'))!;
      await twin.s3Client.send(new DeleteObjectCommand({ Bucket: twin.s3.bucket, Key: part }));
    });
    const result = await verify('xray');
    expect(result.code).toBe(1);
    expect(result.evidence.complete).toBe(false);
    expect(result.evidence.problems).toHaveLength(1);
    expect(result.evidence.problems[0]).toMatchObject({ window: { start: windowStart(1) }, state: 'incomplete' });
    expect(result.evidence.problems[0].problems.join(' ')).toMatch(/missing/);
    expect(result.stderr).toContain(`${windowStart(1)} → 02:00:00.000Z  INCOMPLETE`);
  });

  it('exits 1 naming the window one byte of whose part changed on disk', async () => {
    await withTwin(async (twin) => {
      const part = (await listKeys(twin.s3Client, twin.s3.bucket, 'source=xray/')).find((key) => key.includes(folderOf(3)) && key.endsWith('.ndjson.gz'))!;
      const file = await open(twin.s3.objectPath(part), 'r+');
      try {
        const byte = Buffer.alloc(1);
        await file.read(byte, 0, 1, 100);
        byte[0] = byte[0]! ^ 0x01;
        await file.write(byte, 0, 1, 100);
      } finally {
        await file.close();
      }
    });
    const result = await verify('xray');
    expect(result.code).toBe(1);
    const changed = result.evidence.problems.find((problem: any) => problem.window.start === windowStart(3));
    expect(changed).toMatchObject({ state: 'incomplete' });
    expect(changed.problems.join(' ')).toMatch(/SHA-256 differs from the manifest/);
    expect(result.evidence.problems.map((problem: any) => problem.window.start)).toEqual([windowStart(1), windowStart(3)]);
  });

  it('exits 1 naming the window whose manifest was removed', async () => {
    await withTwin(async (twin) => {
      const manifest = (await listKeys(twin.s3Client, twin.s3.bucket, 'source=mft/')).find((key) => key.includes(folderOf(4)) && key.endsWith('_manifest.json'))!;
      await twin.s3Client.send(new DeleteObjectCommand({ Bucket: twin.s3.bucket, Key: manifest }));
    });
    const result = await verify('mft');
    expect(result.code).toBe(1);
    expect(result.evidence.problems).toEqual([
      expect.objectContaining({ window: { start: windowStart(4), end: windowStart(5) }, state: 'missing' }),
    ]);
    expect(result.evidence.windowsComplete).toBe(5);
  });

  it('refuses a range without an exported stream, and bad input, with exit 2', async () => {
    const csv = await verify('xray', ['--format', 'csv']);
    expect(csv.code).toBe(2);
    expect(csv.stderr).toMatch(/no xray stream with format csv/);
    const bad = await verify('nope');
    expect(bad.code).toBe(2);
  });
});
