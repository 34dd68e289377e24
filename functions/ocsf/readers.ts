import { isAscii } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { SourceRecord } from './mapping.js';

/**
 * Streaming parsers for what the exports store, each in constant memory with a limit on one record's size:
 * - `json-array`: the MFT JSON report, a top-level array of objects, each element parsed on its own (cut out at its
 *   first `}` before a `,` or `]` when JSON.parse accepts that, else by a byte scanner that follows strings and
 *   escapes);
 * - `ndjson`: Xray's parts, one JSON event per line;
 * - `csv`: RFC 4180 with a header line (quoted fields may hold commas, quotes and line breaks), the MFT CSV
 *   report and Xray's CSV parts, which `groupXrayCsvBatches` folds back into one event per id.
 * Records come in small batches. A record that cannot be read (broken JSON, a row longer than the
 * limit) is handed on as `{ unreadable }`, to be counted and reported; only a file that is not of its format at
 * all (a JSON report that is not an array) fails.
 */

export type ReadItem = { record: SourceRecord; bytes: number } | { unreadable: string };

export type SourceFormat = 'json-array' | 'ndjson' | 'csv';

/** One record larger than this is not parsed (reported as unreadable). */
export const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * Records per batch at most: few enough that a batch and its mapped events are all a young-generation collection
 * finds alive (a chunk's 300 Xray records were copied by every scavenge), many enough that the promise per batch
 * costs nothing.
 */
const BATCH_RECORDS = 32;

/** The records of a body, in batches of up to BATCH_RECORDS (so nothing waits on a promise per record). */
export function readRecordBatches(body: AsyncIterable<Uint8Array>, format: SourceFormat, gzipped: boolean, maxRecordBytes = MAX_RECORD_BYTES): AsyncIterable<ReadItem[]> {
  const bytes = gzipped ? gunzip(body) : body;
  switch (format) {
    case 'json-array':
      return jsonArrayBatches(bytes, maxRecordBytes);
    case 'ndjson':
      return ndjsonBatches(bytes, maxRecordBytes);
    case 'csv':
      return csvBatches(bytes, maxRecordBytes);
  }
}

/** Output chunks of 256 KiB rather than zlib's 16 KiB: a quarter of the callbacks and batches. */
const GUNZIP_CHUNK_BYTES = 256 * 1024;

function gunzip(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const gunzipper = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
  (async () => {
    try {
      for await (const chunk of body) if (!gunzipper.write(chunk)) await new Promise((resolve) => gunzipper.once('drain', resolve));
      gunzipper.end();
    } catch (error) {
      gunzipper.destroy(error as Error);
    }
  })();
  return gunzipper as Readable;
}

function parseObject(text: string): SourceRecord | string {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a record that is not a JSON object';
    return value as SourceRecord;
  } catch (error) {
    return `broken JSON (${(error as Error).message.slice(0, 80)})`;
  }
}

function asBuffer(piece: Uint8Array): Buffer {
  return Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
}

