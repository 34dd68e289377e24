import type { MetricUnit } from './observability.js';

type Metrics = Record<string, { value: number; unit: MetricUnit }>;

/** MFT CopyReportToS3: what one window's report put in S3, and whether it was a short answer (kept, not current). */
export function copyReportMetrics(result: { bytes: number; records: number; shortAnswer?: boolean }): Metrics {
  return {
    BytesExported: { value: result.bytes, unit: 'Bytes' },
    RecordsExported: { value: result.records, unit: 'Count' },
    ShortAnswers: { value: result.shortAnswer ? 1 : 0, unit: 'Count' },
  };
}

/** Xray ExportPages: the events and bytes this invocation added (progress is cumulative across invocations). */
export function exportPagesMetrics(
  result: { events: number; bytes: number; windowsDone: number; shortAnswers?: number },
  event: { progress?: { events?: number; bytes?: number; windowsDone?: number; shortAnswers?: number } },
): Metrics {
  const before = event.progress ?? {};
  return {
    RecordsExported: { value: result.events - (before.events ?? 0), unit: 'Count' },
    BytesExported: { value: result.bytes - (before.bytes ?? 0), unit: 'Bytes' },
    WindowsExported: { value: result.windowsDone - (before.windowsDone ?? 0), unit: 'Count' },
    ShortAnswers: { value: (result.shortAnswers ?? 0) - (before.shortAnswers ?? 0), unit: 'Count' },
  };
}

/**
 * CommitRun: how far the checkpoint is behind now (the alarm's metric), failed windows, and windows lost to the
 * source's retention (they were never stored and never can be: an alarm of its own).
 */
export function commitRunMetrics(
  result: { watermarkAfter: string | null; failedWindows: number; lostToRetention?: number },
  _event: unknown,
  nowMs: number,
): Metrics {
  const metrics: Metrics = {
    FailedWindows: { value: result.failedWindows, unit: 'Count' },
    WindowsLostToRetention: { value: result.lostToRetention ?? 0, unit: 'Count' },
  };
  if (result.watermarkAfter) {
    metrics.CheckpointLagSeconds = { value: Math.max(0, Math.round((nowMs - Date.parse(result.watermarkAfter)) / 1000)), unit: 'Seconds' };
  }
  return metrics;
}
