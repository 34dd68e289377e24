import { systemClock } from '../../functions/common/clock.js';
import { ConfigError } from '../../functions/common/errors.js';
import { ledgerFromEnvironment } from '../../functions/common/ledger.js';
import { formatStatus, readStatus } from '../status-view.js';
import { EXIT_OK, createOutput, parseCommandArgs } from '../usage.js';

export const STATUS_HELP = `Usage: audit-export status [--json]

Shows each export stream's checkpoint (the instant up to which every window is in S3 with its
manifest), how far it lags behind now and on which grid, the leases runs hold on its windows (a lease
whose holder has stopped shows as STALE: the next run takes it over), and its last runs.

Reads the checkpoint table named by CHECKPOINT_TABLE (the stack output CheckpointTableName), with the
usual AWS credentials (states:DescribeExecution tells whether a lease's execution still runs);
DYNAMODB_ENDPOINT points at a DynamoDB-compatible server instead (leases of local runs are judged by their
process and heartbeat). The local twin keeps its ledger in memory: \`audit-export demo\` prints the same
view at its end.

Options:
  --json       the statuses as one JSON line
  -h, --help   this help

Example:
  CHECKPOINT_TABLE=AuditExport-Checkpoints audit-export status`;

export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { json: { type: 'boolean' } }, 'status');
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return EXIT_OK;
  }
  // With AWS credentials (no local endpoint), a lease's execution is looked up to tell whether it still runs.
  const ledger = ledgerFromEnvironment(process.env, systemClock, { describeExecutions: !process.env.DYNAMODB_ENDPOINT });
  if (!ledger) {
    throw new ConfigError('CHECKPOINT_TABLE is not set: export the stack output CheckpointTableName (see `audit-export status --help`)');
  }
  const statuses = await readStatus(ledger, Date.now());
  const output = createOutput(values.json ?? false);
  if (output.json) output.result({ streams: statuses });
  else for (const line of formatStatus(statuses)) output.info(line);
  return EXIT_OK;
}
