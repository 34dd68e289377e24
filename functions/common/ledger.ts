import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from './clock.js';
import { CheckpointLedger } from './checkpoints.js';

/** The ledger from CHECKPOINT_TABLE (and DYNAMODB_ENDPOINT for a DynamoDB-compatible local server). */
export function ledgerFromEnvironment(env: NodeJS.ProcessEnv, clock: Clock): CheckpointLedger | undefined {
  const table = env.CHECKPOINT_TABLE;
  if (!table) return undefined;
  const db = new DynamoDBClient(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {});
  return new CheckpointLedger(db, table, clock);
}
