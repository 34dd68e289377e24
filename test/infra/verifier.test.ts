import { beforeAll, describe, expect, it } from 'vitest';
import { functionRoleId, getAtt, logicalId, ref, roleStatements, sameStatements } from './iam.js';
import { defaultConfig, synthesize, type Synthesized } from './synth.js';

/** The scheduled verifier as deployed: its schedule, its alarm, its dashboard row, and exactly its permissions. */

let s: Synthesized;
type Ids = Record<'fn' | 'logs' | 'bucket' | 'bucketKey' | 'table' | 'xraySecret' | 'xrayStateMachine' | 'scheduleRole', string>;
let ids: Ids;

beforeAll(() => {
  const config = defaultConfig();
  s = synthesize({ ...config, sources: { ...config.sources, xray: { enabled: true, baseUrl: 'https://acme.jfrog.io' } } });
  const verifier = s.stack.verifier!;
  ids = {
    fn: logicalId(verifier.function),
    logs: logicalId(verifier.node.findChild('VerifierLogs')),
    bucket: logicalId(s.stack.storage.bucket),
    bucketKey: logicalId(s.stack.storage.bucketKey),
    table: logicalId(s.stack.storage.checkpointTable),
    xraySecret: logicalId(s.stack.xray!.credentialsSecret),
    xrayStateMachine: logicalId(s.stack.xray!.export.stateMachine),
    scheduleRole: logicalId(verifier.node.findChild('ScheduleRole')),
  };
});

describe('scheduled verifier (verifier.enabled, on by default)', () => {
  it('runs functions/verifier/handler.ts daily over the previous 7 days, 15 minutes at most', () => {
    const fn = s.template.toJSON().Resources[ids.fn].Properties;
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 900, TracingConfig: { Mode: 'Active' } });
    expect(fn.Description).toContain('functions/verifier/handler.ts');
    expect(fn.Environment.Variables).toMatchObject({
      VERIFY_DAYS: '7',
      CHECKPOINT_TABLE: ref(ids.table),
      EXPORT_BUCKET: ref(ids.bucket),
      XRAY_CREDENTIALS_SECRET_ID: ref(ids.xraySecret),
      XRAY_STATE_MACHINE_ARN: ref(ids.xrayStateMachine),
    });
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 3 * * ? *)',
      Target: { Arn: getAtt(ids.fn), RoleArn: getAtt(ids.scheduleRole) },
    });
  });

  it('alarms on UnverifiedWindows and shows a dashboard row', () => {
    const alarms = Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
      JSON.stringify(alarm.Properties.Metrics ?? []).includes('UnverifiedWindows'),
    );
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.Properties).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'ignore' });
    const body = JSON.stringify(Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody);
    expect(body).toContain('verifier: unverified windows');
    expect(body).toContain('ReconciledWindows');
  });

  it('may read exports, list streams, record hashed windows, read the Xray secret and start the Xray state machine: nothing else', () => {
    const statements = roleStatements(s.template, functionRoleId(s.template, ids.fn));
    const expected = [
      { Sid: 'WriteOwnLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::Join': ['', [getAtt(ids.logs), ':*']] } },
      { Sid: 'ReadExports', Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [getAtt(ids.bucket), '/source=*']] } },
      { Sid: 'ListExports', Effect: 'Allow', Action: 's3:ListBucket', Resource: getAtt(ids.bucket), Condition: { StringLike: { 's3:prefix': ['source=*'] } } },
      statements.find((statement) => statement.Sid === 'DecryptExports')!,
      { Sid: 'ListStreams', Effect: 'Allow', Action: 'dynamodb:Scan', Resource: getAtt(ids.table) },
      {
        Sid: 'RecordVerifiedWindows',
        Effect: 'Allow',
        Action: ['dynamodb:PutItem', 'dynamodb:Query'],
        Resource: getAtt(ids.table),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['verified|*'] } },
      },
      { Sid: 'ReadXrayCredentials', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref(ids.xraySecret) },
      { Sid: 'ReexportXrayWindows', Effect: 'Allow', Action: 'states:StartExecution', Resource: ref(ids.xrayStateMachine) },
      statements.find((statement) => JSON.stringify(statement.Action).includes('xray:PutTraceSegments'))!,
    ];
    expect(statements.find((statement) => statement.Sid === 'DecryptExports')).toMatchObject({ Action: 'kms:Decrypt', Resource: getAtt(ids.bucketKey) });
    expect(sameStatements(statements, expected), JSON.stringify(statements, null, 1)).toBe(true);
    // No write to the bucket, no delete anywhere.
    expect(JSON.stringify(statements)).not.toMatch(/s3:Put|s3:Delete|dynamodb:Delete|dynamodb:UpdateItem/);
    // Scheduler may invoke this function and nothing else.
    const scheduler = roleStatements(s.template, ids.scheduleRole);
    expect(scheduler.map((statement) => statement.Action)).toEqual(['lambda:InvokeFunction']);
    expect(JSON.stringify(scheduler)).toContain(ids.fn);
  });

  it('verifier.enabled=false deploys none of it', () => {
    const without = synthesize({ ...defaultConfig(), verifier: { enabled: false } });
    expect(without.stack.verifier).toBeUndefined();
    expect(JSON.stringify(without.template.toJSON())).not.toContain('UnverifiedWindows');
  });
});
