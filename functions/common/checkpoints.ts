import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
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
 * window has been exported and its manifest written (`watermark`), the grids the stream was cut on, and the
 * leases of the executions writing its windows. Every write is conditional on the item's revision (or on
 * holding a lease), so two executions can never both claim a window, and nothing moves the watermark
 * backwards.
 *
 * Leases: every execution that writes windows (scheduled, manual, backfill) holds a lease over the range of
 * windows it writes; two leases never overlap. A lease names its holder: a Step Functions execution (AWS), or
 * a local process (its pid, host and a heartbeat). A run that finds an overlapping lease whose holder has
 * stopped takes it over and says so (see `LeaseJudge`); the expiry is a last resort only.
 *
 * Table: partition key `pk` (the stream), sort key `sk` (`checkpoint`, or `run#<finished>#<execution>`).
 */

export interface StreamRef {
  source: string;
  tenant: string;
  filtersId: string;
  format: string;
}

/** Who holds a lease, so another run can tell whether it still runs. */
export interface LeaseHolder {
  kind: 'aws' | 'local';
  /** The execution id (AWS: the execution ARN). */
  execution: string;
  /** Local: the process running the execution, and its host. */
  pid?: number;
  host?: string;
  /** Local: refreshed while the execution runs (`LOCAL_HEARTBEAT_MS`). */
  heartbeatAt?: string;
}

export interface Lease {
  /** The lease's key in the item (derived from the owner). */
  id: string;
  /** The execution id holding it. */
  owner: string;
  /** The windows it may write, [start, end); absent for a lease written before leases had ranges: all of them. */
  start?: string;
  end?: string;
  /** A last resort: past it, the lease no longer counts whoever holds it. */
  expiresAt: string;
  acquiredAt?: string;
  mode?: 'scheduled' | 'manual';
  holder?: LeaseHolder;
}

/** One grid the stream has been cut on: from `since` (null: from its beginning) until the next period. */
export interface GridPeriod {
  ms: number;
  since: string | null;
}

export interface Checkpoint {
  stream: string;
  watermark?: string;
  leases: Lease[];
  /** Oldest first; the last is the grid in effect. Empty for a checkpoint written before grids were recorded. */
  grids: GridPeriod[];
  updatedAt?: string;
  /** Bumped by every write; an acquisition is conditional on it. 0 when the item does not exist yet. */
  revision: number;
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
  /** Windows older than the source's retention that were never stored: lost for good. */
  lostToRetention?: number;
  /** Windows whose export got an answer holding less than what is stored (kept, flagged). */
  shortAnswers?: number;
}

export class LeaseLostError extends AuditExportError {
  static override readonly errorName: string = 'LeaseLostError';
}

/**
 * Judges whether a lease's holder has stopped, so its lease may be taken over. Undefined means "it may still
 * be writing": the lease is respected.
 */
export interface LeaseJudge {
  staleReason(lease: Lease, nowMs: number): Promise<string | undefined>;
}

/** What DescribeExecution says of an execution (undefined: it does not exist). */
export type DescribeExecution = (executionArn: string) => Promise<{ status: string; stopDate?: Date } | undefined>;

/** A local execution refreshes its lease's heartbeat this often… */
export const LOCAL_HEARTBEAT_MS = 30_000;
/** …and a lease whose heartbeat is older than this has lapsed: its process stopped or lost the table. */
export const LOCAL_HEARTBEAT_LAPSE_MS = 5 * 60_000;
/**
 * The longest Task timeout of both state machines (ExportPages, CopyReportToS3: 900 s). An AWS execution that
 * stopped may still have a Lambda writing for that long; its lease is taken over only after.
 */
export const LONGEST_FUNCTION_TIMEOUT_MS = 900_000;

export function streamKey(stream: StreamRef): string {
  return [stream.source, stream.tenant, stream.filtersId, stream.format].join('|');
}

