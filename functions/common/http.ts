import { systemClock, sleep as defaultSleep, type Clock } from './clock.js';
import { AuditExportError, ConfigError, MalformedResponseError, TransientError } from './errors.js';
import { scrubbedMessage } from './scrubber.js';

/**
 * HTTP with timeouts and retries, written once for every vendor client.
 *
 * - Every attempt has a deadline for the response headers; bodies are the caller's (they may be gigabytes).
 * - 429 and 5xx answers, network errors and timeouts are retried with exponential backoff and full jitter,
 *   honouring `Retry-After`, within a bounded number of attempts and total time. Past that a
 *   `TransientError` is thrown, which the state machine retries at its own level or fails on cleanly.
 * - Other answers are returned to the caller, which knows what a 401, 404 or 400 means for its API.
 * - URLs in errors are reduced to origin and path: presigned query strings are credentials; every message
 *   passes through the scrubber (a network error may quote a header or a URL).
 * - A request that cannot be built (a header value with a line break, a URL with user-info) and the
 *   project's own typed errors from a transport (a refused download address) are not retried: another
 *   attempt would fail the same way.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No new attempt starts after this much time since the first one. */
  maxElapsedMs: number;
}

export interface HttpClientOptions {
  fetch?: typeof fetch;
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  /** Deadline for the response headers of one attempt. */
  timeoutMs?: number;
  userAgent?: string;
}

export interface HttpRequest {
  method?: string;
  url: string | URL;
  headers?: Record<string, string>;
  /**
   * The request body; a function is called again for every attempt (e.g. to sign a fresh single-use
   * client assertion: a retried POST must not replay one the server may already have consumed or that expired).
   */
  body?: string | (() => string | Promise<string>);
  timeoutMs?: number;
  /**
   * 'error' for requests that carry credentials: a redirect must never take them elsewhere. It is not followed,
   * and fails at once (no retry) as a ConfigError naming where it pointed: the configured URL is the mistake.
   */
  redirect?: 'follow' | 'error' | 'manual';
  /** With redirect 'error': what to configure instead, from the redirect's target (default: that origin and path). */
  redirectAdvice?: (location: URL, requested: URL) => string;
  /** Retry 429/5xx/network failures (default true). */
  retry?: boolean;
  /** Another transport for this request (e.g. downloads whose connections obey egress rules). */
  fetch?: typeof fetch;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxElapsedMs: 60_000,
};

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

export class HttpClient {
  private readonly fetchImpl: typeof fetch;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  readonly retryPolicy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  /** Attempts that were retried, for metrics and tests. */
  retries = 0;

  constructor(options: HttpClientOptions = {}) {
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? ((ms) => defaultSleep(ms));
    this.random = options.random ?? Math.random;
    this.retryPolicy = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'audit-export';
  }

