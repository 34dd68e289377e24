import { createCommitRunHandler } from '../../common/handlers/commit-run.js';
import { taskHandlers, type FunctionSpec, type TaskHandler } from '../../common/function-table.js';
import type { Logger } from '../../common/observability.js';
import { commitRunMetrics, exportPagesMetrics } from '../../common/step-metrics.js';
import type { XrayRuntime } from '../runtime.js';
import { createExportPagesHandler } from './export-pages.js';
import { createPlanExportHandler } from './plan-export.js';

/**
 * The Xray state machine's Lambdas: the ASL placeholder each one fills, the file CDK bundles, and the
 * factory the local runner calls. One table, read by both.
 */
export const XRAY_FUNCTIONS = {
  XrayPlanExportFunctionArn: { id: 'XrayPlanExport', step: 'PlanExport', entry: 'functions/xray/handlers/plan-export.ts', create: createPlanExportHandler },
  XrayExportPagesFunctionArn: { id: 'XrayExportPages', step: 'ExportPages', entry: 'functions/xray/handlers/export-pages.ts', create: createExportPagesHandler, metrics: exportPagesMetrics },
  XrayCommitRunFunctionArn: { id: 'XrayCommitRun', step: 'CommitRun', entry: 'functions/xray/handlers/commit-run.ts', create: createCommitRunHandler, metrics: commitRunMetrics },
} satisfies Record<string, FunctionSpec<XrayRuntime>>;

/** The same handlers the Lambdas export, for the local runner, logging to `logger`. */
export function xrayTaskHandlers(runtime: XrayRuntime, logger?: Logger): Record<keyof typeof XRAY_FUNCTIONS, TaskHandler> {
  return taskHandlers('xray', XRAY_FUNCTIONS, runtime, logger);
}
