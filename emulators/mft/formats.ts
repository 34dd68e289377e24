import { AUDIT_EVENT_FIELDS, type AuditEvent, type ReportType } from './types.js';

/**
 * Report file writers. Both formats are produced as a lazy sequence of ~64 KiB buffers, so a report of
 * any size costs one chunk of memory whether it is being measured or served.
 *
 * JSON (type 0): an array, one compact event object per line: `[\n` + records joined by `,\n` + `\n]\n`;
 *   an empty report is `[]\n`.
 * CSV (type 1): RFC 4180 with CRLF line ends (the RFC's own choice), a header line first; a field is
 *   quoted when it holds a comma, a quote, CR or LF, with inner quotes doubled. UTF-8, no BOM.
 */

export const CHUNK_BYTES = 64 * 1024;
export const CSV_LINE_END = '\r\n';
export const CSV_HEADER = AUDIT_EVENT_FIELDS.join(',');

export function contentTypeOf(type: ReportType): string {
  return type === 0 ? 'application/json' : 'text/csv';
}

export function fileExtensionOf(type: ReportType): 'json' | 'csv' {
  return type === 0 ? 'json' : 'csv';
}

export function* reportChunks(events: Iterable<AuditEvent>, type: ReportType): Generator<Buffer> {
  const pieces = type === 0 ? jsonPieces(events) : csvPieces(events);
  let pending: string[] = [];
  let pendingLength = 0;
  for (const piece of pieces) {
    pending.push(piece);
    pendingLength += piece.length;
    // String length counts UTF-16 units, not bytes: close enough for "about 64 KiB".
    if (pendingLength >= CHUNK_BYTES) {
      yield Buffer.from(pending.join(''), 'utf8');
      pending = [];
      pendingLength = 0;
    }
  }
  if (pendingLength > 0) yield Buffer.from(pending.join(''), 'utf8');
}

function* jsonPieces(events: Iterable<AuditEvent>): Generator<string> {
  let first = true;
  for (const event of events) {
    yield (first ? '[\n' : ',\n') + JSON.stringify(event);
    first = false;
  }
  yield first ? '[]\n' : '\n]\n';
}

function* csvPieces(events: Iterable<AuditEvent>): Generator<string> {
  yield CSV_HEADER + CSV_LINE_END;
  for (const event of events) {
    yield AUDIT_EVENT_FIELDS.map((field) => csvField(event[field])).join(',') + CSV_LINE_END;
  }
}

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
