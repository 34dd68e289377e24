import path from 'node:path';
import { systemClock } from '../../functions/common/clock.js';
import { ConfigError } from '../../functions/common/errors.js';
import { ledgerFromEnvironment } from '../../functions/common/ledger.js';
import { openTwinLedger } from '../../local/twin.js';
import { formatStatus, readStatus } from '../status-view.js';
import { chooseInstance, instancePrefix, instancesVariable } from '../instances.js';
import { EXIT_OK, UsageError, createOutput, parseCommandArgs } from '../usage.js';

export const STATUS_HELP = `Usage: audit-export status [--target twin|env|aws] [--twin-dir DIR] [--instance NAME] [--json]

Shows each export stream's checkpoint (the instant up to which every window is in S3 with its
manifest), how far it lags behind now and on which grid, the leases runs hold on its windows (a lease
whose holder has stopped shows as STALE: the next run takes it over), and its last runs.

Where the checkpoints are:
  twin (the default without CHECKPOINT_TABLE): the checkpoint table the local twin keeps in its
       directory (.twin/dynamo), written by \`npm start\`, \`run\` and \`backfill\` on the twin;
  env, aws (the default when CHECKPOINT_TABLE is set): the table named by CHECKPOINT_TABLE (the stack output
       CheckpointTableName), with the usual AWS credentials (states:DescribeExecution tells whether a
       lease's execution still runs); DYNAMODB_ENDPOINT points at a DynamoDB-compatible server instead
       (leases of local runs are judged by their process and heartbeat).

Options:
  --target twin|env|aws   where to read (default: AUDIT_EXPORT_TARGET, else as above)
  --twin-dir DIR          the twin's directory (default .twin)
  --instance NAME         only the streams of this instance (named by MFT_INSTANCES or XRAY_INSTANCES; its
                          tenant from NAME__MFT_TENANT_ID, NAME__XRAY_TENANT or NAME__XRAY_BASE_URL); default: every stream
  --json                  the statuses as one JSON line
  -h, --help              this help

Examples:
  audit-export status
  CHECKPOINT_TABLE=AuditExport-Checkpoints audit-export status --target aws`;

export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { json: { type: 'boolean' }, target: { type: 'string' }, 'twin-dir': { type: 'string' }, instance: { type: 'string' } }, 'status');
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return EXIT_OK;
  }
  const target = values.target ?? (process.env.AUDIT_EXPORT_TARGET || (process.env.CHECKPOINT_TABLE ? 'aws' : 'twin'));
  if (target !== 'twin' && target !== 'deployed' && target !== 'env' && target !== 'aws') throw new UsageError(`--target must be twin, deployed, env or aws (got ${JSON.stringify(target)})`);
  const prefix = values.instance === undefined ? undefined : instanceStreamPrefix(values.instance);
  const statuses = (target === 'twin' || target === 'deployed' ? await twinStatus(path.resolve(values['twin-dir'] ?? '.twin')) : await tableStatus()).filter(
    (status) => prefix === undefined || status.stream.startsWith(prefix),
  );
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

async function tableStatus() {
  // With AWS credentials (no local endpoint), a lease's execution is looked up to tell whether it still runs.
  const ledger = ledgerFromEnvironment(process.env, systemClock, { describeExecutions: !process.env.DYNAMODB_ENDPOINT });
  if (!ledger) {
    throw new ConfigError('CHECKPOINT_TABLE is not set: export the stack output CheckpointTableName, or read the local twin with --target twin (see `audit-export status --help`)');
  }
  return readStatus(ledger, Date.now());
}

async function twinStatus(directory: string) {
  const twin = await openTwinLedger(directory);
  try {
    return await readStatus(twin.ledger, Date.now());
  } finally {
    await twin.close();
  }
}
