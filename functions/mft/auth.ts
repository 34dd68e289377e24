import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { TransientError } from '../common/errors.js';
import { registerSecret } from '../common/scrubber.js';
import type { SealContext, TokenSealer } from '../common/token-sealer.js';
import type { MftCredentials } from './assertion.js';
import { AccessTokenRejectedError, type MftClient } from './client.js';

/** How an access token travels in the state machine: sealed, never in plaintext. */
export const sealedAccessTokenSchema = z
  .object({
    sealedToken: z.string().min(1),
    expiresAt: z.string(),
  })
  .strict();
export type SealedAccessToken = z.infer<typeof sealedAccessTokenSchema>;

/** Re-issue when a token has less than this left, rather than fail half-way through a call. */
const EXPIRY_MARGIN_MS = 30_000;

/**
 * Issues, seals and opens MFT access tokens, and re-issues once when the API answers 401
 * (a token that expired during a long poll, or was revoked).
 */
export class MftAuth {
  constructor(
    private readonly client: MftClient,
    private readonly credentials: () => Promise<MftCredentials>,
    private readonly sealer: TokenSealer,
    private readonly clock: Clock,
  ) {}

  private get context(): SealContext {
    return { purpose: 'mft-access-token', audience: this.client.apiOrigin };
  }

  async issue(): Promise<SealedAccessToken> {
    const token = await this.client.issueToken(await this.credentials());
    return {
      sealedToken: await this.sealer.seal(token.value, this.context),
      expiresAt: new Date(token.expiresAt).toISOString(),
    };
  }

  /** Runs `call` with a usable token: the sealed one while it is fresh, else (or after a 401) a new one. */
  async withToken<T>(auth: SealedAccessToken, call: (token: string) => Promise<T>): Promise<T> {
    const fresh = Date.parse(auth.expiresAt) - this.clock.now() > EXPIRY_MARGIN_MS;
    let token = fresh ? await this.sealer.unseal(auth.sealedToken, this.context) : await this.issueRaw();
    // Another container may have issued it: known to this process's scrubber from here on.
    registerSecret(token);
    try {
      return await call(token);
    } catch (error) {
      if (!(error instanceof AccessTokenRejectedError)) throw error;
      token = await this.issueRaw();
      try {
        return await call(token);
      } catch (retryError) {
        // A token issued a moment ago refused too: a passing fault of the API, retried by the state machine.
        // (Revoked credentials fail at the token endpoint itself, as a VendorAuthError.)
        if (retryError instanceof AccessTokenRejectedError) {
          throw new TransientError(`${retryError.message}, even with a token issued just now`);
        }
        throw retryError;
      }
    }
  }

  private async issueRaw(): Promise<string> {
    return (await this.client.issueToken(await this.credentials())).value;
  }
}