  async request(request: HttpRequest): Promise<Response> {
    const policy = this.retryPolicy;
    const maxAttempts = request.retry === false ? 1 : policy.maxAttempts;
    const started = this.clock.now();
    const target = `${request.method ?? 'GET'} ${describeUrl(request.url)}`;
    checkHeaders(target, request.headers);
    let lastProblem = '';
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const response = await this.attempt(request);
        if (request.redirect === 'error' && REDIRECT_STATUS.has(response.status)) throw await redirectRefused(request, response);
        if (!RETRYABLE_STATUS.has(response.status)) return response;
        retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.clock.now());
        lastProblem = `answered HTTP ${response.status}`;
        await response.body?.cancel().catch(() => undefined);
      } catch (error) {
        if (error instanceof AuditExportError) throw error;
        lastProblem = `failed: ${scrubbedMessage(error)}`;
      }
      const elapsed = this.clock.now() - started;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.max(retryAfterMs ?? 0, Math.floor(this.random() * backoff));
      if (attempt >= maxAttempts || elapsed + delay > policy.maxElapsedMs) {
        throw new TransientError(
          `${target} ${lastProblem} (${attempt} attempt${attempt === 1 ? '' : 's'} over ${Math.round(elapsed / 1000)} s); ` +
            'the vendor may be down or throttling: the next run retries',
          retryAfterMs,
        );
      }
      this.retries++;
      await this.sleep(delay);
    }
  }

  private async attempt(request: HttpRequest): Promise<Response> {
    const controller = new AbortController();
    const timeoutMs = request.timeoutMs ?? this.timeoutMs;
    const timer = setTimeout(
      () => controller.abort(new Error(`no response within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const init: RequestInit = {
        method: request.method ?? 'GET',
        headers: { 'user-agent': this.userAgent, ...request.headers },
        signal: controller.signal,
        // 'manual' rather than fetch's 'error': a refused redirect is reported with where it pointed (see redirectRefused).
        redirect: request.redirect === 'error' ? 'manual' : (request.redirect ?? 'follow'),
      };
      if (request.body !== undefined) init.body = typeof request.body === 'function' ? await request.body() : request.body;
      return await (request.fetch ?? this.fetchImpl)(request.url, init);
    } catch (error) {
      if (error instanceof AuditExportError) throw error;
      // undici hides the interesting part (ECONNRESET, ECONNREFUSED) in `cause`.
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof AuditExportError) throw cause;
      if (error instanceof TypeError && cause === undefined && !controller.signal.aborted) {
        // fetch refused to build the request (a header value, the URL): nothing was sent, a retry fails alike.
        throw new ConfigError(`${request.method ?? 'GET'} ${describeUrl(request.url)} could not be sent: ${scrubbedMessage(error)}`);
      }
      const detail = controller.signal.aborted
        ? scrubbedMessage(controller.signal.reason)
        : cause
          ? `${scrubbedMessage(error)} (${scrubbedMessage(cause)})`
          : scrubbedMessage(error);
      throw new Error(detail);
    } finally {
      // Headers arrived (or failed): the body is streamed by the caller under its own watchdog.
      clearTimeout(timer);
    }
  }
}

/**
 * A redirect answered to a request that carries credentials. It is not followed (the credentials would go
 * wherever the answer says) and not retried: it will answer the same next time. Even http → https is refused:
 * the credentials already went in clear, and outside the twin http vendor URLs are refused by configuration.
 */
async function redirectRefused(request: HttpRequest, response: Response): Promise<ConfigError> {
  await response.body?.cancel().catch(() => undefined);
  const requested = new URL(String(request.url));
  const target = `${request.method ?? 'GET'} ${describeUrl(requested)}`;
  let location: URL | undefined;
  try {
    location = new URL(response.headers.get('location') ?? '', requested);
  } catch {
    location = undefined;
  }
  if (!location || !response.headers.get('location')) {
    return new ConfigError(`${target} was redirected (HTTP ${response.status}) without a usable Location; check the configured URL`);
  }
  const advice = request.redirectAdvice?.(location, requested) ?? `configure ${location.origin}${location.pathname} instead`;
  return new ConfigError(
    `${target} was redirected (HTTP ${response.status}) to ${describeUrl(location)}; a request that carries credentials never follows a redirect: ${advice}`,
  );
}

/**
 * Redirect advice for a client whose requests are `<baseUrl><path>`: the base URL the redirect implies (its
 * target minus the requested path), and the setting that holds it.
 */
export function baseUrlAdvice(setting: string, baseUrl: string): (location: URL, requested: URL) => string {
  const basePath = new URL(baseUrl).pathname.replace(/\/+$/, '');
  return (location, requested) => {
    const suffix = requested.pathname.startsWith(basePath) ? requested.pathname.slice(basePath.length) : requested.pathname;
    const base = suffix && location.pathname.endsWith(suffix) ? `${location.origin}${location.pathname.slice(0, -suffix.length)}` : undefined;
    return base !== undefined ? `set ${setting} to ${base.replace(/\/+$/, '') || location.origin}` : `set ${setting} to the address the platform answers at (it redirected to ${location.origin}${location.pathname})`;
  };
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Header values must be visible ASCII, spaces and tabs (RFC 9110 field-value; obs-text aside). A credential
 * with a line break would otherwise fail inside fetch with the whole value in its message, and be retried.
 */
function checkHeaders(target: string, headers: Record<string, string> | undefined): void {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
      throw new ConfigError(
        `${target}: the ${name} header would hold a line break or a control character; ` +
          (name.toLowerCase() === 'authorization' ? 'check the configured credentials' : 'the request was not sent'),
      );
    }
  }
}

/** Origin and path only: query strings of presigned URLs are credentials and never reach a log or an error. */
export function describeUrl(url: string | URL): string {
  try {
    const parsed = new URL(String(url));
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

/**
 * Reads a whole (bounded) body. A body cut short (connection reset or closed before Content-Length,
 * a stalled stream) is a `TransientError` — a fresh request may succeed — rather than undici's bare
 * `TypeError: terminated`, which no Retry block matches. A body larger than `maxBytes` (announced or
 * streamed) is a `MalformedResponseError`, read no further than the limit.
 */
export async function readBytes(response: Response, what: string, maxBytes = DEFAULT_MAX_BODY_BYTES): Promise<Buffer> {
  const tooLarge = () =>
    new MalformedResponseError(`${what}: the response body (HTTP ${response.status}) is larger than the ${maxBytes}-byte limit of what this request can return`);
  const announced = response.headers.get('content-length');
  if (announced !== null && /^\d+$/.test(announced) && Number(announced) > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!response.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.byteLength;
      if (length > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof MalformedResponseError) throw error;
    const cause = (error as { cause?: unknown }).cause;
    throw new TransientError(
      `${what}: the response body (HTTP ${response.status}) was cut short: ${scrubbedMessage(error)}${cause ? ` (${scrubbedMessage(cause)})` : ''}`,
      undefined,
      { cause: error },
    );
  }
  return Buffer.concat(chunks, length);
}

/** Bodies read whole (API answers, one page) are at most this large unless the caller says otherwise. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Reads a JSON body, turning HTML error pages and truncated bodies into a clear error. */
export async function readJson(response: Response, what: string): Promise<unknown> {
  const text = (await readBytes(response, what)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    const kind = text.trimStart().startsWith('<') ? 'an HTML page' : 'text that is not JSON';
    throw new MalformedResponseError(
      `${what}: expected JSON but got ${kind} (HTTP ${response.status}, ${text.length} bytes)`,
    );
  }
}
