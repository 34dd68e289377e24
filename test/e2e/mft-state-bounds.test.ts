import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/common/http.js';
import { MFT_WINDOW_CONCURRENCY, parseConfig } from '../../infra/config.js';
import { runMftExport } from '../../local/run-export.js';
import { STEP_FUNCTIONS_LIMITS, type LocalRunResult } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';

/**
 * The MFT state machine within Step Functions' limits at the largest run the configuration allows, on the
 * strict local engine (256 KiB per state, 25,000 history events, the execution timeout), on success and when
 * every window fails; and a scheduled run that would outlast its execution timeout defers the windows it
 * cannot finish instead of committing nothing.
 */

const KiB = 1024;
let twin: Twin;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'mft-bounds-'));
  twin = await startTwin({ directory, xray: false, mft: { reportReadyAfterMs: 0, eventsPerHour: 2 } });
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

const MAX_WINDOWS = (() => {
  try {
    parseConfig({ sources: { mft: { maxWindowsPerRun: 501 } } });
  } catch {
    return 500;
  }
  throw new Error('the configuration accepts more than 500 MFT windows per run: raise MAX_WINDOWS here');
})();

function describeRun(label: string, result: LocalRunResult, windows: number) {
  process.stdout.write(
    `${label}: ${result.status}${result.error ? ` (${result.error})` : ''}, ${windows} windows, largest state ${result.largestPayloadBytes} B ` +
      `(${(result.largestPayloadBytes / KiB).toFixed(1)} KiB of 256, at "${result.largestPayloadAt}"), history events ${result.historyEvents} of 25,000\n`,
  );
}

describe(`a scheduled MFT run of maxWindowsPerRun = ${MAX_WINDOWS}, the configured maximum`, () => {
  it('stays far below 256 KiB per state when every window succeeds', async () => {
    const runtime = twin.mftRuntime({ maxWindows: MAX_WINDOWS, initialLookbackHours: MAX_WINDOWS, lagMinutes: 0, windowMinutes: 60, pollIntervalSeconds: 1 });
    const result = await runMftExport(runtime, { input: {}, waitMs: 0, retryMs: 1 });
    const windows = (result.output as { windows: { status: string }[] } | undefined)?.windows ?? [];
    describeRun('all windows succeed', result, windows.length);
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(windows).toHaveLength(MAX_WINDOWS);
    expect(windows.every((window) => window.status === 'SUCCEEDED')).toBe(true);
    expect(result.largestPayloadBytes).toBeLessThan(STEP_FUNCTIONS_LIMITS.payloadBytes * 0.75);
    expect(result.historyEvents).toBeLessThan(STEP_FUNCTIONS_LIMITS.historyEvents);
  }, 300_000);

  it('stays below 256 KiB when every window fails, and CommitRun still runs and releases the lease', async () => {
    // Every CreateReport answered 503 (no HTTP retries): each window fails after its Step Functions retries.
    const noRetries = new HttpClient({ retry: { maxAttempts: 1 } });
    const rule = twin.mft.faults.add({ match: { server: 'api', method: 'POST' }, fault: { kind: 'status', status: 503 } });
    try {
      const runtime = twin.mftRuntime({ http: noRetries, maxWindows: MAX_WINDOWS, initialLookbackHours: MAX_WINDOWS, lagMinutes: 0, prefix: 'failing/', windowMinutes: 30 });
      const result = await runMftExport(runtime, { input: { type: 'csv' }, waitMs: 0, retryMs: 1 });
      describeRun('all windows fail', result, MAX_WINDOWS);
      // The windows' failure, not a payload limit: CommitRun ran (the failing run is recorded, the lease released).
      expect([result.status, result.error]).toEqual(['FAILED', 'TransientError']);
      expect(result.events.some((event) => event.type === 'StateExited' && event.state?.name === 'CommitRun')).toBe(true);
      expect(result.largestPayloadBytes).toBeLessThan(STEP_FUNCTIONS_LIMITS.payloadBytes * 0.75);
      const streams = await twin.ledger.checkpoints();
      const csv = streams.find((stream) => stream.stream.endsWith('|csv'));
      expect(csv?.leases).toEqual([]);
    } finally {
      rule.remove();
    }
  }, 300_000);
});

