import { MalformedResponseError } from '../common/errors.js';

/**
 * Splits a JSON audit page into its events' raw bytes, without decoding, parsing or re-serializing them:
 * each event is stored exactly as the vendor sent it. Only the page's `meta` and, per event, the `id`
 * are read. A page that is not shaped as expected (or an event spanning lines) returns undefined, and
 * the caller falls back to JSON.parse, after `checkJsonPage` (the same limits for the slow path).
 *
 * Limits, on both paths: nesting deeper than MAX_JSON_DEPTH and a top-level key or a `meta` key given twice
 * (JSON.parse keeps the last, this scanner would keep the first: what is stored would not be what was
 * counted) are MalformedResponseError, never a stack overflow or a silent choice.
 */
export interface ScannedPage {
  /** Each event's id, in page order. */
  ids: number[];
  /** Where each event's bytes are, flat: start₀, end₀, start₁, end₁, … (end exclusive). No object per event. */
  bounds: number[];
  meta: { next_offset?: number | null };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const LF = 0x0a;
const CR = 0x0d;

/** Audit events nest 4 levels deep (page, data, event, policies); far more is no audit page. */
export const MAX_JSON_DEPTH = 64;

function tooDeep(): MalformedResponseError {
  return new MalformedResponseError(`Xray audit page nests deeper than ${MAX_JSON_DEPTH} levels; not an audit page`);
}

function duplicateKey(key: string, where: string): MalformedResponseError {
  return new MalformedResponseError(`Xray audit page has the key ${key.slice(0, 40)} twice ${where}; its meaning is ambiguous`);
}

/** A key as JSON.parse reads it (`"d\u0061ta"` is `"data"`), from the quoted bytes. */
function keyText(bytes: Uint8Array, start: number, end: number): string {
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start);
  if (raw.indexOf(BACKSLASH) < 0) return raw.toString('utf8');
  try {
    return JSON.stringify(JSON.parse(raw.toString('utf8')));
  } catch {
    throw new MalformedResponseError('Xray audit page has a key that is not a valid JSON string');
  }
}

/** Just past the string whose opening quote is at `start`. */
function stringEnd(bytes: Uint8Array, start: number): number {
  // indexOf is a native memchr: strings are most of a page's bytes.
  for (let from = start + 1; ; ) {
    const quote = bytes.indexOf(QUOTE, from);
    if (quote < 0) throw new MalformedResponseError('Xray audit page ends inside a string (truncated)');
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === LF || byte === CR || byte === 0x09;
}

export function scanJsonPage(bytes: Uint8Array): ScannedPage | undefined {
  let at = 0;
  const length = bytes.length;
  const skipSpace = () => {
    while (at < length && isSpace(bytes[at]!)) at++;
  };
  /** Moves past the string starting at `at` (a quote). */
  const skipString = () => {
    at = stringEnd(bytes, at);
  };
  skipSpace();
  if (bytes[at] !== OPEN_BRACE) return undefined;
  at++;
  let ids: number[] | undefined;
  const bounds: number[] = [];
  let meta: ScannedPage['meta'] | undefined;
  const keys = new Set<string>();
  for (;;) {
    skipSpace();
    if (bytes[at] !== QUOTE) return undefined;
    const keyStart = at;
    skipString();
    const key = keyText(bytes, keyStart, at);
    if (keys.has(key)) throw duplicateKey(key, 'at the top level');
    keys.add(key);
    skipSpace();
    if (bytes[at] !== COLON) return undefined;
    at++;
    skipSpace();
    if (key === '"data"') {
      if (bytes[at] !== OPEN_BRACKET) return undefined;
      at++;
      ids = [];
      skipSpace();
      if (bytes[at] === CLOSE_BRACKET) at++;
      else {
        for (;;) {
          skipSpace();
          const start = at;
          if (bytes[start] !== OPEN_BRACE) return undefined;
          if (!skipObject()) return undefined;
          const id = leadingId(bytes, start);
          if (id === undefined) return undefined;
          ids.push(id);
          bounds.push(start, at);
          skipSpace();
          if (bytes[at] === COMMA) {
            at++;
            continue;
          }
          if (bytes[at] === CLOSE_BRACKET) {
            at++;
            break;
          }
          return undefined;
        }
      }
    } else {
      const start = at;
      if (bytes[at] === OPEN_BRACE || bytes[at] === OPEN_BRACKET) {
        if (!skipObject()) return undefined;
      } else if (bytes[at] === QUOTE) skipString();
      else while (at < length && bytes[at] !== COMMA && bytes[at] !== CLOSE_BRACE && !isSpace(bytes[at]!)) at++;
      if (key === '"meta"') {
        if (bytes[start] === OPEN_BRACE) checkJsonPage(bytes.subarray(start, at), 'in meta');
        meta = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + start, at - start).toString('utf8')) as ScannedPage['meta'];
      }
    }
    skipSpace();
    if (bytes[at] === COMMA) {
      at++;
      continue;
    }
    if (bytes[at] === CLOSE_BRACE) break;
    throw new MalformedResponseError('Xray audit page is not valid JSON (truncated or malformed)');
  }
  if (!ids || !meta || typeof meta !== 'object') return undefined;
  return { ids, bounds, meta };

  /** Moves past the object or array at `at` (one level below the page); false if it spans lines. */
  function skipObject(): boolean {
    let depth = 0;
    let compact = true;
    while (at < length) {
      const byte = bytes[at]!;
      if (byte === QUOTE) {
        skipString();
        continue;
      }
      at++;
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        // The page's own braces and the data array are two levels above the object skipped here.
        if (++depth + 2 > MAX_JSON_DEPTH) throw tooDeep();
      } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        if (--depth === 0) return compact;
      } else if (byte === LF || byte === CR) compact = false;
    }
    throw new MalformedResponseError('Xray audit page is truncated');
  }
}

