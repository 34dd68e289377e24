/**
 * Typed errors. Their `name` is what Step Functions sees as the error name of a failed Task (the Lambda
 * runtime reports `error.name` as `errorType`), so the state machines' Retry and Catch blocks branch on
 * these names. Messages say what failed, where, and what to do; they never carry a secret.
 *
 * Every class states its name as a string: the Lambdas are minified, which renames classes, so a name taken
 * from the constructor (`new.target.name`) would reach Step Functions as `ki` and match no Retry.
 */

export class AuditExportError extends Error {
  /** The error name Step Functions, logs and run records see; each subclass sets its own. */
  static readonly errorName: string = 'AuditExportError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = (new.target as typeof AuditExportError).errorName;
  }
}

/** The request or configuration given to a step is invalid; retrying cannot help. */
export class InvalidInputError extends AuditExportError {
  static override readonly errorName: string = 'InvalidInputError';
}

/** Deployment or environment configuration is missing or wrong. */
export class ConfigError extends AuditExportError {
  static override readonly errorName: string = 'ConfigError';
}

/** A failure that may pass: network errors, timeouts, 429 and 5xx answers. Retried by the state machine. */
export class TransientError extends AuditExportError {
  static override readonly errorName: string = 'TransientError';

  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The vendor refused our credentials or permissions (401/403 after a fresh token). */
export class VendorAuthError extends AuditExportError {
  static override readonly errorName: string = 'VendorAuthError';
}

/** The vendor rejected the request (4xx other than auth): a bug or a bad filter, not worth retrying. */
export class VendorRequestError extends AuditExportError {
  static override readonly errorName: string = 'VendorRequestError';

  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The vendor answered with something that does not match its documented shape. */
export class MalformedResponseError extends AuditExportError {
  static override readonly errorName: string = 'MalformedResponseError';
}

/** Data did not arrive whole (e.g. a download shorter than announced). Retried: a fresh copy may succeed. */
export class IntegrityError extends AuditExportError {
  static override readonly errorName: string = 'IntegrityError';
}

/** The thing asked for does not exist (HTTP 404). */
export class NotFoundError extends AuditExportError {
  static override readonly errorName: string = 'NotFoundError';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Error names AWS services give throttling (the SDK's own list: DynamoDB, KMS, Secrets Manager, S3's
 * `SlowDown`…). The SDK retries these a few times itself; one that still surfaces is a passing overload.
 */
const AWS_THROTTLING_ERRORS = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceededException',
  'LimitExceededException',
  'BandwidthLimitExceeded',
  'TransactionInProgressException',
  'PriorRequestNotComplete',
  'EC2ThrottledException',
]);

/**
 * An AWS SDK error that says "try again later" (throttling, or a 5xx the SDK marked retryable) becomes a
 * TransientError, which the state machines retry; anything else is returned as it is.
 */
export function classifyAwsError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof AuditExportError) return error;
  const sdk = error as Error & { $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
  const throttled = AWS_THROTTLING_ERRORS.has(error.name) || sdk.$retryable?.throttling === true;
  const status = sdk.$metadata?.httpStatusCode;
  const serverSide = sdk.$metadata !== undefined && status !== undefined && status >= 500;
  if (!throttled && !serverSide) return error;
  return new TransientError(
    `AWS answered ${error.name}${status ? ` (HTTP ${status})` : ''}: ${error.message}; it is retried`,
    undefined,
    { cause: error },
  );
}
