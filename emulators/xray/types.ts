/**
 * The shapes the Xray Curation audit endpoint returns: field order as in the vendor's JSON example, with the
 * fields public clients also show after it (`ecosystem`, `ondemand`, `event_origin`; a policy's `result` and
 * `policy_reason`). `action` may be `passed` (not inspected), and `policies` null on events no policy applied to.
 */

export type AuditAction = 'approved' | 'blocked' | 'passed';

export type ConditionCategory = 'security' | 'legal' | 'operational';

export interface PolicyHit {
  policy_name: string;
  policy_id: number;
  dry_run: boolean;
  condition_name: string;
  condition_category: ConditionCategory;
  /** What the policy did to this package: `blocked`, `waived`, `bypassed`, or `dry_run`. */
  result: string;
  policy_reason: string;
}

export interface AuditEvent {
  id: number;
  created_at: string;
  action: AuditAction;
  package_type: string;
  package_name: string;
  package_version: string;
  package_url: string;
  reason: string;
  curated_repository_server_name: string;
  curated_repository_name: string;
  curated_project: string;
  username: string;
  user_mail: string;
  origin_repository_server_name: string;
  origin_repository_name: string;
  origin_project: string;
  public_repo_url: string;
  public_repo_name: string;
  ecosystem: string;
  ondemand: boolean;
  event_origin: string;
  policies: PolicyHit[] | null;
}

/** Columns `order_by` accepts: the event's scalar fields (policies cannot be sorted on). */
export const ORDER_COLUMNS = [
  'id',
  'created_at',
  'action',
  'package_type',
  'package_name',
  'package_version',
  'reason',
  'curated_repository_name',
  'curated_project',
  'username',
  'user_mail',
  'origin_repository_name',
  'public_repo_name',
] as const satisfies readonly (keyof AuditEvent)[];

export type OrderColumn = (typeof ORDER_COLUMNS)[number];

export type Direction = 'asc' | 'desc';