export async function* ndjsonBatches(body: AsyncIterable<Uint8Array>, maxRecordBytes = MAX_RECORD_BYTES): AsyncIterable<ReadItem[]> {
  let carry: Buffer[] = [];
  let carried = 0;
  let oversized = false;
  const tooLong: ReadItem = { unreadable: `a line longer than ${maxRecordBytes} bytes` };
  const emit = (batch: ReadItem[], line: Buffer, from: number, to: number): void => {
    if (to - from > maxRecordBytes) return void batch.push(tooLong);
    if (to > from && line[to - 1] === 0x0d) to--;
    if (to === from) return;
    const parsed = parseObject(line.toString('utf8', from, to));
    batch.push(typeof parsed === 'string' ? { unreadable: parsed } : { record: parsed, bytes: to - from });
  };
  /** A line of ASCII text decoded with its neighbours (a character is a byte). */
  const emitText = (batch: ReadItem[], text: string, from: number, to: number): void => {
    if (to - from > maxRecordBytes) return void batch.push(tooLong);
    if (to > from && text.charCodeAt(to - 1) === 0x0d) to--;
    if (to === from) return;
    const parsed = parseObject(text.slice(from, to));
    batch.push(typeof parsed === 'string' ? { unreadable: parsed } : { record: parsed, bytes: to - from });
  };
  for await (const piece of body) {
    const chunk = asBuffer(piece);
    let batch: ReadItem[] = [];
    let at = 0;
    const last = chunk.lastIndexOf(0x0a);
    if (last !== -1 && (carried || oversized)) {
      // The line that earlier chunks began.
      const newline = chunk.indexOf(0x0a);
      if (oversized) batch.push(tooLong);
      else {
        const line = Buffer.concat([...carry, chunk.subarray(0, newline)]);
        emit(batch, line, 0, line.length);
      }
      oversized = false;
      carry = [];
      carried = 0;
      at = newline + 1;
    }
    if (at <= last) {
      if (isAscii(chunk.subarray(at, last))) {
        // The chunk's whole lines decoded at once and cut by character: one call into the runtime per chunk, not two per line.
        const text = chunk.toString('latin1', at, last);
        for (let from = 0; ; ) {
          const newline = text.indexOf('\n', from);
          emitText(batch, text, from, newline === -1 ? text.length : newline);
          if (batch.length >= BATCH_RECORDS) {
            yield batch;
            batch = [];
          }
          if (newline === -1) break;
          from = newline + 1;
        }
      } else {
        for (;;) {
          const newline = chunk.indexOf(0x0a, at);
          emit(batch, chunk, at, newline);
          at = newline + 1;
          if (batch.length >= BATCH_RECORDS) {
            yield batch;
            batch = [];
          }
          if (newline === last) break;
        }
      }
      at = last + 1;
    }
    if (at < chunk.length && !oversized) {
      carried += chunk.length - at;
      if (carried > maxRecordBytes) {
        oversized = true;
        carry = [];
        carried = 0;
      } else {
        // Copy: the chunk's memory may be reused by the stream.
        carry.push(Buffer.from(chunk.subarray(at)));
      }
    }
    if (batch.length) yield batch;
  }
  if (oversized) yield [tooLong];
  else if (carried) {
    const batch: ReadItem[] = [];
    const line = Buffer.concat(carry);
    emit(batch, line, 0, line.length);
    if (batch.length) yield batch;
  }
}

