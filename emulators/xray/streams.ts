/**
 * The two event streams the endpoint serves: real events (dry_run=false) and dry-run events (dry_run=true).
 *
 * Each stream has its own id space: base events derived on demand, then events added at runtime with ids
 * continuing after them. Within the base part, created_at never decreases as ids grow.
 */
import { Prng } from '../common/prng.js';
import { dryRunEvent, requestEvent } from './event-factory.js';
import { Timeline, lowerBound } from './timeline.js';
import type { AuditEvent } from './types.js';

/** An event inserted at runtime (possibly with a created_at in the past: a "late" event). */
export interface AddedEvent {
  id: number;
  createdAtMs: number;
  build(): AuditEvent;
}

export interface EventStream {
  readonly baseCount: number;
  /** Runtime additions, ids ascending, all greater than every base id. */
  readonly added: AddedEvent[];
  createdAt(index: number): number;
  baseEvent(index: number): AuditEvent;
  /** First base index with created_at ≥ instantMs. */
  firstAtOrAfter(instantMs: number): number;
  /** First base index with created_at > instantMs. */
  firstAfter(instantMs: number): number;
}

export class RealEventStream implements EventStream {
  readonly added: AddedEvent[] = [];

  constructor(private readonly seed: number, private readonly timeline: Timeline) {}

  get baseCount(): number {
    return this.timeline.count;
  }

  createdAt(index: number): number {
    return this.timeline.createdAt(index);
  }

  baseEvent(index: number): AuditEvent {
    return requestEvent(this.seed, index, index + 1, this.createdAt(index));
  }

  firstAtOrAfter(instantMs: number): number {
    return this.timeline.firstAtOrAfter(instantMs);
  }

  firstAfter(instantMs: number): number {
    return this.timeline.firstAfter(instantMs);
  }

  /** Appends an event whose content derives from (seed, its index), like the base ones. */
  add(createdAtMs: number): AddedEvent {
    const index = this.timeline.count + this.added.length;
    const event: AddedEvent = {
      id: index + 1,
      createdAtMs,
      build: () => requestEvent(this.seed, index, index + 1, createdAtMs),
    };
    this.added.push(event);
    return event;
  }
}

/** Share of requests that also matched dry-run policies, and dry-run events per such request (1 or 2). */
const DRY_RUN_REQUEST_SHARE = 0.12;
const DRY_RUN_EVENTS_PER_REQUEST = 1.3;

/**
 * Dry-run event j belongs to dry-run request r = ⌊j·R/D⌋ (R requests, D events: some requests get two
 * consecutive events, one per dry-run policy), and request r is real base event b = ⌊r·N/R⌋. Both maps
 * are non-decreasing, so dry-run created_at also never decreases with the id: O(1) per event, no tables.
 */
/** How dry-run events look where the documents are silent (see XrayEmulatorOptions). */
export interface DryRunShape {
  /** Dry-run policies each dry-run event carries (default 1: "one per dry run policy"). */
  policiesPerEvent: number;
  /** Each dry-run event carries the id of the request it belongs to (so a request's events share an id). */
  sharedIds: boolean;
}

export class DryRunEventStream implements EventStream {
  readonly added: AddedEvent[] = [];
  readonly baseCount: number;
  private readonly requestCount: number;

  constructor(
    private readonly seed: number,
    private readonly real: RealEventStream,
    private readonly shape: DryRunShape = { policiesPerEvent: 1, sharedIds: false },
  ) {
    this.requestCount = Math.round(real.baseCount * DRY_RUN_REQUEST_SHARE);
    this.baseCount = Math.round(this.requestCount * DRY_RUN_EVENTS_PER_REQUEST);
  }

  private requestOf(index: number): number {
    return Math.floor((index * this.requestCount) / this.baseCount);
  }

  private realIndexOf(request: number): number {
    return Math.floor((request * this.real.baseCount) / this.requestCount);
  }

  createdAt(index: number): number {
    return this.real.createdAt(this.realIndexOf(this.requestOf(index)));
  }

  baseEvent(index: number): AuditEvent {
    const request = this.requestOf(index);
    const firstOfRequest = Math.ceil((request * this.baseCount) / this.requestCount);
    const realIndex = this.realIndexOf(request);
    const id = this.shape.sharedIds ? realIndex + 1 : index + 1;
    return dryRunEvent(this.real.baseEvent(realIndex), id, this.seed, realIndex, index - firstOfRequest, this.shape.policiesPerEvent);
  }

  firstAtOrAfter(instantMs: number): number {
    return lowerBound(this.baseCount, (index) => this.createdAt(index) >= instantMs);
  }

  firstAfter(instantMs: number): number {
    return lowerBound(this.baseCount, (index) => this.createdAt(index) > instantMs);
  }

  /** The dry-run events (1 or 2) of a request that was just added to the real stream. */
  addFor(request: AddedEvent): AddedEvent[] {
    const realIndex = request.id - 1;
    const policies = new Prng(this.seed ^ 0xd28, realIndex).next() < 0.3 ? 2 : 1;
    const events: AddedEvent[] = [];
    for (let k = 0; k < policies; k++) {
      const id = this.baseCount + this.added.length + 1;
      const event: AddedEvent = {
        id,
        createdAtMs: request.createdAtMs,
        build: () => dryRunEvent(request.build(), this.shape.sharedIds ? request.id : id, this.seed, realIndex, k, this.shape.policiesPerEvent),
      };
      this.added.push(event);
      events.push(event);
    }
    return events;
  }
}
