import { Transform } from 'node:stream';

/**
 * Counts records while bytes stream past (for manifests), without holding the file:
 * - `json-array`: elements of a top-level JSON array (strings and escapes respected);
 * - `csv`: RFC 4180 records after the header line (quotes may hold line breaks).
 */
export class RecordCounter extends Transform {
  records = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private sawValue = false;
  private inQuotes = false;
  private headerDone = false;
  private recordOpen = false;

  constructor(private readonly format: 'json-array' | 'csv') {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void) {
    if (this.format === 'json-array') this.scanJson(chunk);
    else this.scanCsv(chunk);
    callback(null, chunk);
  }

  override _flush(callback: () => void) {
    if (this.format === 'csv' && this.recordOpen && this.headerDone) this.records++;
    callback();
  }

  /**
   * Tracks depth, strings and escapes across chunks. Hot for multi-gigabyte reports: locals instead of
   * fields, and indexOf (native) to jump over string contents, which are most of the bytes.
   */
  private scanJson(chunk: Buffer) {
    let { depth, inString, escaped, sawValue, records } = this;
    const length = chunk.length;
    let at = 0;
    while (at < length) {
      if (inString) {
        if (escaped) {
          // The chunk before ended in an unpaired backslash: this byte is escaped.
          escaped = false;
          at++;
          continue;
        }
        // One native search per string: the closing quote is the first one after an even run of backslashes.
        const quote = chunk.indexOf(0x22, at);
        if (quote === -1) {
          escaped = backslashesBefore(chunk, length, at) % 2 === 1;
          break;
        }
        if (backslashesBefore(chunk, quote, at) % 2 === 0) inString = false;
        at = quote + 1;
        continue;
      }
      const byte = chunk[at++]!;
      if (byte === 0x22) {
        inString = true;
        if (depth === 1 && !sawValue) {
          records++;
          sawValue = true;
        }
      } else if (byte === 0x5b || byte === 0x7b) {
        if (depth === 1 && !sawValue) {
          records++;
          sawValue = true;
        }
        depth++;
      } else if (byte === 0x5d || byte === 0x7d) {
        depth--;
        if (depth === 1) sawValue = true;
      } else if (byte === 0x2c && depth === 1) {
        sawValue = false;
      } else if (byte > 0x20 && depth === 1 && !sawValue) {
        records++; // numbers, true, false, null
        sawValue = true;
      }
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.sawValue = sawValue;
    this.records = records;
  }

  /** Jumps from quote to line break with indexOf (native), remembering each search until it is passed. */
  private scanCsv(chunk: Buffer) {
    let { inQuotes, headerDone, recordOpen, records } = this;
    const length = chunk.length;
    let nextQuote = -2; // -2: not searched yet; -1: none up to the end of the chunk
    let nextLineFeed = -2;
    let at = 0;
    while (at < length) {
      if (nextQuote !== -1 && nextQuote < at) nextQuote = chunk.indexOf(0x22, at);
      if (inQuotes) {
        // Everything up to the closing quote (line breaks included) belongs to the field.
        if (nextQuote === -1) break;
        inQuotes = false;
        at = nextQuote + 1;
        continue;
      }
      if (nextLineFeed !== -1 && nextLineFeed < at) nextLineFeed = chunk.indexOf(0x0a, at);
      let stop = length;
      if (nextQuote !== -1) stop = nextQuote;
      if (nextLineFeed !== -1 && nextLineFeed < stop) stop = nextLineFeed;
      // A record is open once its line has any byte but CR.
      for (let k = at; k < stop && !recordOpen; k++) if (chunk[k] !== 0x0d) recordOpen = true;
      if (stop === length) break;
      if (stop === nextQuote) {
        inQuotes = true;
        recordOpen = true;
      } else {
        if (!headerDone) headerDone = true;
        else if (recordOpen) records++;
        recordOpen = false;
      }
      at = stop + 1;
    }
    this.inQuotes = inQuotes;
    this.headerDone = headerDone;
    this.recordOpen = recordOpen;
    this.records = records;
  }
}

/** How many backslashes immediately precede `end`, not looking before `from`. */
function backslashesBefore(chunk: Buffer, end: number, from: number): number {
  let at = end;
  while (at > from && chunk[at - 1] === 0x5c) at--;
  return end - at;
}
