import type { EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { lazy } from '../common/config.js';
import { MANIFEST_NAME } from '../common/manifest.js';
import { defaultLogger, emitMetrics, type Logger } from '../common/observability.js';
import { parseInput } from '../common/validation.js';
import { normalizeWindow, type NormalizeResult, type NormalizerDeps } from './normalizer.js';
import { ocsfDepsFromEnvironment } from './runtime.js';

/**
 * The OCSF normalizer Lambda: the EventBridge "Object Created" event of a window's manifest (the pattern the README
 * documents for consumers) → the window's OCSF Parquet file (functions/ocsf/normalizer.ts). Records that could not
 * be mapped are counted in the result, the log line and the metric `OcsfRecordsUnmapped`; they never fail the
 * window. A failure (S3, a file that is not of its format) throws, so EventBridge retries and the alarm fires.
 */

const eventSchema = z.object({
  detail: z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string() }) }),
});

export function createNormalizeHandler(deps: () => Promise<NormalizerDeps>, logger: () => Logger = defaultLogger) {
  return async (event: EventBridgeEvent<'Object Created', unknown> | unknown): Promise<NormalizeResult> => {
    const { detail } = parseInput(eventSchema, event, 'S3 Object Created event (see README, "Consuming the exports")');
    const key = decodeURIComponent(detail.object.key.replace(/\+/g, ' '));
    const log = logger().child({ step: 'NormalizeOcsf', manifestKey: key });
    if (!key.endsWith(`/${MANIFEST_NAME}`)) {
      return { manifestKey: key, status: 'ignored', reason: 'not a manifest', events: 0, unmappable: 0, reasons: {}, bytes: 0, rowGroups: 0, externalSort: false, attempts: 0 };
    }
    const resolved = await deps();
    if (detail.bucket.name !== resolved.bucket) throw new Error(`The event is for bucket ${detail.bucket.name}, the normalizer reads ${resolved.bucket}`);
    const started = Date.now();
    try {
      const result = await normalizeWindow(resolved, key);
      const { reasons, ...figures } = result;
      log.info({ ...figures, unmappableReasons: reasons, durationMs: Date.now() - started, outcome: 'ok' }, 'NormalizeOcsf done');
      if (result.source) {
        emitMetrics(log, result.source, {
          OcsfEventsWritten: { value: result.events, unit: 'Count' },
          OcsfRecordsUnmapped: { value: result.unmappable, unit: 'Count' },
        });
      }
      return result;
    } catch (error) {
      log.error({ durationMs: Date.now() - started, outcome: 'error', errorName: (error as Error).name, errorMessage: (error as Error).message }, 'NormalizeOcsf failed');
      throw error;
    }
  };
}

export const handler = createNormalizeHandler(lazy(async () => ocsfDepsFromEnvironment(process.env)));
