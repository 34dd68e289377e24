import { defaultLogger, observe } from '../../common/observability.js';
import { copyReportMetrics } from '../../common/step-metrics.js';
import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';
import { copyReportToS3 } from '../steps.js';
import { authField, executionIdField, planField, reportField, windowField } from './schemas.js';

const inputSchema = z.object({
  plan: planField,
  window: windowField,
  auth: authField,
  report: reportField,
  executionId: executionIdField,
});

export function createCopyReportHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown) => {
    const { plan, window, auth, report, executionId } = parseInput(inputSchema, event, 'CopyReportToS3 input');
    return copyReportToS3(await runtime(), plan, window, auth, report, executionId);
  };
}

export const handler = observe('mft', 'CopyReportToS3', createCopyReportHandler(defaultMftRuntime), defaultLogger, copyReportMetrics);
