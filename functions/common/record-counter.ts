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

  private scanJson(chunk: Buffer) {
    for (const byte of chunk) {
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === 0x5c) this.escaped = true;
        else if (byte === 0x22) this.inString = false;
        continue;
      }
      if (byte === 0x22) {
        this.inString = true;
        this.markValue();
      } else if (byte === 0x5b || byte === 0x7b) {
        if (this.depth === 1) this.markValue();
        this.depth++;
      } else if (byte === 0x5d || byte === 0x7d) {
        this.depth--;
        if (this.depth === 1) this.sawValue = true;
      } else if (byte === 0x2c && this.depth === 1) {
        this.sawValue = false;
      } else if (byte > 0x20 && this.depth === 1) {
        this.markValue(); // numbers, true, false, null
      }
    }
  }

  private markValue() {
    if (this.depth === 1 && !this.sawValue) {
      this.records++;
      this.sawValue = true;
    }
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
