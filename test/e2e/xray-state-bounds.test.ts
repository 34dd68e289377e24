import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/common/http.js';
import { XRAY_MAX_GROUPS_PER_RUN } from '../../infra/config.js';
import { runXrayExport } from '../../local/run-export.js';
import { STEP_FUNCTIONS_LIMITS } from '../../local/state-machine-runner.js';
import { startTwin, type Twin } from '../../local/twin.js';

/**
 * The Xray state machine at the most groups the configuration allows in one run, on the strict local engine,
 * when every group fails (each failed group keeps its full error in its result): the state stays within
 * 256 KiB and CommitRun runs.
 */

let twin: Twin;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'xray-bounds-'));
  twin = await startTwin({ directory, mft: { reportReadyAfterMs: 0 }, xray: { events: 2_000, datasetEnd: '2026-11-01T00:00:00Z' } });
});

afterAll(async () => {
  await twin?.close();
  await rm(directory, { recursive: true, force: true });
});

describe(`an Xray run of ${XRAY_MAX_GROUPS_PER_RUN} groups, the configured maximum`, () => {
  it('stays below 256 KiB per state when every group fails', async () => {
    const rule = twin.xray!.faults.add({ fault: { kind: 'status', status: 503 } });
    try {
      const hours = XRAY_MAX_GROUPS_PER_RUN;
      const window = { start: '2026-10-20T00:00:00Z', end: new Date(Date.parse('2026-10-20T00:00:00Z') + hours * 3_600_000).toISOString() };
      const runtime = twin.xrayRuntime({ http: new HttpClient({ retry: { maxAttempts: 1 } }), windowMinutes: 60, groupHours: 1, maxWindows: hours });
      const result = await runXrayExport(runtime, { input: { window, format: 'json' }, waitMs: 0, retryMs: 1 });
      const groups = result.events.filter((event) => event.type === 'MapIterationStarted').length;
      process.stdout.write(
        `xray, every group fails: ${result.status} (${result.error}), ${groups} groups, largest state ${result.largestPayloadBytes} B ` +
          `(${(result.largestPayloadBytes / 1024).toFixed(1)} KiB of 256, at "${result.largestPayloadAt}"), history events ${result.historyEvents}\n`,
      );
      expect(groups).toBe(XRAY_MAX_GROUPS_PER_RUN);
      expect([result.status, result.error]).toEqual(['FAILED', 'TransientError']);
      expect(result.events.some((event) => event.type === 'StateExited' && event.state?.name === 'CommitRun')).toBe(true);
      expect(result.largestPayloadBytes).toBeLessThan(STEP_FUNCTIONS_LIMITS.payloadBytes * 0.75);
    } finally {
      rule.remove();
    }
  }, 300_000);
});
