import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Presigned download links, in the manner of object storage: the link itself is the credential
 * (HMAC-SHA256 over the object and the expiry, with a secret known only to this emulator), so the
 * storage listener needs no Authorization header and a bearer token never has to leave the API host.
 */

export type LinkCheck = { ok: true } | { ok: false; code: 'AccessDenied' | 'SignatureDoesNotMatch'; message: string };

export class UrlSigner {
  private readonly secret = randomBytes(32);

  constructor(
    private readonly downloadBaseUrl: string,
    private readonly ttlSeconds: number,
    private readonly now: () => number,
  ) {}

  /** A fresh link for a report, valid for the configured TTL from now. */
  urlFor(reportId: string): string {
    const expires = Math.floor(this.now() / 1000) + this.ttlSeconds;
    const signature = this.sign(reportId, expires);
    return `${this.downloadBaseUrl}/reports/${encodeURIComponent(reportId)}?expires=${expires}&signature=${signature}`;
  }

  /** Checks the query of a download request for `reportId`: signature first (as S3 does), then expiry. */
  check(reportId: string, query: URLSearchParams): LinkCheck {
    const expiresText = query.get('expires');
    const signature = query.get('signature');
    if (expiresText === null || signature === null) {
      return { ok: false, code: 'AccessDenied', message: 'Query-string authentication requires the expires and signature parameters' };
    }
    const expires = /^\d{1,12}$/.test(expiresText) ? Number(expiresText) : Number.NaN;
    const expected = Buffer.from(this.sign(reportId, expires), 'hex');
    const given = /^[0-9a-f]{64}$/i.test(signature) ? Buffer.from(signature, 'hex') : Buffer.alloc(0);
    if (Number.isNaN(expires) || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, code: 'SignatureDoesNotMatch', message: 'The request signature does not match' };
    }
    if (Math.floor(this.now() / 1000) > expires) {
      return { ok: false, code: 'AccessDenied', message: 'Request has expired' };
    }
    return { ok: true };
  }

  private sign(reportId: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`GET\n/reports/${reportId}\n${expires}`).digest('hex');
  }
}
