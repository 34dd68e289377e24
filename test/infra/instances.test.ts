import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitMetrics, INSTANCE_ENVIRONMENT_VARIABLE } from '../../functions/common/observability.js';
import { commitRunMetrics } from '../../functions/common/step-metrics.js';
import { parseConfig, SINGLE_INSTANCE_NAME } from '../../infra/config.js';
import { MftSource } from '../../infra/sources/mft.js';
import type { XraySource } from '../../infra/sources/xray.js';
import { functionRoleId, logicalId, ref, roleStatements } from './iam.js';
import { SINGLE_OBJECT_CONFIGS } from './single-object-configs.js';
import { sourceIdentity, type SourceIdentity } from './source-identity.js';
import { synthesize, TEST_ENV, type Synthesized } from './synth.js';

/**
 * What the single-object configurations synthesized before sources took a list of instances. Regenerate it only
 * from code that predates a change meant to keep deployed sources as they are.
 */
const BEFORE = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'single-object-identity.json'), 'utf8')) as Record<string, SourceIdentity>;

describe('a single-object source, as configured before instances', () => {
  for (const [name, config] of Object.entries(SINGLE_OBJECT_CONFIGS)) {
    it(`${name}: the same source resources, logical ids, names, alarms, schedules and outputs as before; bucket and table kept`, () => {
      const now = sourceIdentity(synthesize(config).template);
      const before = BEFORE[name]!;
      expect(now.sources).toEqual(before.sources);
      expect(now.outputs).toEqual(before.outputs);
      // Resources outside the sources may be added by other features, never replaced.
      for (const [id, type] of Object.entries(before.shared)) expect(now.shared[id], id).toBe(type);
    });
  }
});

/** Two instances of each source: an MFT tenant per region, a SaaS and a self-hosted JFrog platform. */
const SEVERAL = {
  env: TEST_ENV,
  sources: {
    mft: [
      { name: 'us', baseUrl: 'https://api.us.mft.progress.com', tenantId: 'acme-us', schedule: 'cron(0 * * * ? *)' },
      { name: 'eu', baseUrl: 'https://api.eu.mft.progress.com', tenantId: 'acme-eu', schedule: 'cron(30 * * * ? *)', type: 'csv' as const },
    ],
    xray: [
      { name: 'saas', baseUrl: 'https://acme.jfrog.io', schedule: 'cron(5 * * * ? *)' },
      { name: 'on-prem', baseUrl: 'https://jfrog.acme.internal', schedule: 'cron(35 * * * ? *)', format: 'csv' as const },
    ],
  },
};

