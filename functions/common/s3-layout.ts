import { createHash } from 'node:crypto';
import { compactInstant, type TimeWindow } from './time-window.js';

/**
 * Deterministic object keys: the same source, tenant, filters and grid window always map to the same
 * folder, so re-exporting a window replaces its objects instead of duplicating them. Hive-style partitions
 * (`name=value/`) let Athena/Glue tables and S3 event rules select by source, tenant, filters and day.
 *
 *   <prefix>source=<source>/tenant=<tenant>/filters=<all|hash|dry-run>/dt=<YYYY-MM-DD>/window=<start>--<end>/
 *
 * `dt` is the UTC day of the window start; each source names the objects inside the folder.
 */
export interface WindowFolder {
  prefix?: string;
  source: string;
  tenant: string;
  filtersId: string;
  window: TimeWindow;
}

export function windowFolder(folder: WindowFolder): string {
  const day = folder.window.start.slice(0, 10);
  return `${streamFolder(folder)}dt=${day}/window=${compactInstant(folder.window.start)}--${compactInstant(folder.window.end)}/`;
}

/** The folder holding every window of one source, tenant and filter set; its keys sort by window start. */
export function streamFolder(folder: Omit<WindowFolder, 'window'>): string {
  return `${normalizePrefix(folder.prefix)}source=${safeSegment(folder.source)}/tenant=${safeSegment(folder.tenant)}/filters=${folder.filtersId}/`;
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
