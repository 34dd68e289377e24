import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_HEARTBEAT_MS, type CheckpointLedger } from '../functions/common/checkpoints.js';
import { mftTaskHandlers } from '../functions/mft/handlers/index.js';
import type { Logger } from '../functions/common/observability.js';
import type { MftRuntime } from '../functions/mft/runtime.js';
import { xrayTaskHandlers } from '../functions/xray/handlers/index.js';
import type { XrayRuntime } from '../functions/xray/runtime.js';
import { runLocalExecution, type ExecutionEvent, type LocalRunResult, type TaskHandler } from './state-machine-runner.js';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MFT_DEFINITION = path.join(PROJECT_ROOT, 'state-machines', 'mft-audit-export.asl.json');
export const XRAY_DEFINITION = path.join(PROJECT_ROOT, 'state-machines', 'xray-audit-export.asl.json');

export interface LocalExportOptions {
  input: unknown;
  executionName?: string;
  waitMs?: number;
  retryMs?: number;
  onEvent?: (event: ExecutionEvent) => void;
  /** Where the handlers log (the twin's log file); silent when unset. */
  logger?: Logger;
  /** Replaces the state machine's TimeoutSeconds (a test's shorter clock). */
  executionTimeoutSeconds?: number;
  /** Wraps handlers, e.g. to inject a failure into one step in a test. */
  decorate?: (placeholder: string, handler: TaskHandler) => TaskHandler;
}

export function runMftExport(runtime: MftRuntime, options: LocalExportOptions): Promise<LocalRunResult> {
  return runExport('mft', MFT_DEFINITION, mftTaskHandlers(runtime, options.logger), options, runtime.ledger);
}

export function runXrayExport(runtime: XrayRuntime, options: LocalExportOptions): Promise<LocalRunResult> {
  return runExport('xray', XRAY_DEFINITION, xrayTaskHandlers(runtime, options.logger), options, runtime.ledger);
}

async function runExport(
  source: string,
  definitionFile: string,
  sourceHandlers: Record<string, TaskHandler>,
  options: LocalExportOptions,
  ledger: CheckpointLedger | undefined,
): Promise<LocalRunResult> {
  const handlers: Record<string, TaskHandler> = { ...sourceHandlers };
  if (options.decorate) {
    for (const [name, handler] of Object.entries(handlers)) handlers[name] = options.decorate(name, handler);
  }
  // While this process runs the execution, the lease PlanExport took says so: a lease whose heartbeat stops
  // (the process was killed) can be taken over by the next run.
  let heartbeat: NodeJS.Timeout | undefined;
  const onEvent = (event: ExecutionEvent) => {
    if (ledger && !heartbeat && event.type === 'StateExited' && event.state?.name === 'PlanExport') {
      const run = (event.state.output as { run?: { stream?: string; leaseOwner?: string } } | undefined)?.run;
      if (run?.stream && run.leaseOwner) {
        const { stream, leaseOwner } = run;
        heartbeat = setInterval(() => void ledger.heartbeat(stream, leaseOwner).catch(() => undefined), LOCAL_HEARTBEAT_MS);
        heartbeat.unref();
      }
    }
    options.onEvent?.(event);
  };
  try {
    return await runLocalExecution({
      definitionFile,
      stateMachineName: `audit-export-${source}`,
      handlers,
      input: options.input,
      // Unique, as Step Functions makes them: the execution id names the lease it holds.
      executionName: options.executionName ?? `${source}-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`,
      waitMs: options.waitMs,
      retryMs: options.retryMs,
      onEvent,
      executionTimeoutSeconds: options.executionTimeoutSeconds,
    });
  } finally {
    clearInterval(heartbeat);
  }
}
