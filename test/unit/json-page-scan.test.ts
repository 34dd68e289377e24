import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanJsonPage, toNdjson } from '../../functions/xray/json-page-scan.js';

/** The fast path must store exactly the events JSON.parse would read, or step aside. */
describe('scanJsonPage', () => {
  const event = fc.record({
    id: fc.nat(),
    created_at: fc.string(),
    package_name: fc.string({ unit: 'grapheme' }),
    policies: fc.array(fc.record({ policy_name: fc.string(), dry_run: fc.boolean() }), { maxLength: 3 }),
  });

  it('splits compact pages into the vendor bytes of each event', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), fc.option(fc.nat(), { nil: undefined }), (events, next) => {
        const text = JSON.stringify({ data: events, meta: { result_count: events.length, next_offset: next } });
        const bytes = Buffer.from(text);
        const scanned = scanJsonPage(bytes);
        if (!scanned) return true; // stepped aside: the caller parses fully
        expect(scanned.ids).toEqual(events.map((item) => item.id));
        const stored = events.map((_, k) => JSON.parse(bytes.subarray(scanned.bounds[2 * k], scanned.bounds[2 * k + 1]).toString('utf8')));
        expect(stored).toEqual(events);
        expect(scanned.meta.next_offset ?? undefined).toBe(next);
        return true;
      }),
    );
  });

  it('turns compact and spaced pages alike into NDJSON of the events exactly as sent', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), fc.constantFrom(',', ' ,', ', ', '\n,\n'), (events, separator) => {
        const texts = events.map((item) => JSON.stringify(item));
        const page = Buffer.from(`{"data":[${texts.join(separator)}],"meta":{"next_offset":null}}`);
        const scanned = scanJsonPage(page);
        if (!scanned) return true;
        expect(toNdjson(page, scanned.bounds).toString('utf8')).toBe(texts.map((text) => `${text}\n`).join(''));
        return true;
      }),
    );
    // A compact page becomes NDJSON where it lies (no copy); the meta after it is untouched.
    const page = Buffer.from('{"data":[{"id":1},{"id":2}],"meta":{"next_offset":9}}');
    const ndjson = toNdjson(page, scanJsonPage(page)!.bounds);
    expect(ndjson.toString()).toBe('{"id":1}\n{"id":2}\n');
    expect(ndjson.buffer).toBe(page.buffer);
    expect(toNdjson(Buffer.from('{"data":[],"meta":{}}'), [])).toHaveLength(0);
  });

  it('steps aside for shapes it does not know rather than guess', () => {
    expect(scanJsonPage(Buffer.from('<html>oops</html>'))).toBeUndefined();
    expect(scanJsonPage(Buffer.from('[1,2,3]'))).toBeUndefined();
  });

  it('rejects a page cut off inside a string', () => {
    expect(() => scanJsonPage(Buffer.from('{"data":[{"id":1,"name":"abc'))).toThrow(/truncated/);
  });
});
