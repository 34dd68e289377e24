import { z } from 'zod';
import { isoInstant } from './time-window.js';

/** A window as it travels in state: `{start, end}`, ISO-8601 with a zone. */
export const windowSchema = z.object({ start: isoInstant, end: isoInstant }).strict();
