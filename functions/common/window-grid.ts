import { InvalidInputError } from './errors.js';
import { makeWindow, type TimeWindow } from './time-window.js';

/**
 * Every export of a stream cuts time on one fixed grid (e.g. whole hours, UTC), whoever asks: a schedule,
 * a manual run or a backfill. The same instant therefore always falls in the same window, whose folder and
 * manifest have fixed keys: a re-export of a window finds what is stored and only adds to it. (A stream that
 * changes its grid records it in its checkpoint; see run-plan.ts.)
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

/**
 * Consecutive windows in groups (one Map item each) of at most `groupMs` worth of windows, a group holding
 * windows of one length only; a group whose windows are not `gridMs` long says so (`gridMs`).
 */
export function groupWindowsByGrid(windows: TimeWindow[], gridMs: number, groupMs: number): (TimeWindow & { gridMs?: number })[] {
  const groups: (TimeWindow & { gridMs?: number })[] = [];
  let at = 0;
  while (at < windows.length) {
    const length = Date.parse(windows[at]!.end) - Date.parse(windows[at]!.start);
    const size = Math.max(1, Math.floor(groupMs / length));
    let end = at + 1;
    while (end < windows.length && end - at < size && Date.parse(windows[end]!.end) - Date.parse(windows[end]!.start) === length) end++;
    const group: TimeWindow & { gridMs?: number } = { start: windows[at]!.start, end: windows[end - 1]!.end };
    if (length !== gridMs) group.gridMs = length;
    groups.push(group);
    at = end;
  }
  return groups;
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

/** Adjacent or overlapping windows joined into ranges, in time order. */
export function mergeWindows(windows: readonly TimeWindow[]): TimeWindow[] {
  const sorted = [...windows].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  const merged: { start: number; end: number }[] = [];
  for (const window of sorted) {
    const start = Date.parse(window.start);
    const end = Date.parse(window.end);
    const last = merged.at(-1);
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else merged.push({ start, end });
  }
  return merged.map((range) => makeWindow(range.start, range.end));
}

/** The parts of `ranges` that none of `removed` covers, merged, in time order. */
export function subtractWindows(ranges: readonly TimeWindow[], removed: readonly TimeWindow[]): TimeWindow[] {
  const cuts = mergeWindows(removed).map((window) => ({ start: Date.parse(window.start), end: Date.parse(window.end) }));
  const left: TimeWindow[] = [];
  for (const range of mergeWindows(ranges)) {
    let at = Date.parse(range.start);
    const end = Date.parse(range.end);
    for (const cut of cuts) {
      if (cut.end <= at || cut.start >= end) continue;
      if (cut.start > at) left.push(makeWindow(at, cut.start));
      at = Math.max(at, cut.end);
    }
    if (at < end) left.push(makeWindow(at, end));
  }
  return left;
}

/** How many windows of `gridMs` the ranges hold (partial windows count as one). */
export function windowCount(ranges: readonly TimeWindow[], gridMs: number): number {
  return ranges.reduce((sum, range) => sum + Math.ceil((Date.parse(range.end) - Date.parse(range.start)) / gridMs), 0);
}

/** A window overlaps windows of another grid already stored in its stream: writing it would store events twice. */
export class GridConflictError extends InvalidInputError {
  static override readonly errorName: string = 'GridConflictError';
}

export function gridConflictMessage(window: TimeWindow, others: readonly TimeWindow[]): string {
  const list = others.map((other) => `${other.start} → ${other.end}`).join(', ');
  return (
    `The window ${window.start} → ${window.end} overlaps window(s) of another grid already exported in this stream (${list}): ` +
    'it is not written, so no event is stored twice. Export that time on the grid it was exported on (its folders show it), ' +
    'or move the checkpoint past it; see README, "Changing the window grid"'
  );
}
