import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.js';
import { parseConfig } from '../../infra/config.js';
import { functionRoleId, getAtt, logicalId, ref, roleStatements } from './iam.js';
import { cdkJsonContext, synthesize, TEST_ENV, type Synthesized } from './synth.js';

/** A deployment that sets the optional knobs: tenant id, prefix, filters, CSV, e-mail, daily windows, another region. */
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
        lookbackHours: 24,
        type: 'csv',
        filters: { actions: ['Delete'], outcomes: ['Error'] },
      },
      xray: { enabled: true, baseUrl: 'https://acme.jfrog.io', format: 'csv', windowHours: 24 },
    },
  });
});

describe('a configured deployment', () => {
  it('PlanExport needs nothing but its logs once the tenant id is configured', () => {
    const fnId = logicalId(s.stack.mft!.export.functions.PlanExportFunctionArn);
    const statements = roleStatements(s.template, functionRoleId(s.template, fnId));
    expect(statements.map((st) => st.Sid ?? st.Action)).toEqual(['WriteOwnLogs', ['xray:PutTelemetryRecords', 'xray:PutTraceSegments']]);
    const env = s.template.toJSON().Resources[fnId].Properties.Environment.Variables;
    expect(env).toMatchObject({ MFT_TENANT_ID: 'acme-prod', EXPORT_PREFIX: 'audit/', MFT_BASE_URL: 'https://api.eu.mft.progress.com', MFT_LOOKBACK_HOURS: '24' });
  });

  it('CopyReport writes only under <prefix>source=mft/', () => {
    const fnId = logicalId(s.stack.mft!.export.functions.CopyReportFunctionArn);
    const write = roleStatements(s.template, functionRoleId(s.template, fnId)).find((st) => st.Sid === 'WriteMftExports');
    expect(write?.Resource).toEqual({ 'Fn::Join': ['', [getAtt(logicalId(s.stack.storage.bucket)), '/audit/source=mft/*']] });
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
      pagesLogs: logicalId(xray.export.node.findChild('XrayExportPagesLogs')),
      secret: logicalId(xray.credentialsSecret),
      stateMachine: logicalId(xray.export.stateMachine),
      bucket: logicalId(s.stack.storage.bucket),
      bucketKey: logicalId(s.stack.storage.bucketKey),
    };
  };

  it('PlanExport only computes windows: its logs and traces, nothing else', () => {
    const ids = xrayIds();
    const statements = roleStatements(s.template, functionRoleId(s.template, ids.plan));
    expect(statements.map((st) => st.Sid ?? st.Action)).toEqual(['WriteOwnLogs', ['xray:PutTelemetryRecords', 'xray:PutTraceSegments']]);
  });

  it('ExportPages reads its secret and writes/deletes parts only under <prefix>source=xray/', () => {
    const ids = xrayIds();
    const statements = roleStatements(s.template, functionRoleId(s.template, ids.pages));
    expect(statements).toEqual(
      expect.arrayContaining([
        { Sid: 'ReadXrayCredentials', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref(ids.secret) },
        {
          Sid: 'WriteXrayExports',
          Effect: 'Allow',
          Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:PutObject'],
          Resource: { 'Fn::Join': ['', [getAtt(ids.bucket), '/audit/source=xray/*']] },
        },
        {
          Sid: 'EncryptXrayExports',
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: getAtt(ids.bucketKey),
          Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com', 'kms:EncryptionContext:aws:s3:arn': getAtt(ids.bucket) } },
        },
      ]),
    );
    expect(statements).toHaveLength(5); // + own logs + X-Ray
    // The MFT secret is not readable by Xray functions, nor the Xray secret by MFT functions.
    expect(JSON.stringify(statements)).not.toContain(logicalId(s.stack.mft!.credentialsSecret));
    const env = s.template.toJSON().Resources[ids.pages].Properties.Environment.Variables;
    expect(env).toMatchObject({
      XRAY_BASE_URL: 'https://acme.jfrog.io',
      XRAY_CREDENTIALS_SECRET_ID: ref(ids.secret),
      EXPORT_BUCKET: ref(ids.bucket),
      EXPORT_PREFIX: 'audit/',
      XRAY_WINDOW_HOURS: '24',
    });
    const fn = s.template.toJSON().Resources[ids.pages].Properties;
    expect([fn.MemorySize, fn.Timeout]).toEqual([1024, 900]);
  });

  it('its state machine substitutes both placeholders, and its schedule asks for CSV', () => {
    const ids = xrayIds();
    const sm = s.template.toJSON().Resources[ids.stateMachine].Properties;
    expect(sm.DefinitionSubstitutions).toEqual({ XrayPlanExportFunctionArn: getAtt(ids.plan), XrayExportPagesFunctionArn: getAtt(ids.pages) });
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