/** The source a stream key names (`mft`, `xray`). */
export function sourceOfStream(stream: string): string {
  return stream.split('|')[0]!;
}

/** The lease key of an owner: short and safe as a map key whatever the execution id holds. */
export function leaseId(owner: string): string {
  return `l${createHash('sha256').update(owner).digest('hex').slice(0, 16)}`;
}

/** This process as a lease holder: an AWS execution inside Lambda, else a local process with a heartbeat. */
export function currentHolder(execution: string, nowMs: number, env: NodeJS.ProcessEnv = process.env): LeaseHolder {
  if (env.AWS_LAMBDA_FUNCTION_NAME) return { kind: 'aws', execution };
  return { kind: 'local', execution, pid: process.pid, host: hostname(), heartbeatAt: new Date(nowMs).toISOString() };
}

/** Whether a local process exists (signal 0 checks without signalling; EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The judge every ledger uses: an expired lease is stale; a local holder is stale when its process is gone
 * (same host) or its heartbeat lapsed; an AWS holder (or a lease of unknown holder named by an execution ARN)
 * when DescribeExecution shows it is not running and stopped longer ago than the longest function timeout.
 * Without DescribeExecution (outside AWS) an AWS holder is respected until its lease expires.
 */
export function createLeaseJudge(options: { describeExecution?: DescribeExecution; host?: string; alive?: (pid: number) => boolean } = {}): LeaseJudge {
  const host = options.host ?? hostname();
  const alive = options.alive ?? processAlive;
  return {
    async staleReason(lease, nowMs) {
      if (Date.parse(lease.expiresAt) <= nowMs) return `its lease expired at ${lease.expiresAt}`;
      const holder = lease.holder;
      if (holder?.kind === 'local') {
        if (holder.host === host && holder.pid !== undefined && !alive(holder.pid)) {
          return `its process ${holder.pid} on ${host} is gone`;
        }
        const beat = Date.parse(holder.heartbeatAt ?? lease.acquiredAt ?? '');
        if (!Number.isNaN(beat) && nowMs - beat > LOCAL_HEARTBEAT_LAPSE_MS) {
          return `its heartbeat lapsed (last ${new Date(beat).toISOString()}, process ${holder.pid ?? '?'} on ${holder.host ?? '?'})`;
        }
        return undefined;
      }
      const execution = holder?.execution ?? (lease.owner.startsWith('arn:') ? lease.owner : undefined);
      if (!execution || !options.describeExecution) return undefined;
      // A holder that cannot be looked up (no permission, throttled) is respected: its lease expires in the end.
      const described = await options.describeExecution(execution).catch(() => null);
      if (described === null) return undefined;
      if (!described) return `its execution ${execution} does not exist`;
      if (described.status === 'RUNNING' || described.status === 'PENDING_REDRIVE') return undefined;
      const stopped = described.stopDate?.getTime();
      if (stopped === undefined || nowMs - stopped < LONGEST_FUNCTION_TIMEOUT_MS) return undefined;
      return `its execution ended ${described.status} at ${new Date(stopped).toISOString()}`;
    },
  };
}

/** Whether two half-open ranges overlap; a lease without a range covers everything. */
export function leaseOverlaps(lease: Pick<Lease, 'start' | 'end'>, range: { start: string; end: string }): boolean {
  if (!lease.start || !lease.end) return true;
  return Date.parse(lease.start) < Date.parse(range.end) && Date.parse(range.start) < Date.parse(lease.end);
}

export interface LeaseRequest {
  owner: string;
  mode: 'scheduled' | 'manual';
  range: { start: string; end: string };
  ttlMs: number;
  holder: LeaseHolder;
}

export interface LeaseTakeover {
  lease: Lease;
  reason: string;
}

export type AcquireResult =
  | { acquired: true; checkpoint: Checkpoint; tookOver: LeaseTakeover[] }
  | { acquired: false; checkpoint: Checkpoint; heldBy: Lease };

