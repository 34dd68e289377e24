import { defaultLogger, observe } from '../../common/observability.js';
import { createHousekeepingHandler } from '../housekeeping.js';
import { defaultMftRuntime } from '../runtime.js';

/** Deletes reports interrupted runs left on the vendor server (see ../housekeeping.ts for what counts as ours). */
export const handler = observe('mft', 'Housekeeping', createHousekeepingHandler(defaultMftRuntime), defaultLogger);
