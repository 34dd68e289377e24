import { z } from 'zod';
import { isoInstant } from '../../common/time-window.js';
import { sealedAccessTokenSchema } from '../auth.js';
import { mftExportPlanSchema } from '../export-plan.js';

/** The pieces of state the MFT steps pass each other, validated at every step's edge. */
export const planField = mftExportPlanSchema;
export const authField = sealedAccessTokenSchema;
export const windowField = z.object({ start: isoInstant, end: isoInstant }).strict();
export const reportField = z.object({ id: z.string().min(1), requestedAt: isoInstant }).strict();
export const executionIdField = z.string().max(2048).optional();
