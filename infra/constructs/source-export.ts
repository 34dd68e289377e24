import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ArnFormat, Duration, Fn, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { stateMachineName, type AuditExportConfig } from '../config.js';
import { createAuditFunction } from './audit-function.js';
import type { ExportStorage } from './export-storage.js';
import type { ExportNetwork } from './network.js';

/** One row of a source's function table (e.g. MFT_FUNCTIONS): the ASL placeholder it fills → id and entry file. */
/** What the stack hands each source (infra/sources/*.ts). */
export interface SourceProps<I = unknown> {
  readonly config: AuditExportConfig;
  /** The instance of the source this construct deploys (config `sources.<source>`, one of its list). */
  readonly instance: I;
  /** Several instances of this source are deployed: their metrics carry an `Instance` dimension. */
  readonly several: boolean;
  readonly projectRoot: string;
  readonly storage: ExportStorage;
  readonly alarmTopic: sns.ITopic;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Fixed egress addresses for the functions that call the vendor (config `network`); absent = no VPC. */
  readonly network?: ExportNetwork;
}

export interface SourceFunctionSpec {
  readonly id: string;
  /** Handler file, relative to the project root. */
  readonly entry: string;
}

/** What one function of the table gets beyond the defaults. */
export interface SourceFunctionSettings {
  readonly memorySize?: number;
  readonly timeout?: Duration;
  /** Extra environment, merged over the source's shared environment. */
  readonly environment?: Record<string, string>;
  /** The function's permissions beyond writing its own logs and traces: exactly these statements. */
  readonly statements?: iam.PolicyStatement[];
  /** cdk-nag findings on this function's role, each with the reason it is acceptable. */
  readonly acknowledge?: { id: string; reason: string }[];
  /** It calls the vendor: with a network configured it runs in the VPC, so its requests leave from fixed addresses. */
  readonly callsVendor?: boolean;
}

export interface SourceExportProps<P extends string> {
  /** Short source name (`mft`, `xray`): names, the checkpoint-lag dimension. */
  readonly source: string;
  /** The instance's name when the source lists instances (it joins the names); absent for the single-object form. */
  readonly instance?: string;
  /** The ASL file both the local twin and AWS run; relative paths are resolved against projectRoot. */
  readonly aslFile: string;
  /** Placeholder (without `${}`) → function. Every placeholder the ASL uses must be here. */
  readonly functions: Readonly<Record<P, SourceFunctionSpec>>;
  /** The repository root: the esbuild working directory, holding package-lock.json. */
  readonly projectRoot: string;
  /** Environment every function of the source gets. */
  readonly environment: Record<string, string>;
  readonly functionSettings?: Partial<Record<P, SourceFunctionSettings>>;
  /** EventBridge Scheduler expression. */
  readonly schedule: string;
  /** Execution input of a scheduled run. */
  readonly scheduleInput?: Record<string, unknown>;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Failed and timed-out executions alarm here. */
  readonly alarmTopic: sns.ITopic;
  /** Where the functions marked `callsVendor` run; absent = outside any VPC. */
  readonly network?: ExportNetwork;
}

/** Lambda defaults: API calls are short; a function that moves data gets more (see functionSettings). */
const DEFAULT_MEMORY_MB = 256;
const DEFAULT_TIMEOUT = Duration.minutes(2);

/**
 * One export source in AWS: a NodejsFunction per row of its function table, the state machine from its ASL
 * file with each `${Placeholder}` replaced by that function's ARN, a schedule that starts it, and an alarm on
 * failed or timed-out executions. Each function gets its own role holding only its log group, X-Ray and the
 * statements passed for it.
 */
