import { createHash } from 'node:crypto';
import { compactInstant, type TimeWindow } from './time-window.js';

/**
 * Deterministic object keys: the same source, tenant, filters and window always map to the same key,
 * so re-running a window overwrites its objects instead of duplicating them. Hive-style partitions
 * (`name=value/`) let Athena/Glue tables and S3 event rules select by source, tenant and day.
 *
 *   <prefix>source=<source>/tenant=<tenant>/filters=<hash|all>/dt=<YYYY-MM-DD>/<start>--<end>[.part-NNNNN].<ext>
 *
 * `dt` is the UTC day of the window start.
 */

export interface WindowObjectKey {
  prefix?: string;
  source: string;
  tenant: string;
  filtersId: string;
  window: TimeWindow;
  /** For sources that write several parts per window. */
  part?: number;
  extension: string;
}

export function windowObjectKey(input: WindowObjectKey): string {
  return `${windowPrefix(input)}${windowBaseName(input.window)}${
    input.part === undefined ? '' : `.part-${String(input.part).padStart(5, '0')}`
  }.${input.extension}`;
}

/** The folder that holds a window's objects. */
export function windowPrefix(input: Omit<WindowObjectKey, 'part' | 'extension'>): string {
  const prefix = normalizePrefix(input.prefix);
  const day = input.window.start.slice(0, 10);
  return `${prefix}source=${safeSegment(input.source)}/tenant=${safeSegment(input.tenant)}/filters=${input.filtersId}/dt=${day}/`;
}

export function windowBaseName(window: TimeWindow): string {
  return `${compactInstant(window.start)}--${compactInstant(window.end)}`;
}

export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed ? `${trimmed}/` : '';
}

/** Keeps keys readable and safe: anything outside [A-Za-z0-9._-] is percent-encoded. */
export function safeSegment(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, (ch) =>
    [...Buffer.from(ch, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

/**
 * A short, stable id for a set of filters: `all` when nothing filters, else the first 12 hex digits of the
 * SHA-256 of the canonical JSON (keys sorted, empty values dropped).
 */
export function filtersId(filters: Record<string, unknown>): string {
  const canonical = canonicalJson(dropEmpty(filters));
  if (canonical === '{}') return 'all';
  return createHash('sha256').update(canonical).digest('hex').slice(0, 12);
}

function dropEmpty(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined || item === null || item === '') continue;
    if (Array.isArray(item) && item.length === 0) continue;
    out[key] = Array.isArray(item) ? [...item].map(String).sort() : item;
  }
  return out;
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
