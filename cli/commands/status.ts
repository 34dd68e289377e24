import { systemClock } from '../../functions/common/clock.js';
import { ConfigError } from '../../functions/common/errors.js';
import { ledgerFromEnvironment } from '../../functions/common/ledger.js';
import { formatStatus, readStatus } from '../status-view.js';
import { chooseInstance, instancePrefix, instancesVariable } from '../instances.js';
import { EXIT_OK, UsageError, createOutput, parseCommandArgs } from '../usage.js';

export const STATUS_HELP = `Usage: audit-export status [--instance NAME] [--json]

Shows each export stream's checkpoint (the instant up to which every window is in S3 with its
manifest), how far it lags behind now and on which grid, the leases runs hold on its windows (a lease
whose holder has stopped shows as STALE: the next run takes it over), and its last runs.

Reads the checkpoint table named by CHECKPOINT_TABLE (the stack output CheckpointTableName), with the
usual AWS credentials (states:DescribeExecution tells whether a lease's execution still runs);
DYNAMODB_ENDPOINT points at a DynamoDB-compatible server instead (leases of local runs are judged by their
process and heartbeat). The local twin keeps its ledger in memory: \`audit-export demo\` prints the same
view at its end.

Options:
  --instance NAME  only the streams of this instance (named by MFT_INSTANCES or XRAY_INSTANCES; its tenant
               from NAME__MFT_TENANT_ID, NAME__XRAY_TENANT or NAME__XRAY_BASE_URL); default: every stream
  --json       the statuses as one JSON line
  -h, --help   this help

Example:
  CHECKPOINT_TABLE=AuditExport-Checkpoints audit-export status`;

export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { json: { type: 'boolean' }, instance: { type: 'string' } }, 'status');
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return EXIT_OK;
  }
  // With AWS credentials (no local endpoint), a lease's execution is looked up to tell whether it still runs.
  const ledger = ledgerFromEnvironment(process.env, systemClock, { describeExecutions: !process.env.DYNAMODB_ENDPOINT });
  if (!ledger) {
    throw new ConfigError('CHECKPOINT_TABLE is not set: export the stack output CheckpointTableName (see `audit-export status --help`)');
  }
  const prefix = values.instance === undefined ? undefined : instanceStreamPrefix(values.instance);
  const statuses = (await readStatus(ledger, Date.now())).filter((status) => prefix === undefined || status.stream.startsWith(prefix));
  const output = createOutput(values.json ?? false);
  if (output.json) output.result({ streams: statuses });
  else for (const line of formatStatus(statuses)) output.info(line);
  return EXIT_OK;
}

/**
 * The streams of one instance: `<source>|<tenant>|`. The instance is looked up among the names MFT_INSTANCES and
 * XRAY_INSTANCES give, its tenant in its own variables (the table holds streams, not instances).
 */
export function instanceStreamPrefix(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const found: string[] = [];
  for (const source of ['mft', 'xray'] as const) {
    const names = (env[instancesVariable(source)] ?? '').split(',').map((item) => item.trim());
    if (!names.includes(name)) continue;
    const own = chooseInstance(source, 'env', name, env).env;
    const tenant = source === 'mft' ? own.MFT_TENANT_ID : (own.XRAY_TENANT ?? (own.XRAY_BASE_URL ? hostOf(own.XRAY_BASE_URL) : undefined));
    if (!tenant) throw new ConfigError(`--instance ${name}: set ${instancePrefix(name)}${source === 'mft' ? 'MFT_TENANT_ID' : 'XRAY_TENANT or XRAY_BASE_URL'} (its streams are named by the tenant)`);
    found.push(`${source}|${tenant}|`);
  }
  if (found.length !== 1) {
    throw new UsageError(
      found.length ? `--instance ${name} names an instance of both sources: give them different names` : `--instance ${name}: no such instance in MFT_INSTANCES or XRAY_INSTANCES`,
    );
  }
  return found[0]!;
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
