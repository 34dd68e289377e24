import { isIP } from 'node:net';
import { z } from 'zod';
import { classifyAddress } from './egress.js';
import { ConfigError } from './errors.js';
import { registerSecret } from './scrubber.js';
import { describeIssues } from './validation.js';

/**
 * Reads typed settings from environment variables (how Lambda gets its configuration), failing with a
 * message that names each missing or malformed variable and what it should hold.
 */
export function readEnvironment<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv, what: string): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(`Configuration of ${what} is invalid: ${describeIssues(result.error.issues)}`);
}

/** localhost, 127.0.0.0/8 and ::1: the only hosts plain http is accepted for (the local twin, local emulators). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && classifyAddress(host) === 'loopback';
}

/**
 * Why a vendor or storage endpoint URL is refused, or undefined. What can only leak or fail is refused here,
 * before any request: user-info (it would end up in logs and error messages, and fetch refuses it anyway),
 * plain http to anything but loopback (credentials in clear text), a query string or fragment (the paths
 * are appended to the base URL).
 */
export function endpointUrlProblem(value: string, example: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an https URL, e.g. ${example}`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must be an https URL, e.g. ${example}`;
  if (url.username || url.password) {
    return 'must not carry a user name or password (user-info): credentials belong in the credentials settings or secret';
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return `must be https (plain http is accepted only for loopback, e.g. the local twin), e.g. ${example}`;
  }
  if (url.search || url.hash || value.includes('?') || value.includes('#')) return 'must not have a query string or fragment';
  return undefined;
}

export const httpUrl = (example: string) =>
  z.string({ message: `is required (e.g. ${example})` }).superRefine((value, ctx) => {
    const problem = endpointUrlProblem(value, example);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** An optional endpoint (S3_ENDPOINT, DYNAMODB_ENDPOINT): empty is unset; otherwise the same rules as httpUrl. */
export const optionalEndpointUrl = (example: string) =>
  z
    .string()
    .optional()
    .transform((value) => (value === '' ? undefined : value))
    .superRefine((value, ctx) => {
      const problem = value === undefined ? undefined : endpointUrlProblem(value, example);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

/**
 * Why a credential cannot be sent as (part of) an HTTP header, or undefined. Control characters — a line
 * break above all, from a secret pasted wrapped — make the request fail inside the HTTP stack with the value
 * in the error; refused here instead, with a message that names the setting and never the value.
 */
export function credentialProblem(value: string, kind: 'token' | 'user' | 'password'): string | undefined {
  if (/[\r\n]/.test(value)) return 'holds a line break, which an HTTP header cannot carry (was it pasted wrapped?)';
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'holds a control character, which an HTTP header cannot carry';
  if (kind === 'token' && /[^\u0021-\u007e]/.test(value)) {
    return 'holds a space or a non-ASCII character, which a bearer token cannot carry (check for stray spaces)';
  }
  if (kind === 'user' && value.includes(':')) return 'holds a colon, which HTTP Basic authentication cannot carry in a user name';
  return undefined;
}

/**
 * An optional credential read from the environment: empty is unset; a value is registered with the scrubber
 * as it is read, and refused (by name, never by value) when a header cannot carry it.
 */
export const optionalCredential = (kind: 'token' | 'user' | 'password') =>
  z
    .string()
    .optional()
    .transform((value) => (value === '' ? undefined : value))
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      if (kind !== 'user') registerSecret(value, { pinned: true });
      const problem = credentialProblem(value, kind);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

export const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

export const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((value) => value === 'true' || value === '1');

/** Memoizes an async factory (one per Lambda container), forgetting a failure so the next call retries. */
export function lazy<T>(factory: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= factory().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}
