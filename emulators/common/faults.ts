/**
 * Fault injection shared by the emulators: a plan of rules, each matching some requests and injecting one
 * fault into them (an error status, a reset, a delay, a truncated body, a hang, or an emulator-level
 * behaviour such as a report that ends Failed). Selected per run from the emulator options, the test API
 * (`emulator.faults`) or the CLI (`fault-spec.ts`).
 *
 * Determinism: the plan draws random numbers only from seeded generators (`prng.ts`), one per rule, and only
 * for requests that reach that rule, so the same rules + the same request order give the same faults.
 * Nothing here sees headers or query strings that could carry credentials; bodies are fixed texts.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { Prng } from './prng.js';

export const FAULT_STATUSES = [429, 500, 502, 503, 504] as const;
export type FaultStatus = (typeof FAULT_STATUSES)[number];

/** An error answer. `retryAfterSeconds` adds `Retry-After`; `body` defaults to the server's own error format. */
export interface StatusFault {
  kind: 'status';
  status: FaultStatus;
  retryAfterSeconds?: number;
  /** `html`: a gateway-style HTML page (clients must not crash on it); default: the server's native error body. */
  body?: 'json' | 'html';
}

export type HttpFault =
  | StatusFault
  /** The socket is destroyed without any response. */
  | { kind: 'reset' }
  /** The request is answered normally after `ms` (make it longer than the client's timeout). */
  | { kind: 'delay'; ms: number }
  /** Headers as usual (full Content-Length where there is one), then the connection closes after `afterBytes` of body
   * (at most the body length - 1, so a non-empty body is always cut short). */
  | { kind: 'truncate'; afterBytes: number }
  /** No answer at all, until the client gives up or the emulator closes. */
  | { kind: 'hang' };

export type ReportOutcome = 'failed' | 'never-completes' | 'short';

/**
 * MFT only: the report created by the matching `POST /v1/reports/audit-logs` ends Failed, stays InProgress
 * forever, or completes holding only the events of the first half of its window (`short`: a vendor answer that
 * holds less than it should, which a client cannot tell from the file alone).
 */
export interface ReportOutcomeFault {
  kind: 'report-outcome';
  outcome: ReportOutcome;
}

/** MFT only: every access token issued so far expires at the matching API request (which then gets 401). */
export interface ExpireTokensFault {
  kind: 'expire-tokens';
}

/**
 * Xray only, short answers that look like the end: a JSON page whose `data` is empty (and no `next_offset`;
 * `total_count` stays true), or a full JSON page without `next_offset`. A client that ends the window there
 * loses the rest of it.
 */
export interface ShortPageFault {
  kind: 'empty-page' | 'no-next-offset';
}

export type Fault = HttpFault | ReportOutcomeFault | ExpireTokensFault | ShortPageFault;
export type FaultKind = Fault['kind'];
export const FAULT_KINDS = [
  'status',
  'reset',
  'delay',
  'truncate',
  'hang',
  'report-outcome',
  'expire-tokens',
  'empty-page',
  'no-next-offset',
] as const satisfies readonly FaultKind[];

/** MFT: `api` (report endpoints), `token` (`POST /v1/oauth/token`), `storage` (presigned downloads); Xray: `xray`. */
export type FaultServer = 'api' | 'token' | 'storage' | 'xray';

export interface FaultMatch {
  /** One server or several; default any. */
  server?: FaultServer | readonly FaultServer[];
  /** HTTP method, any case; default any. */
  method?: string;
  /** A path prefix (string) or a pattern tested against the path (no query string); default any. */
  path?: string | RegExp;
  /** Xray: only requests whose `offset` parameter is this number (absent = 0). */
  offset?: number;
  /** Only requests whose query has these parameter values (e.g. `{ num_of_rows: '2000' }`: data pages, not counts). */
  query?: Readonly<Record<string, string>>;
  /**
   * Only the N-th arrival (from 1) of an identical request: same server, method, path and query
   * (MFT storage: the signature and expiry of the link are ignored). `2` = "fail the first retry only";
   * `[1, 2]` = "fail the first two attempts of every distinct request".
   */
  attempt?: number | readonly number[];
}