/** Elements of a top-level JSON array, each parsed on its own. */
export async function* jsonArrayBatches(body: AsyncIterable<Uint8Array>, maxRecordBytes = MAX_RECORD_BYTES): AsyncIterable<ReadItem[]> {
  let state: 'start' | 'between' | 'element' | 'scalar' | 'done' = 'start';
  let depth = 0; // nesting inside the current element
  let inString = false;
  let escaped = false; // the chunk ended on a backslash inside a string: the next byte is escaped
  let pieces: Buffer[] = [];
  let size = 0;
  let oversized = false;
  const notAnObject: ReadItem = { unreadable: 'an array element that is not an object' };
  const tooLong: ReadItem = { unreadable: `a record longer than ${maxRecordBytes} bytes` };
  for await (const piece of body) {
    const chunk = asBuffer(piece);
    const length = chunk.length;
    let batch: ReadItem[] = [];
    let elementStart = state === 'element' ? 0 : -1;
    let at = 0;
    // An ASCII chunk is decoded once and cut by character (a character is a byte).
    const text = isAscii(chunk) ? chunk.toString('latin1') : undefined;
    /**
     * The record that starts at `start` (a "{") if it ends at its first "}" followed by "," or "]" (a record
     * without nested objects, whose strings hold no "}"): pushed, and where it ends returned; else -1, and the
     * scanner reads it. JSON.parse decides: a proper prefix of a JSON object is never itself valid JSON, so
     * whatever it accepts is exactly the element the scanner would have cut out.
     */
    const wholeRecord = (start: number): number => {
      const close = text !== undefined ? text.indexOf('}', start) : chunk.indexOf(0x7d, start);
      if (close === -1 || close + 1 - start > maxRecordBytes) return -1;
      const nested = text !== undefined ? text.indexOf('{', start + 1) : chunk.indexOf(0x7b, start + 1);
      if (nested !== -1 && nested < close) return -1;
      let next = close + 1;
      while (next < length && chunk[next]! <= 0x20) next++;
      if (next === length || (chunk[next] !== 0x2c && chunk[next] !== 0x5d)) return -1;
      let record: unknown;
      try {
        record = JSON.parse(text !== undefined ? text.slice(start, close + 1) : chunk.toString('utf8', start, close + 1));
      } catch {
        return -1;
      }
      batch.push({ record: record as SourceRecord, bytes: close + 1 - start });
      return close + 1;
    };
    while (at < length) {
      if (state === 'element') {
        // The element's bytes, in one tight loop: strings (with their escapes) skipped, brackets counted.
        let end = -1;
        while (at < length) {
          if (inString) {
            if (escaped) {
              escaped = false;
              at++;
            }
            while (at < length) {
              const byte = chunk[at]!;
              if (byte === 0x22) break;
              at += byte === 0x5c ? 2 : 1;
            }
            if (at >= length) {
              escaped = at > length;
              at = length;
              break;
            }
            inString = false;
            at++;
            if (depth === 0) {
              end = at; // an element that is a string
              break;
            }
            continue;
          }
          const byte = chunk[at++]!;
          if (byte === 0x22) inString = true;
          else if (byte === 0x7b || byte === 0x5b) depth++;
          else if ((byte === 0x7d || byte === 0x5d) && --depth === 0) {
            end = at;
            break;
          }
        }
        if (end === -1) break;
        const part = chunk.subarray(elementStart, end);
        if (oversized || size + part.length > maxRecordBytes) batch.push(tooLong);
        else {
          const text = pieces.length ? Buffer.concat([...pieces, part]).toString('utf8') : part.toString('utf8');
          const parsed = parseObject(text);
          batch.push(typeof parsed === 'string' ? { unreadable: parsed } : { record: parsed, bytes: size + part.length });
        }
        pieces = [];
        size = 0;
        oversized = false;
        elementStart = -1;
        state = 'between';
        if (batch.length >= BATCH_RECORDS) {
          yield batch;
          batch = [];
        }
        continue;
      }
      const byte = chunk[at]!;
      switch (state) {
        case 'start':
          if (byte <= 0x20 || byte === 0xef || byte === 0xbb || byte === 0xbf) break; // space, a UTF-8 byte order mark
          if (byte !== 0x5b) throw new Error('The report is not a JSON array (its first character is not "[")');
          state = 'between';
          break;
        case 'done':
          if (byte > 0x20) throw new Error('The report has content after its JSON array');
          break;
        case 'scalar':
          if (byte !== 0x2c && byte !== 0x5d) break;
          batch.push(notAnObject);
          state = byte === 0x5d ? 'done' : 'between';
          break;
        case 'between':
          if (byte <= 0x20 || byte === 0x2c) break;
          if (byte === 0x5d) {
            state = 'done';
            break;
          }
          if (byte === 0x7b) {
            const end = wholeRecord(at);
            if (end !== -1) {
              at = end;
              if (batch.length >= BATCH_RECORDS) {
                yield batch;
                batch = [];
              }
              continue;
            }
          }
          if (byte === 0x7b || byte === 0x22 || byte === 0x5b) {
            // A record; or a string or an array where a record should be (parsed, then reported).
            state = 'element';
            elementStart = at;
            depth = byte === 0x22 ? 0 : 1;
            inString = byte === 0x22;
          } else state = 'scalar'; // a number, true, false or null
          break;
      }
      at++;
    }
    if (state === 'element' && elementStart >= 0) {
      const rest = chunk.subarray(elementStart);
      size += rest.length;
      if (size > maxRecordBytes) {
        oversized = true;
        pieces = [];
      } else if (!oversized) pieces.push(Buffer.from(rest));
    }
    if (batch.length) yield batch;
  }
  if (state === 'start') return; // an empty file: no records
  if ((state as string) !== 'done') throw new Error('The report ends before its JSON array is closed (truncated?)');
}

