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
import { ExportVerifier } from './constructs/export-verifier.js';
import { ManifestConsumer } from './constructs/manifest-consumer.js';
import { OcsfNormalizer } from './constructs/ocsf-normalizer.js';
import { EGRESS_IPS_OUTPUT, ExportNetwork, networkAvailabilityZones } from './constructs/network.js';
import { CHECKPOINT_LAG_DIMENSION, CHECKPOINT_LAG_METRIC, CHECKPOINT_LAG_NAMESPACE, INSTANCE_DIMENSION, checkpointLagMetric } from './metrics.js';
import { XRAY_RETENTION_DAYS } from '../functions/xray/runtime.js';
import { MftSource } from './sources/mft.js';
import { XraySource } from './sources/xray.js';

export { CHECKPOINT_LAG_DIMENSION, CHECKPOINT_LAG_METRIC, CHECKPOINT_LAG_NAMESPACE, INSTANCE_DIMENSION, checkpointLagMetric } from './metrics.js';

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
  /** The first (or only) instance of each source. */
  readonly mft?: MftSource;
  readonly xray?: XraySource;
  /** Every instance of each source, in the order configured. */
  readonly mftInstances: MftSource[] = [];
  readonly xrayInstances: XraySource[] = [];
  readonly consumer?: ManifestConsumer;
  readonly ocsf?: OcsfNormalizer;
  readonly verifier?: ExportVerifier;
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
    // One state machine per instance: each instance's functions hold only its own secret, and each execution
    // history is one tenant's (README, "Several instances of a source").
    const severalMft = config.sources.mft.length > 1;
    for (const instance of config.sources.mft) {
      const mft = new MftSource(this, constructIdOf('mft', instance), { ...sourceProps, instance, several: severalMft });
      this.mftInstances.push(mft);
      dashboardSources.push(
        this.operateSource('mft', 'MFT', instance, severalMft, mft, mft.export.functions.CopyReportFunctionArn, '{"tenantId","kid","privateKeyPem"}', lagThreshold),
      );
    }
    const severalXray = config.sources.xray.length > 1;
    for (const instance of config.sources.xray) {
      const xray = new XraySource(this, constructIdOf('xray', instance), { ...sourceProps, instance, several: severalXray });
      this.xrayInstances.push(xray);
      dashboardSources.push(
        this.operateSource('xray', 'Xray', instance, severalXray, xray, xray.export.functions.XrayExportPagesFunctionArn, '{"accessToken"} or {"username","password"}', lagThreshold),
      );
    }
    this.mft = this.mftInstances[0];
    this.xray = this.xrayInstances[0];
    for (const [source, instances] of [['mft', this.mftInstances], ['xray', this.xrayInstances]] as const) {
      const listed = config.sources[source].filter((instance) => instance.listed);
      if (!listed.length) continue;
      // `audit-export … --instance <name> --target aws` reads this map (exported as <SOURCE>_STATE_MACHINE_ARNS).
      new CfnOutput(this, `${pascal(source)}StateMachineArns`, {
        description: `${source.toUpperCase()}_STATE_MACHINE_ARNS: the ${source} instances' state machines, JSON {"<instance>": "<arn>"} (for \`audit-export run ${source} --instance <name> --target aws\`)`,
        value: Fn.toJsonString(Object.fromEntries(listed.map((instance, index) => [instance.name, instances[index]!.export.stateMachine.stateMachineArn]))),
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

    if (config.ocsf.enabled) {
      this.ocsf = new OcsfNormalizer(this, 'OcsfNormalizer', { config, storage: this.storage, projectRoot: props.projectRoot, alarmTopic: this.alarmTopic, logRetention, removalPolicy });
    }

    if (config.verifier.enabled) {
      // Reconciliation asks one Xray platform for its counts and re-exports through its state machine: with several
      // instances the verifier checks every stream but reconciles none (one verifier per instance is not built yet).
      const xray = config.sources.xray.length === 1 ? config.sources.xray[0] : undefined;
      this.verifier = new ExportVerifier(this, 'Verifier', {
        storage: this.storage,
        exportPrefix: config.bucket.exportPrefix,
        projectRoot: props.projectRoot,
        days: config.verifier.days,
        schedule: config.verifier.schedule,
        alarmTopic: this.alarmTopic,
        logRetention,
        removalPolicy,
        ...(this.xray && xray?.baseUrl
          ? {
              xray: {
                baseUrl: xray.baseUrl,
                ...(xray.tenant ? { tenant: xray.tenant } : {}),
                retentionDays: XRAY_RETENTION_DAYS,
                credentialsSecret: this.xray.credentialsSecret,
                stateMachine: this.xray.export.stateMachine,
              },
            }
          : {}),
        ...(this.network ? { network: this.network } : {}),
      });
    }

    this.dashboard = new ExportDashboard(this, 'Monitoring', {
      dashboardName: config.stackName,
      sources: dashboardSources,
      ...(this.consumer ? { consumer: this.consumer.function } : {}),
      ...(this.verifier ? { verifier: this.verifier.function } : {}),
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
   * What an operator gets for each instance: its checkpoint-lag alarm, the outputs naming its state machine and
   * credentials secret, and its row of the dashboard (returned). The single-object form keeps the ids it had
   * (`MftStateMachineArn`); a listed instance's carry its name (`MftEuStateMachineArn`).
   */
  private operateSource(
    source: 'mft' | 'xray',
    label: string,
    instance: { name: string; listed: boolean },
    several: boolean,
    deployed: { export: { stateMachine: sfn.StateMachine }; credentialsSecret: secretsmanager.ISecret },
    dataFunction: lambda.IFunction,
    secretShape: string,
    lagThreshold: number,
  ): DashboardSource {
    const id = constructIdOf(source, instance);
    const named = instance.listed ? `${label} ${instance.name}` : label;
    // The `Instance` dimension only where there are several: one instance keeps today's Source-only metric.
    const dimension = several ? instance.name : undefined;
    this.checkpointLagAlarm(id, instance.listed ? `${source} ${instance.name}` : source, dimension, lagThreshold);
    new CfnOutput(this, `${id}StateMachineArn`, {
      description: instance.listed
        ? `The ${named} export state machine (\`audit-export run ${source} --instance ${instance.name} --target aws\`)`
        : `${source.toUpperCase()}_STATE_MACHINE_ARN: the ${label} export state machine (export it for \`audit-export run ${source} --target aws\`)`,
      value: deployed.export.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, `${id}CredentialsSecretArn`, {
      description: `The ${named} credentials secret: put JSON ${secretShape} here`,
      value: deployed.credentialsSecret.secretArn,
    });
    const title = instance.listed ? `${source} ${instance.name}` : source;
    return {
      source,
      title,
      ...(dimension === undefined ? {} : { instance: dimension }),
      stateMachine: deployed.export.stateMachine,
      dataFunction,
      lagMetric: checkpointLagMetric(source, dimension).with({ label: `${title} checkpoint lag` }),
      lagThresholdSeconds: lagThreshold,
    };
  }

  /**
   * Alarms when a source's checkpoint falls behind. CommitRun publishes the metric once per execution, so most
   * periods hold no data: those keep the alarm's state (IGNORE) instead of flipping it back to OK between runs;
   * a fresh deployment stays INSUFFICIENT_DATA until the first CommitRun. Executions that fail before CommitRun
   * are the executions alarm's business.
   */
  private checkpointLagAlarm(id: string, label: string, instance: string | undefined, thresholdSeconds: number): cloudwatch.Alarm {
    const source = label.split(' ')[0]!;
    const dimensions = `${CHECKPOINT_LAG_DIMENSION}=${source}${instance === undefined ? '' : `, ${INSTANCE_DIMENSION}=${instance}`}`;
    const alarm = new cloudwatch.Alarm(this, `${id}CheckpointLagAlarm`, {
      alarmDescription: `The ${label} audit export is more than ${thresholdSeconds} s behind (${CHECKPOINT_LAG_NAMESPACE}/${CHECKPOINT_LAG_METRIC}, ${dimensions}, published by CommitRun)`,
      metric: checkpointLagMetric(source, instance),
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

function pascal(name: string): string {
  return name.split('-').map((part) => `${part[0]!.toUpperCase()}${part.slice(1)}`).join('');
}

/** `Mft`, `Xray` for the single-object form (the ids every deployment had); `MftEu`, `XrayOnPrem` for listed instances. */
export function constructIdOf(source: 'mft' | 'xray', instance: { name: string; listed: boolean }): string {
  return instance.listed ? `${pascal(source)}${pascal(instance.name)}` : pascal(source);
}
