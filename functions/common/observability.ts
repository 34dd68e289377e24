import { pino, type DestinationStream, type Logger } from 'pino';
import { classifyAwsError } from './errors.js';
import { scrubError, scrubber } from './scrubber.js';

/**
 * Structured JSON logs (pino) with correlation ids, and CloudWatch metrics in Embedded Metric Format.
 *
 * - Every step logs one line when it ends: source, step, execution id, window, report id, duration,
 *   outcome and a few figures; failures log the error name and message (never a stack of secrets).
 * - Secrets are redacted by value: every line passes through the process-wide scrubber (scrubber.ts) as
 *   it is written. Redaction by path (tokens, passwords, keys, presigned URLs) stays as a second layer,
 *   and nothing logs request bodies or headers.
 * - A failing step's error leaves the handler scrubbed (message and stack): it becomes the Task's Fail
 *   cause and lands in the execution history.
 * - Metrics are EMF lines on the same stream: CloudWatch turns them into metrics without API calls.
 */

const REDACTED_PATHS = [
  'token', '*.token', 'accessToken', '*.accessToken', 'access_token', '*.access_token',
  'sealedToken', '*.sealedToken', '*.*.sealedToken', 'auth', '*.auth',
  'password', '*.password', 'privateKeyPem', '*.privateKeyPem', 'authorization', '*.authorization',
  'url', '*.url', 'headers', '*.headers',
];

export type { Logger };

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: 'audit-export' },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'message',
      formatters: { level: (label) => ({ level: label.toUpperCase() }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      hooks: { streamWrite: (line) => scrubber.scrubJson(line) },
    },
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/** A logger that writes nothing (unit tests that do not look at logs). */
export const silentLogger: Logger = pino({ level: 'silent' });

export type MetricUnit = 'Count' | 'Bytes' | 'Seconds' | 'Milliseconds';

/**
 * Names the instance a function exports for, set by the stack only where a source has several instances: its
 * metrics then carry a second dimension, `Instance`, so each instance has its own lag metric and alarm.
 */
export const INSTANCE_ENVIRONMENT_VARIABLE = 'AUDIT_EXPORT_INSTANCE';

/**
 * One EMF record: `metrics` values land in namespace AuditExport with dimension Source (and Instance, for an
 * instance of several: `instance`, by default the function's AUDIT_EXPORT_INSTANCE).
 */
export function emitMetrics(
  logger: Logger,
  source: string,
  metrics: Record<string, { value: number; unit: MetricUnit }>,
  nowMs = Date.now(),
  instance: string | undefined = process.env[INSTANCE_ENVIRONMENT_VARIABLE] || undefined,
): void {
  const names = Object.keys(metrics);
  if (!names.length) return;
  const record: Record<string, unknown> = {
    _aws: {
      Timestamp: nowMs,
      CloudWatchMetrics: [
        {
          Namespace: 'AuditExport',
          Dimensions: [instance === undefined ? ['Source'] : ['Source', 'Instance']],
          Metrics: names.map((name) => ({ Name: name, Unit: metrics[name]!.unit })),
        },
      ],
    },
    Source: source,
    ...(instance === undefined ? {} : { Instance: instance }),
  };
  for (const name of names) record[name] = metrics[name]!.value;
  logger.info(record, 'metrics');
}

interface StepEvent {
  executionId?: string;
  run?: { executionId?: string; stream?: string };
  window?: { start: string; end: string };
  group?: { start: string; end: string };
  report?: { id?: string };
}

/** What a step's result says worth a metric or a log field. */
function figures(result: unknown): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  if (!result || typeof result !== 'object') return out;
  const value = result as Record<string, any>;
  if (typeof value.bytes === 'number') out.bytes = value.bytes;
  if (typeof value.records === 'number') out.records = value.records;
  if (typeof value.events === 'number') out.events = value.events;
  if (typeof value.status === 'string') out.status = value.status;
  if (typeof value.id === 'string') out.reportId = value.id;
  if (Array.isArray(value.windows)) out.windows = value.windows.length;
  if (Array.isArray(value.groups)) out.groups = value.groups.length;
  if (typeof value.watermarkAfter === 'string') out.checkpoint = value.watermarkAfter;
  return out;
}

/**
 * Wraps a step handler: a child logger with correlation ids, one line per invocation, and the step's
 * metrics. The handler itself stays a plain function of its input.
 */
export function observe<E, R>(
  source: string,
  step: string,
  handler: (event: E, context?: any) => Promise<R>,
  logger: () => Logger,
  metricsOf?: (result: R, event: E, nowMs: number) => Record<string, { value: number; unit: MetricUnit }>,
): (event: E, context?: any) => Promise<R> {
  return async (event, context) => {
    const input = (event ?? {}) as StepEvent;
    const log = logger().child({
      source,
      step,
      executionId: input.executionId ?? input.run?.executionId,
      window: input.window ?? input.group,
      reportId: input.report?.id,
      requestId: context?.awsRequestId,
    });
    const started = Date.now();
    try {
      const result = await handler(event, context);
      log.info({ durationMs: Date.now() - started, outcome: 'ok', ...figures(result) }, `${step} done`);
      // What surprised a step (a vendor answer it tolerates): one WARN line each, with the step's correlation ids.
      const warnings = (result as { warnings?: unknown } | null)?.warnings;
      if (Array.isArray(warnings)) for (const warning of warnings) if (typeof warning === 'string') log.warn({ outcome: 'warning' }, warning);
      if (metricsOf) emitMetrics(log, source, metricsOf(result, event, Date.now()));
      return result;
    } catch (error) {
      // AWS throttling that outlived the SDK's own retries is retried by the state machine.
      const failure = scrubError(classifyAwsError(error) as Error);
      log.error({ durationMs: Date.now() - started, outcome: 'error', errorName: failure.name, errorMessage: failure.message }, `${step} failed`);
      throw failure;
    }
  };
}

let lambdaLogger: Logger | undefined;
/** The Lambda's logger: JSON lines on stdout, which the Lambda runtime sends to CloudWatch Logs. */
export function defaultLogger(): Logger {
  lambdaLogger ??= createLogger();
  return lambdaLogger;
}
