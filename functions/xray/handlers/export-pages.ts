import { defaultLogger, observe } from '../../common/observability.js';
import { exportPagesMetrics } from '../../common/step-metrics.js';
import { z } from 'zod';
import { parseInput } from '../../common/validation.js';
import { exportGroup, progressSchema } from '../export-window.js';
import { groupSchema, xrayExportPlanSchema } from '../export-plan.js';
import { defaultXrayRuntime, type XrayRuntime } from '../runtime.js';

const inputSchema = z.object({
  plan: xrayExportPlanSchema,
  group: groupSchema,
  progress: progressSchema.optional(),
  executionId: z.string().optional(),
});

/** Stop fetching this long before the Lambda timeout, so the last part is finished and the cursor handed back. */
const SAFETY_MARGIN_MS = 120_000;

export function createExportPagesHandler(runtime: () => Promise<XrayRuntime>) {
  return async (event: unknown, context?: { getRemainingTimeInMillis?: () => number }) => {
    const { plan, group, progress, executionId } = parseInput(inputSchema, event, 'ExportPages input');
    const rt = await runtime();
    const remaining = context?.getRemainingTimeInMillis?.();
    const budget = remaining === undefined ? rt.invocationBudgetMs : Math.min(rt.invocationBudgetMs, remaining - SAFETY_MARGIN_MS);
    return exportGroup(rt, plan, group, progress, rt.clock.now() + Math.max(0, budget), executionId);
  };
}

export const handler = observe('xray', 'ExportPages', createExportPagesHandler(defaultXrayRuntime), defaultLogger, exportPagesMetrics);
