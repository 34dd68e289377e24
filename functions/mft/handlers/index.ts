import { createCommitRunHandler } from '../../common/handlers/commit-run.js';
import { taskHandlers, type FunctionSpec, type TaskHandler } from '../../common/function-table.js';
import type { Logger } from '../../common/observability.js';
import { commitRunMetrics, copyReportMetrics } from '../../common/step-metrics.js';
import { createHousekeepingHandler } from '../housekeeping.js';
import type { MftRuntime } from '../runtime.js';
import { createCheckReportHandler } from './check-report.js';
import { createCopyReportHandler } from './copy-report.js';
import { createCreateReportHandler } from './create-report.js';
import { createDeleteReportHandler } from './delete-report.js';
import { createIssueTokenHandler } from './issue-token.js';
import { createPlanExportHandler } from './plan-export.js';

/**
 * The MFT state machine's Lambdas: the ASL placeholder each one fills (`${PlanExportFunctionArn}`), the
 * file CDK bundles, and the factory the local runner calls. One table, read by both.
 */
export const MFT_FUNCTIONS = {
  PlanExportFunctionArn: { id: 'MftPlanExport', step: 'PlanExport', entry: 'functions/mft/handlers/plan-export.ts', create: createPlanExportHandler },
  IssueTokenFunctionArn: { id: 'MftIssueToken', step: 'IssueToken', entry: 'functions/mft/handlers/issue-token.ts', create: createIssueTokenHandler },
  CreateReportFunctionArn: { id: 'MftCreateReport', step: 'CreateReport', entry: 'functions/mft/handlers/create-report.ts', create: createCreateReportHandler },
  CheckReportFunctionArn: { id: 'MftCheckReport', step: 'CheckReport', entry: 'functions/mft/handlers/check-report.ts', create: createCheckReportHandler },
  CopyReportFunctionArn: { id: 'MftCopyReport', step: 'CopyReportToS3', entry: 'functions/mft/handlers/copy-report.ts', create: createCopyReportHandler, metrics: copyReportMetrics },
  DeleteReportFunctionArn: { id: 'MftDeleteReport', step: 'DeleteReport', entry: 'functions/mft/handlers/delete-report.ts', create: createDeleteReportHandler },
  HousekeepingFunctionArn: { id: 'MftHousekeeping', step: 'Housekeeping', entry: 'functions/mft/handlers/housekeeping.ts', create: createHousekeepingHandler },
  CommitRunFunctionArn: { id: 'MftCommitRun', step: 'CommitRun', entry: 'functions/mft/handlers/commit-run.ts', create: createCommitRunHandler, metrics: commitRunMetrics },
} satisfies Record<string, FunctionSpec<MftRuntime>>;

/** The same handlers the Lambdas export, for the local runner, logging to `logger`. */
export function mftTaskHandlers(runtime: MftRuntime, logger?: Logger): Record<keyof typeof MFT_FUNCTIONS, TaskHandler> {
  return taskHandlers('mft', MFT_FUNCTIONS, runtime, logger);
}
