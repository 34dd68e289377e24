/** Builds one audit event from (seed, index) alone, so any event can be regenerated on demand. */
import { Prng } from '../common/prng.js';
import {
  APPROVED_REASONS,
  BLOCKED_REASON,
  CLEAN_REASON,
  DRY_RUN_POLICIES,
  ECOSYSTEMS,
  ENFORCED_POLICIES,
  ORIGIN_SERVERS,
  PASSED_REASON,
  PROJECTS,
  USERS,
  type PolicyDefinition,
} from './catalog.js';
import type { AuditEvent, PolicyHit } from './types.js';

/** `2023-08-30T05:45:52Z`: the vendor shows whole seconds. */
export function formatCreatedAt(instantMs: number): string {
  return new Date(instantMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function policyHit(policy: PolicyDefinition, dryRun: boolean, result: string): PolicyHit {
  return {
    policy_name: policy.policy_name,
    policy_id: policy.policy_id,
    dry_run: dryRun,
    condition_name: policy.condition_name,
    condition_category: policy.condition_category,
    result,
    policy_reason: result === 'blocked' || result === 'dry_run' ? policy.condition_name : `${result === 'waived' ? 'Waiver' : 'Bypass'} granted for ${policy.policy_name}`,
  };
}

/**
 * A real (Blocked/Approved tab) event: blocked by, or approved despite (waived, bypassed), 1–3 distinct enforced
 * policies; or approved with no policy applying, or passed without inspection (`policies: null` for both).
 */
export function requestEvent(seed: number, index: number, id: number, createdAtMs: number): AuditEvent {
  const prng = new Prng(seed, index);
  const ecosystem = prng.weighted(ECOSYSTEMS);
  const packageName = prng.pick(ecosystem.packages);
  const packageVersion = ecosystem.version(prng);
  const blocked = prng.next() < 0.35;
  const [username, userMail] = prng.pick(USERS);
  const project = prng.weighted(PROJECTS.map((name, rank) => [name, rank === 0 ? 4 : 1] as const));
  const curatedRepository = `${ecosystem.repoKey}-remote${prng.next() < 0.2 ? '-curated' : ''}`;
  const applicable = ENFORCED_POLICIES.filter((p) => !p.onlyFor || p.onlyFor === ecosystem.packageType);
  const policyCount = prng.weighted([[1, 6], [2, 3], [3, 1]] as const);
  const first = prng.int(0, applicable.length - 1);
  const approvedReason = prng.pick(APPROVED_REASONS);
  // Drawn after the fields above, so adding them left every other field of an event as it was.
  const outcome = blocked ? 'blocked' : prng.weighted([['policy-exception', 4], ['clean', 4], ['passed', 1]] as const);
  const ondemand = prng.next() < 0.08;
  const result = blocked ? 'blocked' : approvedReason === 'Policy waiver applied' ? 'waived' : 'bypassed';
  const policies: PolicyHit[] | null = outcome === 'clean' || outcome === 'passed' ? null : [];
  for (let k = 0; policies && k < policyCount; k++) {
    policies.push(policyHit(applicable[(first + k) % applicable.length]!, false, result));
  }
  return {
    id,
    created_at: formatCreatedAt(createdAtMs),
    action: outcome === 'passed' ? 'passed' : blocked ? 'blocked' : 'approved',
    package_type: ecosystem.packageType,
    package_name: packageName,
    package_version: packageVersion,
    package_url: ecosystem.packageUrl(packageName, packageVersion),
    reason: blocked ? BLOCKED_REASON : outcome === 'policy-exception' ? approvedReason : outcome === 'clean' ? CLEAN_REASON : PASSED_REASON,
    curated_repository_server_name: '',
    curated_repository_name: curatedRepository,
    curated_project: project,
    username,
    user_mail: userMail,
    origin_repository_server_name: prng.pick(ORIGIN_SERVERS),
    origin_repository_name: curatedRepository,
    origin_project: project,
    public_repo_url: ecosystem.publicRepoUrl,
    public_repo_name: ecosystem.publicRepoName,
    ecosystem: ecosystem.ecosystem,
    ondemand,
    event_origin: ondemand ? 'on_demand_scan' : 'package_request',
    policies,
  };
}

/**
 * The k-th dry-run policy that matched a request: a Dry Run tab event of its own, carrying that policy (and,
 * with `policiesPerEvent` above 1, the next ones too). Assumption: its action is what the policy would have done (block).
 */
export function dryRunEvent(request: AuditEvent, id: number, seed: number, requestKey: number, k: number, policiesPerEvent = 1): AuditEvent {
  const first = new Prng(seed ^ 0xd27, requestKey).int(0, DRY_RUN_POLICIES.length - 1);
  const policies: PolicyHit[] = [];
  for (let extra = 0; extra < policiesPerEvent; extra++) {
    policies.push(policyHit(DRY_RUN_POLICIES[(first + k + extra) % DRY_RUN_POLICIES.length]!, true, 'dry_run'));
  }
  return { ...request, id, action: 'blocked', reason: BLOCKED_REASON, policies };
}
