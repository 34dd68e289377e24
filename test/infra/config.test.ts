import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp, PROJECT_ROOT } from '../../infra/app.js';
import { AuditExportConfigError, loadConfig, parseConfig } from '../../infra/config.js';
import { cdkJsonContext } from './synth.js';

const invalid = (value: unknown) => () => parseConfig(value);

describe('audit-export configuration', () => {
  it('the defaults in cdk.json are valid and enable MFT only, hourly, retained', () => {
    const config = parseConfig(cdkJsonContext()['audit-export']);
    expect(config.sources.mft[0]).toMatchObject({
      enabled: true,
      baseUrl: 'https://api.us.mft.progress.com',
      schedule: 'cron(0 * * * ? *)',
      windowMinutes: 60,
      lagMinutes: 15,
      initialLookbackHours: 24,
      maxWindowsPerRun: 48,
    });
    expect(config.sources.xray).toEqual([]);
    expect(config.consumers.verifyManifests).toBe(true);
    expect(config.bucket.removalPolicy).toBe('retain');
  });

  it('infra/config.example.json is valid', () => {
    const example = parseConfig(JSON.parse(readFileSync(join(PROJECT_ROOT, 'infra/config.example.json'), 'utf8')));
    expect(example.sources.xray).toHaveLength(1);
  });

  it('an empty configuration gets the same sensible defaults', () => {
    const config = parseConfig({});
    expect(config.sources.mft).toMatchObject([{ enabled: true, name: 'default', listed: false }]);
    expect(config.bucket.exportPrefix).toBe('');
    expect(config.logRetentionDays).toBe(365);
    expect(config.consumers).toEqual({ verifyManifests: true });
    // The same defaults the Lambda runtimes apply (functions/{mft,xray}/runtime.ts).
    expect(config.sources.mft[0]).toMatchObject({ windowMinutes: 60, lagMinutes: 15, initialLookbackHours: 24, maxWindowsPerRun: 48 });
    expect(parseConfig({ sources: { xray: { enabled: true, baseUrl: 'https://acme.jfrog.io' } } }).sources.xray[0]).toMatchObject({
      windowMinutes: 60,
      groupHours: 168,
      lagMinutes: 15,
      overlapHours: 2,
      initialLookbackHours: 24,
      maxWindowsPerRun: 744,
      eventsPerPart: 100_000,
      invocationBudgetSeconds: 600,
    });
  });

  it('bounds the window grid and the per-run settings', () => {
    expect(invalid({ sources: { mft: { windowMinutes: 50 } } })).toThrow(/sources\.mft\.windowMinutes must divide a day \(1440 minutes\) evenly/);
    expect(invalid({ sources: { mft: { windowMinutes: 2880 } } })).toThrow(/sources\.mft\.windowMinutes must be at most 1440/);
    expect(invalid({ sources: { mft: { windowMinutes: 7.5 } } })).toThrow(/sources\.mft\.windowMinutes/);
    expect(invalid({ sources: { mft: { maxWindowsPerRun: 501 } } })).toThrow(/sources\.mft\.maxWindowsPerRun must be at most 500/);
    expect(invalid({ sources: { mft: { lagMinutes: -1 } } })).toThrow(/sources\.mft\.lagMinutes must be at least 0/);
    expect(invalid({ sources: { mft: { initialLookbackHours: 0 } } })).toThrow(/sources\.mft\.initialLookbackHours must be greater than 0/);
    const xray = (fields: object) => invalid({ sources: { xray: { enabled: true, baseUrl: 'https://acme.jfrog.io', ...fields } } });
    expect(xray({ invocationBudgetSeconds: 840 })).toThrow(/sources\.xray\.invocationBudgetSeconds must be at most 780/);
    expect(xray({ invocationBudgetSeconds: 30 })).toThrow(/sources\.xray\.invocationBudgetSeconds must be at least 60/);
    expect(xray({ groupHours: 745 })).toThrow(/sources\.xray\.groupHours must be at most 744/);
    expect(xray({ overlapHours: -1 })).toThrow(/sources\.xray\.overlapHours must be at least 0/);
    expect(xray({ windowMinutes: 1440, groupHours: 12 })).toThrow(/sources\.xray\.groupHours must hold at least one window \(windowMinutes 1440\)/);
    const ok = parseConfig({ sources: { xray: { enabled: true, baseUrl: 'https://acme.jfrog.io', overlapHours: 0, lagMinutes: 0, windowMinutes: 1440, groupHours: 24, maxWindowsPerRun: 31 } } });
    expect(ok.sources.xray[0]).toMatchObject({ overlapHours: 0, lagMinutes: 0, windowMinutes: 1440, groupHours: 24 });
  });

  it('rejects the settings the checkpoint ledger replaced, saying what replaced them', () => {
    expect(invalid({ sources: { mft: { lookbackHours: 1 } } })).toThrow(
      /sources\.mft\.lookbackHours is no longer supported: scheduled runs continue from the checkpoint; set initialLookbackHours/,
    );
    expect(invalid({ sources: { xray: { windowHours: 24 } } })).toThrow(/sources\.xray\.windowHours is no longer supported: .*windowMinutes.*groupHours/);
    expect(invalid({ sources: { xray: { lookbackHours: 24 } } })).toThrow(/sources\.xray\.lookbackHours is no longer supported/);
  });

  it('rejects a non-https base URL, naming the field and an example', () => {
    expect(invalid({ sources: { mft: { baseUrl: 'http://api.us.mft.progress.com' } } })).toThrow(
      new AuditExportConfigError(
        'Invalid audit-export configuration: sources.mft.baseUrl must be an https URL (e.g. https://api.us.mft.progress.com)',
      ),
    );
    expect(invalid({ sources: { mft: { baseUrl: 'not a url' } } })).toThrow(/sources\.mft\.baseUrl must be an https URL/);
  });

  it('rejects schedules EventBridge Scheduler would not accept', () => {
    expect(invalid({ sources: { mft: { schedule: 'every hour' } } })).toThrow(
      /^Invalid audit-export configuration: sources\.mft\.schedule must be an EventBridge Scheduler expression/,
    );
    expect(invalid({ sources: { mft: { schedule: 'cron(0 * * * *)' } } })).toThrow(/6 fields/);
  });

  it('rejects runs that export less than a schedule period (the export would fall behind)', () => {
    expect(invalid({ sources: { mft: { schedule: 'rate(1 day)', maxWindowsPerRun: 12 } } })).toThrow(
      /sources\.mft\.maxWindowsPerRun \(12 windows of 60 min\) covers less than the schedule's period rate\(1 day\): the export would fall behind/,
    );
    expect(parseConfig({ sources: { mft: { schedule: 'rate(1 day)', maxWindowsPerRun: 24 } } }).sources.mft[0]!.maxWindowsPerRun).toBe(24);
    expect(parseConfig({ sources: { mft: { schedule: 'rate(1 day)' } } }).sources.mft[0]!.maxWindowsPerRun).toBe(48);
  });

  it('validates filters with the same schema the state machine input uses', () => {
    expect(invalid({ sources: { mft: { filters: { actions: ['Explode'] } } } })).toThrow(
      /sources\.mft\.filters\.actions\.0 unknown action "Explode"/,
    );
    expect(parseConfig({ sources: { mft: { filters: { actions: ['delete'] } } } }).sources.mft[0]!.filters).toEqual({ actions: ['Delete'] });
  });

  it('names unknown fields, wrong types, bad bucket names, e-mails and retention periods', () => {
    expect(invalid({ sourcez: {} })).toThrow(/unknown field\(s\) sourcez/);
    expect(invalid({ sources: { mft: { pollIntervalSeconds: '5' } } })).toThrow(/sources\.mft\.pollIntervalSeconds must be a number/);
    expect(invalid({ bucket: { name: 'My_Bucket' } })).toThrow(/bucket\.name must be a valid S3 bucket name/);
    expect(invalid({ bucket: { exportPrefix: '/audit' } })).toThrow(/bucket\.exportPrefix must be empty or folder names/);
    expect(invalid({ alarms: { email: 'nope' } })).toThrow(/alarms\.email must be an e-mail address/);
    expect(invalid({ logRetentionDays: 10 })).toThrow(/logRetentionDays must be one of the CloudWatch Logs retention periods/);
  });

  it('needs at least one source, and a platform URL for Xray', () => {
    expect(invalid({ sources: { mft: { enabled: false }, xray: { enabled: false } } })).toThrow(
      /sources must enable at least one source/,
    );
    expect(invalid({ sources: { xray: { enabled: true } } })).toThrow(/sources\.xray\.baseUrl is required when the xray source is enabled/);
  });

  it('lists every problem at once', () => {
    const run = invalid({ sources: { mft: { baseUrl: 'ftp://x', maxWaitSeconds: 0 } }, alarms: { email: 'x' } });
    expect(run).toThrow(/sources\.mft\.baseUrl must be an https URL/);
    expect(run).toThrow(/sources\.mft\.maxWaitSeconds must be greater than 0/);
    expect(run).toThrow(/alarms\.email must be an e-mail address/);
  });

  it('loads a file named with -c config=..., and fails clearly when it is missing or not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-export-config-'));
    writeFileSync(join(dir, 'good.json'), JSON.stringify({ bucket: { exportPrefix: 'audit/' } }));
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    const context = (file: string) => (key: string) => (key === 'config' ? file : undefined);
    expect(loadConfig(context(join(dir, 'good.json'))).bucket.exportPrefix).toBe('audit/');
    expect(() => loadConfig(context(join(dir, 'bad.json')))).toThrow(/bad\.json is not valid JSON/);
    expect(() => loadConfig(context(join(dir, 'missing.json')))).toThrow(/cannot read the config file/);
    // -c audit-export='{...}' on the command line arrives as a string.
    expect(loadConfig((key) => (key === 'audit-export' ? '{"logRetentionDays":30}' : undefined)).logRetentionDays).toBe(30);
  });

  it('an invalid configuration fails the app before anything is synthesized', () => {
    expect(() => buildApp({ context: { 'audit-export': { sources: { mft: { baseUrl: 'http://x' } } } } })).toThrow(
      AuditExportConfigError,
    );
  });
});
