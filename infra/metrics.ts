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

/** `AuditExport/CheckpointLagSeconds` for one source, the maximum over 15 minutes. */
export function checkpointLagMetric(source: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: CHECKPOINT_LAG_NAMESPACE,
    metricName: CHECKPOINT_LAG_METRIC,
    dimensionsMap: { [CHECKPOINT_LAG_DIMENSION]: source },
    statistic: 'Maximum',
    period: Duration.minutes(15),
  });
}
