import { defaultLogger, observe } from '../../common/observability.js';
import { commitRunMetrics } from '../../common/step-metrics.js';
import { createCommitRunHandler } from '../../common/handlers/commit-run.js';
import { defaultXrayRuntime } from '../runtime.js';

/** The Xray state machine's last step (the shared commit logic, with the Xray function's configuration). */
export const handler = observe('xray', 'CommitRun', createCommitRunHandler(defaultXrayRuntime), defaultLogger, commitRunMetrics);
