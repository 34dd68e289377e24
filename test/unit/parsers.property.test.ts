import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, MalformedResponseError, TransientError, VendorRequestError } from '../../functions/common/errors.js';
import { HttpClient, parseRetryAfter } from '../../functions/common/http.js';
import { RecordCounter } from '../../functions/common/record-counter.js';
import { parseInstant, parseWindow } from '../../functions/common/time-window.js';
import { gridWindows } from '../../functions/common/window-grid.js';
import { readZip } from '../../functions/common/zip.js';
import { buildZip } from '../support/zip.js';
import { MftClient } from '../../functions/mft/client.js';
import { normalizeStatus } from '../../functions/mft/model.js';
import { splitCsvPage } from '../../functions/xray/csv-page.js';

/**
 * Property-based tests of everything that reads vendor or user input: timestamps and windows, the window
 * grid, Xray CSV pages, the record counter behind manifests, zips, MFT report objects and Retry-After.
 * Each parser either returns the truth or throws one of the project's typed errors — never a crash.
 */

const RUNS = { numRuns: 200 };
const MIN_MS = Date.parse('1970-01-01T00:00:00Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');
const instantMs = fc.integer({ min: MIN_MS, max: MAX_MS });

function offsetIso(ms: number, offsetMinutes: number): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 23);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

describe('parseInstant / parseWindow', () => {
  it('reads every ISO-8601 instant with Z or an offset back to the same millisecond', () => {
    fc.assert(
      fc.property(instantMs, fc.integer({ min: -14 * 60, max: 14 * 60 }), (ms, offset) => {
        expect(parseInstant(new Date(ms).toISOString(), 'at')).toBe(ms);
        const local = ms + offset * 60_000;
        fc.pre(local >= MIN_MS && local <= MAX_MS);
        expect(parseInstant(offsetIso(ms, offset), 'at')).toBe(ms);
      }),
      RUNS,
    );
  });

  it('answers any other string with InvalidInputError naming the field, never a crash or NaN', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom('2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-06-26', '2026-06-26T00:00:00', 'now', '')), (text) => {
        try {
          const ms = parseInstant(text, 'start');
          expect(Number.isFinite(ms)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError);
          expect((error as Error).message).toMatch(/^start[: ]/);
        }
      }),
      RUNS,
    );
  });

  it('accepts a window exactly when start < end, canonicalized', () => {
    fc.assert(
      fc.property(instantMs, instantMs, (a, b) => {
        const window = { start: new Date(a).toISOString(), end: new Date(b).toISOString() };
        if (a < b) expect(parseWindow(window)).toEqual(window);
        else expect(() => parseWindow(window)).toThrow(InvalidInputError);
      }),
      RUNS,
    );
  });
});

describe('gridWindows', () => {
  const grids = fc.constantFrom(15, 30, 60, 180, 1440).map((minutes) => minutes * 60_000);
  const range = fc
    .tuple(fc.integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: Date.parse('2030-01-01T00:00:00Z') }), fc.integer({ min: 1, max: 5 * 86_400_000 }))
    .map(([start, length]) => ({ start, end: start + length }));

  it('gives contiguous, aligned, whole windows covering exactly the widened range', () => {
    fc.assert(
      fc.property(range, grids, ({ start, end }, gridMs) => {
        const windows = gridWindows({ start: new Date(start).toISOString(), end: new Date(end).toISOString() }, gridMs);
        expect(windows.length).toBeGreaterThan(0);
        const first = Date.parse(windows[0]!.start);
        const last = Date.parse(windows[windows.length - 1]!.end);
        // Covers the range, widened by less than one window on each side.
        expect(first).toBeLessThanOrEqual(start);
        expect(start - first).toBeLessThan(gridMs);
        expect(last).toBeGreaterThanOrEqual(end);
        expect(last - end).toBeLessThan(gridMs);
        windows.forEach((window, index) => {
          const s = Date.parse(window.start);
          const e = Date.parse(window.end);
          expect(s % gridMs).toBe(0);
          expect(e - s).toBe(gridMs);
          if (index > 0) expect(window.start).toBe(windows[index - 1]!.end);
        });
      }),
      RUNS,
    );
  });

  it('is the same for every range inside the same windows (a window has one key)', () => {
    fc.assert(
      fc.property(range, grids, fc.nat(), ({ start, end }, gridMs, shift) => {
        const windows = gridWindows({ start: new Date(start).toISOString(), end: new Date(end).toISOString() }, gridMs);
        const inner = Date.parse(windows[0]!.start) + (shift % gridMs);
        const again = gridWindows({ start: new Date(inner).toISOString(), end: windows[windows.length - 1]!.end }, gridMs);
        expect(again).toEqual(windows);
      }),
      RUNS,
    );
  });
});

