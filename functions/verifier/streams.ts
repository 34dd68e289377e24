import type { CheckpointLedger } from '../common/checkpoints.js';
import { streamFolder } from '../common/s3-layout.js';
import type { VerifiedStream } from './verify-range.js';

/** Every stream the checkpoint table knows, with its folder and the grid in effect. */
export async function recordedStreams(
  ledger: CheckpointLedger,
  where: { bucket: string; prefix?: string; retentionMs: (source: string) => number | undefined },
): Promise<VerifiedStream[]> {
  const streams: VerifiedStream[] = [];
  for (const checkpoint of await ledger.checkpoints()) {
    const stream = verifiedStream(checkpoint.stream, where, checkpoint.grids.at(-1)?.ms);
    if (stream) streams.push(stream);
  }
  return streams;
}

/** The grid a stream without a recorded one is cut on: whole hours (both sources' default). */
export const DEFAULT_GRID_MS = 3_600_000;

/** A stream key (`source|tenant|filters|format`) as a stream to verify; undefined when the key is not one. */
export function verifiedStream(
  stream: string,
  where: { bucket: string; prefix?: string; retentionMs: (source: string) => number | undefined },
  gridMs = DEFAULT_GRID_MS,
): VerifiedStream | undefined {
  const [source, tenant, filtersId, format] = stream.split('|');
  if (!source || !tenant || !filtersId || !format) return undefined;
  const retentionMs = where.retentionMs(source);
  return {
    stream,
    bucket: where.bucket,
    folder: streamFolder({ prefix: where.prefix, source, tenant, filtersId, format }),
    gridMs,
    ...(retentionMs === undefined ? {} : { retentionMs }),
  };
}
