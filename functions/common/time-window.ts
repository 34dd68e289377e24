import { z } from 'zod';
import { InvalidInputError } from './errors.js';

/** A half-open interval of time `[start, end)`, in canonical ISO-8601 UTC (`toISOString`). */
export interface TimeWindow {
  start: string;
  end: string;
}

const ISO_WITH_ZONE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-](\d{2}):?(\d{2}))$/;
const FORMAT_HINT = 'an ISO-8601 timestamp with a zone, e.g. 2026-06-26T00:00:00Z';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Why `value` is not a real instant, or undefined when it is one. Strict on the calendar: Date.parse rolls
 * 2026-02-30 over to March 2, and an export of the wrong days is worse than an error.
 */
export function instantProblem(value: string): string | undefined {
  const match = ISO_WITH_ZONE.exec(value);
  if (!match) return `must be ${FORMAT_HINT}`;
  const [, yearText, monthText, dayText, hourText, minuteText, secondText, , , offsetHours, offsetMinutes] = match;
  const year = Number(yearText);
  const month = Number(monthText);
  const day = Number(dayText);
  const date = `${yearText}-${monthText}-${dayText}`;
  if (month < 1 || month > 12) return `${date} is not a date (there is no month ${monthText})`;
  if (day < 1 || day > daysInMonth(year, month)) {
    return `${date} is not a date (${MONTHS[month - 1]} ${yearText} has ${daysInMonth(year, month)} days)`;
  }
  if (Number(hourText) > 23 || Number(minuteText) > 59) return `${value} is not a time of day (hours 00-23, minutes 00-59)`;
  if (secondText !== undefined && Number(secondText) > 59) {
    return `${value} is not a time of day (seconds 00-59; leap seconds are not accepted)`;
  }
  if (offsetHours !== undefined && (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)) return `${value} has an impossible zone offset`;
  if (Number.isNaN(Date.parse(value))) return `${value} is not a date the exporter can represent`;
  return undefined;
}

/** Parses an ISO-8601 timestamp that names its zone; returns epoch milliseconds. */
export function parseInstant(value: string, field: string): number {
  const problem = typeof value === 'string' ? instantProblem(value) : `must be ${FORMAT_HINT}`;
  if (problem) {
    throw new InvalidInputError(
      problem.startsWith('must be') ? `${field} ${problem} (got ${JSON.stringify(value)})` : `${field}: ${problem}`,
    );
  }
  return Date.parse(value);
}

export const isoInstant = z.string().superRefine((value, ctx) => {
  const problem = instantProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
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