export interface FaultRule {
  /** Which requests the rule considers; default every request the fault can apply to. */
  match?: FaultMatch;
  fault: Fault;
  /** How many requests it injects into, at most; default unlimited. */
  times?: number;
  /** Let the first N matching requests through untouched. */
  after?: number;
  /** Inject into each matching request with this probability (seeded, see `seed`); default 1. */
  probability?: number;
  /** Seed of this rule's generator (used with `probability`); default 1. */
  seed?: number;
}

/** Kinds `randomize` can draw; `report-failed` / `report-never-completes` / `report-short` are the report outcomes. */
export type RandomFaultKind =
  | 'status'
  | 'reset'
  | 'delay'
  | 'truncate'
  | 'hang'
  | 'report-failed'
  | 'report-never-completes'
  | 'report-short'
  | 'expire-tokens'
  | 'empty-page'
  | 'no-next-offset';
export const RANDOM_FAULT_KINDS = [
  'status',
  'reset',
  'delay',
  'truncate',
  'hang',
  'report-failed',
  'report-never-completes',
  'report-short',
  'expire-tokens',
  'empty-page',
  'no-next-offset',
] as const satisfies readonly RandomFaultKind[];

export interface RandomizeOptions {
  seed: number;
  /** Probability that a request gets a fault, 0..1. */
  rate: number;
  /** Kinds to draw from, uniformly among those that fit the request (default `status`, `reset`, `truncate`). */
  kinds?: readonly RandomFaultKind[];
  /** Restrict the schedule to some requests (e.g. `{ server: 'storage' }`). */
  match?: FaultMatch;
  /** Statuses for `status` faults (default all of FAULT_STATUSES). */
  statuses?: readonly FaultStatus[];
  /** `Retry-After` drawn from 0..this (default 1); always sent with 429, on half of the 503s. */
  maxRetryAfterSeconds?: number;
  /** For `delay` (default 31,000: just over the exporter's default 30 s timeout). */
  delayMs?: number;
  /** `truncate` cuts after 0..this many bytes (default 4096). */
  maxTruncateBytes?: number;
  /** Stop after this many faults (default unlimited). */
  times?: number;
}

export interface RuleHandle {
  readonly id: number;
  /** Faults injected by this rule so far. */
  readonly hits: number;
  /** Matching requests this rule considered so far. */
  readonly seen: number;
  /** Removes the rule; no effect if already removed. */
  remove(): void;
}

/** One fault actually injected (no credentials, no query string). */
export interface InjectedFault {
  /** The rule's id (`RuleHandle.id`). */
  rule: number;
  kind: FaultKind;
  server: FaultServer;
  method: string;
  path: string;
  /** Xray: the request's offset. */
  offset?: number;
  /** Which arrival of this identical request it was, from 1. */
  attempt: number;
  /** The fault itself (status, ms, afterBytes, outcome). */
  fault: Fault;
  /** The emulator's `now()` in ms. */
  at: number;
}

/** The test API of fault injection, `mft.faults` / `xray.faults`. */
export interface FaultController {
  /** Adds a rule after the existing ones; throws RangeError/TypeError on a rule this emulator cannot apply. */
  add(rule: FaultRule): RuleHandle;
  /** Adds a seeded random schedule (a rule with probability `rate` whose fault is drawn per request). */
  randomize(options: RandomizeOptions): RuleHandle;
  /** Removes every rule and forgets attempt counts and the injected log. */
  clear(): void;
  /** Faults injected so far, oldest first (a copy). */
  injected(): InjectedFault[];
  /** Calls `listener` with each fault as it is injected; returns an unsubscribe function. */
  onInjected(listener: (fault: InjectedFault) => void): () => void;
}

/** What the plan knows about a request. */
export interface FaultRequest {
  server: FaultServer;
  method: string;
  path: string;
  /** Identity of the request for `attempt` counting (method, path, relevant query). */
  key: string;
  offset?: number;
  /** The request's query parameters (for `match.query`). */
  params?: URLSearchParams;
  /**
   * A point inside the handling of the request (e.g. MFT `report-created`), for faults that only make sense
   * once the request got that far: a report outcome must not be used up by a create that got 401 or 400.
   * The host's `applies` decides which kinds belong to which stage.
   */
  stage?: string;
}

