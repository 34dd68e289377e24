import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupXrayCsvBatches, readRecordBatches, type ReadItem, type SourceFormat } from '../../functions/ocsf/readers.js';

/** Splits the input at every byte boundary class that matters: one byte at a time, and in two halves. */
async function read(text: string | Buffer, format: SourceFormat, options: { gzipped?: boolean; chunk?: number; limit?: number } = {}): Promise<ReadItem[]> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const chunk = options.chunk ?? bytes.length;
  async function* body() {
    for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, at + chunk);
  }
  const items: ReadItem[] = [];
  for await (const batch of readRecordBatches(body(), format, options.gzipped ?? false, options.limit)) items.push(...batch);
  return items;
}

const records = (items: ReadItem[]) => items.map((item) => ('record' in item ? item.record : item));

describe('JSON array reader', () => {
  const report = '[\n{"id":"a","details":"a \\"quoted\\" ], {value}"},\n{"id":"b","nested":{"list":[1,2,{"x":"]"}]}},\n{"id":"ü"}\n]\n';
  it.each([1, 3, 7, 1000])('reads elements split across chunks of %i bytes', async (chunk) => {
    expect(records(await read(report, 'json-array', { chunk }))).toEqual([
      { id: 'a', details: 'a "quoted" ], {value}' },
      { id: 'b', nested: { list: [1, 2, { x: ']' }] } },
      { id: 'ü' },
    ]);
  });

  it('reports elements that are not records, and records over the limit, and goes on', async () => {
    const items = await read(`[1, "text", {"id":"ok"}, {"id":"${'x'.repeat(200)}"}, [2], null, {"id":"last"}]`, 'json-array', { chunk: 5, limit: 100 });
    expect(records(items)).toEqual([
      { unreadable: 'an array element that is not an object' },
      { unreadable: 'a record that is not a JSON object' },
      { id: 'ok' },
      { unreadable: 'a record longer than 100 bytes' },
      { unreadable: 'a record that is not a JSON object' },
      { unreadable: 'an array element that is not an object' },
      { id: 'last' },
    ]);
  });

  it('cuts a record at its end even where a string holds "}," or "}]", objects nest, or spaces follow a brace', async () => {
    // Each record's first "}" before a "," or "]" is not its end: JSON.parse refuses that prefix, the scanner reads on.
    const tricky = [
      { id: 'a', details: 'ends with }, then more' },
      { id: 'b', details: 'x}]' },
      { id: 'c', nested: { a: 1 }, after: 'y' },
      { id: 'd', list: [{ x: '}' }, 2] },
      { id: 'e', details: 'quote \\"}, and a backslash \\' },
      { id: 'f', details: 'héllo }, wörld' },
      { id: 'g' },
    ];
    const report = `[${tricky.map((record, index) => `${JSON.stringify(record)}${' \n\t'.slice(0, index % 4)}`).join(',')}]`;
    for (const chunk of [1, 2, 5, 13, 64, 1000]) expect(records(await read(report, 'json-array', { chunk }))).toEqual(tricky);
    // Broken records are reported where the scanner cuts them (a stray "}" is an element of its own), and what follows is read.
    const broken = '[{"id":"ok1"},{"id":"bad" "x":1},{"id":"bad2"}}, {"id":"ok2"}]';
    expect(records(await read(broken, 'json-array'))).toEqual([
      { id: 'ok1' },
      { unreadable: expect.stringMatching(/^broken JSON/) },
      { id: 'bad2' },
      { unreadable: 'an array element that is not an object' },
      { id: 'ok2' },
    ]);
  });

  it('reads any JSON objects as JSON.parse does, however the report is cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.dictionary(fc.string({ unit: fc.constantFrom('a', '}', '{', ',', ']', '[', '"', '\\', ' ', 'é', '\n') }), fc.jsonValue({ maxDepth: 2 })), { maxLength: 8 }),
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom('', ' ', '\n', ' \r\n '),
        async (objects, chunk, space) => {
          const report = `[${space}${objects.map((object) => JSON.stringify(object)).join(`${space},${space}`)}${space}]`;
          expect(records(await read(report, 'json-array', { chunk }))).toEqual(JSON.parse(report));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('accepts an empty report and fails on a file that is no JSON array or is cut short', async () => {
    expect(await read('[]\n', 'json-array')).toEqual([]);
    expect(await read('', 'json-array')).toEqual([]);
    await expect(read('{"id":1}', 'json-array')).rejects.toThrow(/not a JSON array/);
    await expect(read('[{"id":1},{"id"', 'json-array')).rejects.toThrow(/ends before its JSON array is closed/);
  });
});

describe('NDJSON reader', () => {
  it('reads gzip NDJSON across chunk boundaries, reports broken and oversized lines', async () => {
    const text = `{"id":1}\r\n{"id":2,"s":"é"}\n{broken\n{"id":"${'y'.repeat(80)}"}\n\n{"id":3}`;
    for (const chunk of [1, 4, 1000]) {
      const items = await read(gzipSync(text), 'ndjson', { gzipped: true, chunk, limit: 50 });
      expect(records(items)).toEqual([{ id: 1 }, { id: 2, s: 'é' }, { unreadable: expect.stringMatching(/^broken JSON/) }, { unreadable: 'a line longer than 50 bytes' }, { id: 3 }]);
    }
  });
});

describe('NDJSON reader, ASCII and not', () => {
  it('reads the same lines whether a chunk is ASCII (decoded once) or not (line by line)', async () => {
    for (const letter of ['e', 'é']) {
      const text = `{"id":1}\r\n{"id":2,"s":"${letter}"}\n{broken\n\n{"id":"${'y'.repeat(80)}"}\n{"id":3}\n{"id":4,"t":"\\n"}`;
      for (const chunk of [1, 3, 9, 1000]) {
        const items = await read(text, 'ndjson', { chunk, limit: 50 });
        expect(records(items)).toEqual([
          { id: 1 }, { id: 2, s: letter }, { unreadable: expect.stringMatching(/^broken JSON/) }, { unreadable: 'a line longer than 50 bytes' }, { id: 3 }, { id: 4, t: '\n' },
        ]);
        expect(items.map((item) => ('bytes' in item ? item.bytes : 0))).toEqual([8, Buffer.byteLength(`{"id":2,"s":"${letter}"}`), 0, 0, 8, 17]);
      }
    }
  });

  it('reads any JSON objects as JSON.parse does, however the lines are cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.dictionary(fc.string({ unit: fc.constantFrom('a', 'é', '"', '\\', '\n', '\r', ' ') }), fc.jsonValue({ maxDepth: 2 })), { maxLength: 8 }),
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom('\n', '\r\n'),
        async (objects, chunk, end) => {
          const text = objects.map((object) => JSON.stringify(object)).join(end);
          expect(records(await read(text, 'ndjson', { chunk }))).toEqual(objects.map((object) => JSON.parse(JSON.stringify(object))));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('CSV reader', () => {
  it('reads RFC 4180 records (quotes, commas and line breaks in fields, CRLF) by header names', async () => {
    const csv = 'id,name,details\r\n1,"Archive, EU","say ""hi""\r\nthen go"\r\n2,plain,\r\n';
    for (const chunk of [1, 2, 1000]) {
      expect(records(await read(csv, 'csv', { chunk }))).toEqual([
        { id: '1', name: 'Archive, EU', details: 'say "hi"\r\nthen go' },
        { id: '2', name: 'plain', details: '' },
      ]);
    }
  });

  it('reports a row over the limit and reads on', async () => {
    const csv = `id,v\n1,${'z'.repeat(300)}\n2,ok\n`;
    expect(records(await read(csv, 'csv', { chunk: 16, limit: 100 }))).toEqual([{ unreadable: 'a row longer than 100 bytes' }, { id: '2', v: 'ok' }]);
  });

  it('folds Xray CSV rows (one per policy) back into one event per id', async () => {
    const csv =
      'id,created_at,action,package_name,policy_name,policy_id,dry_run,condition_name,condition_category\n' +
      '7,2026-11-01T00:00:00Z,blocked,lodash,p1,1,false,Malicious package,security\n' +
      '7,2026-11-01T00:00:00Z,blocked,lodash,p2,2,false,Old,operational\n' +
      '8,2026-11-01T00:00:01Z,approved,react,,,,,\n';
    const items: ReadItem[] = [];
    async function* body() {
      yield Buffer.from(csv);
    }
    for await (const batch of groupXrayCsvBatches(readRecordBatches(body(), 'csv', false))) items.push(...batch);
    expect(records(items)).toEqual([
      {
        id: 7, created_at: '2026-11-01T00:00:00Z', action: 'blocked', package_name: 'lodash',
        policies: [
          { policy_name: 'p1', policy_id: '1', dry_run: false, condition_name: 'Malicious package', condition_category: 'security' },
          { policy_name: 'p2', policy_id: '2', dry_run: false, condition_name: 'Old', condition_category: 'operational' },
        ],
      },
      { id: 8, created_at: '2026-11-01T00:00:01Z', action: 'approved', package_name: 'react', policies: [] },
    ]);
  });
});
