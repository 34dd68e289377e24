import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { MFT_FUNCTIONS } from '../../functions/mft/handlers/index.js';
import { XRAY_FUNCTIONS } from '../../functions/xray/handlers/index.js';
import { buildApp, PROJECT_ROOT } from '../../infra/app.js';
import { assertPlaceholdersMatch } from '../../infra/constructs/source-export.js';
import { MFT_ASL_FILE } from '../../infra/sources/mft.js';
import { XRAY_ASL_FILE } from '../../infra/sources/xray.js';
import { parseConfig } from '../../infra/config.js';
import { functionRoleId, getAtt, logicalId, ref, roleStatements, sameStatements } from './iam.js';
import { cdkJsonContext, synthesize, TEST_ENV, type Synthesized } from './synth.js';

/** A deployment that sets the optional knobs: tenant id, prefix, filters, CSV, e-mail, daily runs, other grids, both sources. */
let s: Synthesized;

beforeAll(() => {
  s = synthesize({
    env: TEST_ENV,
    bucket: { exportPrefix: 'audit/', expireAfterDays: 400, transitionToGlacierAfterDays: 90 },
    alarms: { email: 'secops@example.com', checkpointLagSeconds: 7200 },
    logRetentionDays: 90,
    sources: {
      mft: {
        baseUrl: 'https://api.eu.mft.progress.com/',
        tenantId: 'acme-prod',
        schedule: 'rate(1 day)',
        windowMinutes: 30,
        lagMinutes: 5,
        initialLookbackHours: 72,
        maxWindowsPerRun: 96,
        type: 'csv',
        filters: { actions: ['Delete'], outcomes: ['Error'] },
      },
      xray: {
        enabled: true,
        baseUrl: 'https://acme.jfrog.io',
        tenant: 'acme',
        format: 'csv',
        windowMinutes: 15,
        groupHours: 24,
        lagMinutes: 30,
        overlapHours: 6,
        initialLookbackHours: 168,
        maxWindowsPerRun: 2000,
        eventsPerPart: 50_000,
        invocationBudgetSeconds: 300,
      },
    },
  });
});

