import { MalformedResponseError } from '../common/errors.js';

/**
 * Splits one CSV page of the Xray export into its header line and its rows, and reads the event id
 * (the first column) of every row, honouring RFC 4180 quotes (fields may hold commas, quotes and line
 * breaks). Pagination counts events, not rows: an event is flattened into one row per policy, so the
 * number of events is the number of distinct consecutive ids.
 */
export interface CsvPageRows {
  header: Buffer;
  rows: Buffer;
  /** Distinct event ids in page order. */
  ids: number[];
  /** Data rows (one per event and policy). */
  rowCount: number;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

export function splitCsvPage(csv: Buffer): CsvPageRows {
  const records = new RecordEnds(csv);
  const headerEnd = records.endOf(0);
  const header = csv.subarray(0, headerEnd);
  if (!header.toString('utf8', 0, Math.min(header.length, 10)).replace(/^\uFEFF/, '').startsWith('id')) {
    throw new MalformedResponseError('Xray CSV page does not start with a header whose first column is id');
  }
  const ids: number[] = [];
  let rowsCount = 0;
  for (let at = headerEnd; at < csv.length; ) {
    const end = records.endOf(at);
    const firstField = readFirstField(csv, at, end);
    if (firstField !== '' || end - at > 2) {
      // At most 15 digits: every such id is an exact integer (a longer one would be rounded, and merge events).
      if (!/^\d{1,15}$/.test(firstField)) {
        throw new MalformedResponseError(`Xray CSV row at byte ${at} has id ${JSON.stringify(firstField.slice(0, 20))}; expected a whole number of at most 15 digits`);
      }
      rowsCount++;
      const id = Number(firstField);
      if (ids[ids.length - 1] !== id) ids.push(id);
    }
    at = end;
  }
  return { header, rows: csv.subarray(headerEnd), ids, rowCount: rowsCount };
}

/**
 * Where records end (just past the line feed that is not inside quotes), found with indexOf (native) from
 * line feed to line feed, jumping over quoted sections from quote to quote (`""` inside a field closes and
 * reopens it, which reads the same), instead of a JavaScript test of every byte: pages are tens of megabytes.
 * The next quote is searched once and remembered until passed.
 */
class RecordEnds {
  private nextQuote = -2; // -2: not searched yet; -1: none in the rest of the page

  constructor(private readonly csv: Buffer) {}

  private quoteFrom(at: number): number {
    if (this.nextQuote !== -1 && this.nextQuote < at) this.nextQuote = this.csv.indexOf(QUOTE, at);
    return this.nextQuote;
  }

  /** Index just past the line break that ends the record starting at `start` (quotes respected). */
  endOf(start: number): number {
    const csv = this.csv;
    for (let at = start; ; ) {
      const lineFeed = csv.indexOf(LF, at);
      const quote = this.quoteFrom(at);
      if (quote === -1 || (lineFeed !== -1 && lineFeed < quote)) return lineFeed === -1 ? csv.length : lineFeed + 1;
      const closing = csv.indexOf(QUOTE, quote + 1);
      if (closing === -1) throw new MalformedResponseError('Xray CSV page ends inside a quoted field (truncated?)');
      at = closing + 1;
    }
  }
}

function readFirstField(csv: Buffer, start: number, end: number): string {
  if (csv[start] === QUOTE) {
    // A quoted field: up to the closing quote ("" is a quote inside it).
    let at = start + 1;
    while (at < end) {
      if (csv[at] === QUOTE) {
        if (csv[at + 1] === QUOTE) at += 2;
        else break;
      } else at++;
    }
    return csv.toString('utf8', start + 1, Math.min(at, end)).replace(/""/g, '"');
  }
  let at = start;
  while (at < end && csv[at] !== COMMA && csv[at] !== LF && csv[at] !== CR) at++;
  return csv.toString('utf8', start, at);
}

export interface CsvPageShape {
  /** Where the page was asked for. */
  offset: number;
  /** The num_of_rows it was asked with. */
  pageSize: number;
  /** Events in it: distinct consecutive ids. */
  events: number;
  /** Data rows in it. */
  rows: number;
  dryRun: boolean;
}

/**
 * Where the next CSV page starts, or undefined when this page is the last. The format has no meta.
 *
 * - dry_run=false, as documented: offset and num_of_rows count events, each flattened into one row per policy;
 *   the events are the distinct consecutive ids, and a page with fewer events than asked for is the last.
 * - dry_run=true is not documented: offset may count events or rows, and dry-run events ("one per dry run
 *   policy") may share an id, so the ids do not count the events. The next page starts `min(rows, pageSize)`
 *   further on, which is right under either reading: counting rows, a page holds at most pageSize rows;
 *   counting events, a full page holds pageSize events (so at least as many rows), and a short one is the last
 *   page, whose events are no more than its rows, so the next offset lies past the end. The window ends only on
 *   a page with no rows (one more request per window).
 */
export function csvNextOffset(page: CsvPageShape): number | undefined {
  if (page.dryRun) return page.rows === 0 ? undefined : page.offset + Math.min(page.rows, page.pageSize);
  return page.events >= page.pageSize ? page.offset + page.events : undefined;
}
