import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { exportWindowPages, progressSchema } from '../export-window.js';
import { windowSchema, xrayExportPlanSchema } from '../export-plan.js';
import { defaultXrayRuntime, type XrayRuntime } from '../runtime.js';

const inputSchema = z.object({ plan: xrayExportPlanSchema, window: windowSchema, progress: progressSchema.optional() });

/** Stop fetching this long before the Lambda timeout, so the last part is finished and the cursor handed back. */
const SAFETY_MARGIN_MS = 120_000;

export function createExportPagesHandler(runtime: () => Promise<XrayRuntime>) {
  return async (event: unknown, context?: { getRemainingTimeInMillis?: () => number }) => {
    const { plan, window, progress } = parseInput(inputSchema, event, 'ExportPages input');
    const rt = await runtime();
    const remaining = context?.getRemainingTimeInMillis?.();
    const budget = remaining === undefined ? rt.invocationBudgetMs : Math.min(rt.invocationBudgetMs, remaining - SAFETY_MARGIN_MS);
    return exportWindowPages(rt, plan, window, progress, rt.clock.now() + Math.max(0, budget));
  };
}

export const handler = createExportPagesHandler(defaultXrayRuntime);
