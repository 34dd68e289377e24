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


export interface SynthesizedStateMachine {
  logicalId: string;
  name: string;
  /** The definition Step Functions receives: the staged ASL file with every substitution applied. */
  definition: Record<string, unknown>;
  /** Function ARN in the definition → that function's logical id. */
  functions: Record<string, string>;
}

/**
 * Every state machine of a synthesized stack as deployed: the definition file from the cloud assembly, each
 * `${Placeholder}` replaced by the value CloudFormation gives its substitution (a GetAtt of a function's ARN
 * becomes `arn:aws:lambda:<region>:<account>:function:<logicalId>`).
 */
export function synthesizedStateMachines(s: Synthesized): SynthesizedStateMachine[] {
  const resources = s.template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  const manifest = JSON.parse(readFileSync(join(s.assemblyDir, `${s.stack.artifactId}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string }; destinations: Record<string, { objectKey: string }> }>;
  };
  const assetPath = (objectKey: string) => {
    const file = Object.values(manifest.files).find((f) => Object.values(f.destinations).some((d) => d.objectKey === objectKey));
    if (!file) throw new Error(`no asset with key ${objectKey}`);
    return join(s.assemblyDir, file.source.path);
  };
  return Object.entries(resources)
    .filter(([, resource]) => resource.Type === 'AWS::StepFunctions::StateMachine')
    .map(([logicalId, resource]) => {
      const functions: Record<string, string> = {};
      const values: Record<string, string> = {};
      for (const [placeholder, value] of Object.entries(resource.Properties.DefinitionSubstitutions as Record<string, unknown>)) {
        const [functionId, attribute] = (value as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
        if (attribute !== 'Arn' || resources[functionId]?.Type !== 'AWS::Lambda::Function') throw new Error(`${placeholder} is not a function ARN`);
        const arn = `arn:aws:lambda:${TEST_ENV.region}:${TEST_ENV.account}:function:${functionId}`;
        values[placeholder] = arn;
        functions[arn] = functionId;
      }
      const text = readFileSync(assetPath(resource.Properties.DefinitionS3Location.Key), 'utf8').replace(
        /\$\{(\w+)\}/g,
        (match, name: string) => values[name] ?? match,
      );
      return { logicalId, name: resource.Properties.StateMachineName as string, definition: JSON.parse(text) as Record<string, unknown>, functions };
    });
}
