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
import { HttpClient, describeUrl, readJson } from '../common/http.js';
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
  body: Readable;
  /** Content-Length, when the server announced one. */
  contentLength?: number;
  contentType: string;
}

const REPORTS_PATH = '/v1/reports/audit-logs';
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

  constructor(
    baseUrl: string,
    private readonly http: HttpClient = new HttpClient(),
    private readonly clock: Clock = systemClock,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.tokenUrl = `${this.baseUrl}/v1/oauth/token`;
    this.apiOrigin = new URL(this.baseUrl).origin;
  }

  async issueToken(credentials: MftCredentials): Promise<AccessToken> {
    const response = await this.http.request({
      method: 'POST',
      url: this.tokenUrl,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      // A fresh assertion for every attempt: its jti is single-use (the server may have consumed it before a
      // 502 or a lost reply) and its lifetime (~20 s) is shorter than the retry budget.
      body: async () =>
        JSON.stringify({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await signClientAssertion(credentials, this.tokenUrl, this.clock.now()),
        }),
      redirect: 'error',
    });
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      throw new VendorAuthError(
        `MFT token endpoint ${this.tokenUrl} refused the client assertion (HTTP ${response.status}: ${await vendorMessage(response)}); ` +
          `check the tenant id, the key id (kid ${credentials.kid}) and that the private key matches the registered API key, and that this machine's clock is right`,
      );
    }
    await this.expectOk(response, 'issue an access token');
    const parsed = tokenResponseSchema.safeParse(await readJson(response, 'MFT token response'));
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

  /** Every report of the tenant that still exists, with what the list says about its query and age. */
  async listReports(token: string): Promise<ListedReport[]> {
    const response = await this.api(token, 'GET', REPORTS_PATH);
    await this.expectOk(response, 'list reports');
    const body = (await readJson(response, 'MFT report list')) as { items?: unknown } | null;
    if (!body || typeof body !== 'object' || !Array.isArray(body.items)) {
      throw new MalformedResponseError('MFT report list has no `items` array');
    }
    return body.items.map((item) => {
      const listed: ListedReport = this.parseReport(item);
      const fields = item as Record<string, unknown>;
      if (typeof fields.type === 'number' || typeof fields.type === 'string') listed.type = fields.type;
      for (const name of ['start', 'end', 'createdAt'] as const) {
        const value = fields[name];
        if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) listed[name] = value;
      }
      return listed;
    });
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
   */
  async openDownload(url: string, token: string): Promise<Download> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new MalformedResponseError('MFT report has a download url that is not a valid URL');
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      throw new MalformedResponseError(`MFT report download url has unsupported scheme ${target.protocol}`);
    }
    let response = await this.http.request({ url: target, timeoutMs: 60_000 });
    if ((response.status === 401 || response.status === 403) && target.origin === this.apiOrigin) {
      await response.body?.cancel();
      response = await this.http.request({
        url: target,
        headers: { authorization: `bearer ${token}` },
        redirect: 'error',
        timeoutMs: 60_000,
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
    const length = response.headers.get('content-length');
    const download: Download = {
      body: NodeReadable.fromWeb(response.body as WebReadableStream<Uint8Array>),
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
    };
    if (length !== null && /^\d+$/.test(length)) download.contentLength = Number(length);
    return download;
  }

  private api(token: string, method: string, path: string, body?: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: `bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.http
      .request({ method, url: `${this.baseUrl}${path}`, headers, body, redirect: 'error' })
      .then(async (response) => {
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
    const report: Report = { id, status: normalizeStatus(status), rawStatus: String(status) };
    if (url) report.url = url;
    // A byte count, or unknown: `""` (Number("") is 0), negative or fractional sizes must not become a length to verify against.
    const bytes = typeof size === 'number' ? size : typeof size === 'string' && /^\s*\d+\s*$/.test(size) ? Number(size) : NaN;
    if (Number.isSafeInteger(bytes) && bytes >= 0) report.size = bytes;
    return report;
  }
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

