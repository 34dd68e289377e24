/** The emulator's data: both event streams, runtime additions, and the ground truth tests compare against. */
import { SortCache, type OrderedView } from './ordering.js';
import { DryRunEventStream, RealEventStream, type DryRunShape, type EventStream } from './streams.js';
import { Timeline } from './timeline.js';
import type { AuditEvent, OrderColumn } from './types.js';
import { selectWindow, windowIds, type EventWindow } from './window.js';

export interface DatasetShape {
  seed: number;
  events: number;
  startMs: number;
  endMs: number;
}

export interface AddEventsOptions {
  createdAt?: string | ((i: number) => string);
  dryRunPolicies?: boolean;
}

export interface WindowQuery {
  start: string;
  end: string;
  dryRun?: boolean;
}

export class Dataset {
  readonly real: RealEventStream;
  readonly dryRun: DryRunEventStream;
  private readonly sorts = new SortCache();
  /** Events before this instant are no longer served (a purge, see `purgeBefore`). */
  private purgedBeforeMs = -Infinity;

  constructor(
    shape: DatasetShape,
    private readonly now: () => number,
    dryRunShape?: DryRunShape,
    /** The vendor keeps events this long (undefined: for ever): older ones are no longer served. */
    private readonly retentionMs?: number,
  ) {
    this.real = new RealEventStream(shape.seed, new Timeline(shape.seed, shape.events, shape.startMs, shape.endMs));
    this.dryRun = new DryRunEventStream(shape.seed, this.real, dryRunShape);
  }

  stream(dryRun: boolean): EventStream {
    return dryRun ? this.dryRun : this.real;
  }

  window(dryRun: boolean, startMs: number, endMs: number): EventWindow {
    return selectWindow(this.stream(dryRun), startMs, endMs);
  }

  /** What the API serves of a window: events purged or past the retention are gone. */
  servedWindow(dryRun: boolean, startMs: number, endMs: number): EventWindow {
    const kept = Math.max(this.purgedBeforeMs, this.retentionMs === undefined ? -Infinity : this.now() - this.retentionMs);
    const from = Math.max(startMs, kept);
    return this.window(dryRun, from, Math.max(from, endMs));
  }

  /** Drops every event (of both streams) created before `instantMs`, as the vendor's retention does. */
  purgeBefore(instantMs: number): void {
    this.purgedBeforeMs = Math.max(this.purgedBeforeMs, instantMs);
  }

  ordered(window: EventWindow, dryRun: boolean, column: OrderColumn): OrderedView {
    return this.sorts.order(window, dryRun ? 'dry-run' : 'real', column);
  }

  /** Inserts real events now; with dryRunPolicies each also yields 1–2 dry-run events. Returns the real ids. */
  addEvents(count: number, options: AddEventsOptions = {}): number[] {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`addEvents: count must be a non-negative integer, got ${count}`);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const createdAt = typeof options.createdAt === 'function' ? options.createdAt(i) : options.createdAt;
      const createdAtMs = createdAt === undefined ? this.now() : parseInstantOrThrow(createdAt, 'addEvents createdAt');
      const event = this.real.add(createdAtMs);
      if (options.dryRunPolicies) this.dryRun.addFor(event);
      ids.push(event.id);
    }
    return ids;
  }

  eventIds(query: WindowQuery): number[] {
    return [...windowIds(this.windowOf(query))];
  }

  countEvents(query: WindowQuery): number {
    return this.windowOf(query).size;
  }

  /** The events with created_at in [start, end), as served, in id order. */
  *events(query: WindowQuery): Generator<AuditEvent> {
    const window = this.windowOf(query);
    const view = this.ordered(window, query.dryRun ?? false, 'id');
    for (let position = 0; position < view.size; position++) yield view.at(position);
  }

  private windowOf(query: WindowQuery): EventWindow {
    const startMs = parseInstantOrThrow(query.start, 'start');
    const endMs = parseInstantOrThrow(query.end, 'end');
    return this.window(query.dryRun ?? false, startMs, endMs);
  }
}

export function parseInstantOrThrow(text: string, what: string): number {
  const instantMs = Date.parse(text);
  if (Number.isNaN(instantMs)) throw new RangeError(`${what}: not an ISO date-time: ${JSON.stringify(text)}`);
  return instantMs;
}
