import type { Checkpoint, CheckpointLedger, RunRecord } from '../functions/common/checkpoints.js';

/** `audit-export status`: each stream's checkpoint, how far it lags behind now, its lease, its last runs. */
export interface StreamStatus {
  stream: string;
  watermark: string | null;
  lagSeconds: number | null;
  lease: Checkpoint['lease'] | null;
  runs: RunRecord[];
}

export async function readStatus(ledger: CheckpointLedger, nowMs: number): Promise<StreamStatus[]> {
  const statuses: StreamStatus[] = [];
  for (const checkpoint of await ledger.checkpoints()) {
    statuses.push({
      stream: checkpoint.stream,
      watermark: checkpoint.watermark ?? null,
      lagSeconds: checkpoint.watermark ? Math.round((nowMs - Date.parse(checkpoint.watermark)) / 1000) : null,
      lease: checkpoint.lease && Date.parse(checkpoint.lease.expiresAt) > nowMs ? checkpoint.lease : null,
      runs: await ledger.recentRuns(checkpoint.stream, 3),
    });
  }
  return statuses;
}

export function formatStatus(statuses: StreamStatus[]): string[] {
  if (!statuses.length) return ['no checkpoints yet: no scheduled run has completed'];
  const lines: string[] = [];
  for (const status of statuses) {
    const lag = status.lagSeconds === null ? 'never exported' : `${formatDuration(status.lagSeconds)} behind now`;
    lines.push(`${status.stream}`);
    lines.push(`  checkpoint  ${status.watermark ?? '—'}  (${lag})`);
    lines.push(`  lease       ${status.lease ? `held by ${status.lease.owner.split(':').pop()} until ${status.lease.expiresAt}` : 'free'}`);
    for (const run of status.runs) {
      const mark = run.status === 'SUCCEEDED' ? '✓' : run.status === 'PARTIAL' ? '◐' : '✗';
      lines.push(
        `  ${mark} ${run.finishedAt}  ${run.mode.padEnd(9)} ${String(run.windows).padStart(4)} window(s)` +
          `${run.failedWindows ? `, ${run.failedWindows} failed (${run.error ?? 'error'})` : ''}  → ${run.watermarkAfter ?? '—'}`,
      );
    }
  }
  return lines;
}

export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}