export interface FaultPlanOptions {
  /** Servers this emulator has. */
  servers: readonly FaultServer[];
  /** Fault kinds this emulator can apply. */
  kinds: readonly FaultKind[];
  /** Whether a kind can apply to a request (e.g. a report outcome only to a create); default: any. */
  applies?: (kind: FaultKind, request: FaultRequest) => boolean;
  now: () => number;
}

interface ActiveRule {
  id: number;
  match: FaultMatch;
  /** A fixed fault, or a drawn one. */
  fault: Fault | undefined;
  draw: ((prng: Prng, applies: (kind: FaultKind) => boolean) => Fault | undefined) | undefined;
  kinds: readonly FaultKind[];
  times: number;
  after: number;
  probability: number | undefined;
  prng: Prng;
  hits: number;
  seen: number;
}

/** Holds the rules of one emulator and decides, request by request, which fault (if any) to inject. */
export class FaultPlan implements FaultController {
  private rules: ActiveRule[] = [];
  private nextId = 1;
  private attempts = new Map<string, number>();
  private log: InjectedFault[] = [];
  private readonly listeners = new Set<(fault: InjectedFault) => void>();

  constructor(private readonly options: FaultPlanOptions) {}

  add(rule: FaultRule): RuleHandle {
    if (typeof rule !== 'object' || rule === null) throw new TypeError('a fault rule must be an object');
    const fault = this.checkFault(rule.fault);
    const probability = rule.probability === undefined ? undefined : checkProbability(rule.probability, 'probability');
    return this.install({
      match: this.checkMatch(rule.match),
      fault,
      draw: undefined,
      kinds: [fault.kind],
      times: rule.times === undefined ? Infinity : checkCount(rule.times, 'times'),
      after: rule.after === undefined ? 0 : checkCount(rule.after, 'after'),
      probability,
      seed: rule.seed === undefined ? 1 : checkSeed(rule.seed),
    });
  }

  randomize(options: RandomizeOptions): RuleHandle {
    const seed = checkSeed(options.seed);
    const rate = checkProbability(options.rate, 'rate');
    const requested = options.kinds ?? (['status', 'reset', 'truncate'] as const);
    if (requested.length === 0) throw new RangeError('randomize: kinds must not be empty');
    for (const kind of requested) {
      if (!(RANDOM_FAULT_KINDS as readonly string[]).includes(kind)) throw new RangeError(`randomize: unknown fault kind ${JSON.stringify(kind)}`);
      if (!this.options.kinds.includes(baseKind(kind))) throw new RangeError(`randomize: this emulator cannot inject ${kind}`);
    }
    const statuses = options.statuses ?? FAULT_STATUSES;
    for (const status of statuses) checkStatus(status);
    if (statuses.length === 0) throw new RangeError('randomize: statuses must not be empty');
    const maxRetryAfter = checkCount(options.maxRetryAfterSeconds ?? 1, 'maxRetryAfterSeconds');
    const delayMs = checkCount(options.delayMs ?? 31_000, 'delayMs');
    const maxTruncate = checkCount(options.maxTruncateBytes ?? 4096, 'maxTruncateBytes');
    const kinds = [...new Set(requested)];

    const draw = (prng: Prng, applies: (kind: FaultKind) => boolean): Fault | undefined => {
      const fitting = kinds.filter((kind) => applies(baseKind(kind)));
      if (fitting.length === 0) return undefined;
      const kind = prng.pick(fitting);
      switch (kind) {
        case 'status': {
          const status = prng.pick(statuses);
          const withRetryAfter = status === 429 || (status === 503 && prng.next() < 0.5);
          const retryAfter = withRetryAfter ? prng.int(0, maxRetryAfter) : undefined;
          const html = prng.next() < 0.25;
          return {
            kind: 'status',
            status,
            ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
            ...(html ? { body: 'html' as const } : {}),
          };
        }
        case 'truncate':
          return { kind: 'truncate', afterBytes: prng.int(0, maxTruncate) };
        case 'delay':
          return { kind: 'delay', ms: delayMs };
        case 'report-failed':
          return { kind: 'report-outcome', outcome: 'failed' };
        case 'report-never-completes':
          return { kind: 'report-outcome', outcome: 'never-completes' };
        case 'report-short':
          return { kind: 'report-outcome', outcome: 'short' };
        default:
          return { kind };
      }
    };
    return this.install({
      match: this.checkMatch(options.match),
      fault: undefined,
      draw,
      kinds: kinds.map(baseKind),
      times: options.times === undefined ? Infinity : checkCount(options.times, 'times'),
      after: 0,
      probability: rate,
      seed,
    });
  }

