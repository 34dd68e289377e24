import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParquetFileWriter, parquetLayout, RowGroupBuilder, type ParquetCodec, type ParquetLayout, type Projection } from '../../functions/ocsf/parquet.js';
import { ocsfClass } from '../../functions/ocsf/schema.js';
import { DuckDb } from './duckdb.js';

/**
 * The project's own Parquet writer against an independent reader (DuckDB): every type the layouts use, absent
 * values at every level, empty and null list elements, maps, several row groups and pages, dictionaries given up,
 * rows out of order within a row group, and both codecs.
 */

let directory: string;
let db: DuckDb;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'ocsf-parquet-'));
  db = await DuckDb.open();
});

afterAll(async () => {
  db?.close();
  await rm(directory, { recursive: true, force: true });
});

/** Every kind of column: INT32, INT64 (statistics), BOOLEAN, DOUBLE lists, strings, json_t, structs, lists of structs, a map. */
const PROJECTION: Projection = {
  time: true, activity_id: true, type_uid: true, message: true,
  actor: { user: { name: true, email_addr: true }, session: { is_mfa: true, is_remote: true } },
  src_endpoint: { ip: true, location: { coordinates: true, city: true } },
  metadata: { uid: true, labels: true, product: { name: true } },
  resources: [{ name: true, type: true, data: true }],
  unmapped: true,
};
const LAYOUT = parquetLayout(ocsfClass('api_activity'), PROJECTION);

type Event = Record<string, unknown> & { time: number };

let files = 0;
async function write(events: Event[], options: { rowsPerGroup?: number; pageSize?: number; codec?: ParquetCodec; layout?: ParquetLayout } = {}): Promise<string> {
  const file = path.join(directory, `file-${files++}.parquet`);
  const sink = createWriteStream(file);
  const done = finished(sink);
  const layout = options.layout ?? LAYOUT;
  const writer = new ParquetFileWriter({ layout, sink, pageSize: options.pageSize, codec: options.codec, keyValueMetadata: { 'test.key': 'é value' } });
  const builder = new RowGroupBuilder(layout, 4);
  for (const event of events) {
    builder.add(event);
    if (builder.rows >= (options.rowsPerGroup ?? 20_000)) {
      await writer.writeRowGroup(builder);
      builder.reset();
    }
  }
  await writer.writeRowGroup(builder);
  await writer.finish();
  await done;
  return file;
}

/** The rows as DuckDB reads them, in file order, as JSON values. */
async function read(file: string): Promise<Record<string, unknown>[]> {
  const rows = await db.rows(`SELECT to_json(t)::VARCHAR AS row FROM ${DuckDb.file(file)} t ORDER BY file_row_number`);
  return rows.map((row) => {
    const { file_row_number: _, ...rest } = JSON.parse(String(row.row)) as Record<string, unknown>;
    return rest;
  });
}

/** What a reader should see for an event: every projected attribute, null where absent, json_t as its JSON text. */
function expected(value: unknown, selection: true | Projection | [Projection], json = false): unknown {
  if (value === undefined || value === null) return null;
  if (json) return typeof value === 'string' ? value : JSON.stringify(value);
  if (selection === true) {
    if (Array.isArray(value)) return value.map((item) => (item === undefined || item === null ? null : item));
    if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, item === undefined || item === null ? null : typeof item === 'string' ? item : JSON.stringify(item)]));
    return value;
  }
  if (Array.isArray(selection)) return (value as unknown[]).map((item) => expected(item, selection[0]));
  return Object.fromEntries(Object.entries(selection).map(([name, child]) => [name, expected((value as Record<string, unknown>)[name], child, name === 'data')]));
}

const sortedByTime = (events: Event[]) => [...events].sort((a, b) => a.time - b.time);

const full: Event = {
  time: 1_790_000_000_123, activity_id: 4, type_uid: 600304, message: 'Deleted "Partner invoices" ✓ 日本',
  actor: { user: { name: 'dana', email_addr: 'dana@example.com' }, session: { is_mfa: true, is_remote: false } },
  src_endpoint: { ip: '2001:db8::1', location: { coordinates: [-0.5, 51.25], city: 'London' } },
  metadata: { uid: 'u-1', labels: ['a', 'b'], product: { name: 'Automate MFT' } },
  resources: [{ name: 'Task', type: 'task', data: { version: '1.0', nested: { list: [1, 'two'] } } }, { name: 'Folder', type: 'folder', data: 'already text' }],
  unmapped: { region: 'eu', 'policies[].dry_run': '[false,true]' },
};

