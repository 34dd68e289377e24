import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import type { Clock } from './clock.js';
import { AuditExportError } from './errors.js';

/**
 * The checkpoint ledger: per stream (source, tenant, filter set, format) the instant up to which every
 * window has been exported and its manifest written (`watermark`), and a lease that lets only one
 * scheduled execution at a time advance it. Writes are conditional, so two overlapping executions can
 * never both move the watermark, and nothing ever moves it backwards.
 *
 * Table: partition key `pk` (the stream), sort key `sk` (`checkpoint`, or `run#<finished>#<execution>`).
 */

export interface StreamRef {
  source: string;
  tenant: string;
  filtersId: string;
  format: string;
}

export interface Lease {
  owner: string;
  expiresAt: string;
}

export interface Checkpoint {
  stream: string;
  watermark?: string;
  lease?: Lease;
  updatedAt?: string;
}

export interface RunRecord {
  executionId: string;
  mode: 'scheduled' | 'manual';
  status: 'SUCCEEDED' | 'FAILED' | 'PARTIAL';
  windows: number;
  failedWindows: number;
  window?: { start: string; end: string };
  watermarkBefore?: string;
  watermarkAfter?: string;
  finishedAt: string;
  error?: string;
}

export class LeaseLostError extends AuditExportError {
  static override readonly errorName: string = 'LeaseLostError';
}

export function streamKey(stream: StreamRef): string {
  return [stream.source, stream.tenant, stream.filtersId, stream.format].join('|');
}

const CHECKPOINT_SK = 'checkpoint';
const RUN_RETENTION_DAYS = 90;

export class CheckpointLedger {
  constructor(
    private readonly db: DynamoDBClient,
    private readonly table: string,
    private readonly clock: Clock,
  ) {}

  async read(stream: string): Promise<Checkpoint> {
    const result = await this.db.send(
      new GetItemCommand({ TableName: this.table, Key: key(stream, CHECKPOINT_SK), ConsistentRead: true }),
    );
    return toCheckpoint(stream, result.Item);
  }

  /** Takes the stream's lease unless another live execution holds it. */
  async acquireLease(stream: string, owner: string, ttlMs: number): Promise<{ acquired: boolean; checkpoint: Checkpoint }> {
    const now = this.clock.now();
    try {
      const result = await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(stream, CHECKPOINT_SK),
          UpdateExpression: 'SET #lease = :lease, updatedAt = :now',
          ConditionExpression: 'attribute_not_exists(#lease) OR #lease.expiresAt < :now OR #lease.#owner = :owner',
          ExpressionAttributeNames: { '#lease': 'lease', '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':lease': { M: { owner: { S: owner }, expiresAt: { S: iso(now + ttlMs) } } },
            ':now': { S: iso(now) },
            ':owner': { S: owner },
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { acquired: true, checkpoint: toCheckpoint(stream, result.Attributes) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return { acquired: false, checkpoint: await this.read(stream) };
    }
  }

  /**
   * Moves the watermark forward to `to`, never backwards. With an `owner` (a scheduled run) the lease
   * must still be ours; without (a manual run) the window must touch the current watermark, so the
   * exported range stays contiguous.
   */
  async advance(stream: string, to: string, options: { owner?: string; from?: string }): Promise<'advanced' | 'unchanged'> {
    const values: Record<string, AttributeValue> = { ':to': { S: to }, ':now': { S: iso(this.clock.now()) } };
    const names: Record<string, string> = {};
    let condition = '(attribute_not_exists(watermark) OR watermark < :to)';
    if (options.owner) {
      condition += ' AND #lease.#owner = :owner';
      names['#lease'] = 'lease';
      names['#owner'] = 'owner';
      values[':owner'] = { S: options.owner };
    } else {
      // A manual window extends the exported range only if it starts at or before the watermark.
      condition += ' AND watermark >= :from';
      values[':from'] = { S: options.from ?? to };
    }
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(stream, CHECKPOINT_SK),
          UpdateExpression: 'SET watermark = :to, updatedAt = :now',
          ConditionExpression: condition,
          ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
          ExpressionAttributeValues: values,
        }),
      );
      return 'advanced';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = await this.read(stream);
      if (options.owner && current.lease?.owner !== options.owner) {
        throw new LeaseLostError(
          `The checkpoint of ${stream} is leased by ${current.lease?.owner ?? 'nobody'} now, not ${options.owner}; ` +
            'this execution outlived its lease and does not advance it (the data it wrote stays valid)',
        );
      }
      return 'unchanged';
    }
  }

  async release(stream: string, owner: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(stream, CHECKPOINT_SK),
          UpdateExpression: 'REMOVE #lease SET updatedAt = :now',
          ConditionExpression: '#lease.#owner = :owner',
          ExpressionAttributeNames: { '#lease': 'lease', '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': { S: owner }, ':now': { S: iso(this.clock.now()) } },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Not ours any more (expired and taken over): nothing to release.
    }
  }

  async recordRun(stream: string, run: RunRecord): Promise<void> {
    const expires = Math.floor(this.clock.now() / 1000) + RUN_RETENTION_DAYS * 86_400;
    await this.db.send(
      new PutItemCommand({
        TableName: this.table,
        Item: {
          ...key(stream, `run#${run.finishedAt}#${run.executionId.split(':').pop()}`),
          run: { S: JSON.stringify(run) },
          expiresAt: { N: String(expires) },
        },
      }),
    );
  }

  async recentRuns(stream: string, limit = 5): Promise<RunRecord[]> {
    const result = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :run)',
        ExpressionAttributeValues: { ':pk': { S: stream }, ':run': { S: 'run#' } },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (result.Items ?? []).map((item) => JSON.parse(item.run?.S ?? '{}') as RunRecord);
  }

  /** Every stream's checkpoint (the table is small: one item per stream plus recent runs). */
  async checkpoints(): Promise<Checkpoint[]> {
    const checkpoints: Checkpoint[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'sk = :sk',
          ExpressionAttributeValues: { ':sk': { S: CHECKPOINT_SK } },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) checkpoints.push(toCheckpoint(item.pk!.S!, item));
      start = page.LastEvaluatedKey;
    } while (start);
    return checkpoints.sort((a, b) => a.stream.localeCompare(b.stream));
  }
}

function key(pk: string, sk: string): Record<string, AttributeValue> {
  return { pk: { S: pk }, sk: { S: sk } };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function toCheckpoint(stream: string, item: Record<string, AttributeValue> | undefined): Checkpoint {
  const checkpoint: Checkpoint = { stream };
  if (item?.watermark?.S) checkpoint.watermark = item.watermark.S;
  if (item?.updatedAt?.S) checkpoint.updatedAt = item.updatedAt.S;
  const lease = item?.lease?.M;
  if (lease?.owner?.S && lease.expiresAt?.S) checkpoint.lease = { owner: lease.owner.S, expiresAt: lease.expiresAt.S };
  return checkpoint;
}

export const CHECKPOINT_TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk', timeToLive: 'expiresAt' } as const;