describe('several instances of each source', () => {
  let s: Synthesized;
  let resources: Record<string, { Type: string; Properties: Record<string, any> }>;
  beforeAll(() => {
    s = synthesize(SEVERAL);
    resources = s.template.toJSON().Resources;
  });
  const instances = () => [...s.stack.mftInstances, ...s.stack.xrayInstances];
  const functionIds = (source: MftSource | XraySource) => Object.values(source.export.functions).map((fn) => logicalId(fn as IConstruct));
  /** Every function whose role has a statement naming the secret. */
  const readersOf = (secretId: string) =>
    Object.entries(resources)
      .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
      .filter(([id]) => {
        const roleId = functionRoleId(s.template, id);
        return roleStatements(s.template, roleId).some((statement) => JSON.stringify(statement.Resource).includes(`"${secretId}"`));
      })
      .map(([id]) => id)
      .sort();

  it('each instance has its own credentials secret, read only by its own functions (those that call the vendor)', () => {
    expect(s.stack.mftInstances).toHaveLength(2);
    expect(s.stack.xrayInstances).toHaveLength(2);
    const secrets = instances().map((instance) => logicalId(instance.credentialsSecret));
    expect(new Set(secrets).size).toBe(4);
    for (const instance of instances()) {
      const secret = logicalId(instance.credentialsSecret);
      const own = functionIds(instance);
      const readers = readersOf(secret);
      // MFT: the six API callers (the tenant id is configured, so the ledger steps never read it); Xray: ExportPages.
      expect(readers.length, secret).toBe(instance instanceof MftSource ? 6 : 1);
      for (const reader of readers) expect(own, `${reader} reads ${secret}`).toContain(reader);
      for (const reader of readers) {
        const variable = instance instanceof MftSource ? 'MFT_CREDENTIALS_SECRET_ID' : 'XRAY_CREDENTIALS_SECRET_ID';
        expect(resources[reader]!.Properties.Environment.Variables[variable]).toEqual(ref(secret));
      }
    }
  });

  it('one state machine per instance, named after it, invoking only its own functions', () => {
    const names = Object.values(resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine').map((r) => r.Properties.StateMachineName).sort();
    expect(names).toEqual(['AuditExport-mft-eu-export', 'AuditExport-mft-us-export', 'AuditExport-xray-on-prem-export', 'AuditExport-xray-saas-export']);
    for (const instance of instances()) {
      const sm = resources[logicalId(instance.export.stateMachine)]!;
      const roleId = sm.Properties.RoleArn['Fn::GetAtt'][0] as string;
      const invoke = roleStatements(s.template, roleId).find((statement) => statement.Sid === 'InvokeTaskFunctions')!;
      expect((invoke.Resource as unknown[]).map((arn) => (arn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]).sort()).toEqual(functionIds(instance).sort());
    }
  });

  it('separate schedules, each starting its own state machine on its own expression', () => {
    // Beside the daily verifier's schedule, which starts a function, not a state machine.
    const schedules = Object.values(resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule' && JSON.stringify(r.Properties.Target.Arn).includes('StateMachine'));
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule')).toHaveLength(5);
    expect(schedules).toHaveLength(4);
    const expected: [MftSource | XraySource, string, object][] = [
      [s.stack.mftInstances[0]!, 'cron(0 * * * ? *)', {}],
      [s.stack.mftInstances[1]!, 'cron(30 * * * ? *)', { type: 'csv' }],
      [s.stack.xrayInstances[0]!, 'cron(5 * * * ? *)', {}],
      [s.stack.xrayInstances[1]!, 'cron(35 * * * ? *)', { format: 'csv' }],
    ];
    for (const [instance, expression, input] of expected) {
      const schedule = schedules.find((candidate) => JSON.stringify(candidate.Properties.Target.Arn) === JSON.stringify(ref(logicalId(instance.export.stateMachine))))!;
      expect(schedule.Properties.ScheduleExpression).toBe(expression);
      expect(JSON.parse(schedule.Properties.Target.Input)).toEqual(input);
    }
  });

  it('a lag alarm per instance on its own Source + Instance metric, and an executions alarm per state machine', () => {
    const lag = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'CheckpointLagSeconds');
    const dimensions = lag.map((alarm) => Object.fromEntries((alarm.Properties.Dimensions as { Name: string; Value: string }[]).map((d) => [d.Name, d.Value])));
    expect(dimensions).toEqual(
      expect.arrayContaining([
        { Source: 'mft', Instance: 'us' },
        { Source: 'mft', Instance: 'eu' },
        { Source: 'xray', Instance: 'saas' },
        { Source: 'xray', Instance: 'on-prem' },
      ]),
    );
    expect(lag).toHaveLength(4);
    for (const instance of instances()) expect(resources[logicalId(instance.export.executionsAlarm)]!.Type).toBe('AWS::CloudWatch::Alarm');
    // The steps' EMF carries the same Instance: every function of an instance of several is told its name.
    for (const instance of instances()) {
      for (const id of functionIds(instance)) {
        expect(resources[id]!.Properties.Environment.Variables.AUDIT_EXPORT_INSTANCE, id).toBe(instance.node.id.replace(/^(Mft|Xray)/, '').replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase());
      }
    }
  });

  it('the lag alarm of an instance watches exactly the EMF record its CommitRun writes (its AUDIT_EXPORT_INSTANCE)', () => {
    const eu = s.stack.mftInstances[1]!;
    const commit = resources[logicalId(eu.export.functions.CommitRunFunctionArn)]!;
    const lines: Record<string, any>[] = [];
    const logger = { info: (record: Record<string, any>) => lines.push(record) } as never;
    const now = Date.parse('2026-11-25T12:00:00Z');
    const saved = process.env[INSTANCE_ENVIRONMENT_VARIABLE];
    process.env[INSTANCE_ENVIRONMENT_VARIABLE] = commit.Properties.Environment.Variables[INSTANCE_ENVIRONMENT_VARIABLE];
    try {
      emitMetrics(logger, 'mft', commitRunMetrics({ watermarkAfter: '2026-11-25T11:00:00.000Z', failedWindows: 0 }, {}, now), now);
    } finally {
      if (saved === undefined) delete process.env[INSTANCE_ENVIRONMENT_VARIABLE];
      else process.env[INSTANCE_ENVIRONMENT_VARIABLE] = saved;
    }
    const [record] = lines;
    const [directive] = record!._aws.CloudWatchMetrics;
    const alarm = Object.values(resources).find(
      (r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'CheckpointLagSeconds' && JSON.stringify(r.Properties.Dimensions).includes('"eu"'),
    )!;
    const dimensions = alarm.Properties.Dimensions as { Name: string; Value: string }[];
    expect(directive.Dimensions.map((set: string[]) => [...set].sort())).toEqual([dimensions.map((d) => d.Name).sort()]);
    for (const { Name, Value } of dimensions) expect(record![Name]).toBe(Value);
    expect(alarm.Properties.Namespace).toBe(directive.Namespace);
  });

  it('each instance writes only its own tenant folder and touches only its own tenant streams and report records', () => {
    const [us] = s.stack.mftInstances;
    const [, onPrem] = s.stack.xrayInstances;
    const copy = roleStatements(s.template, functionRoleId(s.template, logicalId(us!.export.functions.CopyReportFunctionArn)));
    expect(JSON.stringify(copy)).toContain('source=mft/tenant=acme-us/*');
    expect(JSON.stringify(copy)).not.toContain('source=mft/*');
    const plan = roleStatements(s.template, functionRoleId(s.template, logicalId(us!.export.functions.PlanExportFunctionArn)));
    expect(plan.find((statement) => statement.Sid === 'LeaseMftCheckpoints')!.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['mft|acme-us|*'] } });
    const create = roleStatements(s.template, functionRoleId(s.template, logicalId(us!.export.functions.CreateReportFunctionArn)));
    expect(create.find((statement) => statement.Sid === 'RecordMftReports')!.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['mft-reports|acme-us'] } });
    const pages = roleStatements(s.template, functionRoleId(s.template, logicalId(onPrem!.export.functions.XrayExportPagesFunctionArn)));
    expect(JSON.stringify(pages)).toContain('source=xray/tenant=jfrog.acme.internal/*');
  });

  it('a dashboard row per instance, and the outputs the CLI reads the instance names from', () => {
    const body = JSON.stringify(resources[logicalId(s.stack.dashboard.dashboard)]!.Properties.DashboardBody);
    for (const title of ['mft us export', 'mft eu export', 'xray saas export', 'xray on-prem export']) expect(body).toContain(`## ${title}`);
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const id of ['MftUsStateMachineArn', 'MftEuStateMachineArn', 'XraySaasStateMachineArn', 'XrayOnPremStateMachineArn', 'MftEuCredentialsSecretArn']) expect(outputs[id], id).toBeDefined();
    expect(JSON.stringify(outputs.MftStateMachineArns!.Value)).toContain('\\"us\\"');
    expect(JSON.stringify(outputs.XrayStateMachineArns!.Value)).toContain('\\"on-prem\\"');
  });
});

