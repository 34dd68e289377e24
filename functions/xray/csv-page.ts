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
  const headerEnd = endOfRecord(csv, 0);
  const header = csv.subarray(0, headerEnd);
  if (!header.toString('utf8', 0, Math.min(header.length, 10)).replace(/^\uFEFF/, '').startsWith('id')) {
    throw new MalformedResponseError('Xray CSV page does not start with a header whose first column is id');
  }
  const ids: number[] = [];
  let rowsCount = 0;
  for (let at = headerEnd; at < csv.length; ) {
    const end = endOfRecord(csv, at);
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

/** Index just past the line break that ends the record starting at `start` (quotes respected). */
function endOfRecord(csv: Buffer, start: number): number {
  let quoted = false;
  for (let at = start; at < csv.length; at++) {
    const byte = csv[at];
    if (byte === QUOTE) quoted = !quoted;
    else if (byte === LF && !quoted) return at + 1;
  }
  if (quoted) throw new MalformedResponseError('Xray CSV page ends inside a quoted field (truncated?)');
  return csv.length;
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
