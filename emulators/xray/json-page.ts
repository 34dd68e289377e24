/** The JSON body of one page, produced in chunks so it can be streamed with backpressure. */
import type { AuditEvent } from './types.js';

export interface PageMeta {
  total_count?: number;
  result_count: number;
  next_offset?: number | null;
  order_by: string;
  direction: string;
  num_of_rows: number;
  offset: number;
  include_total: boolean;
  include_explanation_and_recommendation: false;
  created_at_start: string;
  created_at_end: string;
}

const CHUNK_CHARS = 64 * 1024;

export function* jsonPageChunks(events: Iterable<AuditEvent>, meta: PageMeta): Generator<string> {
  let chunk = '{"data":[';
  let first = true;
  for (const event of events) {
    chunk += (first ? '' : ',') + JSON.stringify(event);
    first = false;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  yield `${chunk}],"meta":${JSON.stringify(meta)}}`;
}
