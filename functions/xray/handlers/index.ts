import { createCommitRunHandler } from '../../common/handlers/commit-run.js';
import type { XrayRuntime } from '../runtime.js';
import { createExportPagesHandler } from './export-pages.js';
import { createPlanExportHandler } from './plan-export.js';

/**
 * The Xray state machine's Lambdas: the ASL placeholder each one fills, the file CDK bundles, and the
 * factory the local runner calls. One table, read by both.
 */
export const XRAY_FUNCTIONS = {
  XrayPlanExportFunctionArn: { id: 'XrayPlanExport', entry: 'functions/xray/handlers/plan-export.ts', create: createPlanExportHandler },
  XrayExportPagesFunctionArn: { id: 'XrayExportPages', entry: 'functions/xray/handlers/export-pages.ts', create: createExportPagesHandler },
  XrayCommitRunFunctionArn: { id: 'XrayCommitRun', entry: 'functions/xray/handlers/commit-run.ts', create: createCommitRunHandler },
} as const;

export type TaskHandler = (input: unknown) => Promise<unknown>;

export function xrayTaskHandlers(runtime: XrayRuntime): Record<keyof typeof XRAY_FUNCTIONS, TaskHandler> {
  const get = async () => runtime;
  const handlers = {} as Record<keyof typeof XRAY_FUNCTIONS, TaskHandler>;
  for (const [placeholder, fn] of Object.entries(XRAY_FUNCTIONS)) {
    handlers[placeholder as keyof typeof XRAY_FUNCTIONS] = (input) => fn.create(get)(input);
  }
  return handlers;
}
