import { defaultLogger, observe } from '../../common/observability.js';
import { defaultMftRuntime, type MftRuntime } from '../runtime.js';

/** Issues an access token and returns it sealed (see README, "Tokens in execution history"). */
export function createIssueTokenHandler(runtime: () => Promise<MftRuntime>) {
  return async (_event: unknown) => (await runtime()).auth.issue();
}

export const handler = observe('mft', 'IssueToken', createIssueTokenHandler(defaultMftRuntime), defaultLogger);
