import { createCommitRunHandler } from '../../common/handlers/commit-run.js';
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
  PlanExportFunctionArn: { id: 'MftPlanExport', entry: 'functions/mft/handlers/plan-export.ts', create: createPlanExportHandler },
  IssueTokenFunctionArn: { id: 'MftIssueToken', entry: 'functions/mft/handlers/issue-token.ts', create: createIssueTokenHandler },
  CreateReportFunctionArn: { id: 'MftCreateReport', entry: 'functions/mft/handlers/create-report.ts', create: createCreateReportHandler },
  CheckReportFunctionArn: { id: 'MftCheckReport', entry: 'functions/mft/handlers/check-report.ts', create: createCheckReportHandler },
  CopyReportFunctionArn: { id: 'MftCopyReport', entry: 'functions/mft/handlers/copy-report.ts', create: createCopyReportHandler },
  DeleteReportFunctionArn: { id: 'MftDeleteReport', entry: 'functions/mft/handlers/delete-report.ts', create: createDeleteReportHandler },
  CommitRunFunctionArn: { id: 'MftCommitRun', entry: 'functions/mft/handlers/commit-run.ts', create: createCommitRunHandler },
} as const;

export type TaskHandler = (input: unknown) => Promise<unknown>;

export function mftTaskHandlers(runtime: MftRuntime): Record<keyof typeof MFT_FUNCTIONS, TaskHandler> {
  const get = async () => runtime;
  const handlers = {} as Record<keyof typeof MFT_FUNCTIONS, TaskHandler>;
  for (const [placeholder, fn] of Object.entries(MFT_FUNCTIONS)) {
    handlers[placeholder as keyof typeof MFT_FUNCTIONS] = fn.create(get);
  }
  return handlers;
}