describe('a scheduled run that would outlast its execution timeout', () => {
  let slow: Twin;

  beforeAll(async () => {
    // 30 windows two at a time, each report ready after 2 s: at least 30 s of work, whatever the machine's speed.
    slow = await startTwin({ directory: path.join(directory, 'slow'), xray: false, mft: { reportReadyAfterMs: 2000, eventsPerHour: 2 } });
  });

  afterAll(async () => {
    await slow?.close();
  });

  // The execution timeout scaled down from 2 hours to 20 s (less than the work: without a deadline the run
  // times out); windows after the first round may start during the first 3 s of it (in AWS: 2 hours less what
  // the last window may still take). The first round always starts, so the deferring run exports at least two
  // windows however slow the machine, and finishes long before its timeout.
  const TIMEOUT_S = 20;
  const runtime = (type: 'json' | 'csv', windowStartBudgetMs: number) => {
    const rt = slow.mftRuntime({ maxWindows: 30, initialLookbackHours: 30, lagMinutes: 0, pollIntervalSeconds: 1 });
    rt.settings.windowStartBudgetMs = windowStartBudgetMs;
    return rt;
  };

  it('without a start deadline it times out before CommitRun and commits nothing', async () => {
    const result = await runMftExport(runtime('csv', 3_600_000), { input: { type: 'csv' }, waitMs: 200, retryMs: 10, executionTimeoutSeconds: TIMEOUT_S });
    expect([result.status, result.error]).toEqual(['TIMED_OUT', 'States.Timeout']);
    const stream = (await slow.ledger.checkpoints()).find((entry) => entry.stream.endsWith('|csv'));
    expect(stream?.watermark).toBeUndefined();
  }, 120_000);

  it('defers the windows it cannot finish, commits those it did, and the next run continues from there', async () => {
    const first = await runMftExport(runtime('json', 3_000), { input: {}, waitMs: 200, retryMs: 10, executionTimeoutSeconds: TIMEOUT_S });
    expect(first.status, `${first.error}: ${first.cause}`).toBe('SUCCEEDED');
    const output = first.output as { windows: { status: string; window: { start: string; end: string } }[]; checkpoint: string; message: string };
    const done = output.windows.filter((window) => window.status === 'SUCCEEDED');
    const deferred = output.windows.filter((window) => window.status === 'DEFERRED');
    process.stdout.write(`deadline run: ${done.length} windows exported, ${deferred.length} deferred, ${output.message}\n`);
    expect(done.length).toBeGreaterThanOrEqual(MFT_WINDOW_CONCURRENCY);
    expect(deferred.length).toBeGreaterThan(0);
    expect(done.length + deferred.length).toBe(30);
    // The exported windows are the first ones; the checkpoint moved over them, and no further.
    expect(output.windows.slice(0, done.length).every((window) => window.status === 'SUCCEEDED')).toBe(true);
    expect(output.checkpoint).toBe(done.at(-1)!.window.end);
    expect(output.message).toContain(`${deferred.length} window(s) deferred to the next run`);

    const second = await runMftExport(runtime('json', 3_000), { input: {}, waitMs: 200, retryMs: 10, executionTimeoutSeconds: TIMEOUT_S });
    expect(second.status, `${second.error}: ${second.cause}`).toBe('SUCCEEDED');
    const next = (second.output as { windows: { status: string; window: { start: string } }[] }).windows;
    expect(next[0]!.window.start).toBe(output.checkpoint);
    expect(next[0]!.status).toBe('SUCCEEDED');
  }, 120_000);
});
