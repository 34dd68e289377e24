import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/app.js';
import { CHECKPOINT_TABLE_KEYS } from '../../functions/common/checkpoints.js';
import { emitMetrics } from '../../functions/common/observability.js';
import { commitRunMetrics } from '../../functions/common/step-metrics.js';
import { CHECKPOINT_LAG_DIMENSION, CHECKPOINT_LAG_METRIC, CHECKPOINT_LAG_NAMESPACE } from '../../infra/metrics.js';
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
  consumer: string;
  consumerLogs: string;
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
    consumer: logicalId(s.stack.consumer!.function),
    consumerLogs: logicalId(s.stack.consumer!.node.findChild('VerifyManifestLogs')),
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
  it('is on-demand, keyed pk/sk, encrypted, with point-in-time recovery, deletion protection and TTL on expiresAt', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      Replicas: [
        Match.objectLike({
          DeletionProtectionEnabled: true,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      ],
    });
    // The same names the ledger and the twin's table use.
    expect(CHECKPOINT_TABLE_KEYS).toEqual({ partitionKey: 'pk', sortKey: 'sk', timeToLive: 'expiresAt' });
  });

  it('is granted only to the MFT functions that keep the ledger or the report record, never Scan, each to its own keys', () => {
    // The verifier (test/infra/verifier.test.ts) lists the streams and keeps records of its own.
    const verifierRole = functionRoleId(s.template, logicalId(s.stack.verifier!.function));
    const withDynamo = Object.entries(s.template.findResources('AWS::IAM::Policy')).filter(
      ([, policy]) => JSON.stringify(policy).includes('dynamodb:') && (policy.Properties.Roles as { Ref: string }[])[0]!.Ref !== verifierRole,
    );
    const roles = withDynamo.map(([, policy]) => (policy.Properties.Roles as { Ref: string }[])[0]!.Ref).sort();
    const ledgerSteps: (keyof typeof MFT_FUNCTIONS)[] = ['PlanExportFunctionArn', 'CommitRunFunctionArn'];
    const recordSteps: (keyof typeof MFT_FUNCTIONS)[] = ['CreateReportFunctionArn', 'CheckReportFunctionArn', 'DeleteReportFunctionArn', 'HousekeepingFunctionArn'];
    expect(roles).toEqual([...ledgerSteps, ...recordSteps].map((p) => functionRoleId(s.template, ids.functions[p])).sort());
    for (const [, policy] of withDynamo) {
      const text = JSON.stringify(policy);
      const role = (policy.Properties.Roles as { Ref: string }[])[0]!.Ref;
      const keepsLedger = ledgerSteps.some((p) => functionRoleId(s.template, ids.functions[p]) === role);
      expect(text).not.toContain('Scan');
      expect(text).not.toContain('dynamodb:*');
      for (const st of (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement) {
        if (!JSON.stringify(st.Action).includes('dynamodb:')) continue;
        expect(st.Resource).toEqual(getAtt(ids.table));
        // The ledger steps reach the stream checkpoints only; the report steps the report record only.
        expect(st.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [keepsLedger ? 'mft|*' : 'mft-reports|*'] } });
      }
    }
  });

  it('CHECKPOINT_TABLE reaches exactly the functions that keep the ledger or the report record', () => {
    const users = ['PlanExportFunctionArn', 'CommitRunFunctionArn', 'CreateReportFunctionArn', 'CheckReportFunctionArn', 'DeleteReportFunctionArn', 'HousekeepingFunctionArn'];
    for (const placeholder of placeholders) {
      const env = s.template.toJSON().Resources[ids.functions[placeholder]].Properties.Environment.Variables;
      expect(env.CHECKPOINT_TABLE, placeholder).toEqual(users.includes(placeholder) ? ref(ids.table) : undefined);
    }
  });
});

