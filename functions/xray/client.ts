import { VendorAuthError, VendorRequestError } from '../common/errors.js';
import { allowListRefusal } from '../common/allow-list.js';
import { HttpClient, readBytes } from '../common/http.js';
import { readZip } from '../common/zip.js';
import { scanJsonPage, toNdjson } from './json-page-scan.js';
import { jsonPageSchema } from './model.js';
import { MalformedResponseError } from '../common/errors.js';
import type { TimeWindow } from '../common/time-window.js';

export const AUDIT_PATH = '/xray/api/v1/curation/audit/packages';

/** An access token (preferred) or a user and password, as JFrog platforms accept. */
export type XrayCredentials = { accessToken: string } | { username: string; password: string };

export interface PageQuery {
  window: TimeWindow;
  offset: number;
  pageSize: number;
  dryRun: boolean;
}

export interface JsonPage {
  /** The events' ids, in page order. */
  ids: number[];
  /** The events as NDJSON: each one's JSON text as the vendor sent it, one per line. */
  ndjson: Buffer;
  /** Falsy on the last page, as the vendor documents. */
  nextOffset?: number;
}

export interface CsvPage {
  fileName: string;
  csv: Buffer;
}

/** JFrog Xray Curation's audit endpoint, and nothing else. */
export class XrayClient {
  readonly baseUrl: string;
  private readonly authorization: string;

  constructor(
    baseUrl: string,
    credentials: XrayCredentials,
    private readonly http: HttpClient = new HttpClient(),
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.authorization =
      'accessToken' in credentials
        ? `Bearer ${credentials.accessToken}`
        : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  }

  async jsonPage(query: PageQuery): Promise<JsonPage> {
    const response = await this.get(query, 'json');
    const bytes = await readBytes(response, 'Xray audit page');
    // Fast path: the events' bytes as sent, split without decoding, parsing and re-serializing them
    // (see json-page-scan.ts); anything not shaped as expected takes the full parse below.
    let scanned: ReturnType<typeof scanJsonPage>;
    try {
      scanned = scanJsonPage(bytes);
    } catch (error) {
      if (error instanceof MalformedResponseError) throw error;
      // e.g. a `meta` value that is not JSON: the scanner's JSON.parse throws a bare SyntaxError.
      throw new MalformedResponseError(`Xray audit page is not valid JSON (HTTP ${response.status}, ${bytes.length} bytes)`);
    }
    if (scanned) {
      // The fast path reads `meta` as it is: validate it like the full parse does, or a `next_offset` sent as
      // a string (or negative, or fractional) would end the window early and silently lose the rest.
      const meta = jsonPageSchema.shape.meta.safeParse(scanned.meta);
      if (!meta.success) {
        const issue = meta.error.issues[0];
        throw new MalformedResponseError(
          `Xray audit page does not match the documented shape (meta${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message})`,
        );
      }
      const page: JsonPage = { ids: scanned.ids, ndjson: toNdjson(bytes, scanned.bounds) };
      const next = meta.data.next_offset;
      if (next) page.nextOffset = next;
      return page;
    }
    let body: unknown;
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch {
      const kind = bytes.subarray(0, 64).toString('utf8').trimStart().startsWith('<') ? 'an HTML page' : 'text that is not JSON';
      throw new MalformedResponseError(`Xray audit page: expected JSON but got ${kind} (HTTP ${response.status}, ${bytes.length} bytes)`);
    }
    const parsed = jsonPageSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new MalformedResponseError(
        `Xray audit page does not match the documented shape (${issue?.path.join('.') || 'body'}: ${issue?.message})`,
      );
    }
    const lines = parsed.data.data.map((event) => JSON.stringify(event));
    const page: JsonPage = {
      ids: parsed.data.data.map((event) => event.id),
      ndjson: lines.length ? Buffer.from(`${lines.join('\n')}\n`) : Buffer.alloc(0),
    };
    const next = parsed.data.meta.next_offset;
    if (next) page.nextOffset = next;
    return page;
  }

  async csvPage(query: PageQuery): Promise<CsvPage> {
    const response = await this.get(query, 'csv');
    // One page is bounded by num_of_rows, so it is read whole; the export as a whole never is.
    const zip = await readBytes(response, 'Xray CSV page');
    const entries = readZip(zip, 'Xray CSV page');
    const csvEntries = entries.filter((entry) => entry.name.endsWith('.csv'));
    if (csvEntries.length !== 1) {
      throw new MalformedResponseError(`Xray CSV page holds ${csvEntries.length} CSV files; expected exactly one`);
    }
    return { fileName: csvEntries[0]!.name, csv: csvEntries[0]!.data };
  }

  private async get(query: PageQuery, format: 'json' | 'csv'): Promise<Response> {
    const url = new URL(`${this.baseUrl}${AUDIT_PATH}`);
    const params: Record<string, string> = {
      order_by: 'id',
      direction: 'asc',
      num_of_rows: String(query.pageSize),
      created_at_start: query.window.start,
      created_at_end: query.window.end,
      offset: String(query.offset),
      dry_run: String(query.dryRun),
      format,
    };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    const response = await this.http.request({
      url,
      headers: { authorization: this.authorization, accept: format === 'json' ? 'application/json' : 'application/zip' },
      redirect: 'error',
      timeoutMs: 120_000,
    });
    if (response.ok) return response;
    const refusal = await allowListRefusal('xray', response, `the audit query to ${this.baseUrl}${AUDIT_PATH}`);
    if (refusal) throw new VendorAuthError(refusal);
    const message = await vendorMessage(response);
    if (response.status === 401) {
      throw new VendorAuthError(`Xray rejected the credentials (HTTP 401: ${message}); check the access token or user/password secret`);
    }
    if (response.status === 403) {
      throw new VendorAuthError(
        `Xray refused the audit log (HTTP 403: ${message}); the user needs the VIEW_POLICIES permission`,
      );
    }
    if (response.status === 404) {
      throw new VendorRequestError(
        `Xray answered 404 for ${AUDIT_PATH}: check the platform URL (${this.baseUrl}) and that Xray is 3.82 or later`,
        404,
      );
    }
    throw new VendorRequestError(`Xray rejected the audit query (HTTP ${response.status}: ${message})`, response.status);
  }
}

/** JFrog's `{"errors":[{"message":…}]}`, shortened. */
async function vendorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { errors?: { message?: string }[]; message?: string; error?: string };
    const message = body.errors?.[0]?.message ?? body.message ?? body.error;
    if (typeof message === 'string') return message.slice(0, 300);
  } catch {
    // not JSON
  }
  return text.trimStart().startsWith('<') ? 'an HTML error page' : text.slice(0, 200) || 'no details';
}
