import type { Readable } from 'node:stream';
import { Readable as NodeReadable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { systemClock, type Clock } from '../common/clock.js';
import {
  MalformedResponseError,
  NotFoundError,
  TransientError,
  VendorAuthError,
  VendorRequestError,
} from '../common/errors.js';
import { DownloadRefusedError, STRICT_ADDRESS_RULES, guardedFetch, takeNodeBody, type AddressRules } from '../common/egress.js';
import { HttpClient, baseUrlAdvice, describeUrl, readJson } from '../common/http.js';
import { registerSecret, registerUrlSecrets } from '../common/scrubber.js';
import { allowListRefusal } from '../common/allow-list.js';
import { signClientAssertion, type MftCredentials } from './assertion.js';
import {
  normalizeStatus,
  reportSchema,
  tokenResponseSchema,
  type CreateReportBody,
  type Report,
} from './model.js';

/** The API answered 401 to an access token: the caller may issue a new token once and try again. */
export class AccessTokenRejectedError extends VendorAuthError {
  static override readonly errorName: string = 'AccessTokenRejectedError';
}

export interface AccessToken {
  value: string;
  /** Epoch ms; from `expires_in` when the vendor sends it. */
  expiresAt: number;
}

/** A report as the list endpoint shows it: the documented fields, plus its query and creation time when sent. */
export interface ListedReport extends Report {
  /** `0`/`1` or `Json`/`Csv`, as the vendor serializes it. */
  type?: number | string;
  /** The report's window, when the server echoes it (ISO-8601). */
  start?: string;
  end?: string;
  /** When the report was created (ISO-8601), when the server says. */
  createdAt?: string;
}

export interface Download {
  /** The report as the vendor wrote it: decoded when the storage sent it with a Content-Encoding. */
  body: Readable;
  /** Content-Length, when the server announced one for an unencoded body (the length `body` must have). */
  contentLength?: number;
  /** `gzip`, `deflate` or `br` when the body arrived encoded (and was decoded); the Content-Length was of the encoded bytes. */
  contentEncoding?: string;
  contentType: string;
}

/** The encodings a download may arrive in (the transport asks for them and decodes them, as the reference's client does). */
const DECODED_ENCODINGS = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

/**
 * Where a report download may go. The link comes from the vendor's answer and its storage may redirect: the
 * exporter follows a redirect only within the link's own origin (or to https on the same host), or over
 * https to a host listed in `redirectHosts`; and connects only to addresses the `addresses` rules allow.
 */
export interface DownloadPolicy {
  addresses: AddressRules;
  /** Hosts an https redirect may lead to besides the link's own: `storage.example.com`, or `.example.com` for its subdomains. */
  redirectHosts?: readonly string[];
  /** The transport (tests); by default one whose connections obey `addresses`. */
  fetch?: typeof fetch;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** Why a download is not followed from `first` to `next`, or undefined when the redirect is allowed. */
export function redirectProblem(first: URL, next: URL, redirectHosts: readonly string[] = []): string | undefined {
  if (next.username || next.password) return 'a URL with user-info';
  if (next.protocol !== 'https:' && next.protocol !== 'http:') return `a ${next.protocol} URL`;
  if (next.origin === first.origin) return undefined;
  if (next.protocol !== 'https:') return 'another origin over plain http';
  if (next.hostname === first.hostname) return undefined;
  const host = next.hostname.toLowerCase();
  const listed = redirectHosts.some((entry) => {
    const allowed = entry.trim().toLowerCase();
    return allowed.startsWith('.') ? host.endsWith(allowed) && host.length > allowed.length : host === allowed;
  });
  return listed ? undefined : `another host (only ${first.origin} itself, or hosts in MFT_DOWNLOAD_REDIRECT_HOSTS, are followed)`;
}

const REPORTS_PATH = '/v1/reports/audit-logs';
/** A tenant with more pages of reports than this is not one the exporter can clean up in one pass anyway. */
const MAX_LIST_PAGES = 1000;
/** When the vendor omits `expires_in`, assume a conservative lifetime and re-issue on 401 anyway. */
const ASSUMED_TOKEN_LIFETIME_S = 300;

/**
 * The Progress Automate MFT Audit Logs Reporting API, and nothing else: one method per endpoint,
 * typed results, vendor answers mapped onto the project's error types.
 */
export class MftClient {
  readonly baseUrl: string;
  readonly tokenUrl: string;
  readonly apiOrigin: string;
  private readonly downloadFetch: typeof fetch;
  /** What a redirected API call says to configure instead (credentialed requests never follow one). */
  private readonly redirectAdvice: (location: URL, requested: URL) => string;

  constructor(
    baseUrl: string,
    private readonly http: HttpClient = new HttpClient(),
    private readonly clock: Clock = systemClock,
    private readonly download: DownloadPolicy = { addresses: STRICT_ADDRESS_RULES },
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.tokenUrl = `${this.baseUrl}/v1/oauth/token`;
    this.apiOrigin = new URL(this.baseUrl).origin;
    this.downloadFetch = download.fetch ?? guardedFetch({ rules: download.addresses });
    this.redirectAdvice = baseUrlAdvice('MFT_BASE_URL (sources.mft.baseUrl)', this.baseUrl);
  }

  async issueToken(credentials: MftCredentials): Promise<AccessToken> {
    const response = await this.http.request({
      method: 'POST',
      url: this.tokenUrl,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      // A fresh assertion for every attempt: its jti is single-use (the server may have consumed it before a
      // 502 or a lost reply) and its lifetime (~20 s) is shorter than the retry budget.
      body: async () => {
        const assertion = await signClientAssertion(credentials, this.tokenUrl, this.clock.now());
        registerSecret(assertion);
        return JSON.stringify({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        });
      },
      redirect: 'error',
      redirectAdvice: this.redirectAdvice,
    });
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      throw new VendorAuthError(
        (await allowListRefusal('mft', response, `the token request to ${this.tokenUrl}`)) ??
        `MFT token endpoint ${this.tokenUrl} refused the client assertion (HTTP ${response.status}: ${await vendorMessage(response)}); ` +
          `check the tenant id, the key id (kid ${credentials.kid}) and that the private key matches the registered API key, and that this machine's clock is right`,
      );
    }
    await this.expectOk(response, 'issue an access token');
    const body = await readJson(response, 'MFT token response');
    const issued = (body as { access_token?: unknown } | null)?.access_token;
    if (typeof issued === 'string') registerSecret(issued);
    const parsed = tokenResponseSchema.safeParse(body);
    if (!parsed.success) {
      throw new MalformedResponseError(`MFT token response has no usable access_token (${parsed.error.issues[0]?.message})`);
    }
    const lifetime = Number(parsed.data.expires_in);
    const seconds = Number.isFinite(lifetime) && lifetime > 0 ? lifetime : ASSUMED_TOKEN_LIFETIME_S;
    return { value: parsed.data.access_token, expiresAt: this.clock.now() + seconds * 1000 };
  }

  async createReport(token: string, body: CreateReportBody): Promise<Report> {
    const response = await this.api(token, 'POST', REPORTS_PATH, JSON.stringify(body));
    await this.expectOk(response, 'create a report');
    return this.parseReport(await readJson(response, 'MFT create-report response'));
  }

  async getReport(token: string, id: string): Promise<Report> {
    const response = await this.api(token, 'GET', reportPath(id));
    if (response.status === 404) throw new NotFoundError(`MFT report ${id} does not exist (any more) on the server`);
    await this.expectOk(response, `read report ${id}`);
    return this.parseReport(await readJson(response, `MFT report ${id}`));
  }

  /**
   * Every report of the tenant that still exists, with what the list says about its query and age. The list
   * may be a bare array or `{ items }` (what the reference script reads), and may come in pages: see
   * `nextListPage` for the paging this follows. Items need only an `id`.
   */
  async listReports(token: string): Promise<ListedReport[]> {
    const reports = new Map<string, ListedReport>();
    const visited = new Set<string>();
    let url = new URL(`${this.baseUrl}${REPORTS_PATH}`);
    for (let page = 1; ; page++) {
      visited.add(url.href);
      const response = await this.api(token, 'GET', url);
      await this.expectOk(response, 'list reports');
      const linkHeader = response.headers.get('link');
      const body = await readJson(response, 'MFT report list');
      const items = Array.isArray(body) ? body : (body as { items?: unknown } | null)?.items;
      if (!Array.isArray(items)) {
        throw new MalformedResponseError('MFT report list is neither an array nor an object with an `items` array');
      }
      for (const item of items) {
        const listed = this.listedReport(item);
        if (!reports.has(listed.id)) reports.set(listed.id, listed);
      }
      const next = items.length === 0 || Array.isArray(body) && !linkHeader ? undefined : nextListPage(url, body, linkHeader);
      if (!next) return [...reports.values()];
      if (next.origin !== this.apiOrigin) {
        throw new MalformedResponseError(
          `MFT report list points its next page at ${describeUrl(next)}, another origin than the API's (${this.apiOrigin}): not followed, the access token goes to the API host only`,
        );
      }
      if (visited.has(next.href)) throw new MalformedResponseError(`MFT report list points its next page back at ${describeUrl(next)} (page ${page}): a loop`);
      if (page >= MAX_LIST_PAGES) throw new MalformedResponseError(`MFT report list has more than ${MAX_LIST_PAGES} pages`);
      url = next;
    }
  }

  private listedReport(item: unknown): ListedReport {
    const listed: ListedReport = this.parseReport(item);
    const fields = item as Record<string, unknown>;
    if (typeof fields.type === 'number' || typeof fields.type === 'string') listed.type = fields.type;
    for (const name of ['start', 'end', 'createdAt'] as const) {
      const value = fields[name];
      if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) listed[name] = value;
    }
    return listed;
  }

  /** Deletes a report; `false` when it was already gone (a retried delete is not an error). */
  async deleteReport(token: string, id: string): Promise<boolean> {
    const response = await this.api(token, 'DELETE', reportPath(id));
    if (response.status === 404) {
      await response.body?.cancel();
      return false;
    }
    await this.expectOk(response, `delete report ${id}`);
    await response.body?.cancel();
    return true;
  }

  /**
   * Opens the report file. The presigned URL needs no credentials, so none are sent; like the vendor's
   * client we retry once with the bearer token on 401/403, but only when the URL is on the API host itself.
   * Redirects are followed hop by hop under the DownloadPolicy; a refused one is a DownloadRefusedError
   * (not retried: the vendor's answer would send us there again), and nothing is stored.
   */
  async openDownload(url: string, token: string): Promise<Download> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new MalformedResponseError('MFT report has a download url that is not a valid URL');
    }
    registerUrlSecrets(target);
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      throw new MalformedResponseError(`MFT report download url has unsupported scheme ${target.protocol}`);
    }
    if (target.username || target.password) {
      throw new DownloadRefusedError(
        `MFT report download url ${describeUrl(target)} carries user-info (a name or password before the host): refused, nothing was stored`,
      );
    }
    const first = target;
    let response: Response;
    for (let redirects = 0; ; redirects++) {
      response = await this.http.request({ url: target, timeoutMs: 60_000, redirect: 'manual', fetch: this.downloadFetch });
      if (!REDIRECT_STATUSES.has(response.status)) break;
      await response.body?.cancel().catch(() => undefined);
      const location = response.headers.get('location');
      if (!location) throw new MalformedResponseError(`Download from ${describeUrl(target)} answered HTTP ${response.status} without a Location`);
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        throw new MalformedResponseError(`Download from ${describeUrl(target)} answered HTTP ${response.status} with an unreadable Location`);
      }
      registerUrlSecrets(next);
      const problem = redirects >= MAX_REDIRECTS ? `more than ${MAX_REDIRECTS} redirects` : redirectProblem(first, next, this.download.redirectHosts);
      if (problem) {
        throw new DownloadRefusedError(
          `Download from ${describeUrl(first)} was redirected (HTTP ${response.status}) to ${describeUrl(next)}, ${problem}: refused, nothing was stored`,
        );
      }
      target = next;
    }
    if ((response.status === 401 || response.status === 403) && target.origin === this.apiOrigin) {
      await response.body?.cancel();
      response = await this.http.request({
        url: target,
        headers: { authorization: `bearer ${token}` },
        redirect: 'error',
        timeoutMs: 60_000,
        fetch: this.downloadFetch,
      });
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      // Presigned links expire; a retry of the copy step reads the report again and gets a fresh link.
      throw new TransientError(
        `Download from ${describeUrl(target)} was refused (HTTP ${response.status}); the presigned link may have expired`,
      );
    }
    if (response.status === 404) {
      await response.body?.cancel();
      throw new NotFoundError(`Download from ${describeUrl(target)} answered 404: the report file is gone`);
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new VendorRequestError(`Download from ${describeUrl(target)} answered HTTP ${response.status}`, response.status);
    }
    const encoding = (response.headers.get('content-encoding') ?? '').trim().toLowerCase();
    if (encoding && encoding !== 'identity' && !DECODED_ENCODINGS.has(encoding)) {
      await response.body.cancel();
      throw new MalformedResponseError(
        `Download from ${describeUrl(target)} arrived with Content-Encoding ${JSON.stringify(encoding.slice(0, 40))}, which the exporter does not decode (it asks for gzip, deflate or br): nothing was stored`,
      );
    }
    const length = response.headers.get('content-length');
    const download: Download = {
      // The guarded transport's own Node stream where it is one (no web-stream adapters per chunk).
      body: takeNodeBody(response) ?? NodeReadable.fromWeb(response.body as WebReadableStream<Uint8Array>),
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
    };
    if (encoding && encoding !== 'identity') download.contentEncoding = encoding === 'x-gzip' ? 'gzip' : encoding;
    // The transport decodes an encoded body: its Content-Length counts the encoded bytes, not the report's.
    else if (length !== null && /^\d+$/.test(length)) download.contentLength = Number(length);
    return download;
  }

  private api(token: string, method: string, target: string | URL, body?: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: `bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = typeof target === 'string' ? `${this.baseUrl}${target}` : target;
    const path = typeof target === 'string' ? target : target.pathname;
    return this.http
      .request({ method, url, headers, body, redirect: 'error', redirectAdvice: this.redirectAdvice })
      .then(async (response) => {
        const refusal = await allowListRefusal('mft', response, `${method} ${path}`);
        if (refusal) throw new VendorAuthError(refusal);
        if (response.status === 401) {
          await response.body?.cancel();
          throw new AccessTokenRejectedError(`MFT API rejected the access token on ${method} ${path} (HTTP 401)`);
        }
        if (response.status === 403) {
          throw new VendorAuthError(
            `MFT API refused ${method} ${path} (HTTP 403: ${await vendorMessage(response)}); the API key may lack permission to read audit logs`,
          );
        }
        return response;
      });
  }

  private async expectOk(response: Response, what: string): Promise<void> {
    if (response.ok) return;
    const message = await vendorMessage(response);
    throw new VendorRequestError(`MFT API could not ${what}: HTTP ${response.status}: ${message}`, response.status);
  }

  private parseReport(value: unknown): Report {
    const parsed = reportSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new MalformedResponseError(
        `MFT report object does not match the documented shape (${issue?.path.join('.') || 'body'}: ${issue?.message})`,
      );
    }
    const { id, status, url, size } = parsed.data;
    const report: Report = { id, status: normalizeStatus(status), rawStatus: status === null || status === undefined ? '' : String(status) };
    if (url) {
      // The link is a credential (its signature) from the moment it is read.
      registerUrlSecrets(url);
      report.url = url;
    }
    // A byte count, or unknown: `""` (Number("") is 0), negative or fractional sizes must not become a length to verify against.
    const bytes = typeof size === 'number' ? size : typeof size === 'string' && /^\s*\d+\s*$/.test(size) ? Number(size) : NaN;
    if (Number.isSafeInteger(bytes) && bytes >= 0) report.size = bytes;
    return report;
  }
}

/**
 * The next page of the report list, or undefined on the last one. No public page says whether the list is
 * paged; these are the plausible ways an API says "there is more", tried in this order:
 * - an RFC 8288 `Link: <…>; rel="next"` header;
 * - a next link in the body: `next`, `nextLink`, `@odata.nextLink`, `nextPageUrl`, or `links.next` (a URL or `{ href }`);
 * - a token: `nextPageToken` / `next_page_token` (sent back as `pageToken`), `continuationToken` (as itself);
 * - page numbers: `page` (or `pageNumber`) with `pageSize`, and `totalCount` / `total` / `totalPages`, or
 *   `hasMore` / `hasNext` true (asks for `page + 1` with the same `pageSize`).
 * Links resolve against the page they came from; the caller follows them only on the API's own origin.
 */
export function nextListPage(current: URL, body: unknown, linkHeader: string | null): URL | undefined {
  const linked = linkHeader ? nextFromLinkHeader(linkHeader) : undefined;
  if (linked) return resolveLink(current, linked);
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const fields = body as Record<string, unknown>;
  const links = fields.links as Record<string, unknown> | undefined;
  const linkValue = [fields.next, fields.nextLink, fields['@odata.nextLink'], fields.nextPageUrl, links && typeof links === 'object' ? links.next : undefined]
    .map((value) => (value && typeof value === 'object' ? (value as { href?: unknown }).href : value))
    .find((value): value is string => typeof value === 'string' && value !== '');
  if (linkValue) return resolveLink(current, linkValue);
  for (const [field, parameter] of [['nextPageToken', 'pageToken'], ['next_page_token', 'pageToken'], ['continuationToken', 'continuationToken']] as const) {
    const token = fields[field];
    if (typeof token === 'string' && token !== '') {
      const next = new URL(current);
      next.searchParams.set(parameter, token);
      return next;
    }
  }
  const page = wholeNumber(fields.page ?? fields.pageNumber);
  const pageSize = wholeNumber(fields.pageSize);
  if (page === undefined || pageSize === undefined || pageSize === 0) return undefined;
  const total = wholeNumber(fields.totalCount ?? fields.total);
  const totalPages = wholeNumber(fields.totalPages);
  const more =
    fields.hasMore === true || fields.hasNext === true || (total !== undefined && page * pageSize < total) || (totalPages !== undefined && page < totalPages);
  if (!more) return undefined;
  const next = new URL(current);
  next.searchParams.set('page', String(page + 1));
  next.searchParams.set('pageSize', String(pageSize));
  return next;
}

function nextFromLinkHeader(header: string): string | undefined {
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match && /;\s*rel\s*=\s*"?(?:[^";]*\s)?next(?:\s[^";]*)?"?\s*(?:;|$)/i.test(match[2]!)) return match[1];
  }
  return undefined;
}

function resolveLink(current: URL, link: string): URL {
  try {
    return new URL(link, current);
  } catch {
    throw new MalformedResponseError('MFT report list gives a next page link that is not a URL');
  }
}

function wholeNumber(value: unknown): number | undefined {
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= 0 ? number : undefined;
}

function reportPath(id: string): string {
  return `${REPORTS_PATH}/${encodeURIComponent(id)}`;
}

/** The vendor's own words from an error body, shortened; never the request (which may hold secrets). */
async function vendorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const message = body.error_description ?? body.message ?? body.error ?? body.title;
    if (typeof message === 'string') return truncate(message);
  } catch {
    // not JSON: fall through
  }
  return text.trimStart().startsWith('<') ? 'an HTML error page' : truncate(text) || 'no details';
}

function truncate(text: string): string {
  const single = text.replace(/\s+/g, ' ').trim();
  return single.length > 200 ? `${single.slice(0, 200)}…` : single;
}

