import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';
import { copyReportToS3 } from '../steps.js';
import { authField, executionIdField, planField, reportField } from './schemas.js';

const inputSchema = z.object({ plan: planField, auth: authField, report: reportField, executionId: executionIdField });

export function createCopyReportHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown) => {
    const { plan, auth, report, executionId } = parseInput(inputSchema, event, 'CopyReportToS3 input');
    return copyReportToS3(await runtime(), plan, auth, report, executionId);
  };
}

export const handler = createCopyReportHandler(defaultMftRuntime);
