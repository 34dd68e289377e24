import { observe, silentLogger, type Logger, type MetricUnit } from './observability.js';

/**
 * A source's state-machine Lambdas: for each ASL placeholder (`${CopyReportFunctionArn}`), the step name,
 * the file CDK bundles, the handler factory the local runner calls, and the step's metrics. One table per
 * source, read by CDK, the local runner and the benchmark.
 */
export interface FunctionSpec<R> {
  id: string;
  step: string;
  entry: string;
  create: (runtime: () => Promise<R>) => (event: any, context?: any) => Promise<any>;
  metrics?: (result: any, event: any, nowMs: number) => Record<string, { value: number; unit: MetricUnit }>;
}

export type TaskHandler = (input: unknown) => Promise<unknown>;

/** The same handlers the Lambdas export, bound to one runtime, logging to `logger`. */
export function taskHandlers<R, K extends string>(
  source: string,
  table: Record<K, FunctionSpec<R>>,
  runtime: R,
  logger: Logger = silentLogger,
): Record<K, TaskHandler> {
  const get = async () => runtime;
  const handlers = {} as Record<K, TaskHandler>;
  for (const placeholder of Object.keys(table) as K[]) {
    const spec = table[placeholder];
    handlers[placeholder] = observe(source, spec.step, spec.create(get), () => logger, spec.metrics);
  }
  return handlers;
}
