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

/** Describes a run's windows: the plan step of both state machines. */
function planLine(out: any, unit: string): string {
  const windows = out.windows ?? out.groups ?? [];
  if (out.run?.skipped) return `skipped: ${out.run.skipped}`;
  if (!windows.length) return `nothing to export yet (checkpoint ${out.run?.watermarkBefore ?? 'none'})`;
  const mode = out.run?.mode === 'scheduled' ? `scheduled, from checkpoint ${out.run.watermarkBefore ?? '(first run)'}` : 'manual window';
  return `${windows.length} ${unit} from ${windows[0].start} to ${windows[windows.length - 1].end} (${mode})`;
}

const shortWindow = (window: { start: string; end: string }) => `${window.start.slice(0, 16)}→${window.end.slice(11, 16)}`;

const pollsShown = new Map<string, number>();

/** Progress lines of the MFT state machine. */
export const MFT_STEPS: Record<string, StepFormatter> = {
  PlanExport: (out) => `${planLine(out, 'window(s)')}, ${out.plan.type}, filters ${out.plan.filtersId}`,
  IssueToken: () => 'access token issued (kept sealed in the execution state)',
  CreateReport: (out) => `${shortWindow(out.window)}  report ${out.report.id} requested`,
  CheckReport: (out) => {
    if (out.poll.status !== 'InProgress') {
      return `${shortWindow(out.window)}  report ${out.poll.status.toLowerCase()} (${formatBytes(out.poll.size ?? 0)})`;
    }
    // One line when polling starts, then one every 30 s: polls are frequent and say little.
    const previous = pollsShown.get(out.report.id);
    if (previous !== undefined && out.poll.waitedSeconds - previous < 30) return undefined;
    pollsShown.set(out.report.id, out.poll.waitedSeconds);
    return `${shortWindow(out.window)}  report in progress (${out.poll.waitedSeconds} s)`;
  },
  CopyReportToS3: (out) =>
    `${shortWindow(out.window)}  ${out.object.records.toLocaleString('en-US')} records, ${formatBytes(out.object.bytes)} → …/${out.object.key.split('/').slice(-2).join('/')}`,
  DeleteReport: (out) => (out.deletion.deleted ? `${shortWindow(out.window)}  report deleted on the server` : undefined),
  DeleteReportAfterError: (out) => (out.cleanup ? `${shortWindow(out.window)}  report deleted on the server after the failure` : undefined),
  CommitRun: (out) => out.commit.message,
};
export const MFT_TRANSIENT = new Set<string>();

/** Progress lines of the Xray state machine (ExportPages runs inside the Map, once per invocation). */
export const XRAY_STEPS: Record<string, StepFormatter> = {
  PlanExport: (out) => `${planLine(out, 'group(s) of windows')}, ${out.plan.format}${out.plan.dryRun ? ', dry-run events' : ''}`,
  ExportPages: (out) =>
    `${out.group.start.slice(0, 16)} → ${out.group.end.slice(0, 16)}: ${out.progress.windowsDone} window(s), ` +
    `${out.progress.events.toLocaleString('en-US')} events, ${out.progress.parts} part(s)` +
    `${out.progress.splits ? `, split ${out.progress.splits}×` : ''}${out.progress.done ? ' ✓' : ' …'}`,
  CommitRun: (out) => out.commit.message,
};
