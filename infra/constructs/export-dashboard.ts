import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { CHECKPOINT_LAG_NAMESPACE, metricDimensions } from '../metrics.js';
import { RECONCILED_WINDOWS_METRIC, UNVERIFIED_WINDOWS_METRIC, verifierMetric } from './export-verifier.js';

/** What the dashboard shows of one source. */
export interface DashboardSource {
  /** `mft`, `xray`: the Source dimension of its metrics. */
  readonly source: string;
  /** What its row is called: the source, or `<source> <instance>` for a listed instance (default: the source). */
  readonly title?: string;
  /** The Instance dimension of its metrics, where the source has several instances. */
  readonly instance?: string;
  readonly stateMachine: sfn.IStateMachine;
  /** The function that moves the data (MFT CopyReport, Xray ExportPages). */
  readonly dataFunction: lambda.IFunction;
  readonly lagMetric: cloudwatch.IMetric;
  readonly lagThresholdSeconds: number;
}

export interface ExportDashboardProps {
  readonly dashboardName: string;
  readonly sources: readonly DashboardSource[];
  /** The manifest consumer, when deployed. */
  readonly consumer?: lambda.IFunction;
  /** The scheduled verifier, when deployed. */
  readonly verifier?: lambda.IFunction;
}

const PERIOD = Duration.minutes(5);
const WIDTH = 4;
const ROW = 24;

/**
 * One CloudWatch dashboard: per source a row of executions (started, succeeded, failed, timed out), execution
 * time, errors and duration of the function that moves the data, records and bytes exported (the EMF metrics
 * the steps publish), and the checkpoint lag against its alarm threshold; then the manifest consumer.
 */
export class ExportDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ExportDashboardProps) {
    super(scope, id);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(1),
    });

    for (const source of props.sources) {
      const sm = source.stateMachine;
      const fn = source.dataFunction;
      const title = source.title ?? source.source;
      this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: `## ${title} export`, width: ROW, height: 1 }));
      const exported = (metricName: string, label: string) =>
        new cloudwatch.Metric({
          namespace: CHECKPOINT_LAG_NAMESPACE,
          metricName,
          dimensionsMap: metricDimensions(source.source, source.instance),
          statistic: 'Sum',
          period: PERIOD,
          label,
        });
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${title}: executions`,
          width: WIDTH,
          left: [
            sm.metricStarted({ period: PERIOD, statistic: 'Sum', label: 'started' }),
            sm.metricSucceeded({ period: PERIOD, statistic: 'Sum', label: 'succeeded' }),
            sm.metricFailed({ period: PERIOD, statistic: 'Sum', label: 'failed' }),
            sm.metricTimedOut({ period: PERIOD, statistic: 'Sum', label: 'timed out' }),
          ],
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: execution time`,
          width: WIDTH,
          left: [
            sm.metricTime({ period: PERIOD, statistic: 'Average', label: 'average' }),
            sm.metricTime({ period: PERIOD, statistic: 'Maximum', label: 'maximum' }),
          ],
          leftYAxis: { label: 'ms', showUnits: false },
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: ${fn.node.id} errors`,
          width: WIDTH,
          left: [fn.metricErrors({ period: PERIOD, statistic: 'Sum', label: 'errors' })],
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: ${fn.node.id} duration`,
          width: WIDTH,
          left: [
            fn.metricDuration({ period: PERIOD, statistic: 'p95', label: 'p95' }),
            fn.metricDuration({ period: PERIOD, statistic: 'Maximum', label: 'maximum' }),
          ],
          leftYAxis: { label: 'ms', showUnits: false },
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: exported`,
          width: WIDTH,
          left: [exported('RecordsExported', 'records')],
          right: [exported('BytesExported', 'bytes')],
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: checkpoint lag`,
          width: WIDTH,
          left: [source.lagMetric],
          leftYAxis: { label: 'seconds', showUnits: false, min: 0 },
          leftAnnotations: [{ value: source.lagThresholdSeconds, label: 'alarm threshold', color: cloudwatch.Color.RED }],
        }),
      );
    }

    if (props.verifier) {
      const fn = props.verifier;
      const perSource = (name: string) => ['mft', 'xray'].map((source) => verifierMetric(name, source).with({ label: source }));
      this.dashboard.addWidgets(
        new cloudwatch.TextWidget({ markdown: '## verifier (daily)', width: ROW, height: 1 }),
        new cloudwatch.GraphWidget({ title: 'verifier: unverified windows', width: ROW / 3, left: perSource(UNVERIFIED_WINDOWS_METRIC), leftYAxis: { min: 0 } }),
        new cloudwatch.GraphWidget({ title: 'verifier: windows reconciled (re-exported)', width: ROW / 3, left: perSource(RECONCILED_WINDOWS_METRIC), leftYAxis: { min: 0 } }),
        new cloudwatch.GraphWidget({
          title: 'verifier: errors and duration',
          width: ROW / 3,
          left: [fn.metricErrors({ period: Duration.days(1), statistic: 'Sum', label: 'errors' })],
          right: [fn.metricDuration({ period: Duration.days(1), statistic: 'Maximum', label: 'duration max' })],
        }),
      );
    }

    if (props.consumer) {
      const fn = props.consumer;
      this.dashboard.addWidgets(
        new cloudwatch.TextWidget({ markdown: '## manifest consumer', width: ROW, height: 1 }),
        new cloudwatch.GraphWidget({
          title: 'consumer: manifests verified and errors',
          width: ROW / 2,
          left: [
            fn.metricInvocations({ period: PERIOD, statistic: 'Sum', label: 'invocations' }),
            fn.metricErrors({ period: PERIOD, statistic: 'Sum', label: 'errors' }),
          ],
        }),
        new cloudwatch.GraphWidget({
          title: 'consumer: duration',
          width: ROW / 2,
          left: [fn.metricDuration({ period: PERIOD, statistic: 'Maximum', label: 'duration max' })],
          leftYAxis: { label: 'ms', showUnits: false },
        }),
      );
    }
  }
}