const CHECKPOINT_SK = 'checkpoint';
const RUN_RETENTION_DAYS = 90;
/** Acquisitions that lost a race re-read and try again this many times. */
const ACQUIRE_ATTEMPTS = 5;

export class CheckpointLedger {
  readonly judge: LeaseJudge;

  constructor(
    private readonly db: DynamoDBClient,
    private readonly table: string,
    private readonly clock: Clock,
    options: { judge?: LeaseJudge } = {},
  ) {
    this.judge = options.judge ?? createLeaseJudge();
  }

  async read(stream: string): Promise<Checkpoint> {
    const result = await this.db.send(
      new GetItemCommand({ TableName: this.table, Key: key(stream, CHECKPOINT_SK), ConsistentRead: true }),
    );
    return toCheckpoint(stream, result.Item);
  }

  /**
   * Takes a lease over `request.range`, planned from `checkpoint` (as read): it fails when another live lease
   * overlaps the range, takes over overlapping leases whose holders stopped, drops expired ones, and records
   * `grids` when given. Conditional on the checkpoint's revision: when another write came in between, it
   * re-reads and returns the fresh checkpoint with `raced: true`, and the caller plans again.
   */
  async tryAcquire(
    checkpoint: Checkpoint,
    request: LeaseRequest,
    grids?: GridPeriod[],
  ): Promise<AcquireResult | { acquired: false; checkpoint: Checkpoint; raced: true }> {
    const nowMs = this.clock.now();
    const tookOver: LeaseTakeover[] = [];
    const kept: Lease[] = [];
    for (const lease of checkpoint.leases) {
      if (lease.owner === request.owner) continue; // ours (a retried PlanExport): replaced below
      if (!leaseOverlaps(lease, request.range)) {
        // Another range: kept, unless it expired (then it no longer counts and is dropped).
        if (Date.parse(lease.expiresAt) > nowMs) kept.push(lease);
        continue;
      }
      const reason = await this.judge.staleReason(lease, nowMs);
      if (!reason) return { acquired: false, checkpoint, heldBy: lease };
      tookOver.push({ lease, reason });
    }
    const lease: Lease = {
      id: leaseId(request.owner),
      owner: request.owner,
      start: request.range.start,
      end: request.range.end,
      expiresAt: iso(nowMs + request.ttlMs),
      acquiredAt: iso(nowMs),
      mode: request.mode,
      holder: request.holder,
    };
    const leases: Record<string, AttributeValue> = {};
    for (const other of kept) if (other.id !== LEGACY_LEASE_ID) leases[other.id] = { M: leaseItem(other) };
    leases[lease.id] = { M: leaseItem(lease) };
    const legacyKept = kept.some((other) => other.id === LEGACY_LEASE_ID);
    const values: Record<string, AttributeValue> = { ':leases': { M: leases }, ':now': { S: iso(nowMs) }, ':one': { N: '1' } };
    let update = 'SET leases = :leases, updatedAt = :now';
    if (grids) {
      update += ', grids = :grids';
      values[':grids'] = { L: grids.map((period) => ({ M: { ms: { N: String(period.ms) }, since: period.since ? { S: period.since } : { NULL: true } } })) };
    }
    update += ' ADD rev :one';
    if (!legacyKept && checkpoint.leases.some((other) => other.id === LEGACY_LEASE_ID)) update += ' REMOVE #legacy';
    let condition = 'attribute_not_exists(rev)';
    if (checkpoint.revision > 0) {
      condition = 'rev = :rev';
      values[':rev'] = { N: String(checkpoint.revision) };
    }
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(checkpoint.stream, CHECKPOINT_SK),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: update.includes('#legacy') ? { '#legacy': 'lease' } : undefined,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return { acquired: false, checkpoint: await this.read(checkpoint.stream), raced: true };
    }
    return { acquired: true, checkpoint: { ...checkpoint, leases: [...kept, lease], grids: grids ?? checkpoint.grids, revision: checkpoint.revision + 1 }, tookOver };
  }

  /**
   * Reads, plans and takes a lease, re-planning when another write came in between: `plan` returns the lease
   * request (and grids to record) for a checkpoint, or undefined when there is nothing to lease.
   */
  async acquire<T extends { request: LeaseRequest; grids?: GridPeriod[] }>(
    stream: string,
    plan: (checkpoint: Checkpoint) => Promise<T | undefined> | T | undefined,
  ): Promise<{ planned: T | undefined; checkpoint: Checkpoint; result?: AcquireResult }> {
    let checkpoint = await this.read(stream);
    for (let attempt = 1; ; attempt++) {
      const planned = await plan(checkpoint);
      if (!planned) return { planned, checkpoint };
      const result = await this.tryAcquire(checkpoint, planned.request, planned.grids);
      if (!('raced' in result)) return { planned, checkpoint: result.checkpoint, result };
      if (attempt >= ACQUIRE_ATTEMPTS) {
        throw new LeaseLostError(`The checkpoint of ${stream} kept changing while this run tried to take its lease (${attempt} attempts); try again`);
      }
      checkpoint = result.checkpoint;
    }
  }

  /**
   * Moves the watermark forward to `to`, never backwards, only while `owner` holds its lease. A manual run
   * (`from`) extends the exported range only if its windows start at or before the watermark, so the range
   * stays contiguous; it never starts a checkpoint.
   */
  async advance(stream: string, to: string, options: { owner: string; from?: string }): Promise<'advanced' | 'unchanged'> {
    const values: Record<string, AttributeValue> = { ':to': { S: to }, ':now': { S: iso(this.clock.now()) }, ':one': { N: '1' } };
    const names: Record<string, string> = { '#id': leaseId(options.owner) };
    let condition = 'attribute_exists(leases.#id)';
    if (options.from === undefined) {
      condition += ' AND (attribute_not_exists(watermark) OR watermark < :to)';
    } else {
      condition += ' AND watermark < :to AND watermark >= :from';
      values[':from'] = { S: options.from };
    }
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(stream, CHECKPOINT_SK),
          UpdateExpression: 'SET watermark = :to, updatedAt = :now ADD rev :one',
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return 'advanced';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = await this.read(stream);
      if (!current.leases.some((lease) => lease.owner === options.owner)) {
        const holders = current.leases.map((lease) => lease.owner).join(', ') || 'nobody';
        throw new LeaseLostError(
          `The lease of ${options.owner} on ${stream} was taken over (held now by ${holders}); ` +
            'this execution does not move the checkpoint (the windows it wrote stay valid)',
        );
      }
      return 'unchanged';
    }
  }

  /** Refreshes a local holder's heartbeat; false when the lease is no longer ours. */
  async heartbeat(stream: string, owner: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(stream, CHECKPOINT_SK),
          UpdateExpression: 'SET leases.#id.holder.heartbeatAt = :now ADD rev :one',
          ConditionExpression: 'attribute_exists(leases.#id.holder)',
          ExpressionAttributeNames: { '#id': leaseId(owner) },
          ExpressionAttributeValues: { ':now': { S: iso(this.clock.now()) }, ':one': { N: '1' } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async release(stream: string, owner: string): Promise<void> {
    const releases: { update: string; condition: string; names: Record<string, string> }[] = [
      {
        update: 'REMOVE leases.#id SET updatedAt = :now ADD rev :one',
        condition: 'attribute_exists(leases.#id)',
        names: { '#id': leaseId(owner) },
      },
      // A lease written before leases had ranges.
      { update: 'REMOVE #lease SET updatedAt = :now ADD rev :one', condition: '#lease.#owner = :owner', names: { '#lease': 'lease', '#owner': 'owner' } },
    ];
    for (const release of releases) {
      const values: Record<string, AttributeValue> = { ':now': { S: iso(this.clock.now()) }, ':one': { N: '1' } };
      if (release.condition.includes(':owner')) values[':owner'] = { S: owner };
      try {
        await this.db.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: key(stream, CHECKPOINT_SK),
            UpdateExpression: release.update,
            ConditionExpression: release.condition,
            ExpressionAttributeNames: release.names,
            ExpressionAttributeValues: values,
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // Not ours (never taken, or taken over): nothing to release.
      }
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

/** The id under which a lease written before leases had ranges (the item's `lease` attribute) is shown. */
const LEGACY_LEASE_ID = 'legacy';

function key(pk: string, sk: string): Record<string, AttributeValue> {
  return { pk: { S: pk }, sk: { S: sk } };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function leaseItem(lease: Lease): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = { owner: { S: lease.owner }, expiresAt: { S: lease.expiresAt } };
  if (lease.start) item.start = { S: lease.start };
  if (lease.end) item.end = { S: lease.end };
  if (lease.acquiredAt) item.acquiredAt = { S: lease.acquiredAt };
  if (lease.mode) item.mode = { S: lease.mode };
  if (lease.holder) {
    const holder: Record<string, AttributeValue> = { kind: { S: lease.holder.kind }, execution: { S: lease.holder.execution } };
    if (lease.holder.pid !== undefined) holder.pid = { N: String(lease.holder.pid) };
    if (lease.holder.host) holder.host = { S: lease.holder.host };
    if (lease.holder.heartbeatAt) holder.heartbeatAt = { S: lease.holder.heartbeatAt };
    item.holder = { M: holder };
  }
  return item;
}

function toLease(id: string, item: Record<string, AttributeValue>): Lease | undefined {
  const owner = item.owner?.S;
  const expiresAt = item.expiresAt?.S;
  if (!owner || !expiresAt) return undefined;
  const lease: Lease = { id, owner, expiresAt };
  if (item.start?.S) lease.start = item.start.S;
  if (item.end?.S) lease.end = item.end.S;
  if (item.acquiredAt?.S) lease.acquiredAt = item.acquiredAt.S;
  if (item.mode?.S === 'scheduled' || item.mode?.S === 'manual') lease.mode = item.mode.S;
  const holder = item.holder?.M;
  if (holder?.execution?.S && (holder.kind?.S === 'aws' || holder.kind?.S === 'local')) {
    lease.holder = { kind: holder.kind.S, execution: holder.execution.S };
    if (holder.pid?.N) lease.holder.pid = Number(holder.pid.N);
    if (holder.host?.S) lease.holder.host = holder.host.S;
    if (holder.heartbeatAt?.S) lease.holder.heartbeatAt = holder.heartbeatAt.S;
  }
  return lease;
}

function toCheckpoint(stream: string, item: Record<string, AttributeValue> | undefined): Checkpoint {
  const checkpoint: Checkpoint = { stream, leases: [], grids: [], revision: Number(item?.rev?.N ?? 0) };
  if (item?.watermark?.S) checkpoint.watermark = item.watermark.S;
  if (item?.updatedAt?.S) checkpoint.updatedAt = item.updatedAt.S;
  for (const [id, value] of Object.entries(item?.leases?.M ?? {})) {
    const lease = value.M ? toLease(id, value.M) : undefined;
    if (lease) checkpoint.leases.push(lease);
  }
  const legacy = item?.lease?.M ? toLease(LEGACY_LEASE_ID, item.lease.M) : undefined;
  if (legacy) checkpoint.leases.push(legacy);
  for (const period of item?.grids?.L ?? []) {
    const ms = Number(period.M?.ms?.N);
    if (Number.isFinite(ms) && ms > 0) checkpoint.grids.push({ ms, since: period.M?.since?.S ?? null });
  }
  return checkpoint;
}

export const CHECKPOINT_TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk', timeToLive: 'expiresAt' } as const;
