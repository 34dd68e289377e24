import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from './clock.js';
import { CheckpointLedger, createLeaseJudge, type DescribeExecution } from './checkpoints.js';

/**
 * The ledger from CHECKPOINT_TABLE (and DYNAMODB_ENDPOINT for a DynamoDB-compatible local server). Inside AWS
 * (or with AWS credentials, for `audit-export status`) its lease judge asks Step Functions whether the holder
 * of a lease still runs; locally it checks the holding process and its heartbeat.
 */
export function ledgerFromEnvironment(
  env: NodeJS.ProcessEnv,
  clock: Clock,
  options: { describeExecutions?: boolean } = {},
): CheckpointLedger | undefined {
  const table = env.CHECKPOINT_TABLE;
  if (!table) return undefined;
  const db = new DynamoDBClient(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {});
  const describe = options.describeExecutions ?? Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
  return new CheckpointLedger(db, table, clock, { judge: createLeaseJudge(describe ? { describeExecution: stepFunctionsDescribe() } : {}) });
}

/** DescribeExecution through the SDK, loaded on first use (only a run that finds a foreign lease needs it). */
export function stepFunctionsDescribe(): DescribeExecution {
  let client: Promise<{ describe: DescribeExecution }> | undefined;
  const load = async () => {
    const { SFNClient, DescribeExecutionCommand } = await import('@aws-sdk/client-sfn');
    const sfn = new SFNClient({});
    const describe: DescribeExecution = async (executionArn) => {
      try {
        const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        return { status: execution.status ?? 'UNKNOWN', ...(execution.stopDate ? { stopDate: execution.stopDate } : {}) };
      } catch (error) {
        if ((error as { name?: string }).name === 'ExecutionDoesNotExist') return undefined;
        throw error;
      }
    };
    return { describe };
  };
  return async (executionArn) => (await (client ??= load())).describe(executionArn);
}
