import { createCommitRunHandler } from '../../common/handlers/commit-run.js';
import { defaultXrayRuntime } from '../runtime.js';

/** The Xray state machine's last step (the shared commit logic, with the Xray function's configuration). */
export const handler = createCommitRunHandler(defaultXrayRuntime);
