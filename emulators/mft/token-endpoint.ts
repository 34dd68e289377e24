import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokens } from './access-tokens.js';
import { OAuthError, type AssertionVerifier } from './assertion.js';
import { readBody, sendJson } from './http-io.js';

/**
 * `POST /v1/oauth/token`: client credentials with a JWT bearer client assertion.
 * The spec documents a JSON body; the vendor's prose also calls it a "standard OAuth-style POST", so a
 * form-encoded body is accepted too rather than failing a client over the encoding.
 */

export const GRANT_TYPE = 'client_credentials';
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export async function handleTokenRequest(
  req: IncomingMessage,
  res: ServerResponse,
  verifier: AssertionVerifier,
  tokens: AccessTokens,
): Promise<void> {
  try {
    const fields = parseTokenRequest(req.headers['content-type'], await readBody(req));
    const tenantId = await verifier.verify(fields.clientAssertion);
    const { accessToken, expiresIn } = tokens.issue(tenantId);
    sendJson(res, 200, { access_token: accessToken, token_type: 'bearer', expires_in: expiresIn }, noStore);
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    sendJson(res, error.status, { error: error.code, error_description: error.description }, noStore);
  }
}

const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function parseTokenRequest(contentType: string | undefined, body: string): { clientAssertion: string } {
  const fields = /^application\/x-www-form-urlencoded\b/i.test(contentType ?? '') ? formFields(body) : jsonFields(body);
  const field = (name: string): string | undefined => (typeof fields[name] === 'string' ? (fields[name] as string) : undefined);

  const grantType = field('grant_type');
  if (grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required');
  if (grantType !== GRANT_TYPE) throw new OAuthError(400, 'unsupported_grant_type', `grant_type must be ${GRANT_TYPE}`);
  if (field('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
    throw new OAuthError(400, 'invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
  }
  const clientAssertion = field('client_assertion');
  if (!clientAssertion) throw new OAuthError(400, 'invalid_request', 'client_assertion is required');
  return { clientAssertion };
}

function jsonFields(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new OAuthError(400, 'invalid_request', 'request body must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new OAuthError(400, 'invalid_request', 'request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function formFields(body: string): Record<string, unknown> {
  return Object.fromEntries(new URLSearchParams(body));
}
