import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo, type DemoResult } from '../../cli/commands/demo.js';
import type { Output } from '../../cli/usage.js';
import { startTwin } from '../../local/twin.js';
import { storedXrayEventIds } from '../support/stored-events.js';
import { DrivenClock } from '../support/driven-clock.js';
import { runCli, type CliRun } from '../support/cli-process.js';

/**
 * The twin remembers: two `npm start` runs in one twin directory, three hours apart. The second continues from
 * the checkpoints the first left (only the windows that ended since, plus Xray's re-scan overlap, which finds
 * the events the first stored: nothing twice), and `audit-export status`, a separate process with no
 * configuration, shows what the first run left.
 */

const HOUR = 3_600_000;
const FIRST_RUN = Date.parse('2026-11-20T10:30:00.000Z');

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'twin-memory-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: directory, env: { ...process.env, AUDIT_EXPORT_TARGET: '', CHECKPOINT_TABLE: '' }, timeoutMs: 300_000 });
}

function capture(): Output & { lines: string[] } {
  const lines: string[] = [];
  return { json: false, lines, info: (line) => lines.push(line), result: () => undefined };
}

function change(result: DemoResult, source: string) {
  return result.changes.find((entry) => entry.stream.startsWith(`${source}|`))!;
}

describe('the twin directory keeps its checkpoints', () => {
  let first: DemoResult;
  let second: DemoResult;
  let secondOutput: string[];
  const twinDir = () => path.join(directory, '.twin');

  it('a first run exports the last 24 hours, and status (another process, no configuration) shows its checkpoints', async () => {
    const clock = new DrivenClock(FIRST_RUN);
    first = await runDemo({ directory: twinDir(), output: capture(), clock });
    expect(first.summaries.map((summary) => summary.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(first.previousRunAt).toBeNull();
    for (const source of ['mft', 'xray']) {
      expect(change(first, source)).toMatchObject({ checkpointBefore: null, checkpointAfter: '2026-11-20T10:00:00.000Z', windowsBefore: 0, windowsAfter: 24, windowsWritten: 24 });
    }

    const status = await cli(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const streams = JSON.parse(status.stdout.trim().split('\n').at(-1)!).streams as { stream: string; watermark: string; runs: unknown[] }[];
    expect(streams.map((stream) => [stream.stream.split('|')[0], stream.watermark])).toEqual([
      ['mft', '2026-11-20T10:00:00.000Z'],
      ['xray', '2026-11-20T10:00:00.000Z'],
    ]);
    expect(streams.every((stream) => stream.runs.length === 1)).toBe(true);
  });

  it('a second run three hours later exports only the three new windows, re-scans the overlap and stores nothing twice', async () => {
    const clock = new DrivenClock(FIRST_RUN + 3 * HOUR);
    const output = capture();
    second = await runDemo({ directory: twinDir(), output, clock });
    secondOutput = output.lines;
    expect(second.summaries.map((summary) => summary.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(second.previousRunAt).not.toBeNull();
    const mft = second.summaries[0]!;
    expect(mft.objects).toHaveLength(3);
    expect(mft.window).toEqual({ start: '2026-11-20T10:00:00.000Z', end: '2026-11-20T13:00:00.000Z' });
    // Xray walks the 2-hour overlap before the checkpoint again, and the three new windows.
    const xray = second.summaries[1]!;
    expect(xray.window).toEqual({ start: '2026-11-20T08:00:00.000Z', end: '2026-11-20T13:00:00.000Z' });
    for (const source of ['mft', 'xray']) {
      expect(change(second, source)).toMatchObject({
        checkpointBefore: '2026-11-20T10:00:00.000Z',
        checkpointAfter: '2026-11-20T13:00:00.000Z',
        windowsBefore: 24,
        windowsAfter: 27,
        windowsWritten: 3,
      });
    }
    expect(secondOutput.join('\n')).toMatch(/What changed since the previous run/);
    expect(secondOutput.join('\n')).toMatch(/xray\|xray-twin\|all\|json: checkpoint 2026-11-20T10:00:00.000Z → 2026-11-20T13:00:00.000Z; 3 new window\(s\), 27 in all/);

    // The emulator's dataset is the same one: the overlap found exactly the events stored, none twice.
    const twin = await startTwin({ directory: twinDir(), xray: { events: 50_000 }, clock });
    try {
      const ids = await storedXrayEventIds(twin.s3Client, twin.s3.bucket, 'source=xray/');
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort((a, b) => a - b)).toEqual(twin.xray!.eventIds({ start: '2026-11-19T10:00:00Z', end: '2026-11-20T13:00:00Z' }));
    } finally {
      await twin.close();
    }
  });

  it('a fresh --twin-dir starts empty', async () => {
    const status = await cli(['status', '--twin-dir', path.join(directory, 'other')]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('no checkpoints yet');
  });
});
