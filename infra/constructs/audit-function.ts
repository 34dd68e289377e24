import { join } from 'node:path';
import { Stack, Validations, type Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionPlacement } from './network.js';

export interface AuditFunctionProps {
  /** Construct id of the function; its log group is `<id>Logs`, its role `<id>Role` (same scope). */
  readonly id: string;
  /** Handler file (exports `handler`), relative to projectRoot. */
  readonly entry: string;
  readonly description: string;
  /** The repository root: the esbuild working directory, holding package-lock.json. */
  readonly projectRoot: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  /** The function's permissions beyond writing its own logs and traces: exactly these statements. */
  readonly statements: readonly iam.PolicyStatement[];
  /** cdk-nag findings on this function's role, each with the reason it is acceptable. */
  readonly acknowledge: readonly { id: string; reason: string }[];
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Run in these private subnets (a function that calls a vendor, when the network setting is on). */
  readonly placement?: FunctionPlacement;
}

/**
 * A Lambda as every audit-export function is built: Node.js 22 on arm64, ESM bundled and minified by the local
 * esbuild (AWS SDK included, as locked), active tracing, its own log group, and its own role that holds only that
 * log group's streams, X-Ray and the statements given (no managed policies).
 */
export function createAuditFunction(scope: Construct, props: AuditFunctionProps): NodejsFunction {
  const logGroup = new logs.LogGroup(scope, `${props.id}Logs`, {
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  // Its own role, without the AWSLambdaBasicExecutionRole managed policy (which allows every log group).
  const role = new iam.Role(scope, `${props.id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Execution role of the ${props.id} Lambda (audit-export)`,
  });
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'WriteOwnLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [`${logGroup.logGroupArn}:*`],
    }),
  );
  for (const statement of [...props.statements, ...(props.placement?.statements ?? [])]) role.addToPolicy(statement);

  const fn = new NodejsFunction(scope, props.id, {
    description: props.description,
    entry: join(props.projectRoot, props.entry),
    handler: 'handler',
    projectRoot: props.projectRoot,
    depsLockFilePath: join(props.projectRoot, 'package-lock.json'),
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySize,
    timeout: props.timeout,
    role,
    logGroup,
    tracing: lambda.Tracing.ACTIVE,
    // No --enable-source-maps: it makes every cold start import ~40% slower (npm run bench), and our errors
    // say what failed in words rather than relying on stack traces.
    environment: props.environment,
    ...(props.placement
      ? { vpc: props.placement.vpc, vpcSubnets: { subnets: props.placement.subnets }, securityGroups: [props.placement.securityGroup] }
      : {}),
    bundling: {
      forceDockerBundling: false,
      minify: true,
      sourceMap: false,
      format: OutputFormat.ESM,
      target: 'node22',
      mainFields: ['module', 'main'],
      // Bundle the AWS SDK too: the versions in package-lock.json are the ones the tests ran against.
      externalModules: [],
      // Some CommonJS dependencies call require(); give the ESM bundle one.
      banner: "import { createRequire as __auditExportCreateRequire } from 'node:module'; const require = __auditExportCreateRequire(import.meta.url);",
    },
  });
  // The log statement targets the group's ARN (a token), so CDK cannot see it as an exact resource.
  Validations.of(role).acknowledge(
    {
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(scope).getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>:*]`,
      reason: 'logs:CreateLogStream/PutLogEvents on the streams of this function\'s own log group only; stream names are chosen by Lambda at run time.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing (tracing: ACTIVE): xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.' +
        (props.placement ? ' In a VPC also ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets, which support none either.' : ''),
    },
  );
  for (const ack of [...props.acknowledge, ...(props.placement ? [props.placement.acknowledge] : [])]) Validations.of(role).acknowledge(ack);
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason: 'Node.js 22 is the runtime this project pins (package.json `node` devDependency) and tests against; move with the pin.',
  });
  return fn;
}
