import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { AuditExportConfig } from './config.js';
import { ExportDashboard, type DashboardSource } from './constructs/export-dashboard.js';
import { ExportStorage } from './constructs/export-storage.js';
import { ManifestConsumer } from './constructs/manifest-consumer.js';
import { CHECKPOINT_LAG_DIMENSION, CHECKPOINT_LAG_METRIC, CHECKPOINT_LAG_NAMESPACE, checkpointLagMetric } from './metrics.js';
import { MftSource } from './sources/mft.js';
import { XraySource } from './sources/xray.js';

export { CHECKPOINT_LAG_DIMENSION, CHECKPOINT_LAG_METRIC, CHECKPOINT_LAG_NAMESPACE, checkpointLagMetric } from './metrics.js';

export interface AuditExportStackProps extends StackProps {
  readonly config: AuditExportConfig;
  /** The repository root (esbuild's working directory, holds package-lock.json and the ASL files). */
  readonly projectRoot: string;
}

/**
 * Everything audit-export installs in one account and region: storage (bucket, access logs, checkpoint table),
 * monitoring (an encrypted SNS topic and alarms), and one SourceExport per enabled source.
 */
export class AuditExportStack extends Stack {
  readonly storage: ExportStorage;
  readonly alarmTopic: sns.Topic;
  readonly mft?: MftSource;
  readonly xray?: XraySource;
  readonly consumer?: ManifestConsumer;
  readonly dashboard: ExportDashboard;

  constructor(scope: Construct, id: string, props: AuditExportStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.bucket.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.storage = new ExportStorage(this, 'Storage', { bucket: config.bucket });

    // Alarm notifications: encrypted with a key CloudWatch may use to publish.
    const alarmTopicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'audit-export: encrypts the alarm notification topic',
      enableKeyRotation: true,
      removalPolicy,
    });
    alarmTopicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'audit-export alarms',
      masterKey: alarmTopicKey,
      enforceSSL: true,
    });
    if (config.alarms.email) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarms.email));
    }

    const lagThreshold = config.alarms.checkpointLagSeconds;
    const dashboardSources: DashboardSource[] = [];

    if (config.sources.mft.enabled) {
      this.mft = new MftSource(this, 'Mft', {
        config,
        projectRoot: props.projectRoot,
        storage: this.storage,
        alarmTopic: this.alarmTopic,
        logRetention,
        removalPolicy,
      });
      this.checkpointLagAlarm('mft', lagThreshold);
      dashboardSources.push({
        source: 'mft',
        stateMachine: this.mft.export.stateMachine,
        dataFunction: this.mft.export.functions.CopyReportFunctionArn,
        lagMetric: checkpointLagMetric('mft').with({ label: 'mft checkpoint lag' }),
        lagThresholdSeconds: lagThreshold,
      });
      new CfnOutput(this, 'MftStateMachineArn', {
        description: 'MFT_STATE_MACHINE_ARN: the MFT export state machine (export it for `audit-export run mft --target aws`)',
        value: this.mft.export.stateMachine.stateMachineArn,
      });
      new CfnOutput(this, 'MftCredentialsSecretArn', {
        description: 'The MFT credentials secret: put JSON {"tenantId","kid","privateKeyPem"} here',
        value: this.mft.credentialsSecret.secretArn,
      });
    }

    if (config.sources.xray.enabled) {
      this.xray = new XraySource(this, 'Xray', {
        config,
        projectRoot: props.projectRoot,
        storage: this.storage,
        alarmTopic: this.alarmTopic,
        logRetention,
        removalPolicy,
      });
      this.checkpointLagAlarm('xray', lagThreshold);
      dashboardSources.push({
        source: 'xray',
        stateMachine: this.xray.export.stateMachine,
        dataFunction: this.xray.export.functions.XrayExportPagesFunctionArn,
        lagMetric: checkpointLagMetric('xray').with({ label: 'xray checkpoint lag' }),
        lagThresholdSeconds: lagThreshold,
      });
      new CfnOutput(this, 'XrayStateMachineArn', {
        description: 'XRAY_STATE_MACHINE_ARN: the Xray export state machine (export it for `audit-export run xray --target aws`)',
        value: this.xray.export.stateMachine.stateMachineArn,
      });
      new CfnOutput(this, 'XrayCredentialsSecretArn', {
        description: 'The Xray credentials secret: put JSON {"accessToken"} or {"username","password"} here',
        value: this.xray.credentialsSecret.secretArn,
      });
    }

    if (config.consumers.verifyManifests) {
      this.consumer = new ManifestConsumer(this, 'ManifestConsumer', {
        storage: this.storage,
        exportPrefix: config.bucket.exportPrefix,
        projectRoot: props.projectRoot,
        alarmTopic: this.alarmTopic,
        logRetention,
        removalPolicy,
      });
    }

    this.dashboard = new ExportDashboard(this, 'Monitoring', {
      dashboardName: config.stackName,
      sources: dashboardSources,
      ...(this.consumer ? { consumer: this.consumer.function } : {}),
    });

    new CfnOutput(this, 'ExportBucketName', {
      description: 'EXPORT_BUCKET: the bucket the audit logs land in (under <prefix>source=<source>/...)',
      value: this.storage.bucket.bucketName,
    });
    new CfnOutput(this, 'CheckpointTableName', {
      description: 'CHECKPOINT_TABLE: the checkpoint table',
      value: this.storage.checkpointTable.tableName,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'Alarms are sent here; subscribe more endpoints if needed',
      value: this.alarmTopic.topicArn,
    });
  }

  /**
   * Alarms when a source's checkpoint falls behind. CommitRun publishes the metric once per execution, so most
   * periods hold no data: those keep the alarm's state (IGNORE) instead of flipping it back to OK between runs;
   * a fresh deployment stays INSUFFICIENT_DATA until the first CommitRun. Executions that fail before CommitRun
   * are the executions alarm's business.
   */
  private checkpointLagAlarm(source: string, thresholdSeconds: number): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, `${source[0]!.toUpperCase()}${source.slice(1)}CheckpointLagAlarm`, {
      alarmDescription: `The ${source} audit export is more than ${thresholdSeconds} s behind (${CHECKPOINT_LAG_NAMESPACE}/${CHECKPOINT_LAG_METRIC}, ${CHECKPOINT_LAG_DIMENSION}=${source}, published by CommitRun)`,
      metric: checkpointLagMetric(source),
      threshold: thresholdSeconds,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
    alarm.addOkAction(new cloudwatchActions.SnsAction(this.alarmTopic));
    return alarm;
  }
}
