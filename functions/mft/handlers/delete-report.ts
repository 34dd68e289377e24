import { defaultLogger, observe } from '../../common/observability.js';
import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';
import { deleteReport } from '../steps.js';
import { authField } from './schemas.js';

const inputSchema = z.object({ auth: authField, report: z.object({ id: z.string().min(1) }).passthrough() });

/** Deletes the report; also the clean-up path after any failure, so an already deleted report is fine. */
export function createDeleteReportHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown) => {
    const { auth, report } = parseInput(inputSchema, event, 'DeleteReport input');
    return deleteReport(await runtime(), auth, report);
  };
}

export const handler = observe('mft', 'DeleteReport', createDeleteReportHandler(defaultMftRuntime), defaultLogger);
