import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanJsonPage } from '../../functions/xray/json-page-scan.js';

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
        expect(scanned.events.map((item) => item.id)).toEqual(events.map((item) => item.id));
        expect(scanned.events.map((item) => JSON.parse(bytes.subarray(item.start, item.end).toString('utf8')))).toEqual(events);
        expect(scanned.meta.next_offset ?? undefined).toBe(next);
        return true;
      }),
    );
  });

  it('steps aside for shapes it does not know rather than guess', () => {
    expect(scanJsonPage(Buffer.from('<html>oops</html>'))).toBeUndefined();
    expect(scanJsonPage(Buffer.from('[1,2,3]'))).toBeUndefined();
  });

  it('rejects a page cut off inside a string', () => {
    expect(() => scanJsonPage(Buffer.from('{"data":[{"id":1,"name":"abc'))).toThrow(/truncated/);
  });
});
