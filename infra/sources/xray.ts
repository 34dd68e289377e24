import { Duration, SecretValue, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { XRAY_FUNCTIONS } from '../../functions/xray/handlers/index.js';
import type { AuditExportConfig } from '../config.js';
import type { ExportStorage } from '../constructs/export-storage.js';
import { SourceExport } from '../constructs/source-export.js';

type XrayPlaceholder = keyof typeof XRAY_FUNCTIONS;

export const XRAY_ASL_FILE = 'state-machines/xray-audit-export.asl.json';

/** How long one ExportPages invocation fetches before handing back its cursor (the Lambda timeout is 15 min). */
const INVOCATION_BUDGET_SECONDS = 600;

export interface XraySourceProps {
  readonly config: AuditExportConfig;
  readonly projectRoot: string;
  readonly storage: ExportStorage;
  readonly alarmTopic: sns.ITopic;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The JFrog Xray Curation source: its credentials secret and a SourceExport over XRAY_FUNCTIONS. PlanExport only
 * computes windows (its logs are all it may touch); ExportPages calls the API and writes gzip parts under
 * source=xray/ (and deletes the parts of a window it had to split).
 */
export class XraySource extends Construct {
  readonly credentialsSecret: secretsmanager.Secret;
  readonly export: SourceExport<XrayPlaceholder>;

  constructor(scope: Construct, id: string, props: XraySourceProps) {
    super(scope, id);
    const xray = props.config.sources.xray;
    if (!xray.baseUrl) throw new Error('sources.xray.baseUrl is required (checked by the configuration schema)');
    const prefix = props.config.bucket.exportPrefix;

    this.credentialsSecret = new secretsmanager.Secret(this, 'CredentialsSecret', {
      description:
        'audit-export: JFrog Xray credentials, JSON {"accessToken"} or {"username","password"}. Put the real value ' +
        'with `aws secretsmanager put-secret-value` (see infra/README.md).',
      secretObjectValue: { accessToken: SecretValue.unsafePlainText('REPLACE_ME') },
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.credentialsSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The JFrog access token (or user password) is issued in the JFrog Platform, which Secrets Manager cannot ' +
        'rotate; rotation is a documented manual step (infra/README.md, "Secrets").',
    });

    const readSecret = new iam.PolicyStatement({
      sid: 'ReadXrayCredentials',
      actions: ['secretsmanager:GetSecretValue'],
      resources: [this.credentialsSecret.secretArn],
    });
    const exportWriter = props.storage.exportWriter('xray', prefix, { delete: true });

    const environment: Record<string, string> = {
      XRAY_BASE_URL: xray.baseUrl,
      XRAY_CREDENTIALS_SECRET_ID: this.credentialsSecret.secretArn,
      EXPORT_BUCKET: props.storage.bucket.bucketName,
      EXPORT_PREFIX: prefix,
      XRAY_LOOKBACK_HOURS: String(xray.lookbackHours),
      XRAY_WINDOW_HOURS: String(xray.windowHours),
      XRAY_EVENTS_PER_PART: String(xray.eventsPerPart),
      XRAY_INVOCATION_BUDGET_SECONDS: String(INVOCATION_BUDGET_SECONDS),
    };
    if (xray.tenant) environment.XRAY_TENANT = xray.tenant;

    const scheduleInput: Record<string, unknown> = {};
    if (xray.format !== 'json') scheduleInput.format = xray.format;

    this.export = new SourceExport(this, 'Export', {
      source: 'xray',
      aslFile: XRAY_ASL_FILE,
      functions: XRAY_FUNCTIONS,
      projectRoot: props.projectRoot,
      environment,
      functionSettings: {
        XrayPlanExportFunctionArn: { timeout: Duration.minutes(1) },
        XrayExportPagesFunctionArn: {
          statements: [readSecret, ...exportWriter.statements],
          // Pages are streamed through gzip into 8 MiB multipart parts; the ASL gives the task 900 s.
          memorySize: 1024,
          timeout: Duration.minutes(15),
          acknowledge: [exportWriter.acknowledge],
        },
      },
      schedule: xray.schedule,
      scheduleInput,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      alarmTopic: props.alarmTopic,
    });
  }
}
