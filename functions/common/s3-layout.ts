import { createHash } from 'node:crypto';
import { compactInstant, type TimeWindow } from './time-window.js';

/**
 * Deterministic folders: the same stream (source, tenant, filters, format) and grid window always map to the
 * same folder, so a re-export of a window finds what is stored there and only ever adds to it. Hive-style
 * partitions (`name=value/`) let Athena/Glue tables and S3 event rules select by source, tenant, filters and day.
 *
 *   <prefix>source=<source>/tenant=<tenant>/filters=<all|hash|dry-run>[-csv]/dt=<YYYY-MM-DD>/window=<start>--<end>/
 *
 * `dt` is the UTC day of the window start; each source names the objects inside the folder. The format joins the
 * `filters` segment when it is not the default JSON (`filters=all-csv`), so a JSON and a CSV export of one window
 * never share a folder or a manifest, while the default streams keep the keys they always had.
 */
export interface WindowFolder {
  prefix?: string;
  source: string;
  tenant: string;
  filtersId: string;
  /** `json` (the default) or `csv`. */
  format?: string;
  window: TimeWindow;
}

export function windowFolder(folder: WindowFolder): string {
  return windowFolderIn(streamFolder(folder), folder.window);
}

/** The folder of `window` inside a stream's folder (as `streamFolder` names it). */
export function windowFolderIn(stream: string, window: TimeWindow): string {
  return `${stream}dt=${window.start.slice(0, 10)}/window=${compactInstant(window.start)}--${compactInstant(window.end)}/`;
}

/** The folder holding every window of one stream; its keys sort by window start. */
export function streamFolder(folder: Omit<WindowFolder, 'window'>): string {
  return `${normalizePrefix(folder.prefix)}source=${safeSegment(folder.source)}/tenant=${safeSegment(folder.tenant)}/filters=${streamSegment(folder.filtersId, folder.format)}/`;
}

/** The `filters=` value of a stream: the filters id, and the format unless it is the default JSON. */
export function streamSegment(filtersId: string, format = 'json'): string {
  return format === 'json' ? filtersId : `${filtersId}-${safeSegment(format)}`;
}

/** The folder of the UTC day that holds `window` (windows never straddle days: the grid divides 1440 minutes). */
export function dayFolder(folder: WindowFolder): string {
  return `${streamFolder(folder)}dt=${folder.window.start.slice(0, 10)}/`;
}

/** The window a folder key names (`…/window=<start>--<end>/…`), or undefined when the key names none. */
export function windowOfKey(key: string): TimeWindow | undefined {
  const match = /\/window=(\d{8}T\d{6}(?:\.\d{3})?Z)--(\d{8}T\d{6}(?:\.\d{3})?Z)\//.exec(key);
  if (!match) return undefined;
  const parse = (compact: string) =>
    `${compact.slice(0, 4)}-${compact.slice(4, 6)}-${compact.slice(6, 8)}T${compact.slice(9, 11)}:${compact.slice(11, 13)}:${compact.slice(13)}`;
  const start = Date.parse(parse(match[1]!));
  const end = Date.parse(parse(match[2]!));
  return Number.isNaN(start) || Number.isNaN(end) ? undefined : { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
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
