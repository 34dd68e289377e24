import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { MANIFEST_NAME } from '../../functions/common/manifest.js';
import { createAuditFunction } from './audit-function.js';
import type { ExportStorage } from './export-storage.js';

export const VERIFY_MANIFEST_ENTRY = 'functions/consumer/verify-manifest.ts';

export interface ManifestConsumerProps {
  readonly storage: ExportStorage;
  readonly exportPrefix: string;
  readonly projectRoot: string;
  readonly alarmTopic: sns.ITopic;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The example downstream consumer (functions/consumer/verify-manifest.ts): the EventBridge "Object Created" event
 * of a window's manifest (written last, so the window is complete) invokes it; it re-reads every object the
 * manifest lists and checks size, SHA-256, record count and that nothing unlisted is in the folder. It may only
 * read: GetObject and ListBucket under `<exportPrefix>source=`, kms:Decrypt of the bucket key through S3.
 * A mismatch makes the invocation fail, which alarms.
 */
export class ManifestConsumer extends Construct {
  readonly function: NodejsFunction;
  readonly rule: events.Rule;
  readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ManifestConsumerProps) {
    super(scope, id);
    const reader = props.storage.exportReader(props.exportPrefix);

    this.function = createAuditFunction(this, {
      id: 'VerifyManifest',
      entry: VERIFY_MANIFEST_ENTRY,
      description: `audit-export consumer: ${VERIFY_MANIFEST_ENTRY}`,
      projectRoot: props.projectRoot,
      // Hashes every object of a window as it streams by: CPU (memory) and time for large MFT reports.
      memorySize: 512,
      timeout: Duration.minutes(5),
      environment: {},
      statements: reader.statements,
      acknowledge: [reader.acknowledge],
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    // The pattern documented in functions/consumer/verify-manifest.ts.
    this.rule = new events.Rule(this, 'ManifestCreated', {
      description: `audit-export: a window's ${MANIFEST_NAME} was written to the export bucket (the window is complete)`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.storage.bucket.bucketName] },
          object: { key: events.Match.suffix(`/${MANIFEST_NAME}`) },
        },
      },
    });
    this.rule.addTarget(
      new targets.LambdaFunction(this.function, { retryAttempts: 4, maxEventAge: Duration.hours(6) }),
    );

    this.errorsAlarm = functionErrorsAlarm(
      this,
      this.function,
      'The audit-export manifest consumer failed: a window\'s objects do not match its manifest, or they could not be read. ' +
        `See the log group of ${this.function.node.path}.`,
      props.alarmTopic,
    );
  }
}

/** Alarms (to the topic) on any error of a consumer function in 5 minutes; no invocations is no alarm. */
export function functionErrorsAlarm(scope: Construct, fn: NodejsFunction, description: string, topic: sns.ITopic): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, 'ErrorsAlarm', {
    alarmDescription: description,
    metric: fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new cloudwatchActions.SnsAction(topic));
  return alarm;
}
