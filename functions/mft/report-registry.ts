import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { Clock } from '../common/clock.js';
import type { TimeWindow } from '../common/time-window.js';

/**
 * What the exporter knows of the reports it created: every id is recorded the moment the create answer
 * arrives, and forgotten when the report is deleted. Housekeeping and `reports cleanup` delete what is still
 * recorded once no execution can own it any more, whatever the vendor's list shows (or leaves out).
 *
 * Items live in the checkpoint table under their own partition key, one partition per tenant:
 * `pk = mft-reports|<tenant>`, `sk = report#<id>`, with `createdAt`, `window`, `executionId`, `type`, and a TTL
 * (`expiresAt`) long after any housekeeping pass would have deleted the report.
 */

export const REPORT_REGISTRY_PREFIX = 'mft-reports|';
const REPORT_SK_PREFIX = 'report#';
/** A record outlives its report by far: housekeeping deletes a stale report within hours. */
const RECORD_RETENTION_DAYS = 30;

export interface RecordedReport {
  id: string;
  /** When the create answer arrived (ISO-8601). */
  createdAt: string;
  window?: TimeWindow;
  executionId?: string;
  type?: string;
  /** The first status the exporter did not recognize, once it has warned about it. */
  unrecognizedStatus?: string;
}

export class ReportRegistry {
  constructor(
    private readonly db: DynamoDBClient,
    private readonly table: string,
    private readonly clock: Clock,
  ) {}

  static partitionKey(tenant: string): string {
    return `${REPORT_REGISTRY_PREFIX}${tenant}`;
  }

  async record(tenant: string, report: RecordedReport): Promise<void> {
    const item: Record<string, AttributeValue> = {
      ...key(tenant, report.id),
      reportId: { S: report.id },
      createdAt: { S: report.createdAt },
      expiresAt: { N: String(this.expiry()) },
    };
    if (report.window) item.window = { M: { start: { S: report.window.start }, end: { S: report.window.end } } };
    if (report.executionId) item.executionId = { S: report.executionId };
    if (report.type) item.type = { S: report.type };
    await this.db.send(new PutItemCommand({ TableName: this.table, Item: item }));
  }

  /**
   * Notes that `status` was not recognized for this report; true the first time only (so the poll warns once per
   * report, whichever container runs it). A report polled without a record (created before records were kept)
   * gets one: it is ours, since only our executions poll it.
   */
  async markUnrecognizedStatus(tenant: string, id: string, status: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(tenant, id),
          UpdateExpression:
            'SET unrecognizedStatus = :status, reportId = if_not_exists(reportId, :id), createdAt = if_not_exists(createdAt, :now), expiresAt = if_not_exists(expiresAt, :expires)',
          ConditionExpression: 'attribute_not_exists(unrecognizedStatus)',
          ExpressionAttributeValues: {
            ':status': { S: status },
            ':id': { S: id },
            ':now': { S: new Date(this.clock.now()).toISOString() },
            ':expires': { N: String(this.expiry()) },
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async forget(tenant: string, id: string): Promise<void> {
    await this.db.send(new DeleteItemCommand({ TableName: this.table, Key: key(tenant, id) }));
  }

  /** Every recorded report of the tenant, oldest record first. */
  async list(tenant: string): Promise<RecordedReport[]> {
    const reports: RecordedReport[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :report)',
          ExpressionAttributeValues: { ':pk': { S: ReportRegistry.partitionKey(tenant) }, ':report': { S: REPORT_SK_PREFIX } },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) reports.push(fromItem(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return reports.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  private expiry(): number {
    return Math.floor(this.clock.now() / 1000) + RECORD_RETENTION_DAYS * 86_400;
  }
}

function key(tenant: string, id: string): Record<string, AttributeValue> {
  return { pk: { S: ReportRegistry.partitionKey(tenant) }, sk: { S: `${REPORT_SK_PREFIX}${id}` } };
}

function fromItem(item: Record<string, AttributeValue>): RecordedReport {
  const report: RecordedReport = {
    id: item.reportId?.S ?? item.sk!.S!.slice(REPORT_SK_PREFIX.length),
    createdAt: item.createdAt?.S ?? new Date(0).toISOString(),
  };
  const window = item.window?.M;
  if (window?.start?.S && window.end?.S) report.window = { start: window.start.S, end: window.end.S };
  if (item.executionId?.S) report.executionId = item.executionId.S;
  if (item.type?.S) report.type = item.type.S;
  if (item.unrecognizedStatus?.S) report.unrecognizedStatus = item.unrecognizedStatus.S;
  return report;
}
