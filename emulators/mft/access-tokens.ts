import { randomBytes } from 'node:crypto';

/** Opaque bearer tokens issued by the token endpoint, each bound to one tenant and expiring by `now()`. */

export type BearerCheck = { ok: true; tenantId: string } | { ok: false; message: string };

export class AccessTokens {
  private readonly tokens = new Map<string, { tenantId: string; expiresAtMs: number }>();

  constructor(
    private readonly ttlSeconds: number,
    private readonly now: () => number,
  ) {}

  issue(tenantId: string): { accessToken: string; expiresIn: number } {
    this.pruneExpired();
    const accessToken = randomBytes(32).toString('base64url');
    this.tokens.set(accessToken, { tenantId, expiresAtMs: this.now() + this.ttlSeconds * 1000 });
    return { accessToken, expiresIn: this.ttlSeconds };
  }

  /** Checks an Authorization header value (`bearer <token>`, scheme in any case). */
  authenticate(authorization: string | undefined): BearerCheck {
    if (!authorization) return { ok: false, message: 'missing Authorization: bearer <access token>' };
    const match = /^bearer[ \t]+([^\s]+)[ \t]*$/i.exec(authorization);
    if (!match) return { ok: false, message: 'Authorization must use the bearer scheme' };
    const entry = this.tokens.get(match[1]!);
    if (!entry) return { ok: false, message: 'access token is not valid' };
    if (this.now() >= entry.expiresAtMs) return { ok: false, message: 'access token has expired' };
    return { ok: true, tenantId: entry.tenantId };
  }

  /** Makes every token issued so far expire now (fault injection: tokens that expire in the middle of a run). */
  expireAll(): number {
    const nowMs = this.now();
    for (const entry of this.tokens.values()) entry.expiresAtMs = Math.min(entry.expiresAtMs, nowMs);
    return this.tokens.size;
  }

  private pruneExpired(): void {
    const nowMs = this.now();
    for (const [token, entry] of this.tokens) {
      if (nowMs >= entry.expiresAtMs) this.tokens.delete(token);
    }
  }
}
