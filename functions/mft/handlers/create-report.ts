import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';
import { createReport } from '../steps.js';
import { authField, planField } from './schemas.js';

const inputSchema = z.object({ plan: planField, auth: authField });

export function createCreateReportHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown) => {
    const { plan, auth } = parseInput(inputSchema, event, 'CreateReport input');
    return createReport(await runtime(), plan, auth);
  };
}

export const handler = createCreateReportHandler(defaultMftRuntime);
