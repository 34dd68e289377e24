import { REPORT_STATUSES, type ReportStatus, type VendorBehaviour } from './types.js';
import type { StoredReport } from './reports.js';

/**
 * The report object as the API serializes it. The vendor is known to send `status` both as a string and
 * as a number; `statusFormat` chooses one, or `mixed` alternates per serialized report (string first)
 * so one client poll loop meets both. Where the documents are silent (other status words, the unit of
 * `size`, what a list item carries) the vendor behaviour options decide.
 */

export type StatusFormat = 'string' | 'number' | 'mixed';

export interface ViewOptions {
  statusFormat: StatusFormat;
  behaviour: Pick<VendorBehaviour, 'pendingStatuses' | 'failedStatus' | 'sizeField' | 'listFields'>;
  readyAfterMs: number;
  now: () => number;
}

export class ReportView {
  private serialized = 0;

  constructor(private readonly options: ViewOptions) {}

  render(report: StoredReport, status: ReportStatus, url: string | undefined): Record<string, unknown> {
    const { query } = report;
    const shown = this.status(report, status);
    const size = this.size(report);
    return {
      id: report.id,
      status: shown,
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
      ...(status === 'Completed' ? { ...(size === undefined ? {} : { size }), url } : {}),
    };
  }

  /** A list item: the whole report object, or (listFields `minimal`) only its id and status. */
  renderListed(report: StoredReport, status: ReportStatus, url: string | undefined): Record<string, unknown> {
    const full = this.render(report, status, url);
    return this.options.behaviour.listFields === 'minimal' ? { id: full.id, status: full.status } : full;
  }

  private status(report: StoredReport, status: ReportStatus): string | number {
    const { statusFormat, behaviour } = this.options;
    const asNumber = statusFormat === 'number' || (statusFormat === 'mixed' && this.serialized++ % 2 === 1);
    if (asNumber) return REPORT_STATUSES.indexOf(status);
    if (status === 'Failed') return behaviour.failedStatus;
    if (status === 'InProgress') {
      // The pending words in turn, each for an equal share of the time a report takes.
      const pending = behaviour.pendingStatuses;
      const share = Math.max(1, this.options.readyAfterMs) / pending.length;
      const index = Math.floor(Math.max(0, this.options.now() - report.createdAtMs) / share);
      return pending[Math.min(index, pending.length - 1)]!;
    }
    return status;
  }

  private size(report: StoredReport): number | undefined {
    switch (this.options.behaviour.sizeField) {
      case 'bytes':
        return report.size;
      case 'kilobytes':
        return report.size === undefined ? undefined : Math.ceil(report.size / 1024);
      case 'records':
        return report.records;
      default:
        return undefined;
    }
  }
}
