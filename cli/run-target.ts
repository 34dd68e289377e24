import path from 'node:path';
import { mftRuntimeFromEnvironment } from '../functions/mft/runtime.js';
import { xrayRuntimeFromEnvironment } from '../functions/xray/runtime.js';
import { runMftExport, runXrayExport } from '../local/run-export.js';
import type { LocalRunResult } from '../local/state-machine-runner.js';
import { startTwin, type Twin } from '../local/twin.js';
import { startAwsExecution } from './aws-execution.js';
import { MFT_STEPS, MFT_TRANSIENT, XRAY_STEPS, createProgress, formatBytes } from './progress.js';
import { UsageError, type Output } from './usage.js';

/** Where an export runs: the local twin, the local runner against configured endpoints, or AWS. */
export type Target = 'twin' | 'env' | 'aws';
export type Source = 'mft' | 'xray';

export interface StoredObjectSummary {
  bucket: string;
  key: string;
  bytes: number;
  sha256?: string;
}

/** The `--json` result of every run command (the last line of stdout). */
export interface RunSummary {
  source: Source;
  status: 'SUCCEEDED' | 'FAILED';
  target: Target;
  executionArn: string;
  window?: { start: string; end: string };
  reportId?: string;
  objects: StoredObjectSummary[];
  windows?: { window: { start: string; end: string }; events: number; parts: number; bytes: number }[];
  events?: number;
  bytes?: number;
  error?: string;
  cause?: string;
  stateTransitions?: number;
  durationMs: number;
}

export function parseTarget(value: string | undefined): Target {
  const target = value ?? (process.env.AUDIT_EXPORT_TARGET || 'twin');
  if (target !== 'twin' && target !== 'env' && target !== 'aws') {
    throw new UsageError(`--target must be twin, env or aws (got ${JSON.stringify(target)})`);
  }
  return target;
}

export interface RunOptions {
  source: Source;
  target: Target;
  input: unknown;
  output: Output;
  twinDir?: string;
  /** An already running twin (the demo runs both sources on one). */
  twin?: Twin;
}

export async function runOnTarget(options: RunOptions): Promise<RunSummary> {
  const { source, target, input, output } = options;
  if (target === 'aws') return startAwsExecution(source, input, output);
  let twin = options.twin;
  const ownTwin = target === 'twin' && !twin;
  if (ownTwin) {
    output.info(`starting the local twin (${source === 'mft' ? 'MFT' : 'Xray'} emulator, local S3)…`);
    twin = await startTwin({ directory: options.twinDir ?? path.resolve('.twin'), xray: source === 'xray' ? {} : false });
  }
  try {
    const stream = output.json ? process.stderr : process.stdout;
    const onEvent = createProgress({
      write: (text) => stream.write(text),
      isTTY: Boolean(stream.isTTY),
      steps: source === 'mft' ? MFT_STEPS : XRAY_STEPS,
      transient: MFT_TRANSIENT,
    });
    const local = { input, waitMs: twin?.waitMs, retryMs: twin?.retryMs, onEvent };
    const started = Date.now();
    const result =
      source === 'mft'
        ? await runMftExport(twin ? twin.mftRuntime() : await mftRuntimeFromEnvironment(), local)
        : await runXrayExport(twin ? twin.xrayRuntime() : xrayRuntimeFromEnvironment(), local);
    const summary = summarize(source, target, result, Date.now() - started);
    if (summary.status === 'FAILED') output.info(`✗ ${summary.error}: ${summary.cause}`);
    else if (summary.events !== undefined) {
      const seconds = Math.max(summary.durationMs / 1000, 0.001);
      output.info(
        `✓ ${summary.events.toLocaleString('en-US')} events in ${summary.windows?.length} window(s), ` +
          `${formatBytes(summary.bytes ?? 0)} compressed, ${Math.round(summary.events / seconds).toLocaleString('en-US')} events/s`,
      );
    }
    return summary;
  } finally {
    if (ownTwin) await twin?.close();
  }
}

export function summarize(source: Source, target: Target, result: LocalRunResult, durationMs: number): RunSummary {
  const out = (result.output ?? {}) as {
    window?: { start: string; end: string };
    reportId?: string;
    object?: StoredObjectSummary;
    windows?: RunSummary['windows'];
  };
  const summary: RunSummary = {
    source,
    status: result.status,
    target,
    executionArn: result.executionArn,
    objects: out.object ? [out.object] : [],
    stateTransitions: result.stateTransitions,
    durationMs,
  };
  if (out.window) summary.window = out.window;
  if (out.reportId) summary.reportId = out.reportId;
  if (out.windows) {
    summary.windows = out.windows;
    summary.events = out.windows.reduce((sum, window) => sum + window.events, 0);
    summary.bytes = out.windows.reduce((sum, window) => sum + window.bytes, 0);
    const first = out.windows[0]?.window;
    const last = out.windows[out.windows.length - 1]?.window;
    if (first && last) summary.window = { start: first.start, end: last.end };
  }
  if (result.error) summary.error = result.error;
  if (result.cause) summary.cause = result.cause;
  return summary;
}