describe('the Parquet writer, read back by DuckDB', () => {
  it('writes every column type, with absent values at every level, empty lists and maps, null elements', async () => {
    const events: Event[] = [
      full,
      { time: 1_790_000_000_124 },
      { time: 1_790_000_000_125, actor: {}, src_endpoint: { location: {} }, metadata: { labels: [] }, resources: [], unmapped: {} },
      { time: 1_790_000_000_126, actor: { user: { name: '' } }, src_endpoint: { location: { coordinates: [] } }, metadata: { labels: [null, 'c', undefined] }, resources: [{}, { name: 'only a name' }] },
      { time: 1_790_000_000_127, type_uid: 2 ** 40 + 5, activity_id: -7, actor: { session: { is_mfa: false } }, resources: [null, { type: 'x', data: [1, 2] }], unmapped: { only: 'one' } },
    ];
    const file = await write(events);
    expect(await read(file)).toEqual(events.map((event) => expected(event, PROJECTION)));
    const [types] = await db.rows(`SELECT typeof(time) AS time, typeof(activity_id) AS activity, typeof(actor) AS actor, typeof(src_endpoint) AS endpoint, typeof(resources) AS resources, typeof(unmapped) AS unmapped FROM ${DuckDb.file(file)} LIMIT 1`);
    expect(types).toEqual({
      time: 'BIGINT', activity: 'INTEGER',
      actor: 'STRUCT("user" STRUCT("name" VARCHAR, email_addr VARCHAR), "session" STRUCT(is_mfa BOOLEAN, is_remote BOOLEAN))',
      endpoint: 'STRUCT(ip VARCHAR, "location" STRUCT(coordinates DOUBLE[], city VARCHAR))',
      resources: 'STRUCT("name" VARCHAR, "type" VARCHAR, "data" VARCHAR)[]',
      unmapped: 'MAP(VARCHAR, VARCHAR)',
    });
    const [metadata] = await db.rows(`SELECT value FROM parquet_kv_metadata('${file}') WHERE key = 'test.key'`);
    expect(Buffer.from(metadata!.value as Uint8Array).toString()).toBe('é value');
  });

  it('puts each row group in time order (equal times keep their order) and records the time range of each', async () => {
    const base = 1_790_000_000_000;
    // Out of order within each group of 50; one time shared by several events.
    const events: Event[] = Array.from({ length: 200 }, (_, index) => ({
      time: base + Math.floor(index / 50) * 1000 + ((index * 37) % 50) - (index % 10 === 0 ? 7 : 0),
      metadata: { uid: `e${index}` },
      resources: index % 3 ? [{ name: `r${index}` }] : undefined,
    }));
    const file = await write(events, { rowsPerGroup: 50 });
    const groups = [0, 50, 100, 150].map((start) => sortedByTime(events.slice(start, start + 50)));
    expect(await read(file)).toEqual(groups.flat().map((event) => expected(event, PROJECTION)));
    const stats = await db.rows(`SELECT row_group_id AS id, stats_min::BIGINT AS min, stats_max::BIGINT AS max FROM parquet_metadata('${file}') WHERE path_in_schema = 'time' ORDER BY row_group_id`);
    expect(stats).toEqual(groups.map((group, id) => ({ id: BigInt(id), min: BigInt(group[0]!.time), max: BigInt(group.at(-1)!.time) })));
  });

  it('splits columns into pages at row boundaries and gives a dictionary up for mostly distinct values', async () => {
    const events: Event[] = Array.from({ length: 3000 }, (_, index) => ({
      time: 1_790_000_000_000 + index,
      message: index % 2 ? 'odd' : 'even', // dictionary
      metadata: { uid: `id-${index}-${'x'.repeat(index % 13)}` }, // distinct: PLAIN
      resources: Array.from({ length: index % 4 }, (_, k) => ({ name: `n${k}`, data: { index, k } })),
      unmapped: index % 5 ? { [`key${index % 7}`]: `value ${index}` } : undefined,
    }));
    const file = await write(events, { pageSize: 2048 });
    expect(await read(file)).toEqual(events.map((event) => expected(event, PROJECTION)));
    const chunks = await db.rows(`SELECT path_in_schema AS path, encodings, compression FROM parquet_metadata('${file}')`);
    const encodings = Object.fromEntries(chunks.map((chunk) => [chunk.path, chunk.encodings]));
    expect(encodings.message).toContain('RLE_DICTIONARY');
    expect(encodings['metadata, uid']).not.toContain('RLE_DICTIONARY');
    expect(new Set(chunks.map((chunk) => chunk.compression))).toEqual(new Set(['ZSTD']));
    // Pages end at rows (what readers with page indexes rely on), several per chunk at this page size.
    const builder = new RowGroupBuilder(LAYOUT);
    for (const event of events) builder.add(event);
    const resourceData = builder.columns[LAYOUT.leaves.findIndex((leaf) => leaf.path.join('.') === 'resources.list.element.data')]!;
    const pages = resourceData.pages(2048);
    expect(pages.length).toBeGreaterThan(3);
    for (const page of pages) expect(resourceData.repetitions[page.slotStart]).toBe(0);
    expect(pages.at(-1)!.slotEnd).toBe(resourceData.slots);
  });

  it('writes gzip where asked (the codec of a Node without zstd)', async () => {
    const file = await write([full, { time: full.time + 1 }], { codec: 'GZIP' });
    expect(await read(file)).toEqual([full, { time: full.time + 1 }].map((event) => expected(event, PROJECTION)));
    const [codec] = await db.rows(`SELECT list(DISTINCT compression) AS codecs FROM parquet_metadata('${file}')`);
    expect(codec!.codecs).toEqual(['GZIP']);
  });

  it('reads back whatever events are generated, in time order', async () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', 'a', 'repeated value'));
    const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
    const event = fc.record({
      time: fc.integer({ min: 0, max: 4_102_444_800_000 }),
      activity_id: optional(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      type_uid: optional(fc.maxSafeInteger()),
      message: optional(text),
      actor: optional(fc.record({ user: optional(fc.record({ name: optional(text) })), session: optional(fc.record({ is_mfa: optional(fc.boolean()) })) })),
      src_endpoint: optional(fc.record({ location: optional(fc.record({ coordinates: optional(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 3 })) })) })),
      metadata: optional(fc.record({ labels: optional(fc.array(fc.option(text, { nil: null }), { maxLength: 3 })) })),
      resources: optional(fc.array(fc.option(fc.record({ name: optional(text), data: optional(fc.jsonValue()) }), { nil: null }), { maxLength: 3 })),
      unmapped: optional(fc.dictionary(fc.string({ minLength: 1 }), text, { maxKeys: 3 })),
    }) as fc.Arbitrary<Event>;
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 25 }), async (events, rowsPerGroup) => {
        const file = await write(events, { rowsPerGroup, pageSize: 256 });
        const groups: Event[][] = [];
        for (let start = 0; start < events.length; start += rowsPerGroup) groups.push(sortedByTime(events.slice(start, start + rowsPerGroup)));
        // JSON's view of doubles (-0 is 0) on both sides.
        expect(JSON.parse(JSON.stringify(await read(file)))).toEqual(JSON.parse(JSON.stringify(groups.flat().map((item) => expected(item, PROJECTION)))));
      }),
      { numRuns: 60 },
    );
  });

  it('rejects a value of the wrong type, naming the attribute', () => {
    const builder = new RowGroupBuilder(LAYOUT);
    expect(() => builder.add({ time: 1, activity_id: 1.5 })).toThrow('The OCSF attribute activity_id must be a 32-bit integer to be written to Parquet, got 1.5');
    expect(() => new RowGroupBuilder(LAYOUT).add({ time: 1, actor: { user: { name: 7 } } })).toThrow('The OCSF attribute actor.user.name must be a string');
    expect(() => new RowGroupBuilder(LAYOUT).add({ time: 1, resources: { name: 'x' } })).toThrow('The OCSF attribute resources must be an array');
  });
});
