import { defaultLogger, observe } from '../../common/observability.js';
import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';
import { checkReport } from '../steps.js';
import { authField, planField, reportField } from './schemas.js';

const inputSchema = z.object({ plan: planField, auth: authField, report: reportField });

export function createCheckReportHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown) => {
    const { plan, auth, report } = parseInput(inputSchema, event, 'CheckReport input');
    return checkReport(await runtime(), plan, auth, report);
  };
}

export const handler = observe('mft', 'CheckReport', createCheckReportHandler(defaultMftRuntime), defaultLogger);