  clear(): void {
    this.rules = [];
    this.attempts = new Map();
    this.log = [];
  }

  injected(): InjectedFault[] {
    return this.log.map((entry) => ({ ...entry }));
  }

  onInjected(listener: (fault: InjectedFault) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Counts the request's attempt (not again for a later `stage` of it) and offers the request to the rules in
   * the order they were added: the first rule that fires decides the fault; the rules after it do not see it.
   */
  decide(request: FaultRequest): InjectedFault | undefined {
    // A later stage of a request already counted is the same attempt.
    const attempt = (this.attempts.get(request.key) ?? 0) + (request.stage === undefined ? 1 : 0);
    this.attempts.set(request.key, attempt);
    const applies = (kind: FaultKind): boolean => this.options.applies?.(kind, request) ?? true;

    for (const rule of this.rules) {
      if (!matches(rule.match, request, attempt)) continue;
      if (!rule.kinds.some(applies)) continue;
      rule.seen++;
      if (rule.seen <= rule.after || rule.hits >= rule.times) continue;
      if (rule.probability !== undefined && rule.prng.next() >= rule.probability) continue;
      const fault = rule.fault ?? rule.draw?.(rule.prng, applies);
      if (!fault) continue;
      rule.hits++;
      const entry: InjectedFault = {
        rule: rule.id,
        kind: fault.kind,
        server: request.server,
        method: request.method,
        path: request.path,
        ...(request.offset === undefined ? {} : { offset: request.offset }),
        attempt,
        fault,
        at: this.options.now(),
      };
      this.log.push(entry);
      for (const listener of this.listeners) listener({ ...entry });
      return entry;
    }
    return undefined;
  }

  private install(spec: Omit<ActiveRule, 'id' | 'prng' | 'hits' | 'seen'> & { seed: number }): RuleHandle {
    const id = this.nextId++;
    const { seed, ...rest } = spec;
    const rule: ActiveRule = { ...rest, id, prng: new Prng(seed, id), hits: 0, seen: 0 };
    this.rules.push(rule);
    return {
      id,
      get hits() {
        return rule.hits;
      },
      get seen() {
        return rule.seen;
      },
      remove: () => {
        this.rules = this.rules.filter((candidate) => candidate !== rule);
      },
    };
  }

  private checkMatch(match: FaultMatch | undefined): FaultMatch {
    if (match === undefined) return {};
    if (typeof match !== 'object' || match === null) throw new TypeError('match must be an object');
    const servers = match.server === undefined ? [] : typeof match.server === 'string' ? [match.server] : match.server;
    for (const server of servers) {
      if (!this.options.servers.includes(server)) {
        throw new RangeError(`match.server ${JSON.stringify(server)}: this emulator has ${this.options.servers.join(', ')}`);
      }
    }
    if (match.offset !== undefined) checkCount(match.offset, 'match.offset');
    if (match.query !== undefined && (typeof match.query !== 'object' || match.query === null)) throw new TypeError('match.query must be an object');
    const attempts = match.attempt === undefined ? [] : typeof match.attempt === 'number' ? [match.attempt] : match.attempt;
    for (const attempt of attempts) {
      if (!Number.isSafeInteger(attempt) || attempt < 1) throw new RangeError(`match.attempt must count from 1, got ${attempt}`);
    }
    if (match.path !== undefined && typeof match.path !== 'string' && !(match.path instanceof RegExp)) {
      throw new TypeError('match.path must be a string prefix or a RegExp');
    }
    return { ...match };
  }

  private checkFault(fault: Fault): Fault {
    if (typeof fault !== 'object' || fault === null) throw new TypeError('fault must be an object');
    if (!(FAULT_KINDS as readonly string[]).includes(fault.kind)) throw new RangeError(`unknown fault kind ${JSON.stringify(fault.kind)}`);
    if (!this.options.kinds.includes(fault.kind)) throw new RangeError(`this emulator cannot inject ${fault.kind}`);
    switch (fault.kind) {
      case 'status':
        checkStatus(fault.status);
        if (fault.retryAfterSeconds !== undefined) checkCount(fault.retryAfterSeconds, 'retryAfterSeconds');
        if (fault.body !== undefined && fault.body !== 'json' && fault.body !== 'html') throw new RangeError('body must be json or html');
        break;
      case 'delay':
        checkCount(fault.ms, 'ms');
        break;
      case 'truncate':
        checkCount(fault.afterBytes, 'afterBytes');
        break;
      case 'report-outcome':
        if (fault.outcome !== 'failed' && fault.outcome !== 'never-completes' && fault.outcome !== 'short') {
          throw new RangeError('outcome must be failed, never-completes or short');
        }
        break;
      default:
        break;
    }
    return { ...fault };
  }
}

function baseKind(kind: RandomFaultKind): FaultKind {
  return kind === 'report-failed' || kind === 'report-never-completes' || kind === 'report-short' ? 'report-outcome' : kind;
}

function matches(match: FaultMatch, request: FaultRequest, attempt: number): boolean {
  if (match.server !== undefined) {
    if (typeof match.server === 'string' ? match.server !== request.server : !match.server.includes(request.server)) return false;
  }
  if (match.method !== undefined && match.method.toUpperCase() !== request.method.toUpperCase()) return false;
  if (match.path !== undefined) {
    if (typeof match.path === 'string') {
      if (!request.path.startsWith(match.path)) return false;
    } else {
      match.path.lastIndex = 0;
      if (!match.path.test(request.path)) return false;
    }
  }
  if (match.offset !== undefined && request.offset !== match.offset) return false;
  if (match.query !== undefined) {
    for (const [name, value] of Object.entries(match.query)) if (request.params?.get(name) !== value) return false;
  }
  if (match.attempt !== undefined) {
    if (typeof match.attempt === 'number' ? match.attempt !== attempt : !match.attempt.includes(attempt)) return false;
  }
  return true;
}

function checkCount(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}

function checkProbability(value: number, name: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new RangeError(`${name} must be a number from 0 to 1, got ${value}`);
  return value;
}

function checkSeed(value: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`seed must be an integer, got ${value}`);
  return value;
}

