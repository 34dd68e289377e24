import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/app.js';
import { MFT_FUNCTIONS } from '../../functions/mft/handlers/index.js';
import { functionRoleId, getAtt, logicalId, ref, roleStatements, sameStatements } from './iam.js';
import { defaultConfig, synthesize, type Synthesized } from './synth.js';

/** The stack a fresh clone deploys (cdk.json defaults), synthesized once for the whole file. */
let s: Synthesized;
let ids: {
  bucket: string;
  bucketKey: string;
  logsBucket: string;
  table: string;
  secret: string;
  sealingKey: string;
  stateMachine: string;
  topic: string;
  functions: Record<keyof typeof MFT_FUNCTIONS, string>;
  logGroups: Record<keyof typeof MFT_FUNCTIONS, string>;
};
const placeholders = Object.keys(MFT_FUNCTIONS) as (keyof typeof MFT_FUNCTIONS)[];

beforeAll(() => {
  s = synthesize(defaultConfig());
  const mft = s.stack.mft!;
  ids = {
    bucket: logicalId(s.stack.storage.bucket),
    bucketKey: logicalId(s.stack.storage.bucketKey),
    logsBucket: logicalId(s.stack.storage.accessLogsBucket),
    table: logicalId(s.stack.storage.checkpointTable),
    secret: logicalId(mft.credentialsSecret),
    sealingKey: logicalId(mft.tokenSealingKey),
    stateMachine: logicalId(mft.export.stateMachine),
    topic: logicalId(s.stack.alarmTopic),
    functions: Object.fromEntries(placeholders.map((p) => [p, logicalId(mft.export.functions[p])])) as never,
    logGroups: Object.fromEntries(
      placeholders.map((p) => [p, logicalId(mft.export.node.findChild(`${MFT_FUNCTIONS[p].id}Logs`))]),
    ) as never,
  };
});