describe('Lambda functions', () => {
  it('are Node 22 on arm64 with active tracing, their own log group, and the sizes of their work', () => {
    const sizes: Record<keyof typeof MFT_FUNCTIONS, [number, number]> = {
      PlanExportFunctionArn: [256, 60],
      IssueTokenFunctionArn: [256, 60],
      CreateReportFunctionArn: [256, 120],
      CheckReportFunctionArn: [256, 120],
      CopyReportFunctionArn: [1024, 900],
      DeleteReportFunctionArn: [256, 60],
      HousekeepingFunctionArn: [256, 120],
      CommitRunFunctionArn: [256, 60],
    };
    expect(Object.keys(sizes).sort()).toEqual([...placeholders].sort());
    for (const placeholder of placeholders) {
      const fn = s.template.toJSON().Resources[ids.functions[placeholder]].Properties;
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Architectures).toEqual(['arm64']);
      expect(fn.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Handler).toBe('index.handler');
      expect(fn.LoggingConfig).toEqual({ LogGroup: ref(ids.logGroups[placeholder]) });
      expect([fn.MemorySize, fn.Timeout], placeholder).toEqual(sizes[placeholder]);
    }
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  it('get exactly the environment functions/mft/runtime.ts needs: the runtime everywhere, settings where read', () => {
    // Every MFT function builds the whole runtime (mftRuntimeFromEnvironment): base URL, bucket, sealing key id;
    // no tenant id is configured in the defaults, so the two ledger steps learn it from the secret too.
    const runtime = {
      MFT_BASE_URL: 'https://api.us.mft.progress.com',
      EXPORT_BUCKET: ref(ids.bucket),
      TOKEN_SEALING_KMS_KEY_ID: getAtt(ids.sealingKey),
      MFT_CREDENTIALS_SECRET_ID: ref(ids.secret),
    };
    const expected: Record<keyof typeof MFT_FUNCTIONS, Record<string, unknown>> = {
      PlanExportFunctionArn: {
        ...runtime,
        CHECKPOINT_TABLE: ref(ids.table),
        EXPORT_PREFIX: '',
        MFT_WINDOW_MINUTES: '60',
        MFT_LAG_MINUTES: '15',
        MFT_INITIAL_LOOKBACK_HOURS: '24',
        MFT_MAX_WINDOWS_PER_RUN: '48',
        MFT_POLL_INTERVAL_SECONDS: '15',
        MFT_MAX_WAIT_SECONDS: '900',
      },
      IssueTokenFunctionArn: runtime,
      CreateReportFunctionArn: { ...runtime, CHECKPOINT_TABLE: ref(ids.table) },
      CheckReportFunctionArn: { ...runtime, CHECKPOINT_TABLE: ref(ids.table) },
      CopyReportFunctionArn: runtime,
      DeleteReportFunctionArn: { ...runtime, CHECKPOINT_TABLE: ref(ids.table) },
      HousekeepingFunctionArn: { ...runtime, CHECKPOINT_TABLE: ref(ids.table), MFT_WINDOW_MINUTES: '60', MFT_MAX_WAIT_SECONDS: '900' },
      CommitRunFunctionArn: { ...runtime, CHECKPOINT_TABLE: ref(ids.table) },
    };
    for (const placeholder of placeholders) {
      const env = s.template.toJSON().Resources[ids.functions[placeholder]].Properties.Environment.Variables;
      expect(env, placeholder).toEqual(expected[placeholder]);
    }
    // The variables removed with the checkpoint ledger are gone everywhere.
    expect(JSON.stringify(s.template.toJSON())).not.toMatch(/"(MFT|XRAY)_LOOKBACK_HOURS"|"XRAY_WINDOW_HOURS"/);
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
  const seal = () => ({ Sid: 'SealMftToken', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: getAtt(ids.sealingKey), Condition: tokenContext });
  const unseal = () => ({ Sid: 'UnsealMftToken', Effect: 'Allow', Action: 'kms:Decrypt', Resource: getAtt(ids.sealingKey), Condition: tokenContext });

  const expectRole = (p: keyof typeof MFT_FUNCTIONS, extra: Record<string, unknown>[]) => {
    const statements = roleStatements(s.template, functionRoleId(s.template, ids.functions[p]));
    const expected = [logs(p), ...extra, xray];
    expect(sameStatements(statements, expected), `${p}: ${JSON.stringify(statements, null, 1)}`).toBe(true);
  };

  const checkpoints = (use: 'lease' | 'commit') => ({
    Sid: use === 'lease' ? 'LeaseMftCheckpoints' : 'CommitMftCheckpoints',
    Effect: 'Allow',
    Action: use === 'lease' ? ['dynamodb:GetItem', 'dynamodb:UpdateItem'] : ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
    Resource: getAtt(ids.table),
    Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['mft|*'] } },
  });

  it('PlanExport: the lease on mft|* checkpoints (GetItem, UpdateItem), its holders\' executions, and the secret only to learn the tenant id', () => {
    expectRole('PlanExportFunctionArn', [
      readSecret(),
      checkpoints('lease'),
      // Whether a lease's holder still runs: DescribeExecution of this state machine's executions only.
      { Sid: 'JudgeLeaseHolders', Effect: 'Allow', Action: 'states:DescribeExecution', Resource: 'arn:aws:states:eu-west-1:123456789012:execution:AuditExport-mft-export:*' },
    ]);
  });

  it('CommitRun: GetItem, UpdateItem, PutItem, Query on mft|* checkpoints, and the secret only to learn the tenant id', () => {
    expectRole('CommitRunFunctionArn', [readSecret(), checkpoints('commit')]);
  });

  it('IssueToken: the secret, and kms:GenerateDataKey (envelope sealing) on the sealing key for purpose=mft-access-token only', () => {
    expectRole('IssueTokenFunctionArn', [readSecret(), seal()]);
  });

  const reportRecord = (actions: string | string[]) => ({
    Sid: 'RecordMftReports',
    Effect: 'Allow',
    Action: actions,
    Resource: getAtt(ids.table),
    Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['mft-reports|*'] } },
  });

  it('CreateReport, CheckReport, DeleteReport, Housekeeping: the secret (re-issue on 401), kms:Decrypt of sealed tokens, their part of the report record', () => {
    expectRole('CreateReportFunctionArn', [readSecret(), unseal(), reportRecord('dynamodb:PutItem')]);
    expectRole('CheckReportFunctionArn', [readSecret(), unseal(), reportRecord('dynamodb:UpdateItem')]);
    expectRole('DeleteReportFunctionArn', [readSecret(), unseal(), reportRecord('dynamodb:DeleteItem')]);
    expectRole('HousekeepingFunctionArn', [readSecret(), unseal(), reportRecord(['dynamodb:DeleteItem', 'dynamodb:Query'])]);
  });

  it('CopyReport: also puts, reads (previous manifest) and deletes (stale) objects, only under source=mft/', () => {
    expectRole('CopyReportFunctionArn', [
      readSecret(),
      unseal(),
      {
        Sid: 'StoreMftExports',
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        Resource: { 'Fn::Join': ['', [getAtt(ids.bucket), '/source=mft/*']] },
      },
      {
        // So that reading a manifest that does not exist yet is a 404 (NoSuchKey), not a 403.
        Sid: 'FindMftExports',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: getAtt(ids.bucket),
        Condition: { StringLike: { 's3:prefix': ['source=mft/*'] } },
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

  it('only CopyReport writes or deletes in S3, only it and the consumer read, only IssueToken can seal', () => {
    const policies = Object.entries(s.template.findResources('AWS::IAM::Policy')).map(([, p]) => ({
      role: (p.Properties.Roles as { Ref: string }[])[0]!.Ref,
      text: JSON.stringify(p),
    }));
    const rolesWith = (needle: string) => policies.filter((p) => p.text.includes(needle)).map((p) => p.role).sort();
    const copy = functionRoleId(s.template, ids.functions.CopyReportFunctionArn);
    const consumer = functionRoleId(s.template, ids.consumer);
    const verifier = functionRoleId(s.template, logicalId(s.stack.verifier!.function));
    expect(rolesWith('s3:PutObject')).toEqual([copy]);
    expect(rolesWith('s3:DeleteObject')).toEqual([copy]);
    expect(rolesWith('s3:GetObject')).toEqual([copy, consumer, verifier].sort());
    expect(rolesWith('s3:ListBucket')).toEqual([copy, consumer, verifier].sort());
    const sealers = Object.values(s.template.findResources('AWS::IAM::Policy'))
      .filter((p) =>
        (p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[]).some(
          (st) => JSON.stringify(st.Resource) === JSON.stringify(getAtt(ids.sealingKey)) && /GenerateDataKey|Encrypt"/.test(JSON.stringify(st.Action)),
        ),
      )
      .map((p) => (p.Properties.Roles as { Ref: string }[])[0]!.Ref);
    expect(sealers).toEqual([functionRoleId(s.template, ids.functions.IssueTokenFunctionArn)]);
    expect(rolesWith('"kms:Encrypt"')).toEqual([]);
    expect(rolesWith('s3:*')).toEqual([]);
    expect(rolesWith('s3:DeleteObjectVersion')).toEqual([]);
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
    // CommitRun (advance + release) and the lease release on failure both call the new function.
    expect(used.has('CommitRunFunctionArn')).toBe(true);
    expect(sm.DefinitionSubstitutions.CommitRunFunctionArn).toEqual(getAtt(ids.functions.CommitRunFunctionArn));
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

  it('may invoke exactly its seven functions (unqualified ARNs), and nothing else but logging and tracing', () => {
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

describe('redeploying after the stack was deleted', () => {
  it('no log group has a fixed name: a retained group of a deleted stack cannot collide with the next deployment', () => {
    const groups = Object.entries(s.template.findResources('AWS::Logs::LogGroup'));
    // One per function (the MFT steps, the consumer, the verifier) and the state machine's.
    expect(groups.length).toBe(placeholders.length + 3);
    const named = groups.filter(([, group]) => group.Properties.LogGroupName !== undefined);
    // Only the state machine's group is named (under /aws/vendedlogs/states/), with a suffix from the stack id.
    expect(named).toHaveLength(1);
    const [id, group] = named[0]!;
    expect(s.template.toJSON().Resources[id].DeletionPolicy).toBe('Retain');
    expect(group.Properties.LogGroupName).toEqual({
      'Fn::Join': [
        '',
        [
          '/aws/vendedlogs/states/AuditExport-mft-export-',
          { 'Fn::Select': [0, { 'Fn::Split': ['-', { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] }] }] },
        ],
      ],
    });
    const sm = s.template.toJSON().Resources[ids.stateMachine].Properties;
    expect(sm.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn).toEqual(getAtt(id));
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

  it('alarm on the checkpoint lag CommitRun publishes (EMF AuditExport/CheckpointLagSeconds, Source=mft only)', () => {
    const lag = Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.MetricName === 'CheckpointLagSeconds',
    );
    expect(lag).toHaveLength(1);
    expect(lag[0]!.Properties).toMatchObject({
      Namespace: 'AuditExport',
      MetricName: 'CheckpointLagSeconds',
      Dimensions: [{ Name: 'Source', Value: 'mft' }],
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 21600,
      // One data point per execution: between runs the alarm keeps its state.
      TreatMissingData: 'ignore',
      AlarmActions: [ref(ids.topic)],
      OKActions: [ref(ids.topic)],
    });
  });

  it('the alarm watches exactly the EMF record CommitRun writes (namespace, metric, the one dimension Source)', () => {
    const lines: Record<string, any>[] = [];
    const logger = { info: (record: Record<string, any>) => lines.push(record) } as never;
    const now = Date.parse('2026-11-25T12:00:00Z');
    emitMetrics(logger, 'mft', commitRunMetrics({ watermarkAfter: '2026-11-25T11:00:00.000Z', failedWindows: 0 }, {}, now), now);
    const [record] = lines;
    const [directive] = record!._aws.CloudWatchMetrics;
    expect(directive.Namespace).toBe(CHECKPOINT_LAG_NAMESPACE);
    expect(directive.Dimensions).toEqual([[CHECKPOINT_LAG_DIMENSION]]);
    expect(directive.Metrics).toContainEqual({ Name: CHECKPOINT_LAG_METRIC, Unit: 'Seconds' });
    expect(record![CHECKPOINT_LAG_DIMENSION]).toBe('mft');
    expect(record![CHECKPOINT_LAG_METRIC]).toBe(3600);
    expect([CHECKPOINT_LAG_NAMESPACE, CHECKPOINT_LAG_METRIC, CHECKPOINT_LAG_DIMENSION]).toEqual(['AuditExport', 'CheckpointLagSeconds', 'Source']);
  });

  it('every alarm notifies the topic, which CloudWatch alarms of this account may publish to, with a key they may use', () => {
    const resources = s.template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
    const alarms = Object.values(resources).filter((resource) => resource.Type === 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThanOrEqual(3);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([ref(ids.topic)]);
      if (alarm.Properties.OKActions) expect(alarm.Properties.OKActions).toEqual([ref(ids.topic)]);
    }

    // The topic's own policy replaces SNS's default one: it must allow CloudWatch to publish.
    const policies = Object.values(resources).filter((resource) => resource.Type === 'AWS::SNS::TopicPolicy');
    expect(policies).toHaveLength(1);
    expect(policies[0]!.Properties.Topics).toEqual([ref(ids.topic)]);
    const statements = policies[0]!.Properties.PolicyDocument.Statement as Record<string, unknown>[];
    const publish = statements.filter((statement) => statement.Effect === 'Allow');
    expect(publish).toEqual([
      {
        Sid: 'AllowCloudWatchAlarmsToPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: ref(ids.topic),
        Condition: {
          StringEquals: { 'aws:SourceAccount': '123456789012' },
          ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*' },
        },
      },
    ]);
    // ...and the TLS-only Deny does not catch CloudWatch's (TLS) requests.
    const deny = statements.filter((statement) => statement.Effect === 'Deny');
    expect(deny).toEqual([expect.objectContaining({ Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]);

    // The topic is encrypted with a key whose policy lets CloudWatch encrypt the messages it publishes.
    const keyId = (resources[ids.topic]!.Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const keyStatements = resources[keyId]!.Properties.KeyPolicy.Statement as Record<string, unknown>[];
    expect(keyStatements).toContainEqual({
      Sid: 'AllowCloudWatchAlarmsToPublish',
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Resource: '*',
      Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
    });
  });

  it('alarm on errors of the manifest consumer', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: ref(ids.consumer) }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [ref(ids.topic)],
    });
  });
});

describe('manifest consumer (consumers.verifyManifests, on by default)', () => {
  it('runs functions/consumer/verify-manifest.ts like the other functions', () => {
    const fn = s.template.toJSON().Resources[ids.consumer].Properties;
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler', TracingConfig: { Mode: 'Active' } });
    expect(fn.Description).toContain('functions/consumer/verify-manifest.ts');
    expect(fn.LoggingConfig).toEqual({ LogGroup: ref(ids.consumerLogs) });
    expect(fn.Environment?.Variables ?? {}).toEqual({});
  });

  it('is triggered by the pattern in its file: Object Created of */_manifest.json in the export bucket', () => {
    const rules = Object.values(s.template.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties.EventPattern).toEqual({
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: { bucket: { name: [ref(ids.bucket)] }, object: { key: [{ suffix: '/_manifest.json' }] } },
    });
    expect(rules[0]!.Properties.Targets).toEqual([
      expect.objectContaining({ Arn: getAtt(ids.consumer), RetryPolicy: expect.objectContaining({ MaximumRetryAttempts: 4 }) }),
    ]);
    const source = readFileSync(join(PROJECT_ROOT, 'functions/consumer/verify-manifest.ts'), 'utf8');
    expect(source).toContain('"source": ["aws.s3"], "detail-type": ["Object Created"]');
    expect(source).toContain('"object": { "key": [{ "suffix": "/_manifest.json" }] }');
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: getAtt(ids.consumer),
      Principal: 'events.amazonaws.com',
    });
  });

  it('may only read: GetObject and ListBucket under source=, kms:Decrypt of the bucket key through S3', () => {
    const statements = roleStatements(s.template, functionRoleId(s.template, ids.consumer));
    const expected = [
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::Join': ['', [getAtt(ids.consumerLogs), ':*']] },
      },
      { Sid: 'ReadExports', Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [getAtt(ids.bucket), '/source=*']] } },
      {
        Sid: 'ListExports',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: getAtt(ids.bucket),
        Condition: { StringLike: { 's3:prefix': ['source=*'] } },
      },
      {
        Sid: 'DecryptExports',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: getAtt(ids.bucketKey),
        Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com', 'kms:EncryptionContext:aws:s3:arn': getAtt(ids.bucket) } },
      },
      { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' },
    ];
    expect(sameStatements(statements, expected), JSON.stringify(statements, null, 1)).toBe(true);
  });
});

describe('dashboard', () => {
  it('shows executions, execution time, CopyReport errors/duration, checkpoint lag and the consumer', () => {
    const dashboards = Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]!.Properties.DashboardName).toBe('AuditExport');
    const widgets = dashboardWidgets(dashboards[0]!.Properties.DashboardBody);
    const metricsOf = (title: string) => {
      const widget = widgets.find((w) => w.properties.title === title);
      expect(widget, title).toBeDefined();
      return widget!.properties.metrics!.map((m) => m.filter((part) => typeof part === 'string').join(' '));
    };
    const sm = `{'Ref':'${ids.stateMachine}'}`;
    expect(metricsOf('mft: executions')).toEqual(
      ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsTimedOut'].map((m) => `AWS/States ${m} StateMachineArn ${sm}`),
    );
    expect(metricsOf('mft: execution time')).toEqual([`AWS/States ExecutionTime StateMachineArn ${sm}`, `AWS/States ExecutionTime StateMachineArn ${sm}`]);
    const copy = `{'Ref':'${ids.functions.CopyReportFunctionArn}'}`;
    expect(metricsOf('mft: MftCopyReport errors')).toEqual([`AWS/Lambda Errors FunctionName ${copy}`]);
    expect(metricsOf('mft: MftCopyReport duration')).toEqual([`AWS/Lambda Duration FunctionName ${copy}`, `AWS/Lambda Duration FunctionName ${copy}`]);
    expect(metricsOf('mft: exported')).toEqual(['AuditExport RecordsExported Source mft', 'AuditExport BytesExported Source mft']);
    expect(metricsOf('mft: checkpoint lag')).toEqual(['AuditExport CheckpointLagSeconds Source mft']);
    const consumer = `{'Ref':'${ids.consumer}'}`;
    expect(metricsOf('consumer: manifests verified and errors')).toEqual([
      `AWS/Lambda Invocations FunctionName ${consumer}`,
      `AWS/Lambda Errors FunctionName ${consumer}`,
    ]);
    expect(widgets.some((w) => String(w.properties.title ?? '').startsWith('xray'))).toBe(false);
  });
});

/** The dashboard body (an Fn::Join of JSON text and tokens) as widgets; tokens become `{'Ref':'Id'}` strings. */
function dashboardWidgets(body: unknown): { type: string; properties: { title?: string; metrics?: unknown[][] } }[] {
  const parts = typeof body === 'string' ? [body] : (body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  const text = parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part).replace(/"/g, "'"))).join('');
  return (JSON.parse(text) as { widgets: never[] }).widgets;
}

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
