import { defaultLogger, observe } from '../../common/observability.js';
import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';
import { startWindow } from '../steps.js';
import { authField, executionIdField, planField, windowField } from './schemas.js';

const inputSchema = z.object({ plan: planField, window: windowField, auth: authField, executionId: executionIdField });

export function createCreateReportHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown) => {
    const { plan, window, auth, executionId } = parseInput(inputSchema, event, 'CreateReport input');
    return startWindow(await runtime(), plan, window, auth, executionId);
  };
}

export const handler = observe('mft', 'CreateReport', createCreateReportHandler(defaultMftRuntime), defaultLogger);
