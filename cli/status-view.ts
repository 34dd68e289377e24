import type { CheckpointLedger, GridPeriod, Lease, RunRecord } from '../functions/common/checkpoints.js';
import { describeLease } from '../functions/common/run-plan.js';

/** A lease as `audit-export status` shows it: live (its holder may still write), or stale (and why). */
export interface LeaseStatus extends Lease {
  state: 'live' | 'stale';
  /** Why it may be taken over (its holder stopped, its heartbeat lapsed, it expired). */
  staleBecause?: string;
}

/** `audit-export status`: each stream's checkpoint, how far it lags behind now, its leases, its last runs. */
export interface StreamStatus {
  stream: string;
  watermark: string | null;
  lagSeconds: number | null;
  /** The grid in effect (minutes), when recorded. */
  gridMinutes: number | null;
  grids: GridPeriod[];
  leases: LeaseStatus[];
  runs: RunRecord[];
}

export async function readStatus(ledger: CheckpointLedger, nowMs: number): Promise<StreamStatus[]> {
  const statuses: StreamStatus[] = [];
  for (const checkpoint of await ledger.checkpoints()) {
    const leases: LeaseStatus[] = [];
    for (const lease of checkpoint.leases) {
      const reason = await ledger.judge.staleReason(lease, nowMs);
      leases.push(reason ? { ...lease, state: 'stale', staleBecause: reason } : { ...lease, state: 'live' });
    }
    const grid = checkpoint.grids.at(-1);
    statuses.push({
      stream: checkpoint.stream,
      watermark: checkpoint.watermark ?? null,
      lagSeconds: checkpoint.watermark ? Math.round((nowMs - Date.parse(checkpoint.watermark)) / 1000) : null,
      gridMinutes: grid ? grid.ms / 60_000 : null,
      grids: checkpoint.grids,
      leases,
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
    lines.push(`  checkpoint  ${status.watermark ?? '—'}  (${lag})${status.gridMinutes ? `, ${status.gridMinutes}-minute grid` : ''}`);
    if (!status.leases.length) lines.push('  lease       free');
    for (const lease of status.leases) {
      const holder = lease.holder?.kind === 'local' ? ` (process ${lease.holder.pid ?? '?'} on ${lease.holder.host ?? '?'})` : '';
      const held = `${lease.mode ?? 'run'} ${lease.owner.split(':').pop()}${holder}, ${describeLease(lease)}, until ${lease.expiresAt}`;
      lines.push(
        lease.state === 'stale'
          ? `  lease       STALE: ${held}; ${lease.staleBecause}: the next run takes it over`
          : `  lease       held by ${held}`,
      );
    }
    for (const run of status.runs) {
      const mark = run.status === 'SUCCEEDED' ? '✓' : run.status === 'PARTIAL' ? '◐' : '✗';
      lines.push(
        `  ${mark} ${run.finishedAt}  ${run.mode.padEnd(9)} ${String(run.windows).padStart(4)} window(s)` +
          `${run.failedWindows ? `, ${run.failedWindows} failed (${run.error ?? 'error'})` : ''}` +
          `${run.lostToRetention ? `, ${run.lostToRetention} lost to retention` : ''}` +
          `${run.shortAnswers ? `, ${run.shortAnswers} short answer(s)` : ''}  → ${run.watermarkAfter ?? '—'}`,
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
