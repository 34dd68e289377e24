import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseInstance } from '../../cli/instances.js';
import { instanceStreamPrefix } from '../../cli/commands/status.js';
import { runOnTarget, twinInstances } from '../../cli/run-target.js';
import { startTwin } from '../../local/twin.js';
import { listKeys } from '../support/stored-events.js';

const arns = JSON.stringify({ us: 'arn:aws:states:eu-west-1:123456789012:stateMachine:AuditExport-mft-us-export', eu: 'arn:aws:states:eu-west-1:123456789012:stateMachine:AuditExport-mft-eu-export' });

describe('--instance', () => {
  it('with --target aws, names come from the stack output MFT_STATE_MACHINE_ARNS; the chosen one’s ARN is used', () => {
    const env = { MFT_STATE_MACHINE_ARNS: arns };
    const eu = chooseInstance('mft', 'aws', 'eu', env);
    expect([eu.name, eu.env.MFT_STATE_MACHINE_ARN]).toEqual(['eu', 'arn:aws:states:eu-west-1:123456789012:stateMachine:AuditExport-mft-eu-export']);
    expect(() => chooseInstance('mft', 'aws', undefined, env)).toThrow('mft has several instances (us, eu): choose one with --instance');
    expect(() => chooseInstance('mft', 'aws', 'ap', env)).toThrow('--instance ap: no such mft instance (from MFT_STATE_MACHINE_ARNS: us, eu)');
    expect(() => chooseInstance('mft', 'aws', undefined, { MFT_STATE_MACHINE_ARNS: '["x"]' })).toThrow(/must be a JSON object of instance names/);
    // A single-object source: its one instance, and MFT_STATE_MACHINE_ARN as before.
    const single = chooseInstance('mft', 'aws', undefined, { MFT_STATE_MACHINE_ARN: 'arn:one' });
    expect([single.name, single.env.MFT_STATE_MACHINE_ARN, single.named]).toEqual(['default', 'arn:one', undefined]);
  });

  it('otherwise names come from MFT_INSTANCES, each instance’s variables from its NAME__ prefix over the shared ones', () => {
    const env = { MFT_INSTANCES: 'us,us-staging', EXPORT_BUCKET: 'b', MFT_TENANT_ID: 'shared', US_STAGING__MFT_TENANT_ID: 'acme-staging', US__MFT_TENANT_ID: 'acme-us' };
    const staging = chooseInstance('mft', 'env', 'us-staging', env);
    expect([staging.env.MFT_TENANT_ID, staging.env.EXPORT_BUCKET, staging.named]).toEqual(['acme-staging', 'b', ['us', 'us-staging']]);
    expect(chooseInstance('mft', 'env', 'us', env).env.MFT_TENANT_ID).toBe('acme-us');
    expect(() => chooseInstance('mft', 'twin', undefined, env)).toThrow('choose one with --instance');
    expect(() => chooseInstance('mft', 'env', undefined, { MFT_INSTANCES: 'US' })).toThrow(/MFT_INSTANCES must list distinct instance names/);
    expect(chooseInstance('xray', 'env', undefined, {}).name).toBe('default');
    expect(() => chooseInstance('xray', 'env', 'eu', {})).toThrow('--instance eu: no such xray instance (XRAY_INSTANCES is not set: one xray instance: default)');
  });

  it('status --instance narrows to that instance’s streams, by its tenant', () => {
    const env = { MFT_INSTANCES: 'us,eu', EU__MFT_TENANT_ID: 'acme-eu', XRAY_INSTANCES: 'saas', SAAS__XRAY_BASE_URL: 'https://acme.jfrog.io' };
    expect(instanceStreamPrefix('eu', env)).toBe('mft|acme-eu|');
    expect(instanceStreamPrefix('saas', env)).toBe('xray|acme.jfrog.io|');
    expect(() => instanceStreamPrefix('us', env)).toThrow('--instance us: set US__MFT_TENANT_ID');
    expect(() => instanceStreamPrefix('ap', env)).toThrow('no such instance');
  });

  it('run on the twin exports the chosen platform into its own folder', async () => {
    const directory = await mkdtemp(path.join(os.tmpdir(), 'cli-instances-'));
    try {
      const instance = chooseInstance('xray', 'twin', 'on-prem', { XRAY_INSTANCES: 'saas,on-prem' });
      const lines: string[] = [];
      const output = { json: true, info: (line: string) => lines.push(line), result: () => undefined };
      const twin = await startTwin({ directory, mft: {}, ...twinInstances('xray', instance) });
      try {
        const window = { start: '2026-11-01T00:00:00Z', end: '2026-11-01T02:00:00Z' };
        const summary = await runOnTarget({ source: 'xray', target: 'twin', input: { format: 'json', dryRun: false, window }, output, twin, instance });
        expect(summary.status, `${summary.error}: ${summary.cause}`).toBe('SUCCEEDED');
        const keys = await listKeys(twin.s3Client, twin.s3.bucket, 'source=');
        expect(keys.length).toBeGreaterThan(0);
        for (const key of keys) expect(key).toMatch(/^source=xray\/tenant=xray-twin-on-prem\//);
        expect(summary.events).toBe(twin.xrayInstances.find((i) => i.name === 'on-prem')!.emulator.eventIds(window).length);
      } finally {
        await twin.close();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }, 120_000);
});
