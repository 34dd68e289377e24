import { spawnSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, MalformedResponseError, TransientError, VendorRequestError } from '../../functions/common/errors.js';
import { HttpClient, parseRetryAfter } from '../../functions/common/http.js';
import { RecordCounter } from '../../functions/common/record-counter.js';
import { isoInstant, parseInstant, parseWindow } from '../../functions/common/time-window.js';
import { gridWindows } from '../../functions/common/window-grid.js';
import { readZip } from '../../functions/common/zip.js';
import { buildZip } from '../support/zip.js';
import { MftClient } from '../../functions/mft/client.js';
import { mftExportInputSchema, normalizeStatus } from '../../functions/mft/model.js';
import { xrayExportInputSchema } from '../../functions/xray/model.js';
import { parseInput } from '../../functions/common/validation.js';
import { splitCsvPage } from '../../functions/xray/csv-page.js';
import { XrayClient, csvPageByteLimit } from '../../functions/xray/client.js';
import { MAX_JSON_DEPTH } from '../../functions/xray/json-page-scan.js';
import { backfillChunks, chooseExecutionName, rerunName } from '../../cli/commands/backfill.js';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';

/**
 * Property-based tests of everything that reads vendor or user input: timestamps and windows, the window
 * grid, backfill chunks, Xray JSON and CSV pages, the record counter behind manifests, zips, MFT report
 * objects and Retry-After. Each parser either returns the truth or throws one of the project's typed errors
 * — never a crash, a silent choice or an unbounded allocation — including for adversarial inputs: calendar
 * days that do not exist, leap seconds, zip bombs, deep nesting, duplicate keys and next_offset jumps.
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

describe('strict calendar dates', () => {
  const daysIn = (year: number, month: number) => new Date(Date.UTC(2000, month, 0) + 0).getUTCDate() + (month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0) - 1 : 0);
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  const timeOfDay = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }));

  it('reads every real calendar day (leap years included) as exactly that day', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1970, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.nat(), timeOfDay, (year, month, dayPick, [h, m, sec]) => {
        const day = 1 + (dayPick % daysIn(year, month));
        const text = `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(h)}:${pad(m)}:${pad(sec)}Z`;
        expect(parseInstant(text, 'start')).toBe(Date.UTC(year, month - 1, day, h, m, sec));
        expect(isoInstant.safeParse(text).success).toBe(true);
      }),
      RUNS,
    );
  });

  it('refuses every day past the end of its month, never rolling it over into the next', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1970, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.nat(), (year, month, extra) => {
        const last = daysIn(year, month);
        const day = last + 1 + (extra % (31 - last + 1)); // last+1 .. 32
        const text = `${pad(year, 4)}-${pad(month)}-${pad(day)}T00:00:00Z`;
        expect(() => parseInstant(text, '--start')).toThrow(new RegExp(`^--start: ${pad(year, 4)}-${pad(month)}-${pad(day)} is not a date`));
        expect(isoInstant.safeParse(text).error?.issues[0]?.message).toMatch(/is not a date/);
      }),
      RUNS,
    );
    expect(() => parseInstant('2026-02-30T00:00:00Z', 'start')).toThrow('start: 2026-02-30 is not a date (February 2026 has 28 days)');
    expect(() => parseInstant('2026-02-29T00:00:00Z', 'start')).toThrow(/February 2026 has 28 days/);
    expect(parseInstant('2028-02-29T00:00:00Z', 'start')).toBe(Date.UTC(2028, 1, 29));
    expect(() => parseInstant('2100-02-29T00:00:00Z', 'start')).toThrow(/February 2100 has 28 days/);
  });

  it('refuses month 00 and 13-99, day 00, hour 24+, minute and second 60+ (leap seconds), impossible zone offsets', () => {
    const bad = fc.oneof(
      fc.integer({ min: 13, max: 99 }).map((month) => `2026-${pad(month)}-01T00:00:00Z`),
      fc.constant('2026-00-10T00:00:00Z'),
      fc.constant('2026-01-00T00:00:00Z'),
      fc.integer({ min: 24, max: 99 }).map((hour) => `2026-01-01T${pad(hour)}:00:00Z`),
      fc.integer({ min: 60, max: 99 }).map((minute) => `2026-01-01T00:${pad(minute)}:00Z`),
      fc.integer({ min: 60, max: 99 }).map((second) => `2016-12-31T23:59:${pad(second)}Z`),
      fc.integer({ min: 24, max: 99 }).map((hours) => `2026-01-01T00:00:00+${pad(hours)}:00`),
      fc.integer({ min: 60, max: 99 }).map((minutes) => `2026-01-01T00:00:00-05:${pad(minutes)}`),
    );
    fc.assert(
      fc.property(bad, (text) => {
        expect(() => parseInstant(text, 'end')).toThrow(InvalidInputError);
        expect(isoInstant.safeParse(text).success).toBe(false);
      }),
      RUNS,
    );
    expect(() => parseInstant('2016-12-31T23:59:60Z', 'end')).toThrow(/leap seconds are not accepted/);
  });

  it('state-machine input is as strict as the CLI: Feb 30 is refused by both sources, naming the field', () => {
    const window = { start: '2026-02-30T00:00:00Z', end: '2026-03-02T00:00:00Z' };
    for (const schema of [mftExportInputSchema, xrayExportInputSchema]) {
      expect(() => parseInput(schema, { window }, 'execution input')).toThrow(
        'Invalid execution input: window.start: 2026-02-30 is not a date (February 2026 has 28 days)',
      );
    }
  });

  it('refuses huge and signed years, huge numbers and numeric strings without a crash', () => {
    const huge = fc.oneof(
      fc.integer({ min: 10_000, max: 2 ** 31 }).map((year) => `${year}-01-01T00:00:00Z`),
      fc.integer({ min: 1, max: 275_760 }).map((year) => `+${String(year).padStart(6, '0')}-01-01T00:00:00Z`),
      fc.double().map(String),
      fc.bigInt().map(String),
      fc.constantFrom('1e9', 'Infinity', 'NaN', '-0', '9'.repeat(400)),
    );
    fc.assert(
      fc.property(huge, (text) => {
        expect(() => parseInstant(text, 'start')).toThrow(InvalidInputError);
      }),
      RUNS,
    );
  });

  it('a range huge on a fine grid is refused by its window count, never enumerated', () => {
    fc.assert(
      fc.property(instantMs, instantMs, fc.constantFrom(60_000, 900_000, 3_600_000), fc.integer({ min: 1, max: 10_000 }), (a, b, gridMs, max) => {
        fc.pre(a < b);
        const range = { start: new Date(a).toISOString(), end: new Date(b).toISOString() };
        try {
          expect(gridWindows(range, gridMs, max).length).toBeLessThanOrEqual(max);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError);
          expect((error as Error).message).toMatch(/at most \d+ fit in one execution/);
        }
      }),
      RUNS,
    );
  });
});

describe('backfill chunks and re-run names', () => {
  it('cuts chunks on the stream grid, whole windows, contiguous, none longer than one execution takes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2025-01-01T00:00:00Z'), max: Date.parse('2027-01-01T00:00:00Z') }),
        fc.integer({ min: 1, max: 40 * 86_400_000 }),
        fc.constantFrom(15, 30, 60, 180, 1440),
        fc.integer({ min: 1, max: 800 }),
        (start, length, minutes, perChunk) => {
          const gridMs = minutes * 60_000;
          const range = { start: new Date(start).toISOString(), end: new Date(start + length).toISOString() };
          const chunks = backfillChunks(range, gridMs, perChunk);
          const windows = gridWindows(range, gridMs, 10_000_000);
          expect(chunks[0]!.start).toBe(windows[0]!.start);
          expect(chunks[chunks.length - 1]!.end).toBe(windows[windows.length - 1]!.end);
          chunks.forEach((chunk, index) => {
            const span = (Date.parse(chunk.end) - Date.parse(chunk.start)) / gridMs;
            expect(Date.parse(chunk.start) % gridMs).toBe(0);
            expect(Number.isInteger(span) && span >= 1 && span <= perChunk).toBe(true);
            if (index > 0) expect(chunk.start).toBe(chunks[index - 1]!.end);
          });
        },
      ),
      RUNS,
    );
  });

  it('derives re-run names deterministically, distinct, at most 80 characters', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{1,80}$/), fc.integer({ min: 1, max: 30 }), (name, reruns) => {
        const chain = [name];
        for (let k = 0; k < reruns; k++) chain.push(rerunName(chain[chain.length - 1]!));
        expect(new Set(chain).size).toBe(chain.length);
        for (const next of chain.slice(1)) expect(next.length).toBeLessThanOrEqual(80);
        expect(rerunName(name)).toBe(rerunName(name));
      }),
      RUNS,
    );
  });

  it('a chunk is done only when it SUCCEEDED with output SUCCEEDED; running is followed; anything else runs again', async () => {
    const base = 'backfill-mft-20261101T000000Z-20261103T000000Z-0123abcd';
    const r1 = rerunName(base);
    const choose = (existing: Record<string, { status: string; outputStatus?: string }>) =>
      chooseExecutionName(base, async (name) => existing[name]);
    expect((await choose({})).name).toBe(base);
    expect((await choose({ [base]: { status: 'SUCCEEDED', outputStatus: 'SUCCEEDED' } })).name).toBe(base);
    expect((await choose({ [base]: { status: 'RUNNING' } })).name).toBe(base);
    for (const status of [{ status: 'FAILED' }, { status: 'TIMED_OUT' }, { status: 'ABORTED' }, { status: 'SUCCEEDED', outputStatus: 'SKIPPED' }, { status: 'SUCCEEDED' }]) {
      expect((await choose({ [base]: status })).name).toBe(r1);
    }
    // A second re-run follows the first while it runs, and starts the next one only if it failed as well.
    expect((await choose({ [base]: { status: 'FAILED' }, [r1]: { status: 'RUNNING' } })).name).toBe(r1);
    expect((await choose({ [base]: { status: 'FAILED' }, [r1]: { status: 'FAILED' } })).name).toBe(rerunName(r1));
    expect(rerunName(r1)).toBe(`${base}-r2`);
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

  it('refuses ids that are not exact integers (more than 15 digits), and reads quoted ids', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 10n ** 15n, max: 10n ** 40n }), (id) => {
        expect(() => splitCsvPage(Buffer.from(`id,x\n${id},a\n`))).toThrow(MalformedResponseError);
      }),
      RUNS,
    );
    expect(splitCsvPage(Buffer.from('id,x\n"12",a\n"12","b,c"\n13,d\n')).ids).toEqual([12, 13]);
    expect(() => splitCsvPage(Buffer.from('id,x\n"1,2",a\n'))).toThrow(/has id "1,2"/);
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

/** A deflate stream that inflates to `chunks` MiB of zeros, built without ever holding them. */
function zeroBomb(chunks: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(1024 * 1024), { finishFlush: zlibConstants.Z_SYNC_FLUSH, level: 9 });
  return Buffer.concat([...Array(chunks).fill(block), deflateRawSync(Buffer.alloc(0))]);
}