/** RFC 4180 quoting, as the vendor writes it. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

const nastyText = fc.string({ unit: fc.constantFrom('a', 'é', ',', '"', '\n', '\r\n', ' ', '1', '😀', ';') , maxLength: 12 });

describe('splitCsvPage', () => {
  it('finds every event id and row, whatever the fields hold', () => {
    const eventsArb = fc.uniqueArray(fc.nat({ max: 1_000_000 }), { maxLength: 30 }).chain((ids) =>
      fc.tuple(
        fc.constant([...ids].sort((a, b) => a - b)),
        fc.array(fc.array(fc.tuple(nastyText, nastyText), { minLength: 1, maxLength: 3 }), { minLength: ids.length, maxLength: ids.length }),
        fc.constantFrom('\n', '\r\n'),
      ),
    );
    fc.assert(
      fc.property(eventsArb, ([ids, rowsPerEvent, eol]) => {
        let csv = `id,package_name,policy${eol}`;
        let rowCount = 0;
        ids.forEach((id, index) => {
          for (const [name, policy] of rowsPerEvent[index]!) {
            csv += `${id},${csvField(name)},${csvField(policy)}${eol}`;
            rowCount++;
          }
        });
        const page = splitCsvPage(Buffer.from(csv));
        expect(page.ids).toEqual(ids);
        expect(page.rowCount).toBe(rowCount);
        expect(Buffer.concat([page.header, page.rows]).toString()).toBe(csv);
      }),
      RUNS,
    );
  });

  it('answers garbage with MalformedResponseError, never a crash', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array().map((bytes) => Buffer.from(bytes).toString('latin1')), nastyText.map((text) => `id,x\n1,${text}`)), (text) => {
        try {
          splitCsvPage(Buffer.from(text, 'latin1'));
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedResponseError);
        }
      }),
      RUNS,
    );
  });
});

/** Streams `data` through a RecordCounter in the given chunk sizes; returns the count. */
async function countRecords(format: 'json-array' | 'csv', data: Buffer, cuts: number[]): Promise<number> {
  const chunks: Buffer[] = [];
  let at = 0;
  for (const cut of cuts) {
    const size = Math.max(1, cut);
    chunks.push(data.subarray(at, at + size));
    at += size;
    if (at >= data.length) break;
  }
  if (at < data.length) chunks.push(data.subarray(at));
  const counter = new RecordCounter(format);
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), counter, new Writable({ write: (chunk, _e, done) => (out.push(chunk as Buffer), done()) }));
  expect(Buffer.concat(out).equals(data)).toBe(true); // bytes pass through untouched
  return counter.records;
}

describe('RecordCounter', () => {
  const cuts = fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 40 });

  it('counts the elements of any JSON array, split anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 20 }), fc.boolean(), cuts, async (values, pretty, sizes) => {
        const text = pretty ? JSON.stringify(values, null, 2) : JSON.stringify(values);
        expect(await countRecords('json-array', Buffer.from(text), sizes)).toBe(values.length);
      }),
      RUNS,
    );
  });

  it('counts JSON records whose strings are mostly quotes and backslashes (escape runs across chunk cuts)', async () => {
    const escapeHeavy = fc.string({ unit: fc.constantFrom('\\', '"', 'a', ',', '[', '{', '}', ']'), maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(escapeHeavy, fc.dictionary(escapeHeavy, escapeHeavy, { maxKeys: 3 })), { maxLength: 20 }), cuts, async (values, sizes) => {
        expect(await countRecords('json-array', Buffer.from(JSON.stringify(values)), sizes)).toBe(values.length);
      }),
      RUNS,
    );
  });

  it('counts the records of any CSV (quoted commas, quotes and line breaks), split anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(nastyText, nastyText), { maxLength: 20 }), fc.constantFrom('\n', '\r\n'), fc.boolean(), cuts, async (rows, eol, finalEol, sizes) => {
        const lines = ['a,b', ...rows.map(([x, y]) => `${csvField(x)},${csvField(y)}`)];
        const text = lines.join(eol) + (finalEol ? eol : '');
        expect(await countRecords('csv', Buffer.from(text), sizes)).toBe(rows.length);
      }),
      RUNS,
    );
  });
});