export class SourceExport<P extends string> extends Construct {
  readonly functions: Record<P, NodejsFunction>;
  readonly stateMachine: sfn.StateMachine;
  readonly schedule: scheduler.Schedule;
  readonly executionsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: SourceExportProps<P>) {
    super(scope, id);
    const aslPath = isAbsolute(props.aslFile) ? props.aslFile : join(props.projectRoot, props.aslFile);
    assertPlaceholdersMatch(aslPath, Object.keys(props.functions));

    this.functions = {} as Record<P, NodejsFunction>;
    for (const placeholder of Object.keys(props.functions) as P[]) {
      const spec = props.functions[placeholder];
      const settings: SourceFunctionSettings = props.functionSettings?.[placeholder] ?? {};
      this.functions[placeholder] = this.createFunction(spec, settings, props);
    }

    const name = stateMachineName(Stack.of(this).stackName, props.source, props.instance);
    const label = props.instance === undefined ? props.source : `${props.source} ${props.instance}`;
    // Under /aws/vendedlogs/ (one CloudWatch Logs resource policy covers every such group), and unique per stack:
    // a retained group of a deleted stack must not make the next deployment fail with "already exists". The
    // suffix is the first block of the stack id's UUID, which a new stack of the same name does not share.
    const stackIdSuffix = Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Stack.of(this).stackId))));
    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${name}-${stackIdSuffix}`,
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(aslPath),
      definitionSubstitutions: Object.fromEntries(
        (Object.keys(this.functions) as P[]).map((placeholder) => [placeholder, this.functions[placeholder].functionArn]),
      ),
      // ALL events, but never the execution input/output: it holds sealed tokens and report ids only, yet
      // the log group is readable by more people than the execution history.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // Exactly the unqualified function ARNs the ASL names (grantInvoke would add `<arn>:*` for versions).
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'InvokeTaskFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: (Object.keys(this.functions) as P[]).map((placeholder) => this.functions[placeholder].functionArn),
      }),
    );
    Validations.of(this.stateMachine).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Added by CDK for state machine logging and tracing: the CloudWatch Logs delivery APIs (logs:CreateLogDelivery, ' +
          'logs:*LogDelivery*, logs:PutResourcePolicy, logs:DescribeResourcePolicies, logs:DescribeLogGroups) and ' +
          'xray:PutTraceSegments/PutTelemetryRecords/GetSamplingRules/GetSamplingTargets support no resource-level permissions.',
      },
    );

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Starts the ${label} audit export (scheduled run: the window ends now)`,
      schedule: scheduler.ScheduleExpression.expression(props.schedule),
      target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject(props.scheduleInput ?? {}),
        retryAttempts: 2,
      }),
    });

    const failures = new cloudwatch.MathExpression({
      label: 'Failed or timed-out executions',
      expression: 'failed + timedOut',
      usingMetrics: {
        failed: this.stateMachine.metricFailed({ statistic: 'Sum', period: Duration.minutes(5) }),
        timedOut: this.stateMachine.metricTimedOut({ statistic: 'Sum', period: Duration.minutes(5) }),
      },
      period: Duration.minutes(5),
    });
    this.executionsAlarm = new cloudwatch.Alarm(this, 'ExecutionsFailedAlarm', {
      alarmDescription: `An ${label} audit export execution failed or timed out; see the execution history of ${this.stateMachine.node.path}`,
      metric: failures,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.executionsAlarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
  }

  private createFunction(spec: SourceFunctionSpec, settings: SourceFunctionSettings, props: SourceExportProps<P>) {
    return createAuditFunction(this, {
      id: spec.id,
      entry: spec.entry,
      description: `audit-export ${props.instance === undefined ? props.source : `${props.source} ${props.instance}`}: ${spec.entry}`,
      projectRoot: props.projectRoot,
      memorySize: settings.memorySize ?? DEFAULT_MEMORY_MB,
      timeout: settings.timeout ?? DEFAULT_TIMEOUT,
      environment: { ...props.environment, ...settings.environment },
      statements: settings.statements ?? [],
      acknowledge: settings.acknowledge ?? [],
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      ...(props.network && settings.callsVendor ? { placement: props.network.placement() } : {}),
    });
  }
}

/**
 * PlanExport's look at the executions of its own state machine: a lease held by an execution that has ended is
 * taken over at once (functions/common/checkpoints.ts, LeaseJudge), not only when it expires. Named by the state
 * machine's fixed name: an ARN taken from the state machine would make its functions depend on it, and it on them.
 */
export function describeOwnExecutions(scope: Construct, source: string, instance?: string): { statement: iam.PolicyStatement; acknowledge: { id: string; reason: string } } {
  const stack = Stack.of(scope);
  const executions = `execution:${stateMachineName(stack.stackName, source, instance)}:*`;
  const statement = new iam.PolicyStatement({
    sid: 'JudgeLeaseHolders',
    actions: ['states:DescribeExecution'],
    resources: [stack.formatArn({ service: 'states', resource: executions, arnFormat: ArnFormat.NO_RESOURCE_NAME })],
  });
  // cdk-nag names the resource as synthesized: the partition, region and account resolved, or as pseudo parameters.
  const shown = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value);
  const arn = `arn:${shown(stack.partition, 'Partition')}:states:${shown(stack.region, 'Region')}:${shown(stack.account, 'AccountId')}:${executions}`;
  return {
    statement,
    acknowledge: {
      id: `AwsSolutions-IAM5[Resource::${arn}]`,
      reason: 'Execution names are chosen at start time; DescribeExecution only, and only on executions of this source\'s state machine.',
    },
  };
}

/**
 * Fails synth when the ASL file and the function table disagree: a placeholder without a function would reach
 * Step Functions as a literal `${…}` (the deploy fails late), and a function no state calls is dead weight.
 */
export function assertPlaceholdersMatch(aslPath: string, placeholders: readonly string[]): void {
  const used = new Set([...readFileSync(aslPath, 'utf8').matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]!));
  const missing = [...used].filter((name) => !placeholders.includes(name));
  const unused = placeholders.filter((name) => !used.has(name));
  if (missing.length || unused.length) {
    throw new Error(
      `${aslPath} and its function table disagree: ` +
        [missing.length ? `no function for \${${missing.join('}, ${')}}` : '', unused.length ? `not used by the ASL: ${unused.join(', ')}` : '']
          .filter(Boolean)
          .join('; '),
    );
  }
}
