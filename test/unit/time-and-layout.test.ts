import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/common/errors.js';
import { filtersId, safeSegment, windowFolder } from '../../functions/common/s3-layout.js';
import { compactInstant, parseInstant, parseWindow } from '../../functions/common/time-window.js';

describe('time windows', () => {
  it('accepts ISO-8601 instants with a zone and normalizes them', () => {
    expect(parseWindow({ start: '2026-06-26T02:00:00+02:00', end: '2026-06-27T00:00:00Z' })).toEqual({
      start: '2026-06-26T00:00:00.000Z',
      end: '2026-06-27T00:00:00.000Z',
    });
  });

  it.each(['2026-06-26', '2026-06-26T00:00:00', 'yesterday', '2026-13-01T00:00:00Z', ''])('rejects %j', (value) => {
    expect(() => parseInstant(value, 'start')).toThrow(InvalidInputError);
  });

  it('rejects empty and inverted windows with both instants in the message', () => {
    expect(() => parseWindow({ start: '2026-01-02T00:00:00Z', end: '2026-01-01T00:00:00Z' })).toThrow(
      /2026-01-02T00:00:00.000Z\) must be earlier than its end \(2026-01-01T00:00:00.000Z/,
    );
    expect(() => parseWindow({ start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:00:00Z' })).toThrow(InvalidInputError);
  });

  it('compacts instants for object keys, keeping milliseconds only when present', () => {
    expect(compactInstant('2026-11-24T01:00:00.000Z')).toBe('20261124T010000Z');
    expect(compactInstant('2026-11-24T01:00:00.250Z')).toBe('20261124T010000.250Z');
  });

  it('orders compact instants as it orders time (keys list in time order)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 0, max: 4_102_444_800_000 }), (a, b) => {
        const ka = compactInstant(new Date(Math.floor(a / 1000) * 1000).toISOString());
        const kb = compactInstant(new Date(Math.floor(b / 1000) * 1000).toISOString());
        return Math.sign(Math.floor(a / 1000) - Math.floor(b / 1000)) === Math.sign(ka.localeCompare(kb));
      }),
    );
  });
});

describe('S3 layout', () => {
  const window = { start: '2026-11-24T00:00:00.000Z', end: '2026-11-25T00:00:00.000Z' };

  it('derives Hive-style keys from source, tenant, filters and window', () => {
    expect(windowFolder({ prefix: '/audit/', source: 'mft', tenant: 't-1', filtersId: 'all', window })).toBe(
      'audit/source=mft/tenant=t-1/filters=all/dt=2026-11-24/window=20261124T000000Z--20261125T000000Z/',
    );
    expect(windowFolder({ source: 'xray', tenant: 'acme.jfrog.io', filtersId: 'dry-run', window })).toBe(
      'source=xray/tenant=acme.jfrog.io/filters=dry-run/dt=2026-11-24/window=20261124T000000Z--20261125T000000Z/',
    );
    expect(windowFolder({ source: 'mft', tenant: 'a b', filtersId: 'all', window })).toMatch(/^source=mft\/tenant=a%20b\//);
  });

  it('keeps key segments safe', () => {
    expect(safeSegment('a/b c=d')).toBe('a%2Fb%20c%3Dd');
  });

  it('gives the same filters id whatever the order, and "all" when nothing filters', () => {
    expect(filtersId({})).toBe('all');
    expect(filtersId({ actions: [], actor: undefined, sourceIp: '' })).toBe('all');
    expect(filtersId({ actions: ['Get', 'Delete'], actorType: 'User' })).toBe(filtersId({ actorType: 'User', actions: ['Delete', 'Get'] }));
    expect(filtersId({ actions: ['Get'] })).not.toBe(filtersId({ actions: ['Delete'] }));
  });
});
