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
          escaped = false;
          at++;
          continue;
        }
        const quote = chunk.indexOf(0x22, at);
        const backslash = chunk.indexOf(0x5c, at);
        if (backslash !== -1 && (quote === -1 || backslash < quote)) {
          escaped = true;
          at = backslash + 1;
          continue;
        }
        if (quote === -1) break;
        inString = false;
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

  private scanCsv(chunk: Buffer) {
    for (const byte of chunk) {
      if (byte === 0x22) this.inQuotes = !this.inQuotes;
      if (byte === 0x0a && !this.inQuotes) {
        if (!this.headerDone) this.headerDone = true;
        else if (this.recordOpen) this.records++;
        this.recordOpen = false;
      } else if (byte !== 0x0d) {
        this.recordOpen = true;
      }
    }
  }
}
