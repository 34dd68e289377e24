/**
 * Redaction by value, in one place. Every secret the process learns — access tokens, client assertions, the
 * private key, Xray passwords and tokens, presigned URL query strings and user-info — is registered here the
 * moment it is read or received, and every log line, error message, Fail cause and CLI line passes through
 * `scrub()` before it is written. Redaction by field name (pino's `redact` paths) stays as a second layer.
 *
 * A secret is also found in the forms it takes in transit: URL-encoded, JSON-escaped, base64 (a Basic
 * header), and each line of it on its own (a token pasted with a line break, a PEM key quoted line by line).
 * Any URL in a message keeps only its origin and path: query strings and user-info are cut whatever they hold.
 */

export const REDACTED = '[redacted]';

/** Shorter values are not scrubbed by value: they would turn up inside ordinary words and numbers. */
export const MIN_SECRET_LENGTH = 8;

/** Per-call secrets (tokens, assertions, link signatures) kept at most; the oldest are forgotten first. */
const MAX_TRANSIENT = 2_000;

export interface RegisterOptions {
  /**
   * Pinned secrets (configured credentials, the private key) are kept for the life of the process; the
   * others (an access token, a signed link) may be forgotten once many newer ones were registered.
   */
  pinned?: boolean;
}

/** Text that the variants of a secret are derived from never appears in a message unless it is one of them. */
function variantsOf(secret: string): string[] {
  const variants = new Set<string>();
  const add = (value: string) => {
    if (value.length >= MIN_SECRET_LENGTH) variants.add(value);
  };
  add(secret);
  add(secret.trim());
  add(JSON.stringify(secret).slice(1, -1));
  add(encodeURIComponent(secret));
  add(Buffer.from(secret).toString('base64'));
  add(Buffer.from(secret).toString('base64url'));
  for (const line of secret.split(/\r\n|\r|\n/)) {
    add(line);
    add(line.trim());
  }
  return [...variants];
}