const lease = (source: string, use: 'lease' | 'commit') => ({
  Sid: `${use === 'lease' ? 'Lease' : 'Commit'}${source === 'mft' ? 'Mft' : 'Xray'}Checkpoints`,
  Effect: 'Allow',
  Action: use === 'lease' ? ['dynamodb:GetItem', 'dynamodb:UpdateItem'] : ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
  Resource: getAtt(logicalId(s.stack.storage.checkpointTable)),
  Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${source}|*`] } },
});
const ownLogs = (fnId: string) => {
  const logGroup = (s.template.toJSON().Resources[fnId].Properties.LoggingConfig.LogGroup as { Ref: string }).Ref;
  return { Sid: 'WriteOwnLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::Join': ['', [getAtt(logGroup), ':*']] } };
};
const tracing = { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' };
/** PlanExport may tell whether a lease's holder still runs: DescribeExecution of its own state machine's executions only. */
const judgeLeases = (source: string) => ({
  Sid: 'JudgeLeaseHolders',
  Effect: 'Allow',
  Action: 'states:DescribeExecution',
  Resource: `arn:aws:states:${TEST_ENV.region}:${TEST_ENV.account}:execution:AuditExport-${source}-export:*`,
});
const expectExactly = (fnId: string, expected: Record<string, unknown>[]) => {
  const statements = roleStatements(s.template, functionRoleId(s.template, fnId));
  expect(sameStatements(statements, [ownLogs(fnId), ...expected, tracing]), JSON.stringify(statements, null, 1)).toBe(true);
};
const env = (fnId: string) => s.template.toJSON().Resources[fnId].Properties.Environment.Variables as Record<string, unknown>;

describe('a configured deployment', () => {
  it('with the tenant id configured, PlanExport and CommitRun never read the secret: logs and their mft|* checkpoints only', () => {
    const mft = s.stack.mft!.export.functions;
    expectExactly(logicalId(mft.PlanExportFunctionArn), [lease('mft', 'lease'), judgeLeases('mft')]);
    expectExactly(logicalId(mft.CommitRunFunctionArn), [lease('mft', 'commit')]);
    const table = ref(logicalId(s.stack.storage.checkpointTable));
    const runtime = {
      MFT_BASE_URL: 'https://api.eu.mft.progress.com',
      EXPORT_BUCKET: ref(logicalId(s.stack.storage.bucket)),
      TOKEN_SEALING_KMS_KEY_ID: getAtt(logicalId(s.stack.mft!.tokenSealingKey)),
      MFT_TENANT_ID: 'acme-prod',
    };
    expect(env(logicalId(mft.PlanExportFunctionArn))).toEqual({
      ...runtime,
      CHECKPOINT_TABLE: table,
      EXPORT_PREFIX: 'audit/',
      MFT_WINDOW_MINUTES: '30',
      MFT_LAG_MINUTES: '5',
      MFT_INITIAL_LOOKBACK_HOURS: '72',
      MFT_MAX_WINDOWS_PER_RUN: '96',
      MFT_POLL_INTERVAL_SECONDS: '15',
      MFT_MAX_WAIT_SECONDS: '900',
    });
    expect(env(logicalId(mft.CommitRunFunctionArn))).toEqual({ ...runtime, CHECKPOINT_TABLE: table });
    // The API callers keep the secret (and learn nothing else).
    expect(env(logicalId(mft.CopyReportFunctionArn))).toEqual({
      ...runtime,
      MFT_CREDENTIALS_SECRET_ID: ref(logicalId(s.stack.mft!.credentialsSecret)),
    });
  });

  it('CopyReport stores, reads and deletes only under <prefix>source=mft/', () => {
    const fnId = logicalId(s.stack.mft!.export.functions.CopyReportFunctionArn);
    const statements = roleStatements(s.template, functionRoleId(s.template, fnId));
    const bucket = logicalId(s.stack.storage.bucket);
    expect(statements.find((st) => st.Sid === 'StoreMftExports')?.Resource).toEqual({ 'Fn::Join': ['', [getAtt(bucket), '/audit/source=mft/*']] });
    expect(statements.find((st) => st.Sid === 'FindMftExports')).toEqual({
      Sid: 'FindMftExports',
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: getAtt(bucket),
      Condition: { StringLike: { 's3:prefix': ['audit/source=mft/*'] } },
    });
  });

  it('tokens are sealed for the configured API origin only', () => {
    const fnId = logicalId(s.stack.mft!.export.functions.IssueTokenFunctionArn);
    const seal = roleStatements(s.template, functionRoleId(s.template, fnId)).find((st) => st.Sid === 'SealMftToken');
    expect(seal?.Condition).toEqual({
      StringEquals: { 'kms:EncryptionContext:purpose': 'mft-access-token', 'kms:EncryptionContext:audience': 'https://api.eu.mft.progress.com' },
    });
  });

  it('the schedule carries the configured expression, report type and filters', () => {
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 day)',
      Target: {
        Arn: ref(logicalId(s.stack.mft!.export.stateMachine)),
        Input: JSON.stringify({ type: 'csv', filters: { actions: ['Delete'], outcomes: ['Error'] } }),
      },
    });
  });

  it('lifecycle: Glacier IR and expiry as configured; logs kept 90 days; alarms e-mailed', () => {
    const rules = s.template.toJSON().Resources[logicalId(s.stack.storage.bucket)].Properties.LifecycleConfiguration.Rules;
    expect(rules[0]).toMatchObject({
      ExpirationInDays: 400,
      Transitions: [
        { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
        { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
      ],
    });
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'secops@example.com' });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'CheckpointLagSeconds', Threshold: 7200 });
  });
});

describe('the Xray source', () => {
  const xrayIds = () => {
    const xray = s.stack.xray!;
    return {
      plan: logicalId(xray.export.functions.XrayPlanExportFunctionArn),
      pages: logicalId(xray.export.functions.XrayExportPagesFunctionArn),
      commit: logicalId(xray.export.functions.XrayCommitRunFunctionArn),
      table: logicalId(s.stack.storage.checkpointTable),
      pagesLogs: logicalId(xray.export.node.findChild('XrayExportPagesLogs')),
      secret: logicalId(xray.credentialsSecret),
      stateMachine: logicalId(xray.export.stateMachine),
      bucket: logicalId(s.stack.storage.bucket),
      bucketKey: logicalId(s.stack.storage.bucketKey),
    };
  };

  it('PlanExport takes the lease of xray|* streams only, and gets the schedule settings', () => {
    const ids = xrayIds();
    // ...and lists its stream's folders (which windows older than the retention are stored), reading nothing.
    expectExactly(ids.plan, [
      lease('xray', 'lease'),
      judgeLeases('xray'),
      { Sid: 'ListXrayWindows', Effect: 'Allow', Action: 's3:ListBucket', Resource: getAtt(ids.bucket), Condition: { StringLike: { 's3:prefix': ['audit/source=xray/*'] } } },
    ]);
    expect(env(ids.plan)).toEqual({
      XRAY_BASE_URL: 'https://acme.jfrog.io',
      EXPORT_BUCKET: ref(ids.bucket),
      CHECKPOINT_TABLE: ref(ids.table),
      EXPORT_PREFIX: 'audit/',
      XRAY_TENANT: 'acme',
      XRAY_WINDOW_MINUTES: '15',
      XRAY_GROUP_HOURS: '24',
      XRAY_LAG_MINUTES: '30',
      XRAY_OVERLAP_HOURS: '6',
      XRAY_INITIAL_LOOKBACK_HOURS: '168',
      XRAY_MAX_WINDOWS_PER_RUN: '2000',
      // The part size is fixed in the plan every ExportPages invocation receives.
      XRAY_EVENTS_PER_PART: '50000',
    });
  });

  it('CommitRun: GetItem, UpdateItem, PutItem, Query on xray|* checkpoints; the runtime and the table only', () => {
    const ids = xrayIds();
    expectExactly(ids.commit, [lease('xray', 'commit')]);
    expect(env(ids.commit)).toEqual({
      XRAY_BASE_URL: 'https://acme.jfrog.io',
      EXPORT_BUCKET: ref(ids.bucket),
      CHECKPOINT_TABLE: ref(ids.table),
    });
    const fn = s.template.toJSON().Resources[ids.commit].Properties;
    expect([fn.MemorySize, fn.Timeout]).toEqual([256, 60]);
  });

  it('ExportPages reads its secret, and puts, reads and deletes objects only under <prefix>source=xray/', () => {
    const ids = xrayIds();
    expectExactly(ids.pages, [
      { Sid: 'ReadXrayCredentials', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref(ids.secret) },
      {
        Sid: 'StoreXrayExports',
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        Resource: { 'Fn::Join': ['', [getAtt(ids.bucket), '/audit/source=xray/*']] },
      },
      {
        Sid: 'FindXrayExports',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: getAtt(ids.bucket),
        Condition: { StringLike: { 's3:prefix': ['audit/source=xray/*'] } },
      },
      {
        Sid: 'EncryptXrayExports',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: getAtt(ids.bucketKey),
        Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com', 'kms:EncryptionContext:aws:s3:arn': getAtt(ids.bucket) } },
      },
    ]);
    // The MFT secret is not readable by Xray functions, nor the Xray secret by MFT functions.
    const statements = roleStatements(s.template, functionRoleId(s.template, ids.pages));
    expect(JSON.stringify(statements)).not.toContain(logicalId(s.stack.mft!.credentialsSecret));
    expect(env(ids.pages)).toEqual({
      XRAY_BASE_URL: 'https://acme.jfrog.io',
      EXPORT_BUCKET: ref(ids.bucket),
      XRAY_CREDENTIALS_SECRET_ID: ref(ids.secret),
      XRAY_INVOCATION_BUDGET_SECONDS: '300',
    });
    const fn = s.template.toJSON().Resources[ids.pages].Properties;
    expect([fn.MemorySize, fn.Timeout]).toEqual([1024, 900]);
  });

  it('no Xray function can touch mft|* checkpoints or mft-reports|* records, no MFT function xray|*', () => {
    for (const [, policy] of Object.entries(s.template.findResources('AWS::IAM::Policy'))) {
      const text = JSON.stringify(policy);
      if (!text.includes('dynamodb:')) continue;
      const role = (policy.Properties.Roles as { Ref: string }[])[0]!.Ref;
      const prefixes = (policy.Properties.PolicyDocument as { Statement: { Condition?: Record<string, Record<string, string[]>> }[] }).Statement.flatMap(
        (st) => st.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? [],
      );
      expect(prefixes.length, role).toBeGreaterThan(0);
      // The verifier reaches only its own records (test/infra/verifier.test.ts).
      const allowed = role.startsWith('MftExport') ? ['mft|*', 'mft-reports|*'] : role.startsWith('Verifier') ? ['verified|*'] : ['xray|*'];
      for (const prefix of prefixes) expect(allowed, role).toContain(prefix);
    }
  });

  it('its state machine substitutes all three placeholders (CommitRun too), and its schedule asks for CSV', () => {
    const ids = xrayIds();
    const sm = s.template.toJSON().Resources[ids.stateMachine].Properties;
    expect(sm.DefinitionSubstitutions).toEqual({
      XrayPlanExportFunctionArn: getAtt(ids.plan),
      XrayExportPagesFunctionArn: getAtt(ids.pages),
      XrayCommitRunFunctionArn: getAtt(ids.commit),
    });
    const asl = readFileSync(join(PROJECT_ROOT, XRAY_ASL_FILE), 'utf8');
    expect([...new Set([...asl.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))].sort()).toEqual(Object.keys(sm.DefinitionSubstitutions).sort());
    expect(sm.LoggingConfiguration.IncludeExecutionData).toBe(false);
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 * * * ? *)',
      Target: { Arn: ref(ids.stateMachine), Input: JSON.stringify({ format: 'csv' }) },
    });
    const outputs = s.template.toJSON().Outputs;
    expect(outputs.XrayStateMachineArn.Value).toEqual(ref(ids.stateMachine));
    expect(outputs.XrayStateMachineArn.Description).toContain('XRAY_STATE_MACHINE_ARN');
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'CheckpointLagSeconds', Dimensions: [{ Name: 'Source', Value: 'xray' }] });
  });
});

describe('consumer and dashboard with both sources and a prefix', () => {
  it('the consumer reads only under <prefix>source=', () => {
    const fnId = logicalId(s.stack.consumer!.function);
    const statements = roleStatements(s.template, functionRoleId(s.template, fnId));
    const bucket = logicalId(s.stack.storage.bucket);
    expect(statements.find((st) => st.Sid === 'ReadExports')?.Resource).toEqual({ 'Fn::Join': ['', [getAtt(bucket), '/audit/source=*']] });
    expect(statements.find((st) => st.Sid === 'ListExports')?.Condition).toEqual({ StringLike: { 's3:prefix': ['audit/source=*'] } });
  });

  it('the dashboard has a row per source (Xray: ExportPages) and the lag of each', () => {
    const body = JSON.stringify(Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody);
    for (const title of ['mft: executions', 'xray: executions', 'xray: XrayExportPages errors', 'xray: XrayExportPages duration', 'xray: exported', 'xray: checkpoint lag']) {
      expect(body).toContain(title);
    }
    expect(body).toContain(logicalId(s.stack.xray!.export.functions.XrayExportPagesFunctionArn));
    expect(body).toMatch(/CheckpointLagSeconds\\+",\\+"Source\\+",\\+"xray/);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AuditExport',
      MetricName: 'CheckpointLagSeconds',
      Dimensions: [{ Name: 'Source', Value: 'xray' }],
      Threshold: 7200,
    });
  });

  it('consumers.verifyManifests=false deploys no consumer, rule or consumer alarm', () => {
    const without = synthesize({ env: TEST_ENV, consumers: { verifyManifests: false } });
    expect(without.stack.consumer).toBeUndefined();
    expect(Object.keys(without.template.findResources('AWS::Events::Rule'))).toEqual([]);
    expect(JSON.stringify(without.template.toJSON())).not.toContain('verify-manifest');
    expect(Object.keys(without.template.findResources('AWS::CloudWatch::Dashboard'))).toHaveLength(1);
  });
});

describe('the ASL and the function tables are checked at synth', () => {
  it('a placeholder without a function, or a function the ASL never calls, fails synth', () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-export-asl-'));
    const asl = join(dir, 'x.asl.json');
    writeFileSync(asl, JSON.stringify({ StartAt: 'A', States: { A: { Type: 'Task', Resource: '${AFunctionArn}', End: true } } }));
    expect(() => assertPlaceholdersMatch(asl, ['AFunctionArn'])).not.toThrow();
    expect(() => assertPlaceholdersMatch(asl, [])).toThrow(/no function for \$\{AFunctionArn\}/);
    expect(() => assertPlaceholdersMatch(asl, ['AFunctionArn', 'CommitRunFunctionArn'])).toThrow(/not used by the ASL: CommitRunFunctionArn/);
    // The real tables match their ASL files (CommitRun included).
    expect(() => assertPlaceholdersMatch(join(PROJECT_ROOT, MFT_ASL_FILE), Object.keys(MFT_FUNCTIONS))).not.toThrow();
    expect(() => assertPlaceholdersMatch(join(PROJECT_ROOT, XRAY_ASL_FILE), Object.keys(XRAY_FUNCTIONS))).not.toThrow();
  });
});

describe('cdk-nag runs on every synth', () => {
  it('the configured deployment (both sources) has no unacknowledged finding', () => {
    const report = new AwsSolutionsChecks().validateScope(s.app);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('an unacknowledged finding fails synthesis', () => {
    const config = parseConfig({ ...(cdkJsonContext()['audit-export'] as object), env: TEST_ENV });
    const { app, stack } = buildApp({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } }, config);
    new s3.Bucket(stack, 'CarelessBucket');
    expect(() => app.synth()).toThrow(/AwsSolutions-S1'[\s\S]*AwsSolutions-S10/);
  });
});
