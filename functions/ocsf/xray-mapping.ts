import { eventHeader, FieldReader, isEmail, metadata, type FieldNames, parseEventTime, type MappingContext, type MappingResult, type SourceRecord } from './mapping.js';
import { enumCaption, ocsfClass } from './schema.js';

/**
 * JFrog Xray Curation audit events → OCSF 1.1.0 Web Resources Activity (6001) with the security_control profile
 * (and the host profile, which carries `actor` in this class). The README ("OCSF output") gives the table.
 *
 * - activity: 2 (Read): a developer's client asked a curated remote repository for a package;
 * - action_id / disposition_id: approved → 1 Allowed / 8 Approved, passed → 1 Allowed / 1 Allowed,
 *   blocked → 2 Denied / 2 Blocked; another word → 0 Unknown / 99 Other with that word as `disposition`;
 * - dry-run events (the Dry Run tab: each names one dry-run policy that would have blocked) → 1 Allowed /
 *   15 Detected: the policy only reported; `metadata.labels` carries `dry-run`, and the window's output is an
 *   object of its own;
 * - the package is web_resources[0]; the curated, origin and public repositories follow, typed as such;
 * - each policy that affected the event → an `authorizations` entry (decision, policy uid/name, condition as the
 *   policy's description, condition category as its group); `policies: null` gives none;
 * - everything else (e.g. `ecosystem`, `ondemand`, `event_origin`, per-policy `dry_run`) stays in `unmapped`.
 */

export const WEB_RESOURCES_ACTIVITY = ocsfClass('web_resources_activity');
export const XRAY_PRODUCT = { name: 'Xray Curation', vendor_name: 'JFrog' };
export const DRY_RUN_LABEL = 'dry-run';
const READ = 2;
/** Shared by every event (nothing changes an event once mapped). */
const PROFILES = ['host', 'security_control'];
const DRY_RUN_LABELS = [DRY_RUN_LABEL];

/** The names each field is read under (any case), Xray's own first. */
const FIELDS = {
  created_at: ['created_at', 'createdAt', 'timestamp', 'time'],
  package_name: ['package_name', 'packageName', 'package'],
  policies: ['policies'],
  action: ['action', 'result', 'decision'],
  username: ['username', 'user_name', 'user'],
  user_mail: ['user_mail', 'userMail', 'email'],
  reason: ['reason'],
  id: ['id'],
  package_version: ['package_version', 'packageVersion', 'version'],
  package_type: ['package_type', 'packageType', 'ecosystem_type'],
  package_url: ['package_url', 'packageUrl'],
  curated_repository_name: ['curated_repository_name', 'curated_repo_name'],
  curated_repository_server_name: ['curated_repository_server_name', 'curated_repo_server_name'],
  curated_project: ['curated_project', 'curated_repo_project_key'],
  origin_repository_name: ['origin_repository_name', 'origin_repo_name'],
  origin_repository_server_name: ['origin_repository_server_name', 'origin_repo_server_name'],
  origin_project: ['origin_project', 'origin_repo_project_key'],
  public_repo_name: ['public_repo_name', 'public_repository_name'],
  public_repo_url: ['public_repo_url', 'public_repository_url'],
} as const satisfies Record<string, FieldNames>;

const DECISIONS: Record<string, { actionId: number; dispositionId: number }> = {
  approved: { actionId: 1, dispositionId: 8 },
  passed: { actionId: 1, dispositionId: 1 },
  blocked: { actionId: 2, dispositionId: 2 },
};

