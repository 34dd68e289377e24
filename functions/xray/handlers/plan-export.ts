import { defaultLogger, observe } from '../../common/observability.js';
import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { planXrayRun } from '../export-plan.js';
import { xrayExportInputSchema } from '../model.js';
import { defaultXrayRuntime, type XrayRuntime } from '../runtime.js';

const inputSchema = z.object({ input: z.unknown(), executionId: z.string().min(1) });

/**
 * First step: validates the execution input, takes the lease of the windows the run writes, and cuts the
 * range into grid windows (none past now − lag, none older than the retention), grouped for the Map state.
 */
export function createPlanExportHandler(runtime: () => Promise<XrayRuntime>) {
  return async (event: unknown) => {
    const { input, executionId } = parseInput(inputSchema, event, 'PlanExport parameters');
    const request = parseInput(xrayExportInputSchema, input ?? {}, 'Xray export input');
    const rt = await runtime();
    return planXrayRun(request, rt.settings, rt.ledger, executionId, rt.clock.now(), rt.s3);
  };
}

export const handler = observe('xray', 'PlanExport', createPlanExportHandler(defaultXrayRuntime), defaultLogger);
