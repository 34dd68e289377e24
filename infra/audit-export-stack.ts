import { CfnOutput, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { AuditExportConfig } from './config.js';
import { ExportDashboard, type DashboardSource } from './constructs/export-dashboard.js';
import { ExportStorage } from './constructs/export-storage.js';
import { ManifestConsumer } from './constructs/manifest-consumer.js';
import { OcsfNormalizer } from './constructs/ocsf-normalizer.js';
import { EGRESS_IPS_OUTPUT, ExportNetwork, networkAvailabilityZones } from './constructs/network.js';
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
  readonly ocsf?: OcsfNormalizer;
  readonly dashboard: ExportDashboard;
  /** Fixed egress addresses for the functions that call a vendor (config `network`). */
  readonly network?: ExportNetwork;
  private readonly networkZones?: string[];

  constructor(scope: Construct, id: string, props: AuditExportStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.networkZones = networkAvailabilityZones(config.network);
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
    // enforceSSL gives the topic a policy of its own, which replaces SNS's default one: without this statement
    // no alarm could publish ("not authorized to perform: SNS:Publish"). Only this account's alarms may.
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': this.account },
          ArnLike: { 'aws:SourceArn': `arn:${this.partition}:cloudwatch:${this.region}:${this.account}:alarm:*` },
        },
      }),
    );
    if (config.alarms.email) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarms.email));
    }

    const lagThreshold = config.alarms.checkpointLagSeconds;
    const dashboardSources: DashboardSource[] = [];

    if (config.network.mode !== 'none') {
      this.network = new ExportNetwork(this, 'Network', { network: config.network, logRetention, removalPolicy });
      new CfnOutput(this, EGRESS_IPS_OUTPUT, {
        description: "The public addresses the vendor calls leave from: enter them in the vendors' IP allow-lists (README, \"Fixed egress addresses\")",
        value: Fn.join(',', this.network.egressIps),
      });
    }
    const sourceProps = { config, projectRoot: props.projectRoot, storage: this.storage, alarmTopic: this.alarmTopic, logRetention, removalPolicy, ...(this.network ? { network: this.network } : {}) };
    if (config.sources.mft.enabled) {
      this.mft = new MftSource(this, 'Mft', sourceProps);
      dashboardSources.push(
        this.operateSource('mft', 'MFT', this.mft, this.mft.export.functions.CopyReportFunctionArn, '{"tenantId","kid","privateKeyPem"}', lagThreshold),
      );
    }
    if (config.sources.xray.enabled) {
      this.xray = new XraySource(this, 'Xray', sourceProps);
      dashboardSources.push(
        this.operateSource('xray', 'Xray', this.xray, this.xray.export.functions.XrayExportPagesFunctionArn, '{"accessToken"} or {"username","password"}', lagThreshold),
      );
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

    if (config.ocsf.enabled) {
      this.ocsf = new OcsfNormalizer(this, 'OcsfNormalizer', { config, storage: this.storage, projectRoot: props.projectRoot, alarmTopic: this.alarmTopic, logRetention, removalPolicy });
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

  /** A created VPC's zones come from the configuration, not from a context lookup: synth stays offline. */
  override get availabilityZones(): string[] {
    return this.networkZones ?? super.availabilityZones;
  }

  /**
   * What an operator gets for each source: its checkpoint-lag alarm, the outputs naming its state machine and
   * credentials secret, and its row of the dashboard (returned).
   */
  private operateSource(
    source: 'mft' | 'xray',
    label: string,
    deployed: { export: { stateMachine: sfn.StateMachine }; credentialsSecret: secretsmanager.ISecret },
    dataFunction: lambda.IFunction,
    secretShape: string,
    lagThreshold: number,
  ): DashboardSource {
    const id = `${source[0]!.toUpperCase()}${source.slice(1)}`;
    this.checkpointLagAlarm(source, lagThreshold);
    new CfnOutput(this, `${id}StateMachineArn`, {
      description: `${source.toUpperCase()}_STATE_MACHINE_ARN: the ${label} export state machine (export it for \`audit-export run ${source} --target aws\`)`,
      value: deployed.export.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, `${id}CredentialsSecretArn`, {
      description: `The ${label} credentials secret: put JSON ${secretShape} here`,
      value: deployed.credentialsSecret.secretArn,
    });
    return {
      source,
      stateMachine: deployed.export.stateMachine,
      dataFunction,
      lagMetric: checkpointLagMetric(source).with({ label: `${source} checkpoint lag` }),
      lagThresholdSeconds: lagThreshold,
    };
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
