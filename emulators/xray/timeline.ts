/**
 * Where each base event sits in time, without storing anything.
 *
 * Event i (id i+1) gets created_at = start + (i + u_i) * span / count, u_i ∈ [0, 1) drawn from (seed, i),
 * truncated to whole seconds (the API shows seconds). (i + u_i) grows with i, so created_at never decreases
 * as ids grow: the events of a time window are one contiguous id range, found by binary search.
 */
import { Prng, mix32 } from '../common/prng.js';

const TIMELINE_SALT = 0x7a11_e5;

export class Timeline {
  private readonly startMs: number;
  private readonly spanMs: number;
  private readonly timeSeed: number;

  constructor(seed: number, readonly count: number, startMs: number, endMs: number) {
    // Whole seconds on both ends keep every created_at in [startMs, endMs) after truncation.
    this.startMs = Math.ceil(startMs / 1000) * 1000;
    this.spanMs = Math.max(0, Math.ceil(endMs / 1000) * 1000 - this.startMs);
    this.timeSeed = mix32(seed ^ TIMELINE_SALT);
  }

  createdAt(index: number): number {
    const jitter = new Prng(this.timeSeed, index).next();
    const offset = ((index + jitter) * this.spanMs) / this.count;
    return Math.floor((this.startMs + offset) / 1000) * 1000;
  }

  /** First index whose created_at is ≥ instantMs (count when none). */
  firstAtOrAfter(instantMs: number): number {
    return lowerBound(this.count, (index) => this.createdAt(index) >= instantMs);
  }

  /** First index whose created_at is > instantMs (count when none). */
  firstAfter(instantMs: number): number {
    return lowerBound(this.count, (index) => this.createdAt(index) > instantMs);
  }
}

/** Smallest i in [0, count) with isAtOrPast(i), for a predicate that is false…false true…true; count if none. */
export function lowerBound(count: number, isAtOrPast: (index: number) => boolean): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (isAtOrPast(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}
