/**
 * What the vendor's reference export script (specs/seeds, "Audit log sample") puts on the wire and reads back,
 * restated as small TypeScript functions so tests can hold the emulator and the exporter to it. This is a
 * description of the script's assumptions, not a copy of it: each function names the part it restates.
 */

export { pythonGet, pythonIndex, pythonTruthy, raiseForStatus } from './python-semantics.js';

export type ReferenceReportType = 'json' | 'csv';

export interface ReferenceCreateArgs {
  reportType: ReferenceReportType;
  /** Already formatted as the script formats them (referenceIso). */
  startIso: string;
  endIso: string;
  actor?: string | null;
  actorType?: 'All' | 'User' | 'ApiKey';
  actions?: string[];
  resources?: string[];
  outcomes?: string[];
  sourceIp?: string | null;
}

/**
 * create_report's body: the numeric type (csv → 1, anything else → 0), both instants as given, the filters as
 * given on the command line with argparse's defaults (None, "All", []), each list deduplicated in order
 * (`list(dict.fromkeys(...))`); always all nine keys, in this order.
 */
export function referenceCreateBody(args: ReferenceCreateArgs): Record<string, unknown> {
  const unique = (values: string[] = []) => [...new Set(values)];
  return {
    type: args.reportType.toLowerCase() === 'csv' ? 1 : 0,
    start: args.startIso,
    end: args.endIso,
    actor: args.actor ?? null,
    actorType: args.actorType ?? 'All',
    actions: unique(args.actions),
    resources: unique(args.resources),
    outcomes: unique(args.outcomes),
    sourceIp: args.sourceIp ?? null,
  };
}

/** to_iso_utc: `isoformat(timespec="seconds")` in UTC with `+00:00` written `Z` (the fraction is dropped). */
export function referenceIso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * wait_until_completed's reading of a status: `str(status).lower() == "completed" or status == 1` completes,
 * `"inprogress"` or `0` waits, anything else raises "Unexpected report status".
 */
export function referenceStatus(status: unknown): 'completed' | 'in-progress' | 'unexpected' {
  const text = pythonStr(status).toLowerCase();
  if (text === 'completed' || pythonEquals(status, 1)) return 'completed';
  if (text === 'inprogress' || pythonEquals(status, 0)) return 'in-progress';
  return 'unexpected';
}

/** issue_access_token's claims: no iat; nbf now, exp 20 s later; the header is alg ES256 and the kid (PyJWT adds typ JWT). */
export function referenceAssertionClaims(tenantId: string, baseUrl: string, nowSeconds: number): Record<string, unknown> {
  return { iss: tenantId, sub: tenantId, aud: `${baseUrl}/v1/oauth/token`, jti: crypto.randomUUID(), nbf: nowSeconds, exp: nowSeconds + 20 };
}

export const REFERENCE_TOKEN_BODY = {
  grant_type: 'client_credentials',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
} as const;

/** The Authorization header of every API call (and of the download's retry after 401/403). */
export function referenceAuthorization(accessToken: string): string {
  return `bearer ${accessToken}`;
}

/** infer_output_path: `report_id.lower().endswith(".csv"|".json")` — so the id must be a string. */
export function referenceOutputName(reportId: unknown, reportType: ReferenceReportType): string {
  if (typeof reportId !== 'string') throw new TypeError(`'${typeof reportId}' object has no attribute 'lower'`);
  return reportId.toLowerCase().endsWith(`.${reportType}`) ? reportId : `${reportId}.${reportType}`;
}

function pythonStr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  return String(value);
}

/** `status == n` in Python for a JSON value: numbers by value, booleans as 0/1, nothing else. */
function pythonEquals(value: unknown, number: number): boolean {
  if (typeof value === 'boolean') return Number(value) === number;
  return typeof value === 'number' && value === number;
}
