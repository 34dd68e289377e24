import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Readable, type Transform } from 'node:stream';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import zlib from 'node:zlib';
import type { ReportOutcome } from '../common/faults.js';
import type { AuditTimeline } from './dataset.js';
import { fileExtensionOf, reportChunks } from './formats.js';
import type { AuditEvent, ReportQuery, ReportRecord, ReportStatus, StorageEncoding } from './types.js';

/**
 * The report store and lifecycle. A report is only its query: the file is regenerated from the
 * timeline whenever it is read. "Generation" is a background pass that measures the exact byte size
 * (a presigned object has a known Content-Length); the report turns Completed once that is done and
 * `reportReadyAfterMs` has passed, so clients always see at least one InProgress poll.
 */

export interface StoredReport {
  id: string;
  tenantId: string;
  query: ReportQuery;
  createdAtMs: number;
  /** Exact file length once measured. */
  size?: number;
  /** Records in the file, once measured. */
  records?: number;
  /** Length of the file as the storage sends it (encoded), once measured; only with a storage encoding. */
  encodedSize?: number;
  failure?: string;
  /** Injected fault: the report ends Failed (once readyAfterMs has passed) or never leaves InProgress. */
  outcome?: ReportOutcome;
  readonly measuring: AbortController;
}

export interface ReportStoreOptions {
  timeline: AuditTimeline;
  readyAfterMs: number;
  /** The storage keeps (and serves) every file with this encoding. */
  encoding?: StorageEncoding;
  now: () => number;
  debug: (line: string) => void;
}

export class ReportStore {
  private readonly reports = new Map<string, StoredReport>();
  /** Events before this instant are gone (see MftEmulator.purgeBefore). */
  private purgedBeforeMs = -Infinity;

  constructor(private readonly options: ReportStoreOptions) {}

  create(tenantId: string, query: ReportQuery, outcome?: ReportOutcome): StoredReport {
    // The vendor's ids may end in the file extension; clients must URL-encode them anyway.
    const id = `${randomUUID()}.${fileExtensionOf(query.type)}`;
    const report: StoredReport = { id, tenantId, query, createdAtMs: this.options.now(), measuring: new AbortController() };
    if (outcome !== undefined) report.outcome = outcome;
    this.reports.set(id, report);
    // A report forced to fail or to hang never gets a file, so there is nothing to measure.
    if (outcome === undefined || outcome === 'short') void this.measure(report);
    return report;
  }

  /** A tenant's report; another tenant's id is indistinguishable from an unknown one. */
  find(tenantId: string, id: string): StoredReport | undefined {
    const report = this.reports.get(id);
    return report?.tenantId === tenantId ? report : undefined;
  }

  /** Any tenant's report: the storage listener knows objects, not tenants. */
  findById(id: string): StoredReport | undefined {
    return this.reports.get(id);
  }

  list(tenantId: string): StoredReport[] {
    return [...this.reports.values()].filter((report) => report.tenantId === tenantId);
  }

  delete(tenantId: string, id: string): boolean {
    const report = this.find(tenantId, id);
    if (!report) return false;
    report.measuring.abort();
    this.reports.delete(id);
    return true;
  }

  statusOf(report: StoredReport): ReportStatus {
    if (report.failure !== undefined) return 'Failed';
    if (report.outcome === 'never-completes') return 'InProgress';
    if (report.outcome === 'failed') return this.options.now() - report.createdAtMs >= this.options.readyAfterMs ? 'Failed' : 'InProgress';
    const measured = report.size !== undefined && (this.encoder() === undefined || report.encodedSize !== undefined);
    const ready = measured && this.options.now() - report.createdAtMs >= this.options.readyAfterMs;
    return ready ? 'Completed' : 'InProgress';
  }

  /**
   * The report file, regenerated lazily in ~64 KiB buffers. It holds what had happened when the report was
   * asked for (`asOfMs`: no event of the future), nothing the vendor purged, and for a short report only the
   * first half of its window.
   */
  fileChunks(query: ReportQuery, options: { outcome?: ReportOutcome; asOfMs?: number; onEvent?: () => void } = {}): Generator<Buffer> {
    const startMs = Math.max(Date.parse(query.start), this.purgedBeforeMs);
    let endMs = Math.max(startMs, Math.min(Date.parse(query.end), options.asOfMs ?? Infinity));
    if (options.outcome === 'short') endMs = startMs + Math.floor((endMs - startMs) / 2);
    const events = this.options.timeline.eventsFor({ ...query, start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString() });
    return reportChunks(options.onEvent ? counted(events, options.onEvent) : events, query.type);
  }

  /** A stored report's file, as its download serves it. */
  reportFile(report: StoredReport, onEvent?: () => void): Generator<Buffer> {
    return this.fileChunks(report.query, { ...(report.outcome ? { outcome: report.outcome } : {}), asOfMs: report.createdAtMs, ...(onEvent ? { onEvent } : {}) });
  }

  /** Reports created from now on hold no event before `instantMs`. */
  purgeBefore(instantMs: number): void {
    this.purgedBeforeMs = Math.max(this.purgedBeforeMs, instantMs);
  }

  /**
   * The file as the storage keeps it: encoded with fixed settings, so every read gives the same bytes (and the
   * measured length); undefined when the storage does not encode.
   */
  encoder(): Transform | undefined {
    switch (this.options.encoding ?? 'none') {
      case 'gzip':
        return zlib.createGzip({ level: 6 });
      case 'deflate':
        return zlib.createDeflate({ level: 6 });
      case 'br':
        return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } });
      default:
        return undefined;
    }
  }

  records(): ReportRecord[] {
    return [...this.reports.values()].map((report) => ({
      id: report.id,
      tenantId: report.tenantId,
      status: this.statusOf(report),
      query: report.query,
      createdAt: new Date(report.createdAtMs).toISOString(),
      ...(report.size === undefined ? {} : { size: report.size }),
      ...(report.records === undefined ? {} : { records: report.records }),
      ...(report.encodedSize === undefined ? {} : { encodedSize: report.encodedSize }),
    }));
  }

  close(): void {
    for (const report of this.reports.values()) report.measuring.abort();
  }

  /** Streams the whole file once, yielding between chunks so the API stays responsive; never buffers it. */
  private async measure(report: StoredReport): Promise<void> {
    const { signal } = report.measuring;
    try {
      let size = 0;
      let records = 0;
      for (const chunk of this.reportFile(report, () => records++)) {
        size += chunk.length;
        await yieldToEventLoop();
        if (signal.aborted) return;
      }
      const encoder = this.encoder();
      if (encoder) {
        let encodedSize = 0;
        encoder.on('data', (chunk: Buffer) => (encodedSize += chunk.length));
        const done = once(encoder, 'end');
        Readable.from(this.reportFile(report)).pipe(encoder);
        await done;
        if (signal.aborted) return;
        report.encodedSize = encodedSize;
      }
      report.records = records;
      report.size = size;
      this.options.debug(`report ${report.id} measured: ${size} bytes, ${records} records${report.encodedSize === undefined ? '' : `, ${report.encodedSize} bytes encoded`}`);
    } catch (error) {
      report.failure = error instanceof Error ? error.message : String(error);
      this.options.debug(`report ${report.id} failed: ${report.failure}`);
    }
  }
}

function* counted(events: Iterable<AuditEvent>, onEvent: () => void): Generator<AuditEvent> {
  for (const event of events) {
    onEvent();
    yield event;
  }
}