describe('readZip', () => {
  const entry = fc.record({
    name: fc.string({ minLength: 1, maxLength: 20 }),
    data: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
    deflate: fc.boolean(),
  });

  it('reads back exactly the entries written', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 4 }), (entries) => {
        const read = readZip(buildZip(entries), 'page');
        expect(read.map((e) => ({ name: e.name, data: e.data.toString('hex') }))).toEqual(
          entries.map((e) => ({ name: e.name, data: e.data.toString('hex') })),
        );
      }),
      RUNS,
    );
  });

  it('answers a damaged, truncated or foreign file with MalformedResponseError, never a crash', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 3 }),
        fc.oneof(
          fc.record({ cut: fc.nat() }),
          fc.record({ flip: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
          fc.record({ random: fc.uint8Array({ maxLength: 200 }) }),
          fc.record({ text: fc.constantFrom('<html><body>502 Bad Gateway</body></html>', '{"errors":[{"message":"nope"}]}', '') }),
        ),
        (entries, damage) => {
          let zip = buildZip(entries);
          if ('cut' in damage) zip = zip.subarray(0, damage.cut % zip.length);
          else if ('flip' in damage) {
            zip = Buffer.from(zip);
            const at = damage.flip % zip.length;
            fc.pre(zip[at] !== damage.value);
            zip[at] = damage.value;
          } else if ('random' in damage) zip = Buffer.concat([Buffer.from(damage.random), Buffer.from([0x50, 0x4b, 0x05, 0x06]), Buffer.alloc(18, 0xff)]);
          else zip = Buffer.from(damage.text);
          try {
            readZip(zip, 'Xray CSV page');
          } catch (error) {
            expect(error).toBeInstanceOf(MalformedResponseError);
            expect((error as Error).message).toMatch(/^Xray CSV page is not a readable zip file: /);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('MFT report objects', () => {
  it('normalizes any status: InProgress/0 waits, Completed/1 copies, anything else is a terminal failure', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constantFrom('InProgress', 'inprogress', ' Completed ', 'COMPLETED', 'Failed', '2', 'in_progress', 'pending')), (raw) => {
        const status = normalizeStatus(raw as string | number);
        const text = String(raw).trim().toLowerCase();
        if (['inprogress', '0', 'in_progress', 'pending'].includes(text)) expect(status).toBe('InProgress');
        else if (['completed', '1'].includes(text)) expect(status).toBe('Completed');
        else expect(status).toBe('Failed');
      }),
      RUNS,
    );
  });

  function clientAnswering(body: string, status = 200, contentType = 'application/json') {
    const fetch = (async () => new Response(body, { status, headers: { 'content-type': contentType } })) as typeof globalThis.fetch;
    return new MftClient('https://api.mft.test', new HttpClient({ fetch, retry: { maxAttempts: 1 } }));
  }

  it('reads any well-formed report object, and rejects any other body with a typed error', async () => {
    const report = fc.record(
      {
        id: fc.oneof(fc.string({ minLength: 1 }), fc.integer()),
        status: fc.oneof(fc.string(), fc.integer()),
        url: fc.option(fc.webUrl(), { nil: undefined }),
        size: fc.option(fc.oneof(fc.nat(), fc.string()), { nil: undefined }),
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['id', 'status'] },
    );
    await fc.assert(
      fc.asyncProperty(report, async (object) => {
        const read = await clientAnswering(JSON.stringify(object)).getReport('token', 'r1');
        expect(read.id).toBe(String(object.id));
        expect(read.rawStatus).toBe(String(object.status));
        expect(read.status).toBe(normalizeStatus(object.status));
        if (read.size !== undefined) expect(Number.isFinite(read.size)).toBe(true);
      }),
      RUNS,
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue().map((value) => JSON.stringify(value)), fc.string()), async (body) => {
        try {
          const read = await clientAnswering(body).getReport('secret-token-value', 'r1');
          expect(typeof read.id).toBe('string');
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedResponseError);
          expect((error as Error).message).not.toContain('secret-token-value');
        }
      }),
      RUNS,
    );
  });

  it('turns any error status into a typed error without the token', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 400, max: 599 }).filter((s) => s !== 401 && s !== 403 && s !== 404), fc.string(), async (status, body) => {
        const failure = clientAnswering(body, status).getReport('secret-token-value', 'r1');
        const error = await failure.then(() => undefined, (caught: unknown) => caught);
        expect(error instanceof VendorRequestError || error instanceof TransientError).toBe(true);
        expect((error as Error).message).not.toContain('secret-token-value');
      }),
      { numRuns: 100 },
    );
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-09-07T12:00:00Z');
  it('reads delay-seconds', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), fc.constantFrom('', ' ', '\t'), (seconds, pad) => {
        expect(parseRetryAfter(`${pad}${seconds}${pad}`, now)).toBe(seconds * 1000);
      }),
      RUNS,
    );
  });
  it('reads an HTTP date, never a negative wait', () => {
    fc.assert(
      fc.property(fc.integer({ min: -86_400, max: 86_400 }), (offsetSeconds) => {
        const value = new Date(now + offsetSeconds * 1000).toUTCString();
        expect(parseRetryAfter(value, now)).toBe(Math.max(0, offsetSeconds * 1000));
      }),
      RUNS,
    );
  });
  it('gives undefined or a finite non-negative wait for any header value', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double().map(String), fc.constant(null)), (value) => {
        const ms = parseRetryAfter(value, now);
        if (ms !== undefined) {
          expect(Number.isFinite(ms)).toBe(true);
          expect(ms).toBeGreaterThanOrEqual(0);
        }
      }),
      RUNS,
    );
  });
});
