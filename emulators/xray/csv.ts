/** The CSV export: one row per (event, policy), RFC 4180 quoting, CRLF line ends. */
import type { AuditEvent, PolicyHit } from './types.js';

const EVENT_COLUMNS = [
  'id', 'created_at', 'action', 'package_type', 'package_name', 'package_version', 'package_url', 'reason',
  'curated_repository_server_name', 'curated_repository_name', 'curated_project', 'username', 'user_mail',
  'origin_repository_server_name', 'origin_repository_name', 'origin_project', 'public_repo_url', 'public_repo_name',
] as const satisfies readonly (keyof AuditEvent)[];

const POLICY_COLUMNS = [
  'policy_name', 'policy_id', 'dry_run', 'condition_name', 'condition_category',
] as const satisfies readonly (keyof PolicyHit)[];

export const CSV_COLUMNS: readonly string[] = [...EVENT_COLUMNS, ...POLICY_COLUMNS];

export function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** An event without policies still gets one row, with empty policy columns. */
export function csvRows(event: AuditEvent): string[] {
  const eventPart = EVENT_COLUMNS.map((column) => csvField(event[column])).join(',');
  if (event.policies.length === 0) return [eventPart + ','.repeat(POLICY_COLUMNS.length)];
  return event.policies.map(
    (policy) => `${eventPart},${POLICY_COLUMNS.map((column) => csvField(policy[column])).join(',')}`,
  );
}

const CHUNK_CHARS = 64 * 1024;

export function* csvChunks(events: Iterable<AuditEvent>): Generator<string> {
  let chunk = CSV_COLUMNS.join(',') + '\r\n';
  for (const event of events) {
    for (const row of csvRows(event)) chunk += row + '\r\n';
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}