/**
 * The limits of the fast path, for a page the caller parses in full: nesting at most MAX_JSON_DEPTH and no
 * key twice in the outermost object (`where` names it in the message). Iterative: no recursion to overflow.
 */
export function checkJsonPage(bytes: Uint8Array, where = 'at the top level'): void {
  const length = bytes.length;
  let depth = 0;
  /** At depth 1, whether the next string is a key. */
  let expectKey = false;
  const keys = new Set<string>();
  for (let at = 0; at < length; ) {
    const byte = bytes[at]!;
    if (byte === QUOTE) {
      const end = stringEnd(bytes, at);
      if (depth === 1 && expectKey) {
        const key = keyText(bytes, at, end);
        if (keys.has(key)) throw duplicateKey(key, where);
        keys.add(key);
        expectKey = false;
      }
      at = end;
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > MAX_JSON_DEPTH) throw tooDeep();
      if (depth === 1) expectKey = byte === OPEN_BRACE;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth--;
    else if (byte === COMMA && depth === 1) expectKey = true;
    at++;
  }
}

const ID_PREFIX = Buffer.from('{"id":');

/** The id when the object starts with it, as the vendor (and the emulator) write events; else undefined. */
function leadingId(bytes: Uint8Array, start: number): number | undefined {
  for (let k = 0; k < ID_PREFIX.length; k++) if (bytes[start + k] !== ID_PREFIX[k]) return undefined;
  let at = start + ID_PREFIX.length;
  let id = 0;
  const first = at;
  while (bytes[at]! >= 0x30 && bytes[at]! <= 0x39) id = id * 10 + (bytes[at++]! - 0x30);
  if (at === first || at - first > 15) return undefined;
  return bytes[at] === COMMA || bytes[at] === CLOSE_BRACE ? id : undefined;
}

/**
 * The scanned events as NDJSON: each event's bytes as sent, then a line feed. A compact page (events
 * separated by a bare comma, as the vendor sends them) is turned into NDJSON where it lies, by writing a
 * line feed over each comma and over the closing bracket: no copy of the page, which matters at a gigabyte
 * of pages per export. Any other spacing gets a copy. `bytes` is the caller's own buffer; it may be changed.
 */
export function toNdjson(bytes: Buffer, bounds: number[]): Buffer {
  const count = bounds.length / 2;
  if (count === 0) return Buffer.alloc(0);
  let compact = bytes[bounds[bounds.length - 1]!] === CLOSE_BRACKET;
  for (let k = 1; compact && k < count; k++) compact = bounds[2 * k]! === bounds[2 * k - 1]! + 1;
  if (compact) {
    for (let k = 0; k < count; k++) bytes[bounds[2 * k + 1]!] = LF;
    return bytes.subarray(bounds[0]!, bounds[bounds.length - 1]! + 1);
  }
  let length = 0;
  for (let k = 0; k < count; k++) length += bounds[2 * k + 1]! - bounds[2 * k]! + 1;
  const ndjson = Buffer.allocUnsafe(length);
  let at = 0;
  for (let k = 0; k < count; k++) {
    at += bytes.copy(ndjson, at, bounds[2 * k]!, bounds[2 * k + 1]!);
    ndjson[at++] = LF;
  }
  return ndjson;
}