function checkStatus(status: number): void {
  if (!(FAULT_STATUSES as readonly number[]).includes(status)) throw new RangeError(`status must be one of ${FAULT_STATUSES.join(', ')}, got ${status}`);
}

// ---------------------------------------------------------------------------------------------------------
// Applying a fault to a node:http exchange.

/** The server's native error body for an injected status. */
export type NativeErrorBody = (status: number) => { contentType: string; body: string };

/**
 * Applies `fault` (if any) to the exchange and calls `proceed` when the request should still be handled:
 * at once for no fault, a truncation (the response is wrapped first) or an emulator-level fault (which
 * `proceed` receives to act on); after the pause for a delay (unless the client left); never for status,
 * reset and hang. Resolves once `proceed` has (or would have) finished.
 */
export async function applyFault(
  fault: Fault | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  nativeError: NativeErrorBody,
  proceed: (fault: Fault | undefined) => Promise<void> | void,
): Promise<void> {
  if (!fault) return proceed(undefined);
  switch (fault.kind) {
    case 'status':
      req.resume();
      return sendStatusFault(res, fault, nativeError);
    case 'reset':
      req.socket.destroy();
      return;
    case 'hang':
      req.resume();
      return;
    case 'delay':
      await pauseUnlessClosed(res, fault.ms);
      if (res.destroyed || res.writableEnded) return;
      return proceed(undefined);
    case 'truncate':
      truncateBody(res, fault.afterBytes);
      return proceed(fault);
    default:
      return proceed(fault);
  }
}

