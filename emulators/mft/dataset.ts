import { Prng, mix32 } from '../common/prng.js';
import { ipv6FromGroups } from './ip.js';
import type { Action, AuditEvent, Outcome, ReportQuery, Resource } from './types.js';

/**
 * The tenant's audit history: an infinite, deterministic timeline of synthetic events.
 *
 * Event `i` happens at ORIGIN + floor(i * 1 h / eventsPerHour) and every field comes from Prng(seed, i),
 * so any window is generated lazily from its first index, computed arithmetically: a report over years
 * of history never scans from the origin nor holds events in memory.
 */

export const TIMELINE_ORIGIN_MS = Date.UTC(2020, 0, 1);
const MS_PER_HOUR = 3_600_000;
const TWO_POW_32 = 2 ** 32;

const FIRST_NAMES = [
  'alice', 'bruno', 'chen', 'dana', 'emeka', 'fatima', 'george', 'hana', 'ivan', 'julia', 'kenji', 'laura',
  'mateo', 'nadia', 'oscar', 'priya', 'quentin', 'rosa', 'samir', 'tessa', 'umar', 'vera', 'wei', 'yusuf',
];
const LAST_NAMES = [
  'anderson', 'bianchi', 'cohen', 'dubois', 'eriksen', 'fischer', 'garcia', 'haddad', 'ito', 'jensen',
  'kowalski', 'lopez', 'murphy', 'nguyen', 'okafor', 'petrov', 'rossi', 'schmidt', 'tanaka', 'vargas',
];
const COMPANY_DOMAINS = ['acme-logistics.com', 'globex.io', 'initech.net', 'northwind-traders.eu'];
const API_KEY_NAMES = [
  'ci-deploy-key', 'terraform-automation', 'nightly-backup-sync', 'siem-export', 'partner-onboarding-bot',
  'monitoring-probe',
];
const BROWSER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
];
const API_AGENTS = ['python-requests/2.32.3', 'curl/8.7.1', 'Terraform/1.9.5 (+https://www.terraform.io)', 'Go-http-client/2.0'];
const ERROR_MESSAGES = [
  'Permission denied',
  'Validation failed: name, schedule are required',
  'Conflict: "name" already exists',
  'Resource not found',
  'Rate limit exceeded, retry later',
];

const RESOURCE_WEIGHTS: readonly (readonly [Resource, number])[] = [
  ['Task', 20], ['Endpoint', 12], ['AuthenticationMethod', 4], ['Schedule', 8], ['Agent', 6], ['Folder', 8],
  ['KeyCert', 4], ['Script', 5], ['Parameter', 5], ['Tag', 3], ['User', 6], ['Role', 2], ['Report', 4],
  ['IdentityProvider', 1], ['PublicKey', 2], ['Membership', 3], ['TenantSetting', 2], ['AuditLog', 3], ['System', 2],
];
const ACTION_WEIGHTS: readonly (readonly [Action, number])[] = [['Get', 58], ['Update', 20], ['Create', 14], ['Delete', 8]];
const OUTCOME_WEIGHTS: readonly (readonly [Outcome, number])[] = [['Success', 93], ['Error', 7]];

