import { PutItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CHECKPOINT_TABLE_KEYS } from '../common/checkpoints.js';
import type { TimeWindow } from '../common/time-window.js';

/**
 * Which windows the scheduled verifier has hashed, in the checkpoint table under keys of their own (`pk`
 * `verified|<stream>`, `sk` `verified#<window start>`, so the verifier's role reaches no checkpoint or lease):
 * the SHA-256 of the manifest it hashed the window under. A
 * window is hashed again only when its manifest changes (a re-export added a generation); otherwise later runs
 * check presence, sizes and counts only. Records expire (TTL) a while after they leave the verified days.
 */
export class VerifiedWindows {
  constructor(
    private readonly db: DynamoDBClient,
    private readonly table: string,
  ) {}

  /** Window start → manifest SHA-256 of every window of `range` hashed before. */
  async read(stream: string, range: TimeWindow): Promise<Map<string, string>> {
    const hashed = new Map<string, string>();
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': { S: partitionKey(stream) }, ':from': { S: sortKey(range.start) }, ':to': { S: sortKey(range.end) } },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const windowStart = item.sk?.S?.slice(SORT_PREFIX.length);
        if (windowStart && item.manifestSha256?.S) hashed.set(windowStart, item.manifestSha256.S);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return hashed;
  }

  async record(stream: string, window: TimeWindow, manifestSha256: string, verifiedAtMs: number, keepDays: number): Promise<void> {
    await this.db.send(
      new PutItemCommand({
        TableName: this.table,
        Item: {
          [CHECKPOINT_TABLE_KEYS.partitionKey]: { S: partitionKey(stream) },
          [CHECKPOINT_TABLE_KEYS.sortKey]: { S: sortKey(window.start) },
          end: { S: window.end },
          manifestSha256: { S: manifestSha256 },
          verifiedAt: { S: new Date(verifiedAtMs).toISOString() },
          [CHECKPOINT_TABLE_KEYS.timeToLive]: { N: String(Math.floor(verifiedAtMs / 1000) + keepDays * 86_400) },
        },
      }),
    );
  }
}

const SORT_PREFIX = 'verified#';
/** The partition of a stream's verification records: `verified|` + the stream key. */
export const VERIFIED_PARTITION_PREFIX = 'verified|';

function partitionKey(stream: string): string {
  return `${VERIFIED_PARTITION_PREFIX}${stream}`;
}

function sortKey(instant: string): string {
  return `${SORT_PREFIX}${instant}`;
}
