import { DescribeExecutionCommand, ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { ConfigError } from '../functions/common/errors.js';
import { sleep } from '../functions/common/clock.js';
import { addOutcome, tellOutcome, type RunSummary } from './run-target.js';
import type { Output } from './usage.js';

export const ARN_VARIABLES: Record<string, string> = { mft: 'MFT_STATE_MACHINE_ARN', xray: 'XRAY_STATE_MACHINE_ARN' };

/** Starts an execution of the deployed state machine and follows it until it ends. */
export async function startAwsExecution(
  source: 'mft' | 'xray',
  input: unknown,
  output: Output,
  executionName?: string,
  sfn: SFNClient = new SFNClient({}),
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunSummary> {
  const variable = ARN_VARIABLES[source]!;
  const stateMachineArn = env[variable];
  if (!stateMachineArn) {
    throw new ConfigError(`${variable} is not set: export it from the stack outputs (see README, "Deploy")`);
  }
  const started = Date.now();
  let executionArn: string | undefined;
  try {
    ({ executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input), name: executionName })));
    output.info(`started ${executionArn}`);
  } catch (error) {
    if (!(error instanceof ExecutionAlreadyExists) || !executionName) throw error;
    // The same backfill was started before: follow that execution instead of starting another.
    executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
    output.info(`already started earlier: ${executionArn}`);
  }
  for (;;) {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') {
      const out = execution.output ? (JSON.parse(execution.output) as Record<string, any>) : {};
      const summary: RunSummary = {
        source,
        status: execution.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED',
        target: 'aws',
        executionArn: executionArn!,
        objects: out.objects ?? (out.object ? [out.object] : []),
        durationMs: Date.now() - started,
      };
      if (out.window) summary.window = out.window;
      if (out.reportId) summary.reportId = out.reportId;
      addOutcome(summary, out);
      tellOutcome(summary, output);
      if (execution.error) summary.error = execution.error;
      if (execution.cause) summary.cause = execution.cause;
      return summary;
    }
    output.info(`execution ${execution.status?.toLowerCase()}…`);
    await sleep(5000);
  }
}
