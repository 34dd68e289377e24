import type { ExecutionEvent } from '../local/state-machine-runner.js';
import { scrub } from '../functions/common/scrubber.js';

/**
 * Turns state-machine events into progress lines: plain text, one line per event worth telling, so they
 * read the same on a terminal, in a CI log or in a file (polls are thinned out by the formatters).
 * A formatter never breaks the run it reports on: a state output it does not expect (a caught error in
 * place of a result) gives no line, and every line is scrubbed of secrets.
 */
export type StepFormatter = (output: any) => string | undefined;

/**
 * What a person reads of a Task's Cause: Step Functions records a failed Lambda's error as the runtime's JSON
 * (`{"errorType","errorMessage","trace"}`); its message is what says what failed. Any other cause as it is.
 */
export function readableCause(cause: unknown): string {
  const text = typeof cause === 'string' ? cause : cause === undefined ? '' : JSON.stringify(cause);
  if (!text.startsWith('{"errorType"')) return text;
  try {
    const parsed = JSON.parse(text) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : text;
  } catch {
    return text;
  }
}

export interface ProgressOptions {
  write: (text: string) => void;
  /** State name → line printed when the state completes. */
  steps: Record<string, StepFormatter>;
  now?: () => number;
}

export function createProgress(options: ProgressOptions): (event: ExecutionEvent) => void {
  const started = (options.now ?? Date.now)();
  const elapsed = () => `${(((options.now ?? Date.now)() - started) / 1000).toFixed(1).padStart(6)}s`;
  const line = (text: string) => options.write(scrub(`${elapsed()}  ${text}\n`));
  return (event) => {
    const name = event.state?.name ?? '';
    switch (event.type) {
      case 'StateExited': {
        // A Catch may have put an error where the formatter expects a result: then there is no line.
        let text: string | undefined;
        try {
          text = options.steps[name]?.(event.state?.output);
        } catch {
          text = undefined;
        }
        if (text) line(text);
        break;
      }
      case 'StateRetried':
        line(`${name} failed, retrying (attempt ${(event as { retry?: { attempt?: number } }).retry?.attempt ?? '?'})`);
        break;
      case 'StateFailed':
        line(`${name} failed: ${event.Error}: ${readableCause(event.Cause).slice(0, 300)}`);
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
  IssueToken: (out) => (out.auth?.sealedToken ? 'access token issued (kept sealed in the execution state)' : undefined),
  CreateReport: (out) =>
    out.report.deferred ? `${shortWindow(out.window)}  deferred to the next run (no time left to export it)` : `${shortWindow(out.window)}  report ${out.report.id} requested`,
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

/**
 * Progress lines of the Xray state machine (ExportPages runs inside the Map, once per invocation), with the
 * run's totals so far, its rate and an estimate of the time left.
 */
export function xraySteps(now: () => number = Date.now): Record<string, StepFormatter> {
  const started = now();
  let totalWindows = 0;
  let windowsDone = 0;
  let events = 0;
  let bytes = 0;
  const perGroup = new Map<string, { windows: number; events: number; bytes: number }>();
  return {
    PlanExport: (out) => {
      totalWindows = (out.groups ?? []).reduce(
        (sum: number, group: { start: string; end: string }) => sum + Math.round((Date.parse(group.end) - Date.parse(group.start)) / out.plan.gridMs),
        0,
      );
      return `${planLine(out, 'group(s) of windows')}, ${totalWindows} window(s), ${out.plan.format}${out.plan.dryRun ? ', dry-run events' : ''}`;
    },
    ExportPages: (out) => {
      // Progress is cumulative per group: count only what this invocation added.
      const key = out.group.start;
      const before = perGroup.get(key) ?? { windows: 0, events: 0, bytes: 0 };
      windowsDone += out.progress.windowsDone - before.windows;
      events += out.progress.events - before.events;
      bytes += out.progress.bytes - before.bytes;
      perGroup.set(key, { windows: out.progress.windowsDone, events: out.progress.events, bytes: out.progress.bytes });
      const seconds = Math.max((now() - started) / 1000, 0.001);
      const left = totalWindows > windowsDone && windowsDone > 0 ? ((totalWindows - windowsDone) * seconds) / windowsDone : 0;
      return (
        `${windowsDone}/${totalWindows} windows, ${events.toLocaleString('en-US')} events, ${formatBytes(bytes)}, ` +
        `${Math.round(events / seconds).toLocaleString('en-US')} events/s` +
        (left > 0 ? `, ETA ${Math.ceil(left)} s` : '') +
        `${out.progress.splits ? ` (CSV splits ${out.progress.splits})` : ''}`
      );
    },
    CommitRun: (out) => out.commit.message,
  };
}
