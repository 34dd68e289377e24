import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/**
 * The CloudWatch metrics the export steps publish as EMF (functions/common/observability.ts `emitMetrics`):
 * namespace `AuditExport`, exactly one dimension `Source` = `mft` | `xray`. CommitRun publishes
 * `CheckpointLagSeconds` (seconds between now and the checkpoint) and `FailedWindows`; MFT CopyReport and Xray
 * ExportPages publish `RecordsExported` and `BytesExported`. EMF is a log line: no PutMetricData permission.
 */
export const CHECKPOINT_LAG_NAMESPACE = 'AuditExport';
export const CHECKPOINT_LAG_METRIC = 'CheckpointLagSeconds';
export const CHECKPOINT_LAG_DIMENSION = 'Source';
/** The second dimension, only where a source has several instances: the instance's name. */
export const INSTANCE_DIMENSION = 'Instance';
/** Set on the functions of an instance of several: the steps add `Instance` to their metrics. */
export { INSTANCE_ENVIRONMENT_VARIABLE } from '../functions/common/observability.js';

/** The dimensions of one source's metrics, or of one instance's when the source has several. */
export function metricDimensions(source: string, instance?: string): Record<string, string> {
  return instance === undefined ? { [CHECKPOINT_LAG_DIMENSION]: source } : { [CHECKPOINT_LAG_DIMENSION]: source, [INSTANCE_DIMENSION]: instance };
}

/** `AuditExport/CheckpointLagSeconds` for one source (or one instance of several), the maximum over 15 minutes. */
export function checkpointLagMetric(source: string, instance?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: CHECKPOINT_LAG_NAMESPACE,
    metricName: CHECKPOINT_LAG_METRIC,
    dimensionsMap: metricDimensions(source, instance),
    statistic: 'Maximum',
    period: Duration.minutes(15),
  });
}
