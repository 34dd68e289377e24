/**
 * Typed errors. Their `name` is what Step Functions sees as the error name of a failed Task (the Lambda
 * runtime reports `error.name` as `errorType`), so the state machines' Retry and Catch blocks branch on
 * these names. Messages say what failed, where, and what to do; they never carry a secret.
 */

export class AuditExportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request or configuration given to a step is invalid; retrying cannot help. */
export class InvalidInputError extends AuditExportError {}

/** Deployment or environment configuration is missing or wrong. */
export class ConfigError extends AuditExportError {}

/** A failure that may pass: network errors, timeouts, 429 and 5xx answers. Retried by the state machine. */
export class TransientError extends AuditExportError {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The vendor refused our credentials or permissions (401/403 after a fresh token). */
export class VendorAuthError extends AuditExportError {}

/** The vendor rejected the request (4xx other than auth): a bug or a bad filter, not worth retrying. */
export class VendorRequestError extends AuditExportError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The vendor answered with something that does not match its documented shape. */
export class MalformedResponseError extends AuditExportError {}

/** Data did not arrive whole (e.g. a download shorter than announced). Retried: a fresh copy may succeed. */
export class IntegrityError extends AuditExportError {}

/** The thing asked for does not exist (HTTP 404). */
export class NotFoundError extends AuditExportError {}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