/** RFC 4180 records keyed by the header line's names. */
export async function* csvBatches(body: AsyncIterable<Uint8Array>, maxRecordBytes = MAX_RECORD_BYTES): AsyncIterable<ReadItem[]> {
  let header: string[] | undefined;
  for await (const rows of csvRows(body, maxRecordBytes)) {
    let batch: ReadItem[] = [];
    for (const row of rows) {
      if (typeof row === 'string') {
        batch.push({ unreadable: row });
        continue;
      }
      if (!header) {
        header = row.fields.map((name, index) => (index === 0 ? name.replace(/^\uFEFF/, '') : name).trim());
        continue;
      }
      if (row.fields.length === 1 && row.fields[0] === '') continue; // a blank line
      const record: SourceRecord = {};
      for (let index = 0; index < header.length; index++) record[header[index]!] = row.fields[index] ?? '';
      if (row.fields.length > header.length) record['(extra columns)'] = JSON.stringify(row.fields.slice(header.length));
      batch.push({ record, bytes: row.bytes });
      if (batch.length >= BATCH_RECORDS) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }
}

type CsvRow = { fields: string[]; bytes: number } | string;

async function* csvRows(body: AsyncIterable<Uint8Array>, maxRecordBytes: number): AsyncIterable<CsvRow[]> {
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let quoteSeen = false; // the previous character closed a quoted section ("" is an escaped quote)
  let pendingCR = false;
  let carried = 0; // characters of the current row in earlier chunks
  let oversized = false;
  const decoder = new TextDecoder();
  const tooLong = `a row longer than ${maxRecordBytes} bytes`;
  for await (const piece of body) {
    const text = decoder.decode(piece, { stream: true });
    const rows: CsvRow[] = [];
    let runStart = 0;
    let rowStart = 0;
    for (let at = 0; at < text.length; at++) {
      const ch = text.charCodeAt(at);
      if (inQuotes) {
        if (ch === 0x22) {
          field += text.slice(runStart, at);
          runStart = at + 1;
          inQuotes = false;
          quoteSeen = true;
        }
        continue;
      }
      if (ch === 0x22) {
        field += text.slice(runStart, at);
        if (quoteSeen) field += '"';
        runStart = at + 1;
        inQuotes = true;
        quoteSeen = false;
        continue;
      }
      quoteSeen = false;
      if (pendingCR && ch !== 0x0a) field += '\r'; // a CR not ending the line is content
      pendingCR = false;
      if (ch === 0x0d) {
        // Held back: it ends the line when a LF follows (possibly in the next chunk).
        field += text.slice(runStart, at);
        runStart = at + 1;
        pendingCR = true;
      } else if (ch === 0x2c) {
        fields.push(field + text.slice(runStart, at));
        field = '';
        runStart = at + 1;
      } else if (ch === 0x0a) {
        fields.push(field + text.slice(runStart, at));
        const bytes = carried + at + 1 - rowStart;
        rows.push(oversized || bytes > maxRecordBytes ? tooLong : { fields, bytes });
        fields = [];
        field = '';
        carried = 0;
        oversized = false;
        runStart = rowStart = at + 1;
      }
    }
    field += text.slice(runStart);
    carried += text.length - rowStart;
    if (carried > maxRecordBytes) {
      // Keep scanning to the row's end, without holding it.
      oversized = true;
      fields = [];
      field = '';
    }
    if (rows.length) yield rows;
  }
  field += decoder.decode();
  if (pendingCR) field += '\r';
  if (field !== '' || fields.length) {
    fields.push(field);
    yield [oversized ? tooLong : { fields, bytes: carried }];
  }
}

/** The columns of an Xray CSV row that describe one policy (the rest describe the event). */
const XRAY_POLICY_COLUMNS = new Set(['policy_name', 'policy_id', 'dry_run', 'condition_name', 'condition_category', 'result', 'policy_reason']);

/**
 * Xray's CSV has one row per (event, policy), an event's rows next to each other: folds consecutive rows of one
 * id back into one event whose `policies` holds one object per row (none when the policy columns are empty).
 */
export async function* groupXrayCsvBatches(batches: AsyncIterable<ReadItem[]>): AsyncIterable<ReadItem[]> {
  let current: { record: SourceRecord; bytes: number; id: unknown; policies: Record<string, unknown>[] } | undefined;
  const finish = (): ReadItem => ({ record: { ...current!.record, policies: current!.policies }, bytes: current!.bytes });
  for await (const items of batches) {
    const out: ReadItem[] = [];
    for (const item of items) {
      if ('unreadable' in item) {
        out.push(item);
        continue;
      }
      const event: SourceRecord = {};
      const policy: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(item.record)) {
        if (XRAY_POLICY_COLUMNS.has(name)) {
          if (value !== '') policy[name] = name === 'dry_run' ? value === 'true' : value;
        } else event[name] = name === 'id' && /^\d+$/.test(String(value)) ? Number(value) : value;
      }
      if (current && current.id === event.id) {
        if (Object.keys(policy).length) current.policies.push(policy);
        current.bytes += item.bytes;
        continue;
      }
      if (current) out.push(finish());
      current = { record: event, bytes: item.bytes, id: event.id, policies: Object.keys(policy).length ? [policy] : [] };
    }
    if (out.length) yield out;
  }
  if (current) yield [finish()];
}
