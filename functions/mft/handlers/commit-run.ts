import { defaultLogger, observe } from '../../common/observability.js';
import { commitRunMetrics } from '../../common/step-metrics.js';
import { createCommitRunHandler } from '../../common/handlers/commit-run.js';
import { defaultMftRuntime } from '../runtime.js';

/** The MFT state machine's last step (the shared commit logic, with the MFT function's configuration). */
export const handler = observe('mft', 'CommitRun', createCommitRunHandler(defaultMftRuntime), defaultLogger, commitRunMetrics);
