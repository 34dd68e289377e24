import { REPORT_STATUSES, type ReportStatus } from './types.js';
import type { StoredReport } from './reports.js';

/**
 * The report object as the API serializes it. The vendor is known to send `status` both as a string and
 * as a number; `statusFormat` chooses one, or `mixed` alternates per serialized report (string first)
 * so one client poll loop meets both.
 */

export type StatusFormat = 'string' | 'number' | 'mixed';

export class ReportView {
  private serialized = 0;

  constructor(private readonly statusFormat: StatusFormat) {}

  render(report: StoredReport, status: ReportStatus, url: string | undefined): Record<string, unknown> {
    const { query } = report;
    return {
      id: report.id,
      status: this.status(status),
      type: query.type,
      start: query.start,
      end: query.end,
      actor: query.actor,
      actorType: query.actorType,
      actions: query.actions,
      resources: query.resources,
      outcomes: query.outcomes,
      sourceIp: query.sourceIp,
      createdAt: new Date(report.createdAtMs).toISOString(),
      ...(status === 'Completed' ? { size: report.size, url } : {}),
    };
  }

  private status(status: ReportStatus): string | number {
    const asNumber = this.statusFormat === 'number' || (this.statusFormat === 'mixed' && this.serialized++ % 2 === 1);
    return asNumber ? REPORT_STATUSES.indexOf(status) : status;
  }
}
