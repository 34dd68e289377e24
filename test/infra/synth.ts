import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, PROJECT_ROOT } from '../../infra/app.js';
import type { AuditExportStack } from '../../infra/audit-export-stack.js';
import { parseConfig, type AuditExportConfig, type AuditExportConfigInput } from '../../infra/config.js';

/** Fixed account and region, so ARNs and conditions are concrete. */
export const TEST_ENV = { account: '123456789012', region: 'eu-west-1' };

/** The configuration shipped in cdk.json (what a fresh clone deploys), pinned to TEST_ENV. */
export function defaultConfig(): AuditExportConfigInput {
  return { ...(cdkJsonContext()['audit-export'] as AuditExportConfigInput), env: TEST_ENV };
}

/** The context of cdk.json (feature flags and the default configuration), as `cdk synth` sees it. */
export function cdkJsonContext(): Record<string, unknown> {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
}

export interface Synthesized {
  app: App;
  stack: AuditExportStack;
  config: AuditExportConfig;
  template: Template;
  /** The cloud assembly directory (for file assets such as the ASL definition). */
  assemblyDir: string;
}

/**
 * Synthesizes the stack as `cdk synth` would, but without esbuild bundling (`aws:cdk:bundling-stacks` = []):
 * the tests look at the template; `npm run synth` does the real bundling. The cdk-nag plugin is registered by
 * buildApp, so this also fails on any unacknowledged finding.
 */
export function synthesize(config?: AuditExportConfigInput): Synthesized {
  const context = { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] };
  const parsed = config ? parseConfig(config) : undefined;
  const { app, stack, config: resolved } = buildApp({ context }, parsed);
  const assembly = app.synth();
  const template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>);
  return { app, stack, config: resolved, template, assemblyDir: assembly.directory };
}

