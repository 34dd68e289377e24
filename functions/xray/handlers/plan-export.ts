import { parseInput } from '../../common/validation.js';
import { planXrayExport } from '../export-plan.js';
import { xrayExportInputSchema } from '../model.js';
import { defaultXrayRuntime, type XrayRuntime } from '../runtime.js';

/** First step: validates the execution input and cuts the range into windows for the Map state. */
export function createPlanExportHandler(runtime: () => Promise<XrayRuntime>) {
  return async (event: unknown) => {
    const input = parseInput(xrayExportInputSchema, event ?? {}, 'Xray export input');
    const { settings, clock } = await runtime();
    return planXrayExport(input, settings, clock.now());
  };
}

export const handler = createPlanExportHandler(defaultXrayRuntime);
