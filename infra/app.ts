import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AuditExportStack } from './audit-export-stack.js';
import { AuditExportConfigError, loadConfig, type AuditExportConfig } from './config.js';

/** The repository root: where package-lock.json, functions/ and state-machines/ are. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BuiltApp {
  app: App;
  stack: AuditExportStack;
  config: AuditExportConfig;
}

/**
 * Builds the CDK app: reads and validates the configuration, creates the stack and registers the cdk-nag
 * AwsSolutions checks, which run on every synth and fail it on any unacknowledged finding.
 */
export function buildApp(props: AppProps = {}, config?: AuditExportConfig): BuiltApp {
  const app = new App(props);
  const resolved = config ?? loadConfig((key) => app.node.tryGetContext(key));
  const stack = new AuditExportStack(app, resolved.stackName, {
    config: resolved,
    projectRoot: PROJECT_ROOT,
    description: 'audit-export: exports SaaS audit logs (Progress MFT, JFrog Xray) into S3 with Step Functions',
    env: {
      account: resolved.env.account ?? process.env.CDK_DEFAULT_ACCOUNT,
      region: resolved.env.region ?? process.env.CDK_DEFAULT_REGION,
    },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, config: resolved };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    buildApp().app.synth();
  } catch (error) {
    if (error instanceof AuditExportConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
