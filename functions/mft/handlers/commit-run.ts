import { createCommitRunHandler } from '../../common/handlers/commit-run.js';
import { defaultMftRuntime } from '../runtime.js';

/** The MFT state machine's last step (the shared commit logic, with the MFT function's configuration). */
export const handler = createCommitRunHandler(defaultMftRuntime);
