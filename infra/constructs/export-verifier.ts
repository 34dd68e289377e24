import { Duration, Stack, Validations, type CfnElement, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { VERIFIED_PARTITION_PREFIX } from '../../functions/verifier/verified-windows.js';
import { CHECKPOINT_LAG_DIMENSION, CHECKPOINT_LAG_NAMESPACE } from '../metrics.js';
import { createAuditFunction } from './audit-function.js';
import type { ExportStorage } from './export-storage.js';
import type { ExportNetwork } from './network.js';

export const VERIFIER_ENTRY = 'functions/verifier/handler.ts';
export const UNVERIFIED_WINDOWS_METRIC = 'UnverifiedWindows';
export const RECONCILED_WINDOWS_METRIC = 'ReconciledWindows';

export interface ExportVerifierProps {
  readonly storage: ExportStorage;
  readonly exportPrefix: string;
  readonly projectRoot: string;
  readonly days: number;
  readonly schedule: string;
  readonly alarmTopic: sns.ITopic;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** The Xray source, when deployed: its windows are counted again and re-exported by its state machine. */
  readonly xray?: {
    baseUrl: string;
    tenant?: string;
    retentionDays: number;
    credentialsSecret: secretsmanager.ISecret;
    stateMachine: sfn.IStateMachine;
  };
  readonly mftRetentionDays?: number;
  readonly network?: ExportNetwork;
}

/**
 * The scheduled verifier (functions/verifier/handler.ts): started daily by EventBridge Scheduler, it verifies the
 * previous `days` of every stream and publishes `UnverifiedWindows` and `ReconciledWindows` per source (EMF). It
 * may read the exports, list the streams (Scan, read-only), record which windows it hashed (`verified#…` items),
 * and, with Xray, read its credentials and start its state machine — nothing else: it writes no export.
 */
export class ExportVerifier extends Construct {
  readonly function: NodejsFunction;
  readonly schedule: scheduler.Schedule;
  readonly unverifiedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ExportVerifierProps) {
    super(scope, id);
    const reader = props.storage.exportReader(props.exportPrefix);
    const table = props.storage.checkpointTable;
    const statements = [
      ...reader.statements,
      new iam.PolicyStatement({
        sid: 'ListStreams',
        actions: ['dynamodb:Scan'],
        resources: [table.tableArn],
      }),
      new iam.PolicyStatement({
        sid: 'RecordVerifiedWindows',
        actions: ['dynamodb:Query', 'dynamodb:PutItem'],
        resources: [table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${VERIFIED_PARTITION_PREFIX}*`] } },
      }),
    ];
    const environment: Record<string, string> = {
      EXPORT_BUCKET: props.storage.bucket.bucketName,
      EXPORT_PREFIX: props.exportPrefix,
      CHECKPOINT_TABLE: table.tableName,
      VERIFY_DAYS: String(props.days),
    };
    if (props.mftRetentionDays !== undefined) environment.MFT_RETENTION_DAYS = String(props.mftRetentionDays);
    if (props.xray) {
      environment.XRAY_BASE_URL = props.xray.baseUrl;
      environment.XRAY_CREDENTIALS_SECRET_ID = props.xray.credentialsSecret.secretArn;
      environment.XRAY_STATE_MACHINE_ARN = props.xray.stateMachine.stateMachineArn;
      environment.XRAY_RETENTION_DAYS = String(props.xray.retentionDays);
      if (props.xray.tenant) environment.XRAY_TENANT = props.xray.tenant;
      statements.push(
        new iam.PolicyStatement({ sid: 'ReadXrayCredentials', actions: ['secretsmanager:GetSecretValue'], resources: [props.xray.credentialsSecret.secretArn] }),
        new iam.PolicyStatement({ sid: 'ReexportXrayWindows', actions: ['states:StartExecution'], resources: [props.xray.stateMachine.stateMachineArn] }),
      );
    }

    this.function = createAuditFunction(this, {
      id: 'Verifier',
      entry: VERIFIER_ENTRY,
      description: `audit-export scheduled verifier: ${VERIFIER_ENTRY}`,
      projectRoot: props.projectRoot,
      // Hashes objects as they stream by (CPU comes with memory); a run stops hashing after 10 minutes.
      memorySize: 1024,
      timeout: Duration.minutes(15),
      environment,
      statements,
      acknowledge: [reader.acknowledge],
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      // It asks the Xray platform for counts: from the fixed egress addresses when the network setting is on.
      ...(props.network && props.xray ? { placement: props.network.placement() } : {}),
    });

    // Its own role: Scheduler may invoke this function and nothing else.
    const scheduleRole = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'EventBridge Scheduler: starts the audit-export verifier',
    });
    Validations.of(scheduleRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.function.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason: 'lambda:InvokeFunction on the verifier function and its versions (the grant CDK gives a Scheduler target); no other function.',
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Starts the audit-export verifier (the previous ${props.days} days of every stream)`,
      schedule: scheduler.ScheduleExpression.expression(props.schedule),
      target: new schedulerTargets.LambdaInvoke(this.function, { input: scheduler.ScheduleTargetInput.fromObject({}), retryAttempts: 2, role: scheduleRole }),
    });

    this.unverifiedAlarm = new cloudwatch.Alarm(this, 'UnverifiedWindowsAlarm', {
      alarmDescription:
        `Windows of the last ${props.days} days are missing, incomplete, short of the vendor's count or do not match their ` +
        `manifests (${CHECKPOINT_LAG_NAMESPACE}/${UNVERIFIED_WINDOWS_METRIC}); run \`audit-export verify <source> --target aws\` over them for the list.`,
      metric: unverifiedWindowsMetric(),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // Published once a day: periods without data keep the state.
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    this.unverifiedAlarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
    this.unverifiedAlarm.addOkAction(new cloudwatchActions.SnsAction(props.alarmTopic));
  }
}

/** `AuditExport/UnverifiedWindows` summed over both sources (math over the Source dimension), per day. */
export function unverifiedWindowsMetric(): cloudwatch.IMetric {
  return new cloudwatch.MathExpression({
    expression: 'mft + xray',
    usingMetrics: { mft: verifierMetric(UNVERIFIED_WINDOWS_METRIC, 'mft'), xray: verifierMetric(UNVERIFIED_WINDOWS_METRIC, 'xray') },
    label: 'unverified windows',
    period: Duration.days(1),
  });
}

export function verifierMetric(name: string, source: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: CHECKPOINT_LAG_NAMESPACE,
    metricName: name,
    dimensionsMap: { [CHECKPOINT_LAG_DIMENSION]: source },
    statistic: 'Maximum',
    period: Duration.days(1),
  });
}