function sendStatusFault(res: ServerResponse, fault: StatusFault, nativeError: NativeErrorBody): void {
  const reason = STATUS_CODES[fault.status] ?? 'Error';
  const { contentType, body } =
    fault.body === 'html'
      ? { contentType: 'text/html', body: gatewayPage(fault.status, reason) }
      : fault.body === 'json'
        ? { contentType: 'application/json', body: JSON.stringify({ error: reason, message: reason }) }
        : nativeError(fault.status);
  const headers: Record<string, string | number> = { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) };
  if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  res.writeHead(fault.status, headers);
  res.end(body);
}

/** The kind of page a load balancer answers with when the service behind it is down. */
function gatewayPage(status: number, reason: string): string {
  return (
    `<!DOCTYPE html>\n<html>\n<head><title>${status} ${reason}</title></head>\n<body>\n` +
    `<center><h1>${status} ${reason}</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n`
  );
}

function pauseUnlessClosed(res: ServerResponse, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.on('close', done);
  });
}

type WriteCallback = (error?: Error | null) => void;

/**
 * Wraps `res` so that at most `afterBytes` of its body reach the client (and always at least one byte less
 * than the whole body, when there is one), then the connection is closed. Headers go out unchanged, so a
 * Content-Length announces the full size. One chunk is held back, to know where the body ends; after the
 * cut, writes are dropped and report backpressure, so a streaming producer waits for 'close' and stops.
 */
function truncateBody(res: ServerResponse, afterBytes: number): void {
  const realWrite = res.write.bind(res) as (chunk: Buffer, callback?: WriteCallback) => boolean;
  const realEnd = res.end.bind(res) as (callback?: () => void) => ServerResponse;
  let sent = 0;
  let held: Buffer | undefined;
  let cut = false;

  const cutAfter = (part: Buffer): void => {
    cut = true;
    held = undefined;
    const close = (): void => {
      const socket = res.socket;
      if (socket && !socket.destroyed) socket.destroySoon();
      else res.destroy();
    };
    if (part.length > 0) realWrite(part, close);
    else {
      res.flushHeaders();
      close();
    }
  };

  const forward = (chunk: Buffer, callback?: WriteCallback): boolean => {
    const room = afterBytes - sent;
    if (chunk.length <= room) {
      sent += chunk.length;
      return realWrite(chunk, callback);
    }
    cutAfter(chunk.subarray(0, room));
    return false;
  };

  const write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const done = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
    if (cut) return false;
    const buffer = toBuffer(chunk, encoding);
    if (buffer.length === 0) {
      if (done) process.nextTick(done);
      return true;
    }
    const previous = held;
    held = buffer;
    if (!previous) {
      if (done) process.nextTick(done);
      return true;
    }
    return forward(previous, done);
  };

  const end = (chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse => {
    if (cut) return res;
    const done = [chunk, encoding, callback].find((value) => typeof value === 'function') as (() => void) | undefined;
    const last = typeof chunk === 'function' || chunk === undefined || chunk === null ? undefined : toBuffer(chunk, encoding);
    const rest = held && last ? Buffer.concat([held, last]) : (held ?? last);
    held = undefined;
    if (!rest || rest.length === 0) return realEnd(done);
    cutAfter(rest.subarray(0, Math.min(afterBytes - sent, rest.length - 1)));
    return res;
  };

  Object.assign(res, { write, end });
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('truncate: unsupported chunk type');
}

/** Identity of a request for `attempt` counting: server, method, path and the (sorted) query parameters given. */
export function requestKey(server: FaultServer, method: string, path: string, query?: URLSearchParams): string {
  const params = query ? [...query].sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : x > y ? 1 : 0) : a < b ? -1 : 1)) : [];
  return `${server} ${method.toUpperCase()} ${path}${params.length ? `?${new URLSearchParams(params).toString()}` : ''}`;
}

/** A short human description, e.g. `status 429 (Retry-After 2)`, `truncate after 1000 bytes`. */
export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'status':
      return `status ${fault.status}${fault.retryAfterSeconds === undefined ? '' : ` (Retry-After ${fault.retryAfterSeconds})`}${fault.body === 'html' ? ' html' : ''}`;
    case 'delay':
      return `delay ${fault.ms} ms`;
    case 'truncate':
      return `truncate after ${fault.afterBytes} bytes`;
    case 'report-outcome':
      return `report ${fault.outcome}`;
    default:
      return fault.kind;
  }
}