/** http(s) URLs as they appear in text; the match stops at whitespace, quotes and brackets. */
const URL_IN_TEXT = /\bhttps?:\/\/[^\s"'<>`\\]+/gi;

/** Origin and path of a URL seen in a message; user-info, query and fragment are cut. */
function reduceUrl(text: string): string {
  if (!/[@?#]/.test(text)) return text;
  try {
    const parsed = new URL(text);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    // Not parseable: cut at the first character that may start user-info, a query or a fragment.
    const scheme = /^https?:\/\//i.exec(text)?.[0] ?? '';
    const rest = text.slice(scheme.length);
    const at = rest.lastIndexOf('@');
    const tail = at >= 0 ? rest.slice(at + 1) : rest;
    return `${scheme}${tail.split(/[?#]/)[0]}`;
  }
}

export class SecretScrubber {
  private readonly pinned = new Set<string>();
  private readonly transient = new Map<string, true>();
  /**
   * Every registered variant by its first MIN_SECRET_LENGTH characters, longest first: a scan looks up each
   * position of a text once, however many secrets are known (a process keeps up to thousands of signed
   * links; one pattern alternating all of them was rebuilt on every new link and tried at every position).
   */
  private readonly byPrefix = new Map<string, string[]>();

  /** Registers a secret and its variants; variants shorter than MIN_SECRET_LENGTH are left out. */
  register(secret: string | undefined | null, options: RegisterOptions = {}): void {
    if (typeof secret !== 'string' || secret === '') return;
    this.addAll(variantsOf(secret), options);
  }

  /**
   * Registers the secret parts of a URL: its user-info (and the Basic header it would make), its whole query
   * string and each query value. The origin and path are not secret and stay readable.
   */
  registerUrl(url: string | URL): void {
    let parsed: URL;
    try {
      parsed = new URL(String(url));
    } catch {
      return;
    }
    if (parsed.username || parsed.password) {
      const user = decodeURIComponent(parsed.username);
      const password = decodeURIComponent(parsed.password);
      this.register(parsed.password);
      this.register(password);
      this.register(`${user}:${password}`);
    }
    if (parsed.search.length > 1) {
      this.register(parsed.search.slice(1));
      for (const [, value] of parsed.searchParams) this.register(value);
      for (const part of parsed.search.slice(1).split('&')) this.register(part.slice(part.indexOf('=') + 1));
    }
  }

  /** Removes every registered secret (tests). */
  clear(): void {
    this.pinned.clear();
    this.transient.clear();
    this.byPrefix.clear();
  }

  /** The text with every registered secret replaced and every URL cut to origin and path. */
  scrub(text: string): string {
    let result = '';
    let copied = 0;
    // Left to right, each secret replaced whole: at a position, the longest variant that starts there wins.
    for (let at = 0; at + MIN_SECRET_LENGTH <= text.length; ) {
      const found = this.matchAt(text, at);
      if (found === undefined) {
        at++;
        continue;
      }
      result += text.slice(copied, at) + REDACTED;
      at += found.length;
      copied = at;
    }
    result = copied === 0 ? text : result + text.slice(copied);
    return result.replace(URL_IN_TEXT, reduceUrl);
  }

  /** Whether the text holds a registered secret (tests and assertions). */
  contains(text: string): boolean {
    for (let at = 0; at + MIN_SECRET_LENGTH <= text.length; at++) if (this.matchAt(text, at) !== undefined) return true;
    return false;
  }

  /** The longest registered variant that starts at `at` in `text`, if any. */
  private matchAt(text: string, at: number): string | undefined {
    if (this.byPrefix.size === 0) return undefined;
    const candidates = this.byPrefix.get(text.slice(at, at + MIN_SECRET_LENGTH));
    return candidates?.find((candidate) => text.startsWith(candidate, at));
  }

  /**
   * A JSON document (a log line, a `--json` summary) with every string value scrubbed. Working on the parsed
   * values keeps the document valid even where a secret ends inside an escape sequence.
   */
  scrubJson(text: string): string {
    const scrubbed = this.scrub(text);
    if (scrubbed === text) return text;
    const trailing = /\s*$/.exec(text)?.[0] ?? '';
    try {
      JSON.parse(scrubbed);
      return scrubbed;
    } catch {
      // fall through: scrub the values themselves
    }
    try {
      return `${JSON.stringify(this.scrubValue(JSON.parse(text)))}${trailing}`;
    } catch {
      return scrubbed;
    }
  }

  /** A deep copy of a JSON-like value with every string scrubbed. */
  scrubValue<T>(value: T): T {
    if (typeof value === 'string') return this.scrub(value) as T;
    if (Array.isArray(value)) return value.map((item) => this.scrubValue(item)) as T;
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.scrubValue(item)])) as T;
    }
    return value;
  }

  private addAll(values: string[], options: RegisterOptions): void {
    for (const value of values) {
      if (this.pinned.has(value)) continue;
      const known = this.transient.delete(value);
      if (options.pinned) {
        this.pinned.add(value);
      } else {
        this.transient.set(value, true);
        while (this.transient.size > MAX_TRANSIENT) {
          const oldest = this.transient.keys().next().value!;
          this.transient.delete(oldest);
          this.unindex(oldest);
        }
      }
      if (!known) this.index(value);
    }
  }

  private index(value: string): void {
    const prefix = value.slice(0, MIN_SECRET_LENGTH);
    const bucket = this.byPrefix.get(prefix) ?? [];
    // Longest first, so a secret is replaced whole before any of its lines or prefixes.
    const position = bucket.findIndex((other) => other.length < value.length);
    bucket.splice(position < 0 ? bucket.length : position, 0, value);
    this.byPrefix.set(prefix, bucket);
  }

  private unindex(value: string): void {
    const prefix = value.slice(0, MIN_SECRET_LENGTH);
    const bucket = this.byPrefix.get(prefix);
    if (!bucket) return;
    const remaining = bucket.filter((other) => other !== value);
    if (remaining.length) this.byPrefix.set(prefix, remaining);
    else this.byPrefix.delete(prefix);
  }
}

/** The process-wide scrubber: one per Lambda container, one per CLI process. */
export const scrubber = new SecretScrubber();

export const registerSecret = (secret: string | undefined | null, options?: RegisterOptions): void =>
  scrubber.register(secret, options);
export const registerUrlSecrets = (url: string | URL): void => scrubber.registerUrl(url);
export const scrub = (text: string): string => scrubber.scrub(text);

/** An error's message, scrubbed: what every error becomes before it leaves the process. */
export function scrubbedMessage(error: unknown): string {
  return scrub(error instanceof Error ? error.message : String(error));
}

/**
 * The same error with its message (and stack, which repeats the message) scrubbed, keeping its class and
 * name, which the state machines' Retry and Catch blocks branch on.
 */
export function scrubError<E>(error: E): E {
  if (!(error instanceof Error)) return new Error(scrub(String(error))) as E;
  const message = scrub(error.message);
  if (message === error.message && !scrubber.contains(error.stack ?? '')) return error;
  try {
    error.message = message;
    // The stack's first line is `name: message`; the frames name files, never values.
    error.stack = `${error.name}: ${message}${(error.stack ?? '').split('\n').slice(1).map((line) => `\n${scrub(line)}`).join('')}`;
    return error;
  } catch {
    const copy = new Error(message);
    copy.name = error.name;
    return copy as E;
  }
}
