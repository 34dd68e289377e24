import { InvalidInputError } from './errors.js';
import { makeWindow, type TimeWindow } from './time-window.js';

/**
 * Every export of a stream cuts time on one fixed grid (e.g. whole hours, UTC), whoever asks: a schedule,
 * a manual run or a backfill. The same instant therefore always falls in the same window, whose objects
 * and manifest have fixed keys: re-exporting a window replaces it instead of duplicating its events.
 */

export function floorToGrid(ms: number, gridMs: number): number {
  return Math.floor(ms / gridMs) * gridMs;
}

export function ceilToGrid(ms: number, gridMs: number): number {
  return Math.ceil(ms / gridMs) * gridMs;
}

/** The grid windows covering `[start, end)`, widened outward to whole windows. */
export function gridWindows(range: TimeWindow, gridMs: number, maxWindows = 100_000): TimeWindow[] {
  const start = floorToGrid(Date.parse(range.start), gridMs);
  const end = ceilToGrid(Date.parse(range.end), gridMs);
  const count = (end - start) / gridMs;
  if (count > maxWindows) {
    throw new InvalidInputError(
      `The range ${range.start} → ${range.end} spans ${count} windows of ${gridMs / 60_000} minutes; at most ${maxWindows} fit in one execution (split it, e.g. with \`audit-export backfill\`)`,
    );
  }
  const windows: TimeWindow[] = [];
  for (let at = start; at < end; at += gridMs) windows.push(makeWindow(at, at + gridMs));
  return windows;
}

/** Consecutive grid windows in groups of at most `size` (one Map item each). */
export function groupWindows(windows: TimeWindow[], size: number): TimeWindow[] {
  const groups: TimeWindow[] = [];
  for (let at = 0; at < windows.length; at += size) {
    const chunk = windows.slice(at, at + size);
    groups.push({ start: chunk[0]!.start, end: chunk[chunk.length - 1]!.end });
  }
  return groups;
}