export function mapXrayEvent(record: SourceRecord, context: MappingContext): MappingResult {
  const fields = new FieldReader(record);
  const rawTime = fields.text(FIELDS.created_at);
  const when = parseEventTime(rawTime);
  if (!when) return { unmappable: rawTime === undefined ? 'no created_at' : `created_at ${JSON.stringify(rawTime.slice(0, 40))} is not a date` };
  const packageName = fields.text(FIELDS.package_name);
  if (!packageName) return { unmappable: 'no package_name (Web Resources Activity requires web_resources)' };

  const policies = fields.value(FIELDS.policies);
  const policyList = Array.isArray(policies) ? objectsOf(policies as unknown[]) : [];
  if (policies !== undefined && !Array.isArray(policies)) fields.release(policies);
  const dryRun = context.filtersId === DRY_RUN_LABEL || policyList.some((policy) => policy.dry_run === true || policy.dry_run === 'true');

  const action = fields.text(FIELDS.action);
  const decision = dryRun ? { actionId: 1, dispositionId: 15 } : action === undefined ? { actionId: 0, dispositionId: 0 } : (DECISIONS[action.toLowerCase()] ?? { actionId: 0, dispositionId: 99 });
  const blocked = !dryRun && decision.actionId === 2;
  const security = policyList.some((policy) => String(policy.condition_category ?? '').toLowerCase() === 'security');

  const username = fields.text(FIELDS.username);
  const mail = fields.text(FIELDS.user_mail);
  const mailValid = mail !== undefined && isEmail(mail);
  if (mail !== undefined && !mailValid) fields.release(mail);
  const userName = username ?? (mailValid ? mail : undefined);
  const reason = fields.text(FIELDS.reason);

  const event = {
    ...eventHeader(WEB_RESOURCES_ACTIVITY, READ, blocked ? (security ? 3 : 2) : 1),
    time: when.time,
    timezone_offset: when.timezoneOffset,
    action_id: decision.actionId,
    action: enumCaption(WEB_RESOURCES_ACTIVITY, 'action_id', decision.actionId),
    disposition_id: decision.dispositionId,
    disposition: decision.dispositionId === 99 ? action : enumCaption(WEB_RESOURCES_ACTIVITY, 'disposition_id', decision.dispositionId),
    message: reason,
    metadata: metadata({
      product: XRAY_PRODUCT,
      uid: fields.text(FIELDS.id),
      tenant: context.tenant,
      logName: dryRun ? 'Curation audit: dry run' : 'Curation audit',
      originalTime: rawTime,
      profiles: PROFILES,
      labels: dryRun ? DRY_RUN_LABELS : undefined,
    }),
    actor: userName ? { user: ({ name: userName, email_addr: mailValid ? mail : undefined }) } : undefined,
    web_resources: webResources(fields, packageName),
    authorizations: policyList.length ? policyList.map((policy) => authorization(policy, dryRun ? `dry run: ${action ?? 'unknown'}` : action)) : undefined,
    unmapped: fields.rest(policyRest(policyList, dryRun && action !== undefined ? { action } : {})),
  };
  return { event };
}

function webResources(fields: FieldReader, packageName: string): Record<string, unknown>[] {
  const version = fields.text(FIELDS.package_version);
  const resources: Record<string, unknown>[] = [
    {
      name: packageName,
      type: fields.text(FIELDS.package_type),
      url_string: fields.text(FIELDS.package_url),
      data: version !== undefined ? { version } : undefined,
    },
  ];
  const repository = (type: string, name: string | undefined, serverName: string | undefined, project: string | undefined, url?: string) => {
    if (!name) {
      // A repository without a name cannot be a web resource (it needs a name or uid): keep what came in unmapped.
      for (const value of [serverName, project, url]) if (value !== undefined) fields.release(value);
      return;
    }
    const data = serverName !== undefined || project !== undefined ? { server_name: serverName, project } : undefined;
    resources.push({ name, type, url_string: url, data });
  };
  repository('curated repository', fields.text(FIELDS.curated_repository_name), fields.text(FIELDS.curated_repository_server_name), fields.text(FIELDS.curated_project));
  repository('origin repository', fields.text(FIELDS.origin_repository_name), fields.text(FIELDS.origin_repository_server_name), fields.text(FIELDS.origin_project));
  repository('public repository', fields.text(FIELDS.public_repo_name), undefined, undefined, fields.text(FIELDS.public_repo_url));
  return resources;
}

/** The policy fields mapped into authorizations; any other field of a policy goes to unmapped (policyRest). */
const POLICY_FIELDS = new Set(['policy_id', 'policy_name', 'condition_name', 'condition_category']);

function authorization(policy: Record<string, unknown>, decision: string | undefined): Record<string, unknown> {
  const text = (value: unknown) => (value === undefined || value === null || value === '' ? undefined : String(value));
  const uid = text(policy.policy_id);
  const name = text(policy.policy_name);
  const category = text(policy.condition_category);
  return {
    decision,
    policy: uid || name ? ({ uid, name, desc: text(policy.condition_name), group: category ? { name: category } : undefined }) : undefined,
  };
}

/** The array's elements that are objects (the array itself when all are: the common case, without a copy). */
function objectsOf(items: unknown[]): Record<string, unknown>[] {
  const isObject = (item: unknown): item is Record<string, unknown> => typeof item === 'object' && item !== null;
  return items.every(isObject) ? items : items.filter(isObject);
}

/** `policies[].<field>` for each per-policy field name seen. */
const policyRestKeys = new Map<string, string>();

/**
 * Per-policy fields outside POLICY_FIELDS (dry_run, result, policy_reason…), one unmapped entry per field: a JSON
 * array by policy, added to `out` (after what it holds) in the order the fields first appear.
 */
function policyRest(policies: Record<string, unknown>[], out: Record<string, string>): Record<string, string> {
  const names: string[] = [];
  for (const policy of policies) for (const name in policy) if (!POLICY_FIELDS.has(name) && !names.includes(name)) names.push(name);
  for (const name of names) {
    let key = policyRestKeys.get(name);
    if (key === undefined) {
      key = `policies[].${name}`;
      if (policyRestKeys.size < 1000) policyRestKeys.set(name, key);
    }
    const values = new Array<unknown>(policies.length);
    for (let index = 0; index < policies.length; index++) values[index] = policies[index]![name] ?? null;
    out[key] = JSON.stringify(values);
  }
  return out;
}
