import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
  return runExport('mft', MFT_DEFINITION, mftTaskHandlers(runtime, options.logger), options);
}

export function runXrayExport(runtime: XrayRuntime, options: LocalExportOptions): Promise<LocalRunResult> {
  return runExport('xray', XRAY_DEFINITION, xrayTaskHandlers(runtime, options.logger), options);
}

function runExport(
  source: string,
  definitionFile: string,
  sourceHandlers: Record<string, TaskHandler>,
  options: LocalExportOptions,
): Promise<LocalRunResult> {
  const handlers: Record<string, TaskHandler> = { ...sourceHandlers };
  if (options.decorate) {
    for (const [name, handler] of Object.entries(handlers)) handlers[name] = options.decorate(name, handler);
  }
  return runLocalExecution({
    definitionFile,
    stateMachineName: `audit-export-${source}`,
    handlers,
    input: options.input,
    executionName: options.executionName ?? `${source}-${new Date().toISOString().replace(/[:.]/g, '-')}`,
    waitMs: options.waitMs,
    retryMs: options.retryMs,
    onEvent: options.onEvent,
    executionTimeoutSeconds: options.executionTimeoutSeconds,
  });
}
