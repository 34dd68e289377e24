import { z } from 'zod';
import { InvalidInputError } from './errors.js';

/** A half-open interval of time `[start, end)`, in canonical ISO-8601 UTC (`toISOString`). */
export interface TimeWindow {
  start: string;
  end: string;
}

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Parses an ISO-8601 timestamp that names its zone; returns epoch milliseconds. */
export function parseInstant(value: string, field: string): number {
  if (!ISO_WITH_ZONE.test(value)) {
    throw new InvalidInputError(
      `${field} must be an ISO-8601 timestamp with a zone, e.g. 2026-06-26T00:00:00Z (got ${JSON.stringify(value)})`,
    );
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidInputError(`${field} is not a real date: ${JSON.stringify(value)}`);
  return ms;
}

export const isoInstant = z.string().refine((value) => ISO_WITH_ZONE.test(value) && !Number.isNaN(Date.parse(value)), {
  message: 'must be an ISO-8601 timestamp with a zone, e.g. 2026-06-26T00:00:00Z',
});

export function makeWindow(startMs: number, endMs: number): TimeWindow {
  if (!(startMs < endMs)) {
    throw new InvalidInputError(
      `The window start (${new Date(startMs).toISOString()}) must be earlier than its end (${new Date(endMs).toISOString()})`,
    );
  }
  return { start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString() };
}

export function parseWindow(window: { start: string; end: string }): TimeWindow {
  return makeWindow(parseInstant(window.start, 'start'), parseInstant(window.end, 'end'));
}

/** `2026-11-24T01:00:00.000Z` → `20261124T010000Z` (milliseconds kept only when present). */
export function compactInstant(iso: string): string {
  const date = new Date(iso);
  const ms = date.getUTCMilliseconds();
  const base = date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, '');
  return ms ? `${base}.${String(ms).padStart(3, '0')}Z` : `${base}Z`;
}

