import { VendorAuthError, VendorRequestError } from '../common/errors.js';
import { allowListRefusal } from '../common/allow-list.js';
import { HttpClient, baseUrlAdvice, readBytes } from '../common/http.js';
import { registerSecret } from '../common/scrubber.js';
import { DEFAULT_MAX_INFLATED_BYTES, readZip } from '../common/zip.js';
import { checkJsonPage, scanJsonPage, toNdjson } from './json-page-scan.js';
import { MAX_PAGE_SIZE, jsonPageSchema } from './model.js';
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
  /** `meta.total_count`, when asked for (`include_total`) and given. */
  totalCount?: number;
}

/** What the window-count request learns: the vendor's count (null when it gives none) and the id at the offset. */
export interface WindowCount {
  total: number | null;
  /** The id of the event at the offset asked, when there is one. */
  id?: number;
}

export interface CsvPage {
  fileName: string;
  csv: Buffer;
  /** The num_of_rows this page was asked with: the query's, or 2,000 once the platform refused a larger page. */
  pageSize: number;
}

export interface XrayClientOptions {
  /** Where the client says what surprised it (e.g. a platform that refuses large CSV pages). */
  warn?: (message: string) => void;
}

/**
 * What one page may weigh. A CSV page inflates to at most this much: ~16 KiB per event asked for (an event is
 * one row per policy, ~500 bytes a row), at least 16 MiB, and at most the zip reader's absolute cap (384 MiB),
 * which still holds a page of 500,000 events — the most the vendor's CSV export can be asked for — inside
 * the 1 GiB the function has. A JSON page (at most 2,000 events) is at most 64 MiB.
 */
export function csvPageByteLimit(pageSize: number): number {
  return Math.min(DEFAULT_MAX_INFLATED_BYTES, Math.max(16 * 1024 * 1024, pageSize * 16 * 1024));
}
export const JSON_PAGE_BYTE_LIMIT = 64 * 1024 * 1024;

/** JFrog Xray Curation's audit endpoint, and nothing else. */
export class XrayClient {
  readonly baseUrl: string;
  private readonly authorization: string;
  private readonly redirectAdvice: (location: URL, requested: URL) => string;
  /** Set once the platform answered 400 to a CSV page larger than 2,000 (an older or self-hosted Xray). */
  private csvPageCap: number | undefined;

  constructor(
    baseUrl: string,
    credentials: XrayCredentials,
    private readonly http: HttpClient = new HttpClient(),
    private readonly options: XrayClientOptions = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.redirectAdvice = baseUrlAdvice('XRAY_BASE_URL (sources.xray.baseUrl)', this.baseUrl);
    this.authorization =
      'accessToken' in credentials
        ? `Bearer ${credentials.accessToken}`
        : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    registerSecret('accessToken' in credentials ? credentials.accessToken : credentials.password, { pinned: true });
    registerSecret(this.authorization.slice(this.authorization.indexOf(' ') + 1), { pinned: true });
  }

  /**
   * The window's count before it is walked: JSON with `include_total=true` and `num_of_rows=1` whatever the
   * stream's format (CSV refuses `include_total`), at `offset` (the one event there tells where stored events
   * end). An answer without `total_count` gives `total: null`.
   */
  async countWindow(query: Omit<PageQuery, 'pageSize'>): Promise<WindowCount> {
    const page = await this.jsonPage({ ...query, pageSize: 1 }, { includeTotal: true });
    const count: WindowCount = { total: page.totalCount ?? null };
    if (page.ids.length) count.id = page.ids[0]!;
    return count;
  }