/** A few plausible names per resource group; some hold commas and quotes on purpose (CSV quoting). */
const RESOURCE_NAMES: Record<Resource, readonly string[]> = {
  Task: ['Nightly payroll upload', 'Partner invoices to SFTP', 'Daily GL export', 'Archive outbound EDI, EU', 'Pull bank statements'],
  Endpoint: ['sftp-partner-bank', 's3-finance-archive', 'ftps-legacy-erp', 'azure-blob-hr', 'sftp "EU" gateway'],
  AuthenticationMethod: ['SSH key: deploy', 'Password: legacy-erp', 'OAuth: azure-hr'],
  Schedule: ['Weekdays 02:00 UTC', 'Every 15 minutes', 'Month end, 23:30'],
  Agent: ['agent-dc1-01', 'agent-dc1-02', 'agent-aws-eu-west-1'],
  Folder: ['/inbound/partners', '/outbound/payroll', '/archive/2024, closed'],
  KeyCert: ['PGP partner-bank 2025', 'TLS ftps-legacy-erp', 'SSH host key dc1'],
  Script: ['rename-by-date.ps1', 'checksum-verify.py', 'zip-and-encrypt.sh'],
  Parameter: ['RETENTION_DAYS', 'PARTNER_ID', 'TARGET_BUCKET'],
  Tag: ['finance', 'pii', 'critical'],
  User: ['invited user', 'service account', 'tenant admin'],
  Role: ['Administrator', 'Operator', 'Auditor'],
  Report: ['Audit logs export', 'Task runs, last 30 days'],
  IdentityProvider: ['Okta SSO', 'Entra ID'],
  PublicKey: ['deploy-ed25519', 'partner-rsa-4096'],
  Membership: ['Operators team', 'Finance "read only"'],
  TenantSetting: ['Session timeout', 'IP allow list'],
  AuditLog: ['Audit log retention', 'Audit logs report'],
  System: ['Maintenance window', 'License usage'],
};

export class AuditTimeline {
  private readonly users: readonly string[];
  private readonly ipPool: readonly string[];
  private readonly idMaskLow: number;
  private readonly idMaskHigh: number;

  constructor(
    readonly seed: number,
    readonly eventsPerHour: number,
  ) {
    if (!(Number.isFinite(eventsPerHour) && eventsPerHour > 0)) {
      throw new RangeError(`eventsPerHour must be a positive number, got ${eventsPerHour}`);
    }
    // Pools give the tenant a stable cast: the same people and offices appear again and again.
    const poolRng = new Prng(mix32(seed ^ 0x5eed), 0);
    this.users = Array.from({ length: 40 }, () => userEmail(poolRng));
    this.ipPool = Array.from({ length: 64 }, () => (poolRng.next() < 0.7 ? ipv4(poolRng) : ipv6(poolRng)));
    this.idMaskLow = mix32(seed ^ 0x1d1d);
    this.idMaskHigh = mix32(seed ^ 0x2e2e) & 0xffff;
  }

  /** When event `index` happens, in epoch ms. */
  timeOf(index: number): number {
    const { eventsPerHour } = this;
    if (!Number.isInteger(eventsPerHour)) return TIMELINE_ORIGIN_MS + Math.floor((index * MS_PER_HOUR) / eventsPerHour);
    // Split the index so the products stay exact far beyond 2^53 / 3.6e6 events.
    const wholeHours = Math.floor(index / eventsPerHour);
    const remainder = index - wholeHours * eventsPerHour;
    return TIMELINE_ORIGIN_MS + wholeHours * MS_PER_HOUR + Math.floor((remainder * MS_PER_HOUR) / eventsPerHour);
  }

  /** Smallest index whose event happens at or after `ms`. */
  firstIndexAtOrAfter(ms: number): number {
    if (ms <= TIMELINE_ORIGIN_MS) return 0;
    let index = Math.max(0, Math.ceil(((ms - TIMELINE_ORIGIN_MS) * this.eventsPerHour) / MS_PER_HOUR));
    // The float estimate can be off by one either way; the exact timeOf settles it.
    while (index > 0 && this.timeOf(index - 1) >= ms) index--;
    while (this.timeOf(index) < ms) index++;
    return index;
  }

  /** Indexes `[first, end)` of the events in the half-open window `[startMs, endMs)`. */
  indexRange(startMs: number, endMs: number): [number, number] {
    const first = this.firstIndexAtOrAfter(startMs);
    return [first, Math.max(first, this.firstIndexAtOrAfter(endMs))];
  }

