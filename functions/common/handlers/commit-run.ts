import { z } from 'zod';
import type { CheckpointLedger } from '../checkpoints.js';
import type { Clock } from '../clock.js';
import { commitRun, runInfoSchema, windowResultSchema } from '../run-plan.js';
import { parseInput } from '../validation.js';

const inputSchema = z.object({ run: runInfoSchema, results: z.array(windowResultSchema).default([]) });

export interface LedgerDeps {
  ledger?: CheckpointLedger;
  clock: Clock;
}

/** Last step of both state machines: advance the checkpoint over what completed, release the lease. */
export function createCommitRunHandler(runtime: () => Promise<LedgerDeps>) {
  return async (event: unknown) => {
    const { run, results } = parseInput(inputSchema, event, 'CommitRun input');
    const { ledger, clock } = await runtime();
    return commitRun(ledger, run, results, clock.now());
  };
}