  async jsonPage(query: PageQuery, options: { includeTotal?: boolean } = {}): Promise<JsonPage> {
    const response = await this.get(query, 'json', options.includeTotal ?? false);
    const bytes = await readBytes(response, 'Xray audit page', JSON_PAGE_BYTE_LIMIT);
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
      const nextOffset = checkedNextOffset(query.offset, scanned.ids.length, meta.data);
      const page: JsonPage = { ids: scanned.ids, ndjson: toNdjson(bytes, scanned.bounds) };
      if (nextOffset !== undefined) page.nextOffset = nextOffset;
      if (meta.data.total_count !== undefined) page.totalCount = meta.data.total_count;
      return page;
    }
    checkJsonPage(bytes);
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
    const nextOffset = checkedNextOffset(query.offset, parsed.data.data.length, parsed.data.meta);
    const lines = parsed.data.data.map((event) => JSON.stringify(event));
    const page: JsonPage = {
      ids: parsed.data.data.map((event) => event.id),
      ndjson: lines.length ? Buffer.from(`${lines.join('\n')}\n`) : Buffer.alloc(0),
    };
    if (nextOffset !== undefined) page.nextOffset = nextOffset;
    if (parsed.data.meta.total_count !== undefined) page.totalCount = parsed.data.meta.total_count;
    return page;
  }

  /**
   * One CSV page. JFrog's current reference allows num_of_rows up to 500,000 with format=csv, the older
   * document 2,000: a platform that answers 400 to a larger page is asked again with 2,000, and from then on
   * (for this client) always; `pageSize` says which one the page was asked with.
   */
  async csvPage(query: PageQuery): Promise<CsvPage> {
    const pageSize = Math.min(query.pageSize, this.csvPageCap ?? query.pageSize);
    let response: Response;
    try {
      response = await this.get({ ...query, pageSize }, 'csv');
    } catch (error) {
      if (!(error instanceof VendorRequestError) || error.status !== 400 || pageSize <= MAX_PAGE_SIZE) throw error;
      this.csvPageCap = MAX_PAGE_SIZE;
      this.options.warn?.(
        `Xray at ${this.baseUrl} refused a CSV page of ${pageSize} rows (${error.message}); asking for ${MAX_PAGE_SIZE} from now on ` +
          `(an older or self-hosted Xray; set XRAY_CSV_PAGE_SIZE=${MAX_PAGE_SIZE} to skip the refused request)`,
      );
      return this.csvPage(query);
    }
    // One page is bounded by num_of_rows, so it is read whole; the export as a whole never is.
    const limit = csvPageByteLimit(pageSize);
    const zip = await readBytes(response, 'Xray CSV page', limit);
    const entries = readZip(zip, 'Xray CSV page', { maxBytes: limit });
    const csvEntries = entries.filter((entry) => entry.name.endsWith('.csv'));
    if (csvEntries.length !== 1) {
      throw new MalformedResponseError(`Xray CSV page holds ${csvEntries.length} CSV files; expected exactly one`);
    }
    return { fileName: csvEntries[0]!.name, csv: csvEntries[0]!.data, pageSize };
  }

  private async get(query: PageQuery, format: 'json' | 'csv', includeTotal = false): Promise<Response> {
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
    if (includeTotal) params.include_total = 'true';
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    const response = await this.http.request({
      url,
      headers: { authorization: this.authorization, accept: format === 'json' ? 'application/json' : 'application/zip' },
      redirect: 'error',
      redirectAdvice: this.redirectAdvice,
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

/**
 * The offset of the next page, checked: falsy ends the window; anything else must be exactly past this page
 * (`offset + result_count`, or + the events in `data` when result_count is absent). A jump ahead would skip
 * events silently, one back would store them twice. A result_count that is not the number of events sent
 * means the page is not what it claims.
 */
function checkedNextOffset(
  offset: number,
  events: number,
  meta: { next_offset?: number | null | undefined; result_count?: number | undefined },
): number | undefined {
  if (meta.result_count !== undefined && meta.result_count !== events) {
    throw new MalformedResponseError(
      `Xray audit page at offset ${offset} says result_count ${meta.result_count} but holds ${events} events`,
    );
  }
  const next = meta.next_offset;
  if (!next) return undefined;
  const expected = offset + events;
  if (next !== expected || events === 0) {
    throw new MalformedResponseError(
      `Xray audit page at offset ${offset} holds ${events} events but gives next_offset ${next} (expected ${events ? expected : 'none'}${events ? ', or none on the last page' : ' after an empty page'})`,
    );
  }
  return next;
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