  event(index: number): AuditEvent {
    const rng = new Prng(this.seed, index);
    const id = this.eventId(rng, index);
    const actorType = rng.weighted([['User', 82], ['ApiKey', 18]] as const);
    const actor = actorType === 'User' ? this.users[Math.floor(rng.next() ** 2 * this.users.length)]! : rng.pick(API_KEY_NAMES);
    const action = rng.weighted(ACTION_WEIGHTS);
    const resource = rng.weighted(RESOURCE_WEIGHTS);
    const resourceName = rng.pick(RESOURCE_NAMES[resource]);
    const outcome = rng.weighted(OUTCOME_WEIGHTS);
    const sourceIp = this.ipPool[Math.floor(rng.next() ** 1.5 * this.ipPool.length)]!;
    const details = describe(rng, actorType, action, resource, resourceName, outcome);
    const timestamp = new Date(this.timeOf(index)).toISOString();
    return { id, timestamp, actor, actorType, action, resource, resourceName, outcome, sourceIp, details };
  }

  /** The events of a report, in time order, filtered. */
  *eventsFor(query: ReportQuery): Generator<AuditEvent> {
    const [first, end] = this.indexRange(Date.parse(query.start), Date.parse(query.end));
    const matches = compileFilter(query);
    for (let index = first; index < end; index++) {
      const event = this.event(index);
      if (matches(event)) yield event;
    }
  }

  /**
   * uuid-shaped. The last group encodes the index through a bijection (mix32 is one on 32 bits), so ids are
   * unique even where two indexes' 32-bit PRNG states collide, without looking sequential.
   */
  private eventId(rng: Prng, index: number): string {
    const low = mix32(((index % TWO_POW_32) ^ this.idMaskLow) >>> 0);
    const high = (Math.floor(index / TWO_POW_32) ^ this.idMaskHigh) & 0xffff;
    const variant = (8 + rng.int(0, 3)).toString(16);
    return `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-${variant}${rng.hex(3)}-${hex(high, 4)}${hex(low, 8)}`;
  }
}

/** Filters per the API: actor substring (any case), actorType (All = any), empty lists = all, exact source IP. */
export function compileFilter(query: ReportQuery): (event: AuditEvent) => boolean {
  const actorNeedle = query.actor ? query.actor.toLowerCase() : '';
  const actions = new Set<string>(query.actions);
  const resources = new Set<string>(query.resources);
  const outcomes = new Set<string>(query.outcomes);
  return (event) =>
    (actorNeedle === '' || event.actor.toLowerCase().includes(actorNeedle)) &&
    (query.actorType === 'All' || event.actorType === query.actorType) &&
    (actions.size === 0 || actions.has(event.action)) &&
    (resources.size === 0 || resources.has(event.resource)) &&
    (outcomes.size === 0 || outcomes.has(event.outcome)) &&
    (query.sourceIp === null || event.sourceIp === query.sourceIp);
}

function describe(
  rng: Prng,
  actorType: AuditEvent['actorType'],
  action: Action,
  resource: Resource,
  resourceName: string,
  outcome: Outcome,
): string {
  const agent = actorType === 'User' ? rng.pick(BROWSER_AGENTS) : rng.pick(API_AGENTS);
  if (outcome === 'Error') return `${action} ${resource} failed: ${rng.pick(ERROR_MESSAGES)}`;
  switch (action) {
    case 'Get':
      return agent;
    case 'Create':
      return `Created ${resource} "${resourceName}"`;
    case 'Update':
      return `Changed "${rng.pick(['name', 'description', 'enabled', 'schedule'])}" of ${resource} "${resourceName}"`;
    case 'Delete':
      return `Deleted ${resource} "${resourceName}", via ${agent}`;
  }
}

function userEmail(rng: Prng): string {
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  const local = rng.next() < 0.75 ? `${first}.${last}` : `${first[0]}${last}`;
  return `${local}@${rng.pick(COMPANY_DOMAINS)}`;
}

function ipv4(rng: Prng): string {
  const firstOctet = rng.pick([203, 198, 185, 91, 52, 34, 104, 81, 10]);
  return `${firstOctet}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}

function ipv6(rng: Prng): string {
  const prefix = rng.pick([[0x2001, 0x0db8], [0x2a02, 0x0c7f], [0x2600, 0x1f18]]);
  const groups = [...prefix, rng.int(0, 0xffff), rng.int(0, 0xff), 0, 0, rng.int(0, 0xffff), rng.int(1, 0xffff)];
  return ipv6FromGroups(groups);
}

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}
