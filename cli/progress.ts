import type { ExecutionEvent } from '../local/state-machine-runner.js';

/**
 * Turns state-machine events into progress lines. On a terminal, repeated poll lines rewrite one line;
 * elsewhere (CI, pipes, files) every line is plain and printed once.
 */
export type StepFormatter = (output: any) => string | undefined;

export interface ProgressOptions {
  write: (text: string) => void;
  isTTY: boolean;
  /** State name → line printed when the state completes. */
  steps: Record<string, StepFormatter>;
  /** States whose lines replace each other on a terminal (polling). */
  transient?: Set<string>;
  now?: () => number;
}

export function createProgress(options: ProgressOptions): (event: ExecutionEvent) => void {
  const started = (options.now ?? Date.now)();
  let transientShown = false;
  const elapsed = () => `${(((options.now ?? Date.now)() - started) / 1000).toFixed(1).padStart(6)}s`;
  const line = (text: string, transient = false) => {
    if (options.isTTY) {
      if (transientShown) options.write('\r\x1b[2K');
      options.write(transient ? `${elapsed()}  ${text}` : `${elapsed()}  ${text}\n`);
      transientShown = transient;
    } else {
      options.write(`${elapsed()}  ${text}\n`);
    }
  };
  return (event) => {
    const name = event.state?.name ?? '';
    switch (event.type) {
      case 'StateExited': {
        const text = options.steps[name]?.(event.state?.output);
        if (text) line(text, options.transient?.has(name) ?? false);
        break;
      }
      case 'StateRetried':
        line(`${name} failed, retrying (attempt ${(event as { retry?: { attempt?: number } }).retry?.attempt ?? '?'})`);
        break;
      case 'StateFailed':
        line(`${name} failed: ${event.Error}: ${String(event.Cause ?? '').slice(0, 300)}`);
        break;
      case 'ExecutionFailed':
        line(`export failed: ${event.Error}`);
        break;
      default:
        break;
    }
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Progress lines of the MFT state machine. */
export const MFT_STEPS: Record<string, StepFormatter> = {
  PlanExport: (out) =>
    `window ${out.plan.window.start} → ${out.plan.window.end} (${out.plan.type}, filters ${out.plan.filtersId})`,
  IssueToken: () => 'access token issued (kept sealed in the execution state)',
  CreateReport: (out) => `report ${out.report.id} requested`,
  CheckReport: (out) =>
    out.poll.status === 'InProgress'
      ? `report in progress (${out.poll.waitedSeconds} s)`
      : `report ${out.poll.status.toLowerCase()} (${out.poll.size ?? '?'} bytes)`,
  CopyReportToS3: (out) => `copied ${formatBytes(out.object.bytes)} to s3://${out.object.bucket}/${out.object.key}`,
  DeleteReport: (out) => (out.deletion.deleted ? 'report deleted on the server' : 'report was already deleted'),
  DeleteReportAfterError: (out) => (out.cleanup ? 'report deleted on the server after the failure' : undefined),
};
export const MFT_TRANSIENT = new Set(['CheckReport']);

/** Progress lines of the Xray state machine (ExportPages runs inside the Map, once per invocation). */
export const XRAY_STEPS: Record<string, StepFormatter> = {
  PlanExport: (out) =>
    `${out.windows.length} window(s) from ${out.windows[0]?.start} to ${out.windows[out.windows.length - 1]?.end} ` +
    `(${out.plan.format}${out.plan.dryRun ? ', dry-run events' : ''})`,
  ExportPages: (out) =>
    `window ${out.window.start.slice(0, 16)} → ${out.window.end.slice(0, 16)}: ${out.progress.events.toLocaleString('en-US')} events, ` +
    `${out.progress.parts} part(s)${out.progress.splits ? `, split ${out.progress.splits}×` : ''}${out.progress.done ? ' ✓' : ' …'}`,
};