describe('readZip limits', () => {
  it('stops a bomb at its declared size: 1.5 MiB declaring 200 bytes that would inflate to 1.5 GiB (peak memory in a fresh process)', () => {
    const run = (mebibytes: number, declared: number) => {
      const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/zip-bomb-memory.ts', String(mebibytes), String(declared)], { encoding: 'utf8' });
      expect(child.status, child.stderr).toBe(0);
      return JSON.parse(child.stdout) as { zipBytes: number; error: string; ms: number; peakGrowthKiB: number; peakKiB: number };
    };
    const small = run(1536, 200);
    expect(small.error).toMatch(/MalformedResponseError: .*audit_packages\.csv inflates past its declared 200 bytes/);
    const large = run(1536, 300_000_000);
    expect(large.error).toMatch(/inflates past its declared 300000000 bytes/);
    for (const [what, figures] of [['200 bytes', small], ['300,000,000 bytes', large]] as const) {
      console.log(
        `zip bomb: ${(figures.zipBytes / 1048576).toFixed(1)} MiB zip inflating to 1536 MiB, declaring ${what}: refused in ` +
          `${figures.ms.toFixed(0)} ms; peak RSS grew by ${(figures.peakGrowthKiB / 1024).toFixed(1)} MiB (process peak ${(figures.peakKiB / 1024).toFixed(0)} MiB)`,
      );
    }
    // Unbounded, the peak grows by the 1.5 GiB (and more: the buffers double as they grow); bounded, by the declaration.
    expect(small.peakGrowthKiB).toBeLessThan(32 * 1024);
    expect(large.peakGrowthKiB).toBeLessThan((300_000_000 / 1024) * 1.25 + 32 * 1024);
  }, 60_000);

  it('stops a bomb that declares as much as the limit allows at that limit, and refuses a larger declaration before inflating', () => {
    const limit = csvPageByteLimit(2000);
    const body = zeroBomb(1024);
    const honestLimit = buildZip([{ name: 'a.csv', data: Buffer.alloc(0), deflate: true, body, size: limit }]);
    expect(() => readZip(honestLimit, 'Xray CSV page', { maxBytes: limit })).toThrow(/inflates past its declared/);
    const tooLarge = buildZip([{ name: 'a.csv', data: Buffer.alloc(0), deflate: true, body, size: limit + 1 }]);
    expect(() => readZip(tooLarge, 'Xray CSV page', { maxBytes: limit })).toThrow(/declares \d+ bytes, beyond the limit/);
    // Two entries may not share out more than the limit between them.
    const half = Math.ceil(limit / 2) + 1;
    const two = buildZip([
      { name: 'a.csv', data: Buffer.alloc(0), deflate: true, body, size: half },
      { name: 'b.csv', data: Buffer.alloc(0), deflate: true, body, size: half },
    ]);
    expect(() => readZip(two, 'Xray CSV page', { maxBytes: limit })).toThrow(/b\.csv declares/);
  });

  it('any declared size against any real size: the data when they agree, MalformedResponseError otherwise', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 4000 }), fc.integer({ min: 1, max: 4000 }), (bytes, declared, limit) => {
        const data = Buffer.from(bytes);
        const zip = buildZip([{ name: 'a.csv', data, deflate: true, body: deflateRawSync(data), size: declared }]);
        try {
          const [entry] = readZip(zip, 'Xray CSV page', { maxBytes: limit });
          expect(declared).toBe(data.length);
          expect(declared).toBeLessThanOrEqual(limit);
          expect(entry!.data.equals(data)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedResponseError);
          expect(declared !== data.length || declared > limit).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('the Xray client refuses a bombed CSV page with MalformedResponseError, never reading past its limit', async () => {
    const body = zeroBomb(512);
    const zip = buildZip([{ name: 'audit_packages.csv', data: Buffer.alloc(0), deflate: true, body, size: 100 }]);
    const client = xrayAnswering(zip, 'application/zip');
    await expect(client.csvPage({ window: WINDOW, offset: 0, pageSize: 2000, dryRun: false })).rejects.toThrow(
      /Xray CSV page is not a readable zip file: audit_packages\.csv inflates past its declared 100 bytes/,
    );
    expect(csvPageByteLimit(2000)).toBe(2000 * 16 * 1024);
    // 500,000 events at ~500 bytes a row still fit; the cap stays far below the function's 1 GiB.
    expect(csvPageByteLimit(500_000)).toBe(384 * 1024 * 1024);
  });
});

const WINDOW = { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T01:00:00.000Z' };

function xrayAnswering(body: string | Buffer, contentType = 'application/json') {
  const fetch = (async () => new Response(body, { status: 200, headers: { 'content-type': contentType } })) as typeof globalThis.fetch;
  return new XrayClient('https://acme.jfrog.test', { accessToken: 'xray-access-token-value' }, new HttpClient({ fetch, retry: { maxAttempts: 1 } }));
}

const PAGE = { window: WINDOW, pageSize: 2000, dryRun: false };

/** A page as the vendor writes it (compact: the fast path) or pretty-printed (events span lines: the full parse). */
function pageText(events: unknown[], meta: Record<string, unknown>, pretty: boolean): string {
  return pretty ? JSON.stringify({ data: events, meta }, null, 2) : `{"data":[${events.map((event) => JSON.stringify(event)).join(',')}],"meta":${JSON.stringify(meta)}}`;
}

describe('Xray JSON pages against adversarial answers', () => {
  const outcome = (promise: Promise<unknown>) => promise.then((value) => ({ value }), (error: unknown) => ({ error }));

  it('accepts next_offset only as offset + result_count (or + the events sent), or falsy at the end', async () => {
    const next = fc.oneof(fc.constant('exact'), fc.constantFrom(null, 0, undefined), fc.integer({ min: 1, max: 2_000_000 }));
    const count = fc.oneof(fc.constant('exact'), fc.constant(undefined), fc.nat({ max: 40 }));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 1_000_000 }), fc.nat({ max: 20 }), next, count, fc.boolean(), async (offset, n, nextChoice, countChoice, pretty) => {
        const events = Array.from({ length: n }, (_, k) => ({ id: offset + k + 1, name: `event ${k}` }));
        const meta: Record<string, unknown> = {};
        const nextOffset = nextChoice === 'exact' ? offset + n : nextChoice;
        if (nextOffset !== undefined) meta.next_offset = nextOffset;
        const resultCount = countChoice === 'exact' ? n : countChoice;
        if (resultCount !== undefined) meta.result_count = resultCount;
        const result = await outcome(xrayAnswering(pageText(events, meta, pretty)).jsonPage({ ...PAGE, offset }));
        const countOk = resultCount === undefined || resultCount === n;
        const nextOk = !nextOffset || (n > 0 && nextOffset === offset + n);
        if (countOk && nextOk) {
          expect(result).toHaveProperty('value');
          const page = (result as { value: { ids: number[]; nextOffset?: number } }).value;
          expect(page.ids).toEqual(events.map((event) => event.id));
          expect(page.nextOffset).toBe(nextOffset ? nextOffset : undefined);
        } else {
          expect((result as { error: unknown }).error).toBeInstanceOf(MalformedResponseError);
        }
      }),
      { numRuns: 300 },
    );
    // The jump of the report: 2 events at offset 0, next_offset 1,000,000.
    const jump = await outcome(xrayAnswering('{"data":[{"id":1},{"id":2}],"meta":{"next_offset":1000000}}').jsonPage({ ...PAGE, offset: 0 }));
    expect((jump as { error: Error }).error.message).toBe(
      'Xray audit page at offset 0 holds 2 events but gives next_offset 1000000 (expected 2, or none on the last page)',
    );
  });

  it('refuses a key given twice at the top level or in meta, however it is spelled, on both paths', async () => {
    const spellings = fc.constantFrom('"data"', '"d\u0061ta"', '"\u0064ata"');
    await fc.assert(
      fc.asyncProperty(spellings, fc.boolean(), fc.constantFrom('data', 'meta', 'meta-key', 'none'), async (spelling, pretty, twice) => {
        const space = pretty ? '\n' : '';
        const events = `[${space}{"id":1}${space}]`;
        let text = `{${spelling}:${events},"meta":{"next_offset":null}}`;
        if (twice === 'data') text = `{"data":[{"id":1},{"id":2}],${spelling}:${events},"meta":{"next_offset":null}}`;
        if (twice === 'meta') text = `{${spelling}:${events},"meta":{"next_offset":5},"meta":{"next_offset":null}}`;
        if (twice === 'meta-key') text = `{${spelling}:${events},"meta":{"next_offset":9,"next_offset":null}}`;
        const result = await outcome(xrayAnswering(text).jsonPage({ ...PAGE, offset: 0 }));
        if (twice === 'none') {
          expect((result as { value: { ids: number[] } }).value.ids).toEqual([1]);
        } else {
          expect((result as { error: unknown }).error).toBeInstanceOf(MalformedResponseError);
          expect((result as { error: Error }).error.message).toMatch(/twice/);
        }
      }),
      { numRuns: 100 },
    );
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels on both paths, and reads anything shallower`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 200 }), fc.boolean(), async (levels, pretty) => {
        const nested = `${'['.repeat(levels)}${']'.repeat(levels)}`;
        const event = `{"id":7,${pretty ? '\n' : ''}"deep":${levels ? nested : '1'}}`;
        const result = await outcome(xrayAnswering(`{"data":[${event}],"meta":{"next_offset":null}}`).jsonPage({ ...PAGE, offset: 0 }));
        // Page, data and event are three levels; the arrays add theirs.
        if (3 + levels <= MAX_JSON_DEPTH) expect((result as { value: { ids: number[] } }).value.ids).toEqual([7]);
        else expect((result as { error: Error }).error.message).toMatch(/nests deeper than 64 levels/);
      }),
      { numRuns: 150 },
    );
    // The report's million nested arrays: a typed error, not a stack overflow.
    for (const pretty of [false, true]) {
      const deep = `{"data":[{"id":1,${pretty ? '\n' : ''}"x":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}],"meta":{}}`;
      await expect(xrayAnswering(deep).jsonPage({ ...PAGE, offset: 0 })).rejects.toThrow(MalformedResponseError);
    }
  });

  it('answers any bytes with a page or a MalformedResponseError, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.json({ maxDepth: 4 }), fc.string(), fc.jsonValue().map((value) => JSON.stringify({ data: value, meta: {} }))), async (text) => {
        const result = await outcome(xrayAnswering(text).jsonPage({ ...PAGE, offset: 0 }));
        if ('error' in result) expect(result.error).toBeInstanceOf(MalformedResponseError);
      }),
      RUNS,
    );
  });
});

describe('MFT report objects', () => {
  it('normalizes any status: InProgress/0 waits, Completed/1 copies, failure words fail, anything else polls on', () => {
    const failures = ['failed', 'failure', 'error', 'errored', 'faulted', 'cancelled', 'canceled', 'aborted', 'rejected', 'expired'];
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constantFrom('InProgress', 'inprogress', ' Completed ', 'COMPLETED', 'Failed', '2', 'in_progress', 'Queued', 'Running')), (raw) => {
        const status = normalizeStatus(raw);
        if (typeof raw === 'number') expect(status).toBe(raw === 1 ? 'Completed' : raw === 0 ? 'InProgress' : 'Unrecognized');
        else {
          const text = raw.trim().toLowerCase();
          expect(status).toBe(text === 'inprogress' ? 'InProgress' : text === 'completed' ? 'Completed' : failures.includes(text) ? 'Failed' : 'Unrecognized');
        }
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
        expect(read.rawStatus).toBe(object.status === undefined ? '' : String(object.status));
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