/** The staged file behind an S3 asset key, from the stack's asset manifest. */
function assetPath(objectKey: string): string {
  const manifest = JSON.parse(readFileSync(join(s.assemblyDir, `${s.stack.artifactId}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string }; destinations: Record<string, { objectKey: string }> }>;
  };
  const file = Object.values(manifest.files).find((f) => Object.values(f.destinations).some((d) => d.objectKey === objectKey));
  if (!file) throw new Error(`no asset with key ${objectKey}`);
  return join(s.assemblyDir, file.source.path);
}

describe('export bucket', () => {
  it('is encrypted with its own rotating KMS key (bucket key on), versioned and never public', () => {
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: getAtt(ids.bucketKey) },
          },
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const bucket = s.template.toJSON().Resources[ids.bucket];
    expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID).toEqual(
      getAtt(ids.bucketKey),
    );
    expect(s.template.toJSON().Resources[ids.bucketKey].Properties.EnableKeyRotation).toBe(true);
  });

  it('refuses every request without TLS (and below TLS 1.2)', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(ids.bucket),
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 's3:*',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: [getAtt(ids.bucket), { 'Fn::Join': ['', [getAtt(ids.bucket), '/*']] }],
          },
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('sends events to EventBridge, logs access to a separate bucket and has lifecycle rules', () => {
    const props = s.template.toJSON().Resources[ids.bucket].Properties;
    expect(props.NotificationConfiguration).toEqual({ EventBridgeConfiguration: { EventBridgeEnabled: true } });
    expect(props.LoggingConfiguration).toEqual({ DestinationBucketName: ref(ids.logsBucket), LogFilePrefix: 'export-bucket/' });
    expect(props.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Status: 'Enabled',
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }],
        }),
        expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
      ]),
    );
    // No custom-resource Lambda is needed for the notifications.
    expect(Object.keys(s.template.findResources('Custom::S3BucketNotifications'))).toEqual([]);
  });

  it('keeps data when the stack is deleted (RETAIN by default)', () => {
    const resources = s.template.toJSON().Resources;
    for (const id of [ids.bucket, ids.logsBucket, ids.bucketKey, ids.table, ids.secret, ids.sealingKey]) {
      expect(resources[id].DeletionPolicy, id).toBe('Retain');
      expect(resources[id].UpdateReplacePolicy, id).toBe('Retain');
    }
  });

  it('has an access-log bucket that is encrypted (SSE-S3), TLS-only and never public', () => {
    const props = s.template.toJSON().Resources[ids.logsBucket].Properties;
    expect(props.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(ids.logsBucket),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('checkpoint table', () => {
  it('is on-demand, keyed pk/sk, encrypted, with point-in-time recovery and deletion protection', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      Replicas: [
        Match.objectLike({
          DeletionProtectionEnabled: true,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      ],
    });
  });

  it('is not granted to any MFT function (none of them keep checkpoints)', () => {
    const policies = JSON.stringify(s.template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toContain('dynamodb:');
  });
});

describe('Lambda functions', () => {
  it('are Node 22 on arm64 with active tracing, their own log group, and the sizes of their work', () => {
    for (const placeholder of placeholders) {
      const fn = s.template.toJSON().Resources[ids.functions[placeholder]].Properties;
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Architectures).toEqual(['arm64']);
      expect(fn.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Handler).toBe('index.handler');
      expect(fn.LoggingConfig).toEqual({ LogGroup: ref(ids.logGroups[placeholder]) });
      const copy = placeholder === 'CopyReportFunctionArn';
      expect(fn.MemorySize).toBe(copy ? 1024 : 256);
      expect(fn.Timeout).toBe(copy ? 900 : placeholder === 'CreateReportFunctionArn' || placeholder === 'CheckReportFunctionArn' ? 120 : 60);
    }
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  it('get exactly the environment functions/mft/runtime.ts reads', () => {
    for (const placeholder of placeholders) {
      const env = s.template.toJSON().Resources[ids.functions[placeholder]].Properties.Environment.Variables;
      expect(env).toEqual({
        NODE_OPTIONS: '--enable-source-maps',
        MFT_BASE_URL: 'https://api.us.mft.progress.com',
        MFT_CREDENTIALS_SECRET_ID: ref(ids.secret),
        EXPORT_BUCKET: ref(ids.bucket),
        EXPORT_PREFIX: '',
        TOKEN_SEALING_KMS_KEY_ID: getAtt(ids.sealingKey),
        MFT_LOOKBACK_HOURS: '1',
        MFT_POLL_INTERVAL_SECONDS: '15',
        MFT_MAX_WAIT_SECONDS: '900',
      });
    }
  });

  it('no role anywhere uses a managed policy', () => {
    for (const [id, role] of Object.entries(s.template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
    }
    expect(Object.keys(s.template.findResources('AWS::IAM::ManagedPolicy'))).toEqual([]);
  });
});

describe('least privilege: each function role, statement by statement', () => {
  const logs = (p: keyof typeof MFT_FUNCTIONS) => ({
    Sid: 'WriteOwnLogs',
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: { 'Fn::Join': ['', [getAtt(ids.logGroups[p]), ':*']] },
  });
  const xray = { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' };
  const readSecret = () => ({
    Sid: 'ReadMftCredentials',
    Effect: 'Allow',
    Action: 'secretsmanager:GetSecretValue',
    Resource: ref(ids.secret),
  });
  const tokenContext = {
    StringEquals: {
      'kms:EncryptionContext:purpose': 'mft-access-token',
      'kms:EncryptionContext:audience': 'https://api.us.mft.progress.com',
    },
  };
  const seal = () => ({ Sid: 'SealMftToken', Effect: 'Allow', Action: 'kms:Encrypt', Resource: getAtt(ids.sealingKey), Condition: tokenContext });
  const unseal = () => ({ Sid: 'UnsealMftToken', Effect: 'Allow', Action: 'kms:Decrypt', Resource: getAtt(ids.sealingKey), Condition: tokenContext });

  const expectRole = (p: keyof typeof MFT_FUNCTIONS, extra: Record<string, unknown>[]) => {
    const statements = roleStatements(s.template, functionRoleId(s.template, ids.functions[p]));
    const expected = [logs(p), ...extra, xray];
    expect(sameStatements(statements, expected), `${p}: ${JSON.stringify(statements, null, 1)}`).toBe(true);
  };

  it('PlanExport: its logs, and the secret only to learn the tenant id (no tenantId configured)', () => {
    expectRole('PlanExportFunctionArn', [readSecret()]);
  });

  it('IssueToken: the secret, and kms:Encrypt on the sealing key for purpose=mft-access-token only', () => {
    expectRole('IssueTokenFunctionArn', [readSecret(), seal()]);
  });

  it('CreateReport, CheckReport, DeleteReport: the secret (re-issue on 401) and kms:Decrypt of sealed tokens', () => {
    expectRole('CreateReportFunctionArn', [readSecret(), unseal()]);
    expectRole('CheckReportFunctionArn', [readSecret(), unseal()]);
    expectRole('DeleteReportFunctionArn', [readSecret(), unseal()]);
  });

  it('CopyReport: also writes objects, only under source=mft/, with the bucket key through S3 only', () => {
    expectRole('CopyReportFunctionArn', [
      readSecret(),
      unseal(),
      {
        Sid: 'WriteMftExports',
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:PutObject'],
        Resource: { 'Fn::Join': ['', [getAtt(ids.bucket), '/source=mft/*']] },
      },
      {
        Sid: 'EncryptMftExports',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: getAtt(ids.bucketKey),
        Condition: {
          StringEquals: {
            'kms:ViaService': 's3.eu-west-1.amazonaws.com',
            'kms:EncryptionContext:aws:s3:arn': getAtt(ids.bucket),
          },
        },
      },
    ]);
  });

  it('only CopyReport can write to S3, only IssueToken can seal', () => {
    const policies = Object.values(s.template.findResources('AWS::IAM::Policy')).map((p) => JSON.stringify(p));
    expect(policies.filter((p) => p.includes('s3:PutObject'))).toHaveLength(1);
    expect(policies.filter((p) => p.includes('"kms:Encrypt"'))).toHaveLength(1);
    expect(policies.filter((p) => p.includes('s3:GetObject') || p.includes('s3:Delete') || p.includes('s3:*'))).toEqual([]);
  });
});

describe('state machine', () => {
  it('is STANDARD, traced, and logs ALL events without execution data', () => {
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        IncludeExecutionData: false,
        Level: 'ALL',
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: getAtt(Match.anyValue() as never) } }],
      },
    });
  });

  it('runs the same ASL file as the twin, with every placeholder substituted by its function ARN', () => {
    const sm = s.template.toJSON().Resources[ids.stateMachine].Properties;
    const deployed = readFileSync(assetPath(sm.DefinitionS3Location.Key), 'utf8');
    const source = readFileSync(join(PROJECT_ROOT, 'state-machines/mft-audit-export.asl.json'), 'utf8');
    expect(deployed).toBe(source);

    const used = new Set([...source.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]));
    expect([...used].sort()).toEqual(Object.keys(sm.DefinitionSubstitutions).sort());
    for (const placeholder of placeholders) {
      expect(sm.DefinitionSubstitutions[placeholder]).toEqual(getAtt(ids.functions[placeholder]));
    }

    // What Step Functions will run: nothing left to substitute, and every Task calls one of our functions.
    const resolved = source.replace(/\$\{(\w+)\}/g, (_, name: string) => `arn:function:${ids.functions[name as never]}`);
    expect(resolved).not.toContain('${');
    const definition = JSON.parse(resolved) as { States: Record<string, { Type: string; Resource?: string }> };
    const tasks = Object.values(definition.States).filter((state) => state.Type === 'Task');
    expect(tasks.length).toBeGreaterThan(0);
    const arns = new Set(placeholders.map((p) => `arn:function:${ids.functions[p]}`));
    for (const task of tasks) expect(arns.has(task.Resource!)).toBe(true);
  });

  it('may invoke exactly its six functions (unqualified ARNs), and nothing else but logging and tracing', () => {
    const roleId = (s.template.toJSON().Resources[ids.stateMachine].Properties.RoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    const statements = roleStatements(s.template, roleId);
    const invoke = statements.filter((st) => JSON.stringify(st.Action).includes('lambda:'));
    expect(invoke).toEqual([
      {
        Sid: 'InvokeTaskFunctions',
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: expect.arrayContaining(placeholders.map((p) => getAtt(ids.functions[p]))),
      },
    ]);
    expect((invoke[0]!.Resource as unknown[]).length).toBe(placeholders.length);
    const rest = statements.filter((st) => st !== invoke[0]);
    expect(rest).toHaveLength(1);
    expect(rest[0]!.Resource).toBe('*');
    for (const action of rest[0]!.Action as string[]) expect(action).toMatch(/^(logs:.*(LogDelivery|LogDeliveries|ResourcePolic|LogGroups).*|xray:.*)$/);
  });
});

describe('schedule', () => {
  it('starts the state machine on the configured expression with {} (a scheduled run)', () => {
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 * * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      State: 'ENABLED',
      Target: { Arn: ref(ids.stateMachine), Input: '{}' },
    });
  });

  it('runs as a role that may only start this state machine', () => {
    const schedule = Object.values(s.template.findResources('AWS::Scheduler::Schedule'))[0]!;
    const roleId = (schedule.Properties.Target.RoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    expect(roleStatements(s.template, roleId)).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: ref(ids.stateMachine) },
    ]);
  });
});

describe('alarms', () => {
  it('alarm on failed + timed-out executions to the encrypted, TLS-only SNS topic', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [ref(ids.topic)],
      Threshold: 1,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'failed + timedOut' }),
        Match.objectLike({
          Id: 'failed',
          MetricStat: Match.objectLike({
            Metric: { Namespace: 'AWS/States', MetricName: 'ExecutionsFailed', Dimensions: [{ Name: 'StateMachineArn', Value: ref(ids.stateMachine) }] },
          }),
        }),
        Match.objectLike({
          Id: 'timedOut',
          MetricStat: Match.objectLike({
            Metric: { Namespace: 'AWS/States', MetricName: 'ExecutionsTimedOut', Dimensions: [{ Name: 'StateMachineArn', Value: ref(ids.stateMachine) }] },
          }),
        }),
      ]),
    });
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.objectLike({ 'Fn::GetAtt': Match.anyValue() }) });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    // No e-mail configured in the defaults: no subscription.
    expect(Object.keys(s.template.findResources('AWS::SNS::Subscription'))).toEqual([]);
  });

  it('alarm on the checkpoint lag metric per source', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AuditExport',
      MetricName: 'CheckpointLagSeconds',
      Dimensions: [{ Name: 'Source', Value: 'mft' }],
      Threshold: 21600,
      AlarmActions: [ref(ids.topic)],
    });
  });
});

describe('outputs', () => {
  it('name the bucket, the state machine (MFT_STATE_MACHINE_ARN) and the secret', () => {
    const outputs = s.template.toJSON().Outputs;
    expect(outputs.ExportBucketName.Value).toEqual(ref(ids.bucket));
    expect(outputs.MftStateMachineArn.Value).toEqual(ref(ids.stateMachine));
    expect(outputs.MftStateMachineArn.Description).toContain('MFT_STATE_MACHINE_ARN');
    expect(outputs.MftCredentialsSecretArn.Value).toEqual(ref(ids.secret));
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('has no unacknowledged finding, error or warning', () => {
    const report = new AwsSolutionsChecks().validateScope(s.app);
    expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('every acknowledgement carries a reason', () => {
    const acks = s.app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acks.length).toBeGreaterThan(0);
    for (const [id, reason] of acks) expect(reason.length, id).toBeGreaterThan(40);
  });
});
