/**
 * The CSV export: one row per (event, policy), RFC 4180 quoting, CRLF line ends. The columns are those of the
 * native CSV as a public client that matches it lists them (specs, "Facts from JFrog's other public pages"):
 * some are named differently from the JSON fields (`curated_repo_name` for `curated_repository_name`, …).
 */
import type { AuditEvent, PolicyHit } from './types.js';

/** CSV column → the event's JSON field. */
const EVENT_COLUMNS = [
  ['id', 'id'],
  ['created_at', 'created_at'],
  ['action', 'action'],
  ['reason', 'reason'],
  ['package_type', 'package_type'],
  ['package_name', 'package_name'],
  ['package_version', 'package_version'],
  ['package_url', 'package_url'],
  ['curated_repo_server_name', 'curated_repository_server_name'],
  ['curated_repo_name', 'curated_repository_name'],
  ['curated_repo_project_key', 'curated_project'],
  ['user_name', 'username'],
  ['user_mail', 'user_mail'],
  ['origin_repo_server_name', 'origin_repository_server_name'],
  ['origin_repo_name', 'origin_repository_name'],
  ['origin_repo_project_key', 'origin_project'],
  ['public_repo_name', 'public_repo_name'],
  ['public_repo_url', 'public_repo_url'],
  ['ecosystem', 'ecosystem'],
  ['ondemand', 'ondemand'],
] as const satisfies readonly (readonly [string, keyof AuditEvent])[];

const POLICY_COLUMNS = [
  'policy_id', 'policy_name', 'condition_name', 'condition_category', 'dry_run', 'result', 'policy_reason',
] as const satisfies readonly (keyof PolicyHit)[];

export const CSV_COLUMNS: readonly string[] = [...EVENT_COLUMNS.map(([column]) => column), ...POLICY_COLUMNS];

export function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** An event without policies (none, or null) still gets one row, with empty policy columns. */
export function csvRows(event: AuditEvent): string[] {
  const eventPart = EVENT_COLUMNS.map(([, field]) => csvField(event[field] as string | number | boolean)).join(',');
  const policies = event.policies ?? [];
  if (policies.length === 0) return [eventPart + ','.repeat(POLICY_COLUMNS.length)];
  return policies.map((policy) => `${eventPart},${POLICY_COLUMNS.map((column) => csvField(policy[column])).join(',')}`);
}

const CHUNK_CHARS = 64 * 1024;

/** The header, then the rows of `rows` (the rows of each event, or a slice of them when paging counts rows). */
export function* csvChunks(rows: Iterable<string>): Generator<string> {
  let chunk = CSV_COLUMNS.join(',') + '\r\n';
  for (const row of rows) {
    chunk += row + '\r\n';
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** Every row of the events, in order. */
export function* eventRows(events: Iterable<AuditEvent>): Generator<string> {
  for (const event of events) yield* csvRows(event);
}
