import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { AuditExportConfig } from './config.js';
import { ExportStorage } from './constructs/export-storage.js';
import { MftSource } from './sources/mft.js';
import { XraySource } from './sources/xray.js';

export interface AuditExportStackProps extends StackProps {
  readonly config: AuditExportConfig;
  /** The repository root (esbuild's working directory, holds package-lock.json and the ASL files). */
  readonly projectRoot: string;
}

/** Metric the exporters publish: seconds between now and the end of the last exported window, per source. */
export const CHECKPOINT_LAG_NAMESPACE = 'AuditExport';
export const CHECKPOINT_LAG_METRIC = 'CheckpointLagSeconds';

/**
 * Everything audit-export installs in one account and region: storage (bucket, access logs, checkpoint table),
 * monitoring (an encrypted SNS topic and alarms), and one SourceExport per enabled source.
 */
export class AuditExportStack extends Stack {
  readonly storage: ExportStorage;
  readonly alarmTopic: sns.Topic;
  readonly mft?: MftSource;
  readonly xray?: XraySource;

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

    if (config.sources.mft.enabled) {
      this.mft = new MftSource(this, 'Mft', {
        config,
        projectRoot: props.projectRoot,
        storage: this.storage,
        alarmTopic: this.alarmTopic,
        logRetention,
        removalPolicy,
      });
      this.checkpointLagAlarm('mft', config.alarms.checkpointLagSeconds);
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
      this.checkpointLagAlarm('xray', config.alarms.checkpointLagSeconds);
      new CfnOutput(this, 'XrayStateMachineArn', {
        description: 'XRAY_STATE_MACHINE_ARN: the Xray export state machine (export it for `audit-export run xray --target aws`)',
        value: this.xray.export.stateMachine.stateMachineArn,
      });
      new CfnOutput(this, 'XrayCredentialsSecretArn', {
        description: 'The Xray credentials secret: put JSON {"accessToken"} or {"username","password"} here',
        value: this.xray.credentialsSecret.secretArn,
      });
    }

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

  /** Alarms when a source's exported data falls behind; the metric is published by the export functions. */
  private checkpointLagAlarm(source: string, thresholdSeconds: number): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, `${source[0]!.toUpperCase()}${source.slice(1)}CheckpointLagAlarm`, {
      alarmDescription: `The ${source} audit export is more than ${thresholdSeconds} s behind (${CHECKPOINT_LAG_NAMESPACE}/${CHECKPOINT_LAG_METRIC})`,
      metric: new cloudwatch.Metric({
        namespace: CHECKPOINT_LAG_NAMESPACE,
        metricName: CHECKPOINT_LAG_METRIC,
        dimensionsMap: { Source: source },
        statistic: 'Maximum',
        period: Duration.minutes(15),
      }),
      threshold: thresholdSeconds,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // Until the functions publish the metric there is no data; the execution alarms cover outright failures.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
    return alarm;
  }
}
