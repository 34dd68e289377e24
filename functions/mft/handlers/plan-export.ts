import { parseInput } from '../../common/validation.js';
import { planMftExport } from '../export-plan.js';
import { mftExportInputSchema } from '../model.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';

/** First step: validates the execution input (manual or scheduled) and fixes window, filters and destination. */
export function createPlanExportHandler(runtime: () => Promise<MftRuntime>) {
  return async (event: unknown) => {
    const input = parseInput(mftExportInputSchema, event ?? {}, 'MFT export input');
    const { settings, clock } = await runtime();
    return { plan: planMftExport(input, settings, clock.now()) };
  };
}

export const handler = createPlanExportHandler(defaultMftRuntime);
