import { Duration, SecretValue, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { XRAY_FUNCTIONS } from '../../functions/xray/handlers/index.js';
import { listedName, type XrayInstanceConfig } from '../config.js';
import { INSTANCE_ENVIRONMENT_VARIABLE } from '../metrics.js';
import { describeOwnExecutions, SourceExport, type SourceProps } from '../constructs/source-export.js';

type XrayPlaceholder = keyof typeof XRAY_FUNCTIONS;

export const XRAY_ASL_FILE = 'state-machines/xray-audit-export.asl.json';


/**
 * The JFrog Xray Curation source: its credentials secret and a SourceExport over XRAY_FUNCTIONS. PlanExport takes
 * the stream's lease and computes windows; ExportPages calls the API, writes gzip parts and one manifest per window
 * under source=xray/ (and deletes superseded parts); CommitRun advances the checkpoint and releases the lease.
 * The two ledger steps may touch only `xray|…` items of the checkpoint table.
 */
export class XraySource extends Construct {
  readonly credentialsSecret: secretsmanager.Secret;
  readonly export: SourceExport<XrayPlaceholder>;

  constructor(scope: Construct, id: string, props: SourceProps<XrayInstanceConfig>) {
    super(scope, id);
    const xray = props.instance;
    if (!xray.baseUrl) throw new Error('sources.xray.baseUrl is required (checked by the configuration schema)');
    const instance = listedName(xray);
    // A listed instance writes only its own platform's folder and streams.
    const ownTenant = instance === undefined ? undefined : (xray.tenant ?? new URL(xray.baseUrl).hostname);
    const prefix = props.config.bucket.exportPrefix;

    this.credentialsSecret = new secretsmanager.Secret(this, 'CredentialsSecret', {
      description:
        `audit-export: JFrog Xray credentials${instance === undefined ? '' : ` of instance ${instance}`}, JSON {"accessToken"} or {"username","password"}. Put the real value ` +
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
    const exportWriter = props.storage.exportWriter('xray', prefix, ownTenant);
    const table = props.storage.checkpointTable.tableName;

    // Every function builds the whole runtime from its environment (xrayRuntimeFromEnvironment validates the
    // full schema: XRAY_BASE_URL and EXPORT_BUCKET are required); settings only where they are read. The
    // credentials are read lazily, on the first API call: only ExportPages needs the secret.
    const environment: Record<string, string> = {
      XRAY_BASE_URL: xray.baseUrl,
      EXPORT_BUCKET: props.storage.bucket.bucketName,
    };
    if (props.several) environment[INSTANCE_ENVIRONMENT_VARIABLE] = xray.name;
    // PlanExport takes the lease and plans the windows: prefix, tenant, the schedule, the grouping and the part size
    // end up in the plan every ExportPages invocation reads from the execution state.
    const planEnvironment: Record<string, string> = {
      CHECKPOINT_TABLE: table,
      EXPORT_PREFIX: prefix,
      XRAY_WINDOW_MINUTES: String(xray.windowMinutes),
      XRAY_GROUP_HOURS: String(xray.groupHours),
      XRAY_LAG_MINUTES: String(xray.lagMinutes),
      XRAY_OVERLAP_HOURS: String(xray.overlapHours),
      XRAY_INITIAL_LOOKBACK_HOURS: String(xray.initialLookbackHours),
      XRAY_MAX_WINDOWS_PER_RUN: String(xray.maxWindowsPerRun),
      XRAY_EVENTS_PER_PART: String(xray.eventsPerPart),
    };
    if (xray.tenant) planEnvironment.XRAY_TENANT = xray.tenant;

    const scheduleInput: Record<string, unknown> = {};
    if (xray.format !== 'json') scheduleInput.format = xray.format;

    const judgeLeases = describeOwnExecutions(this, 'xray', instance);
    this.export = new SourceExport(this, 'Export', {
      source: 'xray',
      ...(instance === undefined ? {} : { instance }),
      aslFile: XRAY_ASL_FILE,
      functions: XRAY_FUNCTIONS,
      projectRoot: props.projectRoot,
      environment,
      functionSettings: {
        XrayPlanExportFunctionArn: {
          timeout: Duration.minutes(1),
          environment: planEnvironment,
          // The lease, its holders' executions, and which windows beyond the retention are stored (30 days by default).
          statements: [props.storage.checkpointAccess('xray', 'lease', ownTenant), judgeLeases.statement, props.storage.windowLister('xray', prefix, ownTenant)],
          acknowledge: [judgeLeases.acknowledge],
        },
        XrayExportPagesFunctionArn: {
          statements: [readSecret, ...exportWriter.statements],
          environment: {
            XRAY_CREDENTIALS_SECRET_ID: this.credentialsSecret.secretArn,
            XRAY_INVOCATION_BUDGET_SECONDS: String(xray.invocationBudgetSeconds),
          },
          // Pages are streamed through gzip into 8 MiB multipart parts; the ASL gives the task 900 s.
          memorySize: 1024,
          timeout: Duration.minutes(15),
          acknowledge: [exportWriter.acknowledge],
          callsVendor: true,
        },
        XrayCommitRunFunctionArn: {
          memorySize: 256,
          timeout: Duration.minutes(1),
          environment: { CHECKPOINT_TABLE: table },
          statements: [props.storage.checkpointAccess('xray', 'commit', ownTenant)],
        },
      },
      schedule: xray.schedule,
      scheduleInput,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      alarmTopic: props.alarmTopic,
      ...(props.network ? { network: props.network } : {}),
    });
  }
}