describe('instances in the configuration', () => {
  const problem = (sources: object, stackName?: string) => {
    try {
      parseConfig({ ...(stackName ? { stackName } : {}), sources });
      return '';
    } catch (error) {
      return (error as Error).message;
    }
  };
  const us = { name: 'us', tenantId: 'acme-us' };

  it('the single-object form is one instance named default; a list names each', () => {
    expect(parseConfig({}).sources.mft.map((i) => [i.name, i.listed])).toEqual([[SINGLE_INSTANCE_NAME, false]]);
    expect(parseConfig({ sources: { mft: [us, { name: 'eu', tenantId: 'acme-eu' }] } }).sources.mft.map((i) => [i.name, i.listed])).toEqual([
      ['us', true],
      ['eu', true],
    ]);
    expect(parseConfig({ sources: { mft: [us, { name: 'eu', tenantId: 'acme-eu', enabled: false }] } }).sources.mft).toHaveLength(1);
  });

  it('refuses bad, repeated and too long names', () => {
    expect(problem({ mft: [{ tenantId: 'a' }] })).toMatch(/sources\.mft\.0\.name is required in a list of instances/);
    expect(problem({ mft: [{ ...us, name: 'US' }] })).toMatch(/sources\.mft\.0\.name must be lower-case letters and digits/);
    expect(problem({ mft: [{ ...us, name: 'a-very-long-instance' }] })).toMatch(/sources\.mft\.0\.name must be at most 16/);
    expect(problem({ mft: [us, { name: 'us', tenantId: 'other' }] })).toMatch(/sources\.mft\.1\.name "us" names two instances: names must be unique/);
    expect(problem({ mft: [] })).toMatch(/sources\.mft must list at least one instance/);
    // Every name generated from the stack and instance names must fit AWS's limits.
    expect(problem({ mft: [{ ...us, name: 'sixteen-chars-ok' }] }, `A${'b'.repeat(55)}`)).toMatch(
      /sources\.mft\.0\.name makes the state machine name Ab+-mft-sixteen-chars-ok-export 84 characters long, more than AWS's 80/,
    );
    expect(problem({ mft: [{ ...us, name: 'sixteen-chars-ok' }] }, `A${'b'.repeat(20)}`)).toBe('');
  });

  it('reports a listed instance’s own problems by its position', () => {
    expect(problem({ mft: [us, { name: 'eu', tenantId: 'acme-eu', windowMinutes: 50, extra: 1 }] })).toMatch(
      /sources\.mft\.1\.windowMinutes must divide a day.*sources\.mft\.1 has unknown field\(s\) extra/,
    );
    expect(problem({ mft: 'us' })).toMatch(/sources\.mft must be an object \(one instance\) or a list of instances/);
  });

  it('refuses two instances whose streams coincide, and several MFT instances without a tenant id', () => {
    expect(problem({ mft: [us, { name: 'us2', tenantId: 'acme-us', baseUrl: 'https://api.eu.mft.progress.com' }] })).toMatch(
      /sources\.mft\.1\.name "us2" exports the same stream as "us" \(mft\|acme-us\|all\|json: source, tenant, filters and format\)/,
    );
    // The same tenant with other filters or another type is another stream.
    expect(problem({ mft: [us, { name: 'us-deletes', tenantId: 'acme-us', filters: { actions: ['Delete'] } }, { name: 'us-csv', tenantId: 'acme-us', type: 'csv' }] })).toBe('');
    expect(problem({ xray: [{ name: 'a', baseUrl: 'https://acme.jfrog.io' }, { name: 'b', baseUrl: 'https://acme.jfrog.io/', tenant: 'acme.jfrog.io' }] })).toMatch(
      /sources\.xray\.1\.name "b" exports the same stream as "a" \(xray\|acme\.jfrog\.io\|all\|json/,
    );
    expect(problem({ xray: [{ name: 'a', baseUrl: 'https://acme.jfrog.io' }, { name: 'b', baseUrl: 'https://acme.jfrog.io', format: 'csv' }] })).toBe('');
    expect(problem({ mft: [us, { name: 'eu' }] })).toMatch(/sources\.mft\.1\.tenantId is required when sources\.mft lists several instances/);
    expect(problem({ mft: [{ name: 'only' }] })).toBe('');
  });

  it('refuses MFT instances of one tenant that wait for reports differently (housekeeping would delete reports in flight)', () => {
    expect(problem({ mft: [us, { name: 'us-csv', tenantId: 'acme-us', type: 'csv', maxWaitSeconds: 1800 }] })).toMatch(
      /sources\.mft\.1\.maxWaitSeconds must equal that of "us" \(900\), which exports the same tenant acme-us/,
    );
  });
});
