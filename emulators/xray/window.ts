/** The events of one stream whose created_at lies in a half-open window [startMs, endMs). */
import type { AddedEvent, EventStream } from './streams.js';

export interface EventWindow {
  stream: EventStream;
  startMs: number;
  endMs: number;
  /** Base events in the window are exactly the indices [baseFrom, baseTo). */
  baseFrom: number;
  baseTo: number;
  /** Added events in the window, ids ascending. */
  added: AddedEvent[];
  size: number;
}

export function selectWindow(stream: EventStream, startMs: number, endMs: number): EventWindow {
  const baseFrom = stream.firstAtOrAfter(startMs);
  const baseTo = Math.max(baseFrom, stream.firstAtOrAfter(endMs));
  const added = stream.added.filter((event) => event.createdAtMs >= startMs && event.createdAtMs < endMs);
  return { stream, startMs, endMs, baseFrom, baseTo, added, size: baseTo - baseFrom + added.length };
}

/** Ids in the window, ascending (base ids are all below added ids). */
export function* windowIds(window: EventWindow): Generator<number> {
  for (let index = window.baseFrom; index < window.baseTo; index++) yield index + 1;
  for (const event of window.added) yield event.id;
}
