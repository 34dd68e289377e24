import { defaultLogger, observe } from '../../common/observability.js';
import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { planMftRun } from '../export-plan.js';
import { mftExportInputSchema } from '../model.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';

const inputSchema = z.object({ input: z.unknown(), executionId: z.string().min(1) });

/**
 * First step: validates the execution input (manual or scheduled), takes the lease of the windows the run
 * writes, and lists the grid windows to export (none past now − lag, none older than the retention).
 */
export function createPlanExportHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown) => {
    const { input, executionId } = parseInput(inputSchema, event, 'PlanExport parameters');
    const request = parseInput(mftExportInputSchema, input ?? {}, 'MFT export input');
    const rt = await runtime();
    return planMftRun(request, rt.settings, rt.ledger, executionId, rt.clock.now(), rt.s3);
  };
}

export const handler = observe('mft', 'PlanExport', createPlanExportHandler(defaultMftRuntime), defaultLogger);
