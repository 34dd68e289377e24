/**
 * Query parameters of GET /xray/api/v1/curation/audit/packages: defaults and validation as documented.
 * Strict on purpose: a client mistake should fail here the way it would fail against the real service.
 */
import { ORDER_COLUMNS, type Direction, type OrderColumn } from './types.js';

export interface AuditQuery {
  orderBy: OrderColumn;
  direction: Direction;
  numOfRows: number;
  createdAtStartMs: number;
  createdAtEndMs: number;
  offset: number;
  includeTotal: boolean;
  dryRun: boolean;
  format: 'json' | 'csv';
}

export interface QueryLimits {
  nowMs: number;
  maxRows: number;
  /** The newer vendor reference allows csv pages up to 500,000 rows; the project spec says 2000 for both. */
  csvMaxRows: number;
  /** Assumption, off unless configured: some sources say the service rejects windows over 168 hours. */
  maxWindowHours?: number;
}

export class QueryError extends Error {}

const DEFAULT_WINDOW_MS = 7 * 24 * 3600 * 1000;

/** RFC 3339 date-time, e.g. 2023-08-13T22:00:00.000Z, 2023-08-13T22:00:00Z, 2023-08-14T00:00:00+02:00. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new QueryError(`parameter ${name} was given ${values.length} times; give it once`);
  const value = values[0];
  if (value === '') throw new QueryError(`parameter ${name} is empty; omit it to use the default`);
  return value;
}

function oneOf<T extends string>(params: URLSearchParams, name: string, allowed: readonly T[], fallback: T): T {
  const value = single(params, name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new QueryError(`invalid ${name} '${value}': allowed values are ${allowed.join(', ')}`);
  }
  return value as T;
}

function integer(params: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const value = single(params, name);
  if (value === undefined) return fallback;
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
    throw new QueryError(`invalid ${name} '${value}': must be ${range}`);
  }
  return number;
}

function boolean(params: URLSearchParams, name: string): boolean {
  return oneOf(params, name, ['true', 'false'], 'false') === 'true';
}

function instant(params: URLSearchParams, name: string, fallback: number): number {
  const value = single(params, name);
  if (value === undefined) return fallback;
  const match = RFC3339.exec(value);
  const instantMs = match ? Date.parse(value.toUpperCase()) : NaN;
  const [, year, month, day, hour, minute, second] = match ?? [];
  const fieldsValid = match && Number(month) >= 1 && Number(month) <= 12 && Number(hour) <= 23 && Number(minute) <= 59
    && Number(second) <= 59 && new Date(Date.UTC(Number(year), Number(month) - 1, Number(day))).getUTCDate() === Number(day);
  if (!fieldsValid || Number.isNaN(instantMs)) {
    // A '+' offset sent unencoded arrives as a space.
    const hint = / \d{2}:\d{2}$/.test(value) ? " (a '+' in the offset must be URL-encoded as %2B)" : '';
    throw new QueryError(`invalid ${name} '${value}': expected an RFC 3339 date-time such as 2023-08-13T22:00:00.000Z${hint}`);
  }
  return instantMs;
}

export function parseAuditQuery(params: URLSearchParams, limits: QueryLimits): AuditQuery {
  const format = oneOf(params, 'format', ['json', 'csv'], 'json');
  const includeTotal = boolean(params, 'include_total');
  const query: AuditQuery = {
    orderBy: oneOf(params, 'order_by', ORDER_COLUMNS, 'id'),
    direction: oneOf(params, 'direction', ['asc', 'desc'], 'desc'),
    numOfRows: integer(params, 'num_of_rows', 1, format === 'csv' ? limits.csvMaxRows : limits.maxRows, 100),
    createdAtStartMs: instant(params, 'created_at_start', limits.nowMs - DEFAULT_WINDOW_MS),
    createdAtEndMs: instant(params, 'created_at_end', limits.nowMs),
    offset: integer(params, 'offset', 0, Number.MAX_SAFE_INTEGER, 0),
    includeTotal,
    dryRun: boolean(params, 'dry_run'),
    format,
  };
  if (format === 'csv' && includeTotal) throw new QueryError('include_total=true is not allowed with format=csv');
  if (query.createdAtStartMs >= query.createdAtEndMs) {
    throw new QueryError(
      `created_at_start (${new Date(query.createdAtStartMs).toISOString()}) must be before created_at_end (${new Date(query.createdAtEndMs).toISOString()})`,
    );
  }
  const windowHours = (query.createdAtEndMs - query.createdAtStartMs) / 3_600_000;
  if (limits.maxWindowHours !== undefined && windowHours > limits.maxWindowHours) {
    throw new QueryError(`Maximum allowed duration is ${limits.maxWindowHours} hours (created_at_start to created_at_end)`);
  }
  return query;
}
